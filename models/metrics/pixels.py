"""Pixel metrics restricted to a region: PSNR and SSIM inside or outside an edit mask."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

#: PSNR reported for identical pixels (instead of infinity), in dB.
PSNR_MAX = 100.0

#: Mask values at or above this mark the edit region (masks are binarised at mid-grey).
MASK_THRESHOLD = 128


def as_rgb_array(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB pixels as a float64 array, resized (Lanczos) to ``size`` if given and different."""
    image = image.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float64)


def mask_region(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Boolean array, True inside the edit mask (value >= :data:`MASK_THRESHOLD`)."""
    mask = mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return np.asarray(mask) >= MASK_THRESHOLD


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB over the pixels of ``region`` (all pixels if ``None``).

    Parameters
    ----------
    a, b : ndarray, shape (H, W, 3)
        Pixel values in [0, 255].
    region : ndarray of bool, shape (H, W), optional

    Returns
    -------
    float
        ``10 log10(255^2 / MSE)``, capped at :data:`PSNR_MAX`; NaN for an empty region.
    """
    diff = (a - b) if region is None else (a[region] - b[region])
    if diff.size == 0:
        return math.nan
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return PSNR_MAX
    return min(PSNR_MAX, 10.0 * math.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean structural similarity (Wang et al., 2004) over the pixels of ``region``.

    Pixels of ``b`` outside ``region`` are replaced by those of ``a`` first, so windows that
    straddle the region's border only see differences inside it: a change confined to the
    complement leaves the score at 1. Uses :func:`skimage.metrics.structural_similarity`
    (7×7 windows, or the largest odd window that fits a smaller image).

    Returns
    -------
    float
        In [-1, 1]; NaN for an empty region.
    """
    from skimage.metrics import structural_similarity

    if region is not None:
        if not region.any():
            return math.nan
        b = np.where(region[..., None], b, a)
    win = min(7, min(a.shape[:2]))
    win -= 1 - win % 2
    if win < 3:
        return math.nan
    _, full = structural_similarity(
        a, b, channel_axis=2, data_range=255.0, win_size=win, full=True
    )
    full = full.mean(axis=2)
    return float(full.mean() if region is None else full[region].mean())


def background_preservation(
    source: Image.Image, output: Image.Image, mask: Image.Image
) -> dict[str, float]:
    """How well the output keeps the source outside the mask.

    Returns
    -------
    dict
        ``psnr_outside`` (dB) and ``ssim_outside``, or an empty dict if the mask covers the
        whole image. The output is resized to the source size if it differs.
    """
    a = as_rgb_array(source)
    b = as_rgb_array(output, source.size)
    outside = ~mask_region(mask, source.size)
    if not outside.any():
        return {}
    return {"psnr_outside": psnr(a, b, outside), "ssim_outside": ssim(a, b, outside)}


def reference_fidelity(
    reference: Image.Image, output: Image.Image, mask: Image.Image | None = None
) -> dict[str, float]:
    """How close the output is to a ground-truth reference, inside the mask (or everywhere).

    Returns
    -------
    dict
        ``ref_psnr`` (dB) and ``ref_ssim``; empty if the mask is empty.
    """
    a = as_rgb_array(reference)
    b = as_rgb_array(output, reference.size)
    region = None if mask is None else mask_region(mask, reference.size)
    if region is not None and not region.any():
        return {}
    return {"ref_psnr": psnr(a, b, region), "ref_ssim": ssim(a, b, region)}
