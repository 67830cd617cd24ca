"""Automatic metrics on an edited image: background preservation, fidelity to a reference, OCR.

Pure functions on PIL images. :func:`task_metrics` returns a flat dict of named numbers for one
output; :data:`METRIC_DIRECTION` says which way is better for each. scikit-image and RapidOCR
are imported on first use.
"""
from __future__ import annotations

import math

from PIL import Image

from .ocr import OcrReading, ocr_available, ocr_engine, read_text, text_metrics
from .pixels import PSNR_MAX, background_preservation, psnr, reference_fidelity, ssim
from .text import levenshtein, normalize_text, normalized_edit_distance

#: For each metric, ``"higher"`` or ``"lower"``: which values are better.
METRIC_DIRECTION = {
    "psnr_outside": "higher",
    "ssim_outside": "higher",
    "ref_psnr": "higher",
    "ref_ssim": "higher",
    "ocr_cer": "lower",
    "ocr_exact": "higher",
    "old_text_gone": "higher",
}

__all__ = [
    "METRIC_DIRECTION", "OcrReading", "PSNR_MAX", "background_preservation", "higher_is_better",
    "levenshtein", "normalize_text", "normalized_edit_distance", "ocr_available", "ocr_engine",
    "psnr", "read_text", "reference_fidelity", "ssim", "task_metrics", "text_metrics",
]


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (KeyError for an unknown metric)."""
    return METRIC_DIRECTION[metric] == "higher"


def task_metrics(
    task: str,
    source: Image.Image,
    output: Image.Image,
    mask: Image.Image | None = None,
    reference: Image.Image | None = None,
    target_text: str | None = None,
    old_text: str | None = None,
    *,
    ocr: bool = True,
) -> dict[str, float]:
    """Every automatic metric that applies to one output.

    Parameters
    ----------
    task : str
        Task name. Which metrics are computed depends only on the inputs given (a mask, a
        reference, texts), so any task, including new ones, gets those that apply.
    source, output : PIL.Image.Image
        Image before and after the edit (the output is resized to the source if it differs).
    mask : PIL.Image.Image, optional
        Edit region (255 inside). Gives ``psnr_outside`` and ``ssim_outside``, restricts the
        reference metrics to the region, and the OCR to the box around it.
    reference : PIL.Image.Image, optional
        Ground-truth result; gives ``ref_psnr`` and ``ref_ssim``.
    target_text, old_text : str, optional
        Text the edit should write, and the text it should replace; give ``ocr_cer``,
        ``ocr_exact`` and ``old_text_gone`` (see :func:`text_metrics`).
    ocr : bool
        Set False to skip the OCR metrics (0.2-1 s per image on a CPU). They are also skipped
        when ``rapidocr`` is not installed (see :func:`ocr_available`).

    Returns
    -------
    dict[str, float]
        Named values (keys of :data:`METRIC_DIRECTION`); metrics that do not apply are absent.
    """
    if output.size != source.size:
        output = output.convert("RGB").resize(source.size, Image.Resampling.LANCZOS)
    values: dict[str, float] = {}
    if mask is not None:
        values.update(background_preservation(source, output, mask))
    if reference is not None:
        values.update(reference_fidelity(reference, output, mask))
    if ocr and (target_text is not None or old_text) and ocr_available():
        values.update(text_metrics(read_text(output, mask), target_text, old_text))
    return {k: float(v) for k, v in values.items() if not math.isnan(v)}
