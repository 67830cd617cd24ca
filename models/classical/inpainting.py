"""Object removal by inpainting the masked region from its surroundings."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.base import EditRequest
from models.classical.common import ClassicalEditor, composite, edit_mask, rgb_array


class _OpenCVInpaint(ClassicalEditor):
    tasks = frozenset({"object_removal"})
    defaults = {"radius": 5}
    flag = cv2.INPAINT_TELEA

    def _edit(self, request: EditRequest) -> Image.Image:
        mask = edit_mask(request)
        src = rgb_array(request.source)
        holes = np.where(mask > 0, 255, 0).astype(np.uint8)
        bgr = cv2.cvtColor(src, cv2.COLOR_RGB2BGR)
        filled = cv2.inpaint(bgr, holes, float(self.settings["radius"]), self.flag)
        return composite(src, cv2.cvtColor(filled, cv2.COLOR_BGR2RGB), mask)


class TeleaInpaint(_OpenCVInpaint):
    """OpenCV's fast marching inpainting (Telea, 2004, J. Graphics Tools 9(1))."""

    name = "cv2-telea"
    flag = cv2.INPAINT_TELEA


class NavierStokesInpaint(_OpenCVInpaint):
    """OpenCV's fluid-dynamics inpainting (Bertalmio, Bertozzi and Sapiro, CVPR 2001)."""

    name = "cv2-ns"
    flag = cv2.INPAINT_NS


class BiharmonicInpaint(ClassicalEditor):
    """scikit-image's biharmonic inpainting (Damelin and Hoang, 2018), run on the bounding box
    of the mask plus ``margin_px`` so that its cost follows the hole, not the image."""

    name = "skimage-biharmonic"
    tasks = frozenset({"object_removal"})
    defaults = {"margin_px": 12}

    def _edit(self, request: EditRequest) -> Image.Image:
        from skimage.restoration import inpaint_biharmonic  # slow to import; only needed here

        mask = edit_mask(request)
        src = rgb_array(request.source)
        ys, xs = np.nonzero(mask)
        m = int(self.settings["margin_px"])
        y0, y1 = max(ys.min() - m, 0), min(ys.max() + m + 1, src.shape[0])
        x0, x1 = max(xs.min() - m, 0), min(xs.max() + m + 1, src.shape[1])
        crop = src[y0:y1, x0:x1].astype(np.float64) / 255.0
        filled = inpaint_biharmonic(crop, mask[y0:y1, x0:x1] > 0, channel_axis=-1)
        out = src.astype(np.float64)
        out[y0:y1, x0:x1] = filled * 255.0
        return composite(src, out, mask)
