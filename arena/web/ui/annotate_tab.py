"""The Annotate tab: an annotator works through their queue (see :mod:`arena.collect.annotation`).

The annotator types their id, or arrives with ``?annotator=ID`` in the address (the link
``arena queue`` prints), and sees "Item 7 of 50", the pair, four vote buttons and Skip (keys
1-4 as on the Vote tab), the models revealed under the images after each vote, then the next
item on *Next* (button or Enter), and a
finished screen at the end that offers the skipped items again. The queue is in the database,
so a reload or another browser resumes at the first pending item.

The callbacks are the plain functions :func:`open_queue`,
:func:`vote_and_reveal`, :func:`next_screen`, :func:`skip_and_next` and :func:`review_skipped`; each returns a :class:`Screen`.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from arena.collect.annotation import (AnnotationError, Progress, next_item, progress,
                                      requeue_skipped, skip, vote)
from arena.collect.voting import TooFast, VoteError
from arena.context import Arena
from arena.web.ui.pair_view import CHOICE_WORDS, TOO_FAST, pair_html, reveal_markdown

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
    revealed: bool = False  # the item just voted, its models named: the Next button


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
    current = {"annotator": annotator, "assignment_id": item.assignment_id, "shown_at": time.time(),
               "pair": dict(item.pair), "header": header}
    return Screen(current, annotator, header, pair_html(item.pair), reveal, voting=True)


def vote_and_reveal(arena: Arena, choice: str, state: dict[str, Any] | None,
                    annotator: str | None = None) -> Screen:
    """Record ``choice`` on the item on screen and name its models under the same images; the
    next item comes with :func:`next_screen`. A vote on an item already revealed stores nothing;
    one refused as too fast leaves the item on screen to be voted again."""
    if not state:
        return open_queue(arena, annotator)
    who = state["annotator"]
    if state.get("receipt"):
        return _revealed(state, state["receipt"], True)
    duration = int((time.time() - state["shown_at"]) * 1000)
    try:
        receipt, created = vote(arena, who, state["assignment_id"], choice, duration)
    except TooFast:
        return Screen(state, who, state.get("header", ""), pair_html(state.get("pair")),
                      TOO_FAST, voting=True)
    except (AnnotationError, VoteError) as exc:
        return open_queue(arena, who, f"Vote not recorded: {exc}")
    return _revealed({**state, "receipt": receipt}, receipt, not created)


def _revealed(state: dict[str, Any], receipt: dict[str, Any], again: bool) -> Screen:
    text = reveal_markdown(receipt)
    note = f"You voted {CHOICE_WORDS[receipt['choice']]}. Next item: the button or Enter."
    if state.get("pair") is None:        # an item on screen from before the reveal step
        return Screen(state, state["annotator"], state.get("header", ""), "", text, revealed=True)
    return Screen(state, state["annotator"], state.get("header", ""),
                  pair_html(state["pair"], receipt, note),
                  ("Already recorded: " + text) if again else text, revealed=True)


def next_screen(arena: Arena, state: dict[str, Any] | None, annotator: str | None = None) -> Screen:
    """The next pending item once the one on screen is revealed (or the same item while it
    waits for its vote: Next skips nothing)."""
    who = (state or {}).get("annotator") or annotator
    if state and not state.get("receipt") and state.get("pair"):
        return Screen(state, who, state.get("header", ""), pair_html(state["pair"]), voting=True)
    return open_queue(arena, who)


def vote_and_next(arena: Arena, choice: str, state: dict[str, Any] | None,
                  annotator: str | None = None) -> Screen:
    """Vote on the item on screen, then show the next with the reveal (for scripts; the tab
    reveals first and moves on with Next)."""
    screen = vote_and_reveal(arena, choice, state, annotator)
    if not screen.revealed:
        return screen
    return open_queue(arena, screen.annotator, screen.reveal)


def skip_and_next(arena: Arena, state: dict[str, Any] | None, annotator: str | None = None) -> Screen:
    """Skip the item on screen (it does not come back unless asked), then show the next."""
    if not state:
        return open_queue(arena, annotator)
    if state.get("receipt"):
        return next_screen(arena, state, annotator)
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
            gr.update(visible=screen.voting or screen.revealed), gr.update(visible=screen.review)]


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
    page = gr.HTML(PROMPT, elem_id="ann-pair", padding=False)
    reveal = gr.Markdown("", elem_id="ann-reveal", elem_classes="pa-message")
    with gr.Column(visible=False) as vote_row:      # both rows: CSS shows one by the phase
        with gr.Row(equal_height=True, elem_classes="pa-buttons", elem_id="ann-vote-row"):
            buttons = [gr.Button(label, elem_id=elem_id, min_width=0,
                                 variant="primary" if choice in ("left", "right") else "secondary")
                       for choice, label, elem_id in BUTTONS]
            skip_button = gr.Button("Skip", elem_id=SKIP_ID, min_width=0, variant="secondary")
        with gr.Row(elem_classes="pa-buttons pa-next-row", elem_id="ann-next-row"):
            next_button = gr.Button("Next item", elem_id="ann-next", variant="primary", min_width=0)
    with gr.Column(visible=False) as review_box:
        review_button = gr.Button("Go back to the skipped items", elem_id="ann-review")
    gr.Markdown("Keys: **1** A better · **2** B better · **3** tie · **4** both bad · **Enter** "
                "next item. Tap an image to look closer. Model names are shown after you vote. Judge the pairs the organiser queued for "
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
        button.click(lambda s, a, c=choice: screen_outputs(vote_and_reveal(arena, c, s, a)),
                     [state, annotator], outputs, api_name=f"annotate_{choice}",
                     show_progress="hidden")
    next_button.click(lambda s, a: screen_outputs(next_screen(arena, s, a)), [state, annotator],
                      outputs, api_name="annotate_next", show_progress="hidden")
    skip_button.click(lambda s, a: screen_outputs(skip_and_next(arena, s, a)),
                      [state, annotator], outputs, api_name="annotate_skip")
    review_button.click(lambda a: screen_outputs(review_skipped(arena, a)), annotator, outputs,
                        api_name="annotate_review_skipped")
    return [annotator], show, outputs
