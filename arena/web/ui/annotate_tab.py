"""The Annotate tab: an annotator works through their queue (see :mod:`arena.collect.annotation`).

The annotator arrives with their private link ``?annotate=TOKEN`` (``arena queue`` and ``arena
campaign create`` print it), or pastes the link or token in the box, and sees "Item 7 of 50", the pair, four vote buttons and Skip (keys
1-4 as on the Vote tab), the models revealed under the images after each vote, then the next
item on *Next* (button or Enter), and a
finished screen at the end that offers the skipped items again. The queue is in the database,
so a reload or another browser resumes at the first pending item.

Every call resolves the token again (:func:`arena.collect.annotator_links.resolve`): an
annotator id, an old ``?annotator=ID`` link or a wrong token opens nothing, through the page or
through Gradio's API alike.

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
from arena.collect.annotator_links import PARAM, resolve
from arena.collect.campaigns import membership
from arena.collect.voting import TooFast, VoteError
from arena.context import Arena
from arena.web.ui.pair_view import CHOICE_WORDS, TOO_FAST, pair_html, reveal_markdown

BUTTONS = (("left", "A better", "ann-a"), ("right", "B better", "ann-b"),
           ("tie", "Tie", "ann-tie"), ("both_bad", "Both bad", "ann-bad"))
SKIP_ID = "ann-skip"
PROMPT = ("<div class='pa-empty'>Open the private link the organiser sent you (it ends in "
          "<code>?annotate=…</code>), or paste it here.</div>")
REFUSED = ("That is not a working private link. Open the link the organiser sent you, or ask "
           "them for a new one.")
OLD_LINK = ("Links with ?annotator= no longer open a queue: ask the organiser for your private "
            "link (it ends in ?annotate=…).")


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


def _who(arena: Arena, credential: str | None) -> str | None:
    """The annotator whose private token (or link) ``credential`` is, else ``None``."""
    return resolve(arena, credential) if credential else None


def _title(arena: Arena, annotator: str) -> str:
    found = membership(arena, annotator)
    return "" if found is None else f"Campaign **{html.escape(found[0])}** · {html.escape(found[1])} · "


def open_queue(arena: Arena, credential: str | None, reveal: str = "") -> Screen:
    """The current item (the first pending one) of the queue ``credential`` opens, or the
    finished screen; a credential that is not a private token opens nothing."""
    credential = (credential or "").strip()
    if not credential:
        return Screen(None, "", "", PROMPT, reveal)
    annotator = _who(arena, credential)
    if annotator is None:
        return Screen(None, credential, "", _message(REFUSED), reveal)
    try:
        item = next_item(arena, annotator)
        state = progress(arena, annotator)
    except AnnotationError as exc:
        return Screen(None, credential, "", _message(str(exc)), reveal)
    if item is None:
        return _finished(credential, state, reveal)
    header = (f"{_title(arena, annotator)}**Item {item.number} of {item.total}** · {state.done} done · "
              f"{state.skipped} skipped · task {item.pair['task']}")
    current = {"annotator": annotator, "assignment_id": item.assignment_id, "shown_at": time.time(),
               "pair": dict(item.pair), "header": header, "credential": credential}
    return Screen(current, credential, header, pair_html(item.pair), reveal, voting=True)


def _checked(arena: Arena, state: dict[str, Any] | None, credential: str | None) -> bool:
    """Whether the item on screen belongs to the annotator ``credential`` opens."""
    return bool(state) and _who(arena, credential) == state.get("annotator")


def _credential(state: dict[str, Any] | None, credential: str | None) -> str:
    """The credential to check: the one given (the box, through the page or the API), or for
    a Python caller passing none, the one the item on screen was opened with."""
    return (state or {}).get("credential", "") if credential is None else credential


def vote_and_reveal(arena: Arena, choice: str, state: dict[str, Any] | None,
                    credential: str | None = None) -> Screen:
    """Record ``choice`` on the item on screen and name its models under the same images; the
    next item comes with :func:`next_screen`. A vote on an item already revealed stores nothing;
    one refused as too fast leaves the item on screen to be voted again. Nothing is recorded
    unless ``credential`` is the private token of the item's annotator."""
    credential = _credential(state, credential)
    if not _checked(arena, state, credential):
        return open_queue(arena, credential)
    who = state["annotator"]
    if state.get("receipt"):
        return _revealed(state, state["receipt"], True)
    duration = int((time.time() - state["shown_at"]) * 1000)
    try:
        receipt, created = vote(arena, who, state["assignment_id"], choice, duration)
    except TooFast:
        return Screen(state, credential, state.get("header", ""), pair_html(state.get("pair")),
                      TOO_FAST, voting=True)
    except (AnnotationError, VoteError) as exc:
        return open_queue(arena, credential, f"Vote not recorded: {exc}")
    return _revealed({**state, "receipt": receipt}, receipt, not created)


