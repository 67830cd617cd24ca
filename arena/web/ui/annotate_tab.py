"""The Annotate tab: an annotator works through their queue (see :mod:`arena.collect.annotation`).

The annotator types their id, or arrives with ``?annotator=ID`` in the address (the link
``arena queue`` prints), and sees "Item 7 of 50", the pair, four vote buttons and Skip (keys
1-4 as on the Vote tab), the models revealed after each vote, then the next item, and a
finished screen at the end that offers the skipped items again. The queue is in the database,
so a reload or another browser resumes at the first pending item.

The callbacks are the plain functions :func:`open_queue`, :func:`vote_and_next`,
:func:`skip_and_next` and :func:`review_skipped`; each returns a :class:`Screen`.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from arena.collect.annotation import (AnnotationError, Progress, next_item, progress,
                                      requeue_skipped, skip, vote)
from arena.collect.voting import VoteError
from arena.context import Arena
from arena.web.ui.pair_view import pair_html, reveal_markdown

BUTTONS = (("left", "A better", "ann-a"), ("right", "B better", "ann-b"),
           ("tie", "Tie", "ann-tie"), ("both_bad", "Both bad", "ann-bad"))
SKIP_ID = "ann-skip"
PROMPT = ("<div class='pa-empty'>Enter the annotator id the organiser gave you, or open the "
          "link they sent (it ends in <code>?annotator=…</code>).</div>")


@dataclass(frozen=True)
class Screen:
    """What the tab shows: ``state`` is the item on screen (None when there is none)."""

    state: dict[str, Any] | None
    annotator: str
    header: str
    page: str
    reveal: str = ""
    voting: bool = False  # the vote and Skip buttons
    review: bool = False  # the button that brings the skipped items back


def _message(text: str) -> str:
    return f"<div class='pa-empty'>{html.escape(text)}</div>"


def _checks_line(p: Progress) -> str:
    parts = []
    if p.gold_decisive:
        parts.append(f"gold pairs {p.gold_right}/{p.gold_decisive} right")
    if p.repeat_pairs:
        parts.append(f"repeated pairs {p.repeat_same}/{p.repeat_pairs} answered the same")
    return f" Planted checks: {', '.join(parts)}." if parts else ""


def _finished(annotator: str, p: Progress, reveal: str) -> Screen:
    skipped = f", {p.skipped} skipped" if p.skipped else ""
    page = (f"<div class='pa-done'><strong>All done: {p.done} voted{skipped}.</strong> "
            f"Thank you!{html.escape(_checks_line(p))}</div>")
    return Screen(None, annotator, f"**Queue finished** · {p.total} items", page, reveal,
                  review=p.skipped > 0)


def open_queue(arena: Arena, annotator: str | None, reveal: str = "") -> Screen:
    """The annotator's current item (the first pending one), or the finished screen."""
    annotator = (annotator or "").strip()
    if not annotator:
        return Screen(None, "", "", PROMPT, reveal)
    try:
        item = next_item(arena, annotator)
        state = progress(arena, annotator)
    except AnnotationError as exc:
        return Screen(None, annotator, "", _message(str(exc)), reveal)
    if item is None:
        return _finished(annotator, state, reveal)
    header = (f"**Item {item.number} of {item.total}** · {state.done} done · "
              f"{state.skipped} skipped · task {item.pair['task']}")
    current = {"annotator": annotator, "assignment_id": item.assignment_id, "shown_at": time.time()}
    return Screen(current, annotator, header, pair_html(item.pair), reveal, voting=True)


def vote_and_next(arena: Arena, choice: str, state: dict[str, Any] | None,
                  annotator: str | None = None) -> Screen:
    """Record ``choice`` on the item on screen, then show the next with the reveal."""
    if not state:
        return open_queue(arena, annotator)
    duration = int((time.time() - state["shown_at"]) * 1000)
    try:
        receipt, created = vote(arena, state["annotator"], state["assignment_id"], choice, duration)
        reveal = reveal_markdown(receipt) if created else "Already recorded: " + reveal_markdown(receipt)
    except (AnnotationError, VoteError) as exc:
        reveal = f"Vote not recorded: {exc}"
    return open_queue(arena, state["annotator"], reveal)


