"""Shared plumbing of the classical editors: request checks, arrays and mask compositing."""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, ClassVar, Mapping

import cv2
import numpy as np
from PIL import Image

from models.base import EditError, EditRequest


class ClassicalEditor:
    """Base of the classical editors.

    Subclasses set ``name``, ``tasks`` and ``defaults`` (their settings) and implement
    :meth:`_edit`. :meth:`edit` checks the task, runs the editor and checks that the result is an
    RGB image the size of the source.

    Parameters
    ----------
    **settings
        Overrides of ``defaults`` (for example ``radius=5``).
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1.0"
    kind: ClassVar[str] = "classical"
    tasks: ClassVar[frozenset[str] | None] = None
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **settings: Any) -> None:
        unknown = set(settings) - set(self.defaults)
        if unknown:
            raise TypeError(f"{self.name}: unknown settings {sorted(unknown)}")
        self.settings = MappingProxyType({**self.defaults, **settings})

    def edit(self, request: EditRequest) -> Image.Image:
        """Return the edited image (RGB, same size as the source).

        Raises
        ------
        EditError
            If the task is not one of ``tasks`` or the request lacks what the editor needs.
        """
        if self.tasks is not None and request.task not in self.tasks:
            raise EditError(f"{self.name} does not do task {request.task!r}")
        out = self._edit(request)
        if out.mode != "RGB" or out.size != request.source.size:
            raise EditError(f"{self.name} produced a {out.mode} {out.size} image")
        return out

    def _edit(self, request: EditRequest) -> Image.Image:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"


def rgb_array(image: Image.Image) -> np.ndarray:
    """The image as an ``(H, W, 3)`` uint8 array."""
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def edit_mask(request: EditRequest) -> np.ndarray:
    """The request's mask as an ``(H, W)`` uint8 array (255 = edit here).

    Raises
    ------
    EditError
        If the mask is missing, of another size than the source, or empty.
    """
    if request.mask is None:
        raise EditError(f"task {request.task!r} needs a mask")
    if request.mask.size != request.source.size:
        raise EditError(f"mask size {request.mask.size} differs from source {request.source.size}")
    mask = np.asarray(request.mask.convert("L"), dtype=np.uint8)
    if not mask.any():
        raise EditError("the mask is empty: nothing to edit")
    return mask


def require_param(request: EditRequest, key: str) -> Any:
    """``request.params[key]``, or :class:`EditError` naming the missing parameter."""
    if key not in request.params or request.params[key] is None:
        raise EditError(f"task {request.task!r} needs params[{key!r}]")
    return request.params[key]


def require_color(request: EditRequest, key: str = "color") -> np.ndarray:
    """An ``[r, g, b]`` parameter (0-255) as a float array, checked."""
    value = require_param(request, key)
    try:
        color = np.asarray(value, dtype=np.float64).reshape(3)
    except (TypeError, ValueError):
        raise EditError(f"params[{key!r}] must be [r, g, b], got {value!r}") from None
    if not np.all((color >= 0) & (color <= 255)):
        raise EditError(f"params[{key!r}] must lie in 0-255, got {value!r}")
    return color


def composite(source: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> Image.Image:
    """Blend ``edited`` into ``source`` through ``mask`` (0 keeps the source, 255 takes the edit).

    Pixels where the mask is 0 come back byte-identical to the source.

    Parameters
    ----------
    source, edited : ndarray
        ``(H, W, 3)`` images; ``edited`` may be float and is rounded and clipped to 0-255.
    mask : ndarray
        ``(H, W)`` uint8 weights.
    """
    out = source.copy()
    sel = mask > 0
    edit = np.clip(np.rint(edited[sel]), 0, 255).astype(np.int32)
    weight = mask[sel].astype(np.int32)[:, None]
    out[sel] = (source[sel].astype(np.int32) * (255 - weight) + edit * weight + 127) // 255
    return Image.fromarray(out, "RGB")


def ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Boolean ring of ``width`` pixels just outside the non-zero part of ``mask``."""
    inside = (mask > 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return (cv2.dilate(inside, kernel) > 0) & (inside == 0)
