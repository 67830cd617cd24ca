"""Text editors: replace the words inside a text box (the mask) with ``target_text``.

Parameters read from ``request.params``: ``font_size`` (the largest size to draw with; default
60% of the box height) and ``text_color`` (``[r, g, b]``; default: estimated from the box).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.base import EditError, EditRequest
from models.classical.common import ClassicalEditor, composite, edit_mask, rgb_array, ring


@lru_cache(maxsize=128)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def fit_font(text: str, width: int, height: int, max_size: int) -> ImageFont.FreeTypeFont:
    """The largest default font, at most ``max_size`` px, whose ``text`` fits ``width`` × ``height``
    with a small margin (never below 6 px)."""
    size = max(int(max_size), 6)
    while size > 6:
        left, top, right, bottom = _font(size).getbbox(text)
        if right - left <= 0.92 * width and bottom - top <= 0.92 * height:
            break
        size -= 1
    return _font(size)


def draw_text_in_box(image: Image.Image, text: str, box: tuple[int, int, int, int],
                     color: tuple[int, int, int], max_size: int) -> Image.Image:
    """A copy of ``image`` with ``text`` centred in ``box`` (x0, y0, x1, y1, exclusive ends)."""
    x0, y0, x1, y1 = box
    font = fit_font(text, x1 - x0, y1 - y0, max_size)
    out = image.copy()
    ImageDraw.Draw(out).text(((x0 + x1) / 2, (y0 + y1) / 2), text, font=font,
                             fill=tuple(int(c) for c in color), anchor="mm")
    return out


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of the non-zero part of ``mask``, ends exclusive."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class _TextEditor(ClassicalEditor):
    tasks = frozenset({"text_edit"})
    defaults = {"ring_px": 3}

    def _edit(self, request: EditRequest) -> Image.Image:
        if not request.target_text or not request.target_text.strip():
            raise EditError("task 'text_edit' needs a non-empty target_text")
        mask = edit_mask(request)
        src = rgb_array(request.source)
        around = ring(mask, self.settings["ring_px"])
        surface = np.median(src[around if around.any() else mask > 0], axis=0)
        box = mask_box(mask)
        color = request.params.get("text_color")
        if color is None:
            color = _text_color(src, mask, surface)
        size = request.params.get("font_size") or int(0.6 * (box[3] - box[1]))
        cleared = Image.fromarray(self._clear(src, mask, surface), "RGB")
        drawn = draw_text_in_box(cleared, request.target_text.strip(), box, color, int(size))
        return composite(src, np.asarray(drawn), mask)

    def _clear(self, src: np.ndarray, mask: np.ndarray, surface: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _text_color(src: np.ndarray, mask: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Mean colour of the box pixels farthest from the sign's surface colour."""
    pixels = src[mask > 0].astype(np.float64)
    dist = np.linalg.norm(pixels - surface, axis=1)
    return pixels[dist >= np.percentile(dist, 95)].mean(axis=0)


def _strokes(src: np.ndarray, mask: np.ndarray, surface: np.ndarray, threshold: float,
             grow: int) -> np.ndarray:
    """Pixels of the box that differ from the surface colour (the old text), grown by ``grow``."""
    dist = np.linalg.norm(src.astype(np.float64) - surface, axis=2)
    strokes = ((dist > threshold) & (mask > 0)).astype(np.uint8) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return cv2.dilate(strokes, kernel)


class FillMedianText(_TextEditor):
    """Paint the box with the median colour of the pixels around it, then draw the new text."""

    name = "text-fill-median"

    def _clear(self, src, mask, surface):
        out = src.copy()
        out[mask > 0] = np.rint(surface).astype(np.uint8)
        return out


class TeleaText(_TextEditor):
    """Find the old letters (pixels far from the surface colour), erase them with Telea
    inpainting, then draw the new text."""

    name = "text-telea"
    defaults = {**_TextEditor.defaults, "radius": 3, "threshold": 40.0, "grow_px": 2}

    def _clear(self, src, mask, surface):
        strokes = _strokes(src, mask, surface, self.settings["threshold"], self.settings["grow_px"])
        if not strokes.any():
            return src.copy()
        bgr = cv2.cvtColor(src, cv2.COLOR_RGB2BGR)
        filled = cv2.inpaint(bgr, strokes, self.settings["radius"], cv2.INPAINT_TELEA)
        return cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)


class OverdrawText(_TextEditor):
    """Draw the new text over the old one without erasing it: a weak editor, kept as a floor."""

    name = "text-overdraw"

    def _clear(self, src, mask, surface):
        return src.copy()
