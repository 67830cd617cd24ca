"""Recolouring: turn the masked region to ``params["color"]`` (``[r, g, b]``, 0-255).

Every editor works on the whole image in some colour space and composites the result back
through the mask, so pixels outside it are untouched (a colour-space round trip alone would
shift them by a level or two).
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.base import EditRequest
from models.classical.common import ClassicalEditor, composite, edit_mask, require_color, rgb_array


class _RecolorEditor(ClassicalEditor):
    tasks = frozenset({"recolor"})
    defaults = {}

    def _edit(self, request: EditRequest) -> Image.Image:
        mask = edit_mask(request)
        color = require_color(request)
        src = rgb_array(request.source)
        return composite(src, self._recolor(src, mask > 0, color), mask)

    def _recolor(self, src: np.ndarray, inside: np.ndarray, color: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class HueShiftRecolor(_RecolorEditor):
    """Set the HSV hue to the target's hue, keeping saturation and value."""

    name = "recolor-hsv"

    def _recolor(self, src, inside, color):
        hsv = cv2.cvtColor(src, cv2.COLOR_RGB2HSV_FULL)
        target = cv2.cvtColor(np.uint8(np.rint(color)).reshape(1, 1, 3), cv2.COLOR_RGB2HSV_FULL)
        hsv[..., 0] = target[0, 0, 0]
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


class LabShiftRecolor(_RecolorEditor):
    """Shift CIELAB a* and b* so the region's mean chroma becomes the target's; keep L*."""

    name = "recolor-lab"

    def _recolor(self, src, inside, color):
        lab = cv2.cvtColor(src.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        target = cv2.cvtColor(color.astype(np.float32).reshape(1, 1, 3) / 255.0, cv2.COLOR_RGB2LAB)
        shift = target[0, 0, 1:] - lab[inside][:, 1:].mean(axis=0)
        lab[..., 1:] += shift
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0


class LumaTintRecolor(_RecolorEditor):
    """Paint the flat target colour scaled by each pixel's luminance relative to the region's
    median, so the shading and highlights survive."""

    name = "recolor-luma"

    def _recolor(self, src, inside, color):
        luma = src.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        ref = max(float(np.median(luma[inside])), 1.0)
        return (luma / ref)[..., None] * color
