"""HTML and text for a shown pair and for the reveal after a vote (no Gradio needed).

The pair is drawn as the live audience page draws it: on a phone the source is a thumbnail
beside the instruction and the two outputs share the width below it (each larger than the
source); on a wide screen source, A and B stand in a row. Every image opens large when tapped
(the page script, :mod:`arena.web.ui.blocks`), with buttons that flip between source, A and B.

After a vote the same pair stays on screen and each caption names its model with latency and
cost (the reveal sits under the images that were judged); the next pair comes on *Next*. The
``data-phase`` (``vote`` or ``reveal``) and ``data-key`` (new for every drawing) attributes let
the page script hold keys and buttons until a pair has been on screen for a moment.
"""
from __future__ import annotations

import html
import secrets
from typing import Any

CHOICE_WORDS = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both bad"}
ALT = {"source": "Source image, before the edit", "a": "Edit A", "b": "Edit B"}


def _seconds(value: float | None) -> str:
    if value is None:
        return "latency unknown"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def cost_words(cost_usd: float | None) -> str:
    """A price per image as dollars per 1,000 images: ``no cost``, ``$0.04 per 1,000 images``,
    ``under 1¢ per 1,000 images``."""
    if cost_usd is None:
        return "cost unknown"
    if cost_usd == 0:
        return "no cost"
    per = cost_usd * 1000
    return f"${per:,.2f} per 1,000 images" if per >= 0.01 else "under 1¢ per 1,000 images"


def _caption(side: str, receipt: dict[str, Any] | None) -> str:
    letter = side.upper()
    if not receipt:
        return f"<figcaption><b>{letter}</b></figcaption>"
    key = "left" if side == "a" else "right"
    model = html.escape(str(receipt[f"{key}_model"]))
    meta = f"{_seconds(receipt.get(f'{key}_latency_s'))} · {cost_words(receipt.get(f'{key}_cost_usd'))}"
    return (f"<figcaption><b>{letter}</b> <span class='pa-model'>{model}</span>"
            f"<span class='pa-meta'>{html.escape(meta)}</span></figcaption>")


def _figure(url: str, side: str, receipt: dict[str, Any] | None, chosen: bool) -> str:
    cls = f"pa-fig pa-{side}" + (" pa-chosen" if chosen else "")
    caption = "<figcaption><b>Source</b></figcaption>" if side == "source" else _caption(side, receipt)
    return (f"<figure class='{cls}'><img src='{html.escape(url)}' alt='{ALT[side]}' "
            f"data-zoom='{side}' tabindex='0' role='button' aria-label='{ALT[side]}: look closer'>"
            f"{caption}</figure>")


def pair_html(pair: dict[str, Any] | None, receipt: dict[str, Any] | None = None,
              note: str = "") -> str:
    """The source and the two anonymous outputs; with ``receipt`` (after a vote) the models'
    names, latencies and costs under A and B, the chosen side outlined. ``note`` (plain text)
    is shown under the images."""
    if not pair:
        return "<div class='pa-empty'>No pair to show yet: build the demo or import outputs.</div>"
    choice = receipt.get("choice") if receipt else None
    phase = "reveal" if receipt else "vote"
    key = f"{pair.get('impression_id', '')}-{phase}-{secrets.token_hex(4)}"
    note_html = f"<p class='pa-note' role='status'>{html.escape(note)}</p>" if note else ""
    return (f"<div class='pa-view' data-phase='{phase}' data-key='{key}'>"
            f"<div class='pa-grid pa-pair'>"
            f"<div class='pa-ins'><span class='pa-label'>Instruction</span>"
            f"<p class='pa-instruction'>{html.escape(pair['instruction'])}</p></div>"
            f"{_figure(pair['source_url'], 'source', None, False)}"
            f"{_figure(pair['left_url'], 'a', receipt, choice == 'left')}"
            f"{_figure(pair['right_url'], 'b', receipt, choice == 'right')}</div>"
            f"{note_html}</div>")


def reveal_markdown(receipt: dict[str, Any]) -> str:
    """Who made A and B, with their latencies and costs, after a vote."""
    def side(key: str) -> str:
        return (f"**{receipt[f'{key}_model']}** ({_seconds(receipt[f'{key}_latency_s'])}, "
                f"{cost_words(receipt.get(f'{key}_cost_usd'))})")

    return (f"**You voted {CHOICE_WORDS[receipt['choice']]}.** "
            f"A was {side('left')}, B was {side('right')}.")


#: Said when the server refuses a vote that came before the pair could have been looked at.
TOO_FAST = "That was quick: have a look at both edits, then vote again."
