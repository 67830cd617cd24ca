"""The organiser-key field of the Voters and Live tabs, remembered by the browser once it works."""
from __future__ import annotations

from typing import Any

import gradio as gr

from arena.context import Arena
from arena.store.organiser import is_organiser


def key_field(arena: Arena, **textbox: Any) -> tuple[gr.Textbox, gr.BrowserState]:
    """A password box and the browser's remembered key (shared by every tab that needs it)."""
    box = gr.Textbox(label="Organiser key", type="password", max_lines=1, **textbox)
    saved = gr.BrowserState("", storage_key="pareto-arena-organiser", secret=arena.browser_key)
    return box, saved


def given_key(arena: Arena, typed: str | None, remembered: str | None) -> tuple[str, str]:
    """The key to check (typed, else remembered) and the value to remember afterwards."""
    given = (typed or remembered or "").strip()
    if is_organiser(arena.engine, given):
        return given, given
    return given, (remembered or "") if typed else ""   # a typo does not forget a good key
