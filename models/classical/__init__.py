"""Classical image editors (OpenCV, scikit-image, compositing) and the no-edit baseline.

:func:`classical_editors` returns one of each, with default settings.
"""
from __future__ import annotations

from models.base import Editor
from models.classical.backgrounds import BACKGROUNDS, render_background
from models.classical.baseline import NoEdit
from models.classical.common import ClassicalEditor
from models.classical.compositing import FeatherComposite, HardComposite, MattingComposite
from models.classical.inpainting import BiharmonicInpaint, NavierStokesInpaint, TeleaInpaint
from models.classical.recolor import HueShiftRecolor, LabShiftRecolor, LumaTintRecolor
from models.classical.text import FillMedianText, OverdrawText, TeleaText, draw_text_in_box

__all__ = [
    "BACKGROUNDS", "BiharmonicInpaint", "ClassicalEditor", "FeatherComposite", "FillMedianText",
    "HardComposite", "HueShiftRecolor", "LabShiftRecolor", "LumaTintRecolor", "MattingComposite",
    "NavierStokesInpaint", "NoEdit", "OverdrawText", "TeleaInpaint", "TeleaText",
    "classical_editors", "draw_text_in_box", "render_background",
]


def classical_editors() -> list[Editor]:
    """Every classical editor with its default settings, the no-edit baseline included."""
    return [
        TeleaInpaint(), NavierStokesInpaint(), BiharmonicInpaint(),
        HardComposite(), FeatherComposite(), MattingComposite(),
        FillMedianText(), TeleaText(), OverdrawText(),
        HueShiftRecolor(), LabShiftRecolor(), LumaTintRecolor(),
        NoEdit(),
    ]
