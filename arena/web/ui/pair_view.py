"""HTML and text for a shown pair and for the reveal after a vote (no Gradio needed)."""
from __future__ import annotations

import html
from typing import Any

CHOICE_WORDS = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both bad"}


def pair_html(pair: dict[str, Any] | None) -> str:
    """The source and the two anonymous outputs, side by side (also on a phone)."""
    if not pair:
        return "<div class='pa-empty'>No pair to show yet: build the demo or import outputs.</div>"
    instruction = html.escape(pair["instruction"])

    def figure(url: str, caption: str, cls: str) -> str:
        return (f"<figure class='pa-fig {cls}'><img src='{html.escape(url)}' alt='{caption}'>"
                f"<figcaption>{caption}</figcaption></figure>")

    return (f"<div class='pa-instruction'>{instruction}</div>"
            f"<div class='pa-pair'>{figure(pair['source_url'], 'Source', 'pa-source')}"
            f"{figure(pair['left_url'], 'A', 'pa-a')}{figure(pair['right_url'], 'B', 'pa-b')}</div>")


def _seconds(value: float | None) -> str:
    if value is None:
        return "latency unknown"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def reveal_markdown(receipt: dict[str, Any]) -> str:
    """Who made A and B, with their latencies, after a vote."""
    return (f"**You voted {CHOICE_WORDS[receipt['choice']]}.** "
            f"A was **{receipt['left_model']}** ({_seconds(receipt['left_latency_s'])}), "
            f"B was **{receipt['right_model']}** ({_seconds(receipt['right_latency_s'])}).")