def skip_and_next(arena: Arena, state: dict[str, Any] | None, annotator: str | None = None) -> Screen:
    """Skip the item on screen (it does not come back unless asked), then show the next."""
    if not state:
        return open_queue(arena, annotator)
    try:
        skip(arena, state["annotator"], state["assignment_id"])
        reveal = "Skipped."
    except AnnotationError as exc:
        reveal = f"Not skipped: {exc}"
    return open_queue(arena, state["annotator"], reveal)


def review_skipped(arena: Arena, annotator: str | None) -> Screen:
    """Bring the skipped items back into the queue and show the first of them."""
    annotator = (annotator or "").strip()
    try:
        n = requeue_skipped(arena, annotator)
    except AnnotationError as exc:
        return Screen(None, annotator, "", _message(str(exc)))
    return open_queue(arena, annotator, f"{n} skipped item{'s' if n != 1 else ''} back in the queue.")


def annotator_from(text: str | None, request: Any = None) -> str:
    """The id typed in the box, else the ``annotator`` query parameter of the page's address."""
    if text and text.strip():
        return text.strip()
    params = getattr(request, "query_params", None) or {}
    return (params.get("annotator") or "").strip()


def tab_from_url(request: gr.Request):
    """For the page's ``load`` with a ``gr.Tabs`` as output: open the Annotate tab (id
    ``"annotate"``) when the address has ``?annotator=ID``, else leave the tabs as they are."""
    return gr.update(selected="annotate") if annotator_from("", request) else gr.update()


def screen_outputs(screen: Screen) -> list[Any]:
    """The values for the tab's outputs, in the order :func:`build_annotate_tab` returns them."""
    return [screen.state, screen.annotator, screen.header, screen.page, screen.reveal,
            gr.update(visible=screen.voting), gr.update(visible=screen.review)]


def build_annotate_tab(arena: Arena):
    """Lay out the Annotate tab inside the current Blocks.

    Returns ``(inputs, show, outputs)``: binding ``show`` with these inputs and outputs to the
    tab's ``select`` and to the page's ``load`` opens the queue named in the box or in the
    ``?annotator=ID`` query parameter (nothing is issued: it shows the current pending item).
    """
    state = gr.State(None)
    with gr.Row(equal_height=True):
        annotator = gr.Textbox(show_label=False, container=False, elem_id="ann-id", scale=4,
                               min_width=0, placeholder="Annotator id (from the organiser's link)")
        open_button = gr.Button("Open", elem_id="ann-open", scale=1, min_width=0)
    header = gr.Markdown("", elem_id="ann-progress")
    page = gr.HTML(PROMPT, elem_id="ann-pair")
    with gr.Row(equal_height=True, elem_classes="pa-buttons", visible=False) as vote_row:
        buttons = [gr.Button(label, elem_id=elem_id, min_width=0, size="sm",
                             variant="primary" if choice in ("left", "right") else "secondary")
                   for choice, label, elem_id in BUTTONS]
        skip_button = gr.Button("Skip", elem_id=SKIP_ID, min_width=0, size="sm", variant="secondary")
    reveal = gr.Markdown("", elem_id="ann-reveal")
    with gr.Column(visible=False) as review_box:
        review_button = gr.Button("Go back to the skipped items", elem_id="ann-review")
    gr.Markdown("Keys: **1** A better · **2** B better · **3** tie · **4** both bad. "
                "Model names are shown after you vote. Judge the pairs the organiser queued for "
                "you, in order; skipped pairs come back only if you ask at the end. You can stop "
                "at any time and go on later with the same id or link.", elem_classes="pa-help")

    outputs = [state, annotator, header, page, reveal, vote_row, review_box]

    def show(annotator_text: str, request: gr.Request):
        return screen_outputs(open_queue(arena, annotator_from(annotator_text, request)))

    open_button.click(lambda a: screen_outputs(open_queue(arena, a)), annotator, outputs,
                      api_name="annotate_open")
    annotator.submit(lambda a: screen_outputs(open_queue(arena, a)), annotator, outputs,
                     api_name=False)
    for (choice, _, _), button in zip(BUTTONS, buttons):
        button.click(lambda s, a, c=choice: screen_outputs(vote_and_next(arena, c, s, a)),
                     [state, annotator], outputs, api_name=f"annotate_{choice}")
    skip_button.click(lambda s, a: screen_outputs(skip_and_next(arena, s, a)),
                      [state, annotator], outputs, api_name="annotate_skip")
    review_button.click(lambda a: screen_outputs(review_skipped(arena, a)), annotator, outputs,
                        api_name="annotate_review_skipped")
    return [annotator], show, outputs