def _revealed(state: dict[str, Any], receipt: dict[str, Any], again: bool) -> Screen:
    text = reveal_markdown(receipt)
    note = f"You voted {CHOICE_WORDS[receipt['choice']]}. Next item: the button or Enter."
    box = state.get("credential", "")
    if state.get("pair") is None:        # an item on screen from before the reveal step
        return Screen(state, box, state.get("header", ""), "", text, revealed=True)
    return Screen(state, box, state.get("header", ""), pair_html(state["pair"], receipt, note),
                  ("Already recorded: " + text) if again else text, revealed=True)


def next_screen(arena: Arena, state: dict[str, Any] | None, credential: str | None = None) -> Screen:
    """The next pending item once the one on screen is revealed (or the same item while it
    waits for its vote: Next skips nothing)."""
    credential = _credential(state, credential)
    if state and _checked(arena, state, credential) and not state.get("receipt") \
            and state.get("pair"):
        return Screen(state, credential, state.get("header", ""), pair_html(state["pair"]),
                      voting=True)
    return open_queue(arena, credential)


def vote_and_next(arena: Arena, choice: str, state: dict[str, Any] | None,
                  credential: str | None = None) -> Screen:
    """Vote on the item on screen, then show the next with the reveal (for scripts; the tab
    reveals first and moves on with Next)."""
    screen = vote_and_reveal(arena, choice, state, credential)
    if not screen.revealed:
        return screen
    return open_queue(arena, screen.annotator, screen.reveal)


def skip_and_next(arena: Arena, state: dict[str, Any] | None,
                  credential: str | None = None) -> Screen:
    """Skip the item on screen (it does not come back unless asked), then show the next."""
    credential = _credential(state, credential)
    if not _checked(arena, state, credential):
        return open_queue(arena, credential)
    if state.get("receipt"):
        return next_screen(arena, state, credential)
    try:
        skip(arena, state["annotator"], state["assignment_id"])
        reveal = "Skipped."
    except AnnotationError as exc:
        reveal = f"Not skipped: {exc}"
    return open_queue(arena, credential, reveal)


def review_skipped(arena: Arena, credential: str | None) -> Screen:
    """Bring the skipped items back into the queue and show the first of them."""
    credential = (credential or "").strip()
    annotator = _who(arena, credential)
    if annotator is None:
        return open_queue(arena, credential)
    try:
        n = requeue_skipped(arena, annotator)
    except AnnotationError as exc:
        return Screen(None, credential, "", _message(str(exc)))
    return open_queue(arena, credential, f"{n} skipped item{'s' if n != 1 else ''} back in the queue.")


def credential_from(text: str | None, request: Any = None) -> str:
    """What was typed in the box, else the ``annotate`` query parameter of the page's address."""
    if text and text.strip():
        return text.strip()
    params = getattr(request, "query_params", None) or {}
    return (params.get(PARAM) or "").strip()


def _old_link(request: Any) -> bool:
    params = getattr(request, "query_params", None) or {}
    return bool((params.get("annotator") or "").strip())


def tab_from_url(request: gr.Request):
    """For the page's ``load`` with a ``gr.Tabs`` as output: open the Annotate tab (id
    ``"annotate"``) when the address has ``?annotate=TOKEN`` (or an old ``?annotator=``),
    else leave the tabs as they are."""
    return gr.update(selected="annotate") if credential_from("", request) or _old_link(request) \
        else gr.update()


def screen_outputs(screen: Screen) -> list[Any]:
    """The values for the tab's outputs, in the order :func:`build_annotate_tab` returns them."""
    return [screen.state, screen.annotator, screen.header, screen.page, screen.reveal,
            gr.update(visible=screen.voting or screen.revealed), gr.update(visible=screen.review)]


def build_annotate_tab(arena: Arena):
    """Lay out the Annotate tab inside the current Blocks.

    Returns ``(inputs, show, outputs)``: binding ``show`` with these inputs and outputs to the
    tab's ``select`` and to the page's ``load`` opens the queue of the private link in the box
    or in the ``?annotate=TOKEN`` query parameter (nothing is issued: it shows the current
    pending item).
    """
    state = gr.State(None)
    with gr.Row(equal_height=True):
        annotator = gr.Textbox(show_label=False, container=False, elem_id="ann-id", scale=4,
                               min_width=0, type="password", max_lines=1,
                               placeholder="Your private link from the organiser")
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
                "at any time and go on later with the same link.", elem_classes="pa-help")

    outputs = [state, annotator, header, page, reveal, vote_row, review_box]

    def show(annotator_text: str, request: gr.Request):
        credential = credential_from(annotator_text, request)
        if not credential and _old_link(request):
            return screen_outputs(Screen(None, "", "", _message(OLD_LINK)))
        return screen_outputs(open_queue(arena, credential))

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
