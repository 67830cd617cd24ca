"""Text recognition with RapidOCR (PP-OCR models in ONNX, shipped inside the ``rapidocr`` wheel).

The engine is created once, on first use, and shared.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .pixels import mask_region
from .text import normalize_text, normalized_edit_distance

_LOCK = threading.Lock()


@dataclass(frozen=True)
class OcrReading:
    """Text read from an image: the lines in reading order, their confidences, and the joined text."""

    text: str
    lines: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()


#: Shortest side, in pixels, the text detector enlarges an image to. RapidOCR's default (736)
#: enlarges a 320×128 crop to 1840×736 and takes about 1.5 s on a CPU; 256 reads the same test
#: strings in about 0.25 s.
DETECTOR_MIN_SIDE = 256


def ocr_available() -> bool:
    """Whether ``rapidocr`` and ``onnxruntime`` are installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("rapidocr", "onnxruntime"))


@functools.lru_cache(maxsize=None)
def ocr_engine(threads: int | None = None):
    """The shared RapidOCR engine (created on first call).

    Parameters
    ----------
    threads : int, optional
        onnxruntime intra-op threads; ``None`` lets onnxruntime choose.
    """
    from rapidocr import RapidOCR

    params = {"Global.log_level": "warning", "Det.limit_side_len": DETECTOR_MIN_SIDE}
    if threads is not None:
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
    return RapidOCR(params=params)


def text_box(
    mask: Image.Image, size: tuple[int, int], margin: float = 0.25
) -> tuple[int, int, int, int] | None:
    """Bounding box of the mask, grown by ``margin`` × its height on each side (at least 8 px)."""
    region = mask_region(mask, size)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    pad = max(8, int(round(margin * (bottom - top))))
    width, height = size
    return (max(0, left - pad), max(0, top - pad), min(width, right + pad), min(height, bottom + pad))


def read_text(
    image: Image.Image, mask: Image.Image | None = None, threads: int | None = None
) -> OcrReading:
    """Recognise the text in ``image``, or in the box around ``mask`` when one is given.

    Returns
    -------
    OcrReading
        Empty text when nothing is detected.
    """
    image = image.convert("RGB")
    if mask is not None:
        box = text_box(mask, image.size)
        if box is not None:
            image = image.crop(box)
    engine = ocr_engine(threads)
    with _LOCK:
        result = engine(np.asarray(image))
    lines = tuple(str(t) for t in (getattr(result, "txts", None) or ()))
    scores = tuple(float(s) for s in (getattr(result, "scores", None) or ()))
    return OcrReading(" ".join(lines), lines, scores)


def text_metrics(reading: OcrReading | str, target_text: str | None = None,
                 old_text: str | None = None, case_sensitive: bool = False) -> dict[str, float]:
    """Compare recognised text with the target text and the text it should replace.

    Texts are compared after :func:`~models.metrics.text.normalize_text` (whitespace ignored,
    case ignored unless ``case_sensitive``).

    Returns
    -------
    dict
        ``ocr_cer``: Levenshtein distance to the target divided by the longer length (0 is a
        perfect match, 1 nothing in common); ``ocr_exact``: 1.0 if equal, else 0.0;
        ``old_text_gone``: 1.0 if the old text occurs no more often than it does inside the
        target text (so "OPEN" → "REOPEN" can pass), else 0.0.
    """
    text = reading.text if isinstance(reading, OcrReading) else reading
    seen = normalize_text(text, case_sensitive)
    out: dict[str, float] = {}
    if target_text is not None:
        target = normalize_text(target_text, case_sensitive)
        out["ocr_cer"] = normalized_edit_distance(seen, target)
        out["ocr_exact"] = float(seen == target)
    if old_text:
        old = normalize_text(old_text, case_sensitive)
        allowed = normalize_text(target_text, case_sensitive).count(old) if target_text else 0
        out["old_text_gone"] = float(old == "" or seen.count(old) <= allowed)
    return out
