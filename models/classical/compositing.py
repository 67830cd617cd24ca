"""Background replacement: composite a new background, rendered from
``params["background"]`` (see :mod:`models.classical.backgrounds`), into the masked region."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.base import EditError, EditRequest
from models.classical.backgrounds import render_background
from models.classical.common import ClassicalEditor, composite, edit_mask, require_param, rgb_array


class _BackgroundEditor(ClassicalEditor):
    tasks = frozenset({"background_change"})

    def _edit(self, request: EditRequest) -> Image.Image:
        mask = edit_mask(request)
        spec = require_param(request, "background")
        if not isinstance(spec, dict):
            raise EditError(f"params['background'] must be a dict spec, got {spec!r}")
        try:
            new = rgb_array(render_background(spec, request.source.size))
        except ValueError as exc:
            raise EditError(f"bad background spec: {exc}") from None
        src = rgb_array(request.source)
        edited, weight = self._blend(src, new, mask)
        return composite(src, edited, weight)

    def _blend(self, src: np.ndarray, new: np.ndarray, mask: np.ndarray):
        """Return the edited image and the uint8 weights to composite it with (0 outside mask)."""
        raise NotImplementedError


class HardComposite(_BackgroundEditor):
    """Take the new background wherever the mask is set, the source elsewhere."""

    name = "composite-hard"
    defaults = {}

    def _blend(self, src, new, mask):
        return new, mask


class FeatherComposite(_BackgroundEditor):
    """Blur the mask into a soft alpha so the new background fades in over ``sigma_px`` pixels
    next to the foreground (the fade stays inside the mask)."""

    name = "composite-feather"
    defaults = {"sigma_px": 2.0}

    def _blend(self, src, new, mask):
        sigma = float(self.settings["sigma_px"])
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
        weight = np.where(mask > 0, np.minimum(soft, mask.astype(np.float32)), 0)
        return new, np.rint(weight).astype(np.uint8)


class MattingComposite(_BackgroundEditor):
    """Re-estimate the foreground's soft edge, then composite it over the new background.

    In a band of ``band_px`` pixels of the mask next to the foreground, each pixel is modelled as
    ``I = a F + (1 - a) B`` with ``F`` the nearest pure-foreground colour and ``B`` the nearest
    pure old-background colour; ``a`` is the projection of ``I - B`` on ``F - B`` (the colour-line
    estimate of Chuang et al., "A Bayesian approach to digital matting", CVPR 2001, without the
    priors). The pixel becomes ``a F + (1 - a) B_new``, so edges keep their anti-aliasing and lose
    the old background's colour.
    """

    name = "composite-matting"
    defaults = {"band_px": 3}

    def _blend(self, src, new, mask):
        inside = mask > 0
        if inside.all() or not inside.any():
            return new, mask
        band = float(self.settings["band_px"])
        f = _nearest_colour(src, ~inside)
        dist_fg = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
        pure_bg = inside & (dist_fg > band)
        if not pure_bg.any():
            return new, mask
        b = _nearest_colour(src, pure_bg)
        diff = f - b
        alpha = ((src - b) * diff).sum(axis=2) / np.maximum((diff * diff).sum(axis=2), 1.0)
        alpha = np.where(inside & (dist_fg <= band), np.clip(alpha, 0.0, 1.0), 0.0)[..., None]
        return alpha * f + (1.0 - alpha) * new, mask


def _nearest_colour(image: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """For every pixel, the colour (float) of the nearest pixel where ``seeds`` is true."""
    _, labels = cv2.distanceTransformWithLabels((~seeds).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros((int(labels.max()) + 1, 3), np.float64)
    lut[labels[seeds]] = image[seeds]
    return lut[labels]
