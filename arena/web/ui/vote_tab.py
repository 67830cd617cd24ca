"""The Vote tab: a pair, four vote buttons (and keys 1-4), the reveal under the same images,
then the next pair on *Next* (button or Enter).

The voter is the identity in the page's signed cookie (:mod:`arena.web.visitors`), never a
value the browser keeps or sends in an event; changing the task skips the open pair (recorded)
before the next one is drawn.
"""
from __future__ import annotations

import html
import time

import gradio as gr
from fastapi import HTTPException

from arena.collect.identity import COOKIE
from arena.collect.sampling import NoPairError
from arena.collect.voting import (PairClosed, TooFast, VoteError, issue_pair, record_skip,
                                  record_vote)
from arena.context import Arena
from arena.web.ui.pair_view import CHOICE_WORDS, TOO_FAST, pair_html, reveal_markdown
from arena.web.ui.task_menus import TaskMenus
from arena.web.visitors import Visitors

BUTTONS = (("left", "A is better", "vote-a"), ("right", "B is better", "vote-b"),
           ("tie", "Tie", "vote-tie"), ("both_bad", "Both bad", "vote-bad"))
NO_COOKIE = ("<div class='pa-empty'>Voting needs the page's cookie: reload the page "
             "(with cookies allowed) to get a pair.</div>")


def voter_of(visitors: Visitors, request: gr.Request | None) -> str | None:
    """The identity of the page's cookie (registered on first use), or ``None`` without one.

    Raises :class:`VoteError` when the address has used up its new identities."""
    cookie = dict(request.cookies).get(COOKIE) if request is not None else None
    if not cookie:
        return None
    headers = dict(request.headers)
    address = visitors.address(request.client.host if request.client else None,
                               headers.get("x-forwarded-for"))
    try:
        voter, fresh = visitors.voter(cookie, address)
    except HTTPException as exc:
        raise VoteError(exc.detail) from None
    return None if fresh else voter     # a forged cookie gets no pair


def next_pair(arena: Arena, task: str | None, voter: str | None) -> tuple[dict | None, str]:
    """Issue the voter's next impression (their open one, if any); returns (state, page HTML)."""
    if voter is None:
        return None, NO_COOKIE
    try:
        pair = issue_pair(arena, None if task in (None, "", "any") else task, voter)
    except NoPairError:
        return None, pair_html(None)
    except VoteError as exc:        # racing requests kept ending this voter's pairs
        return None, f"<div class='pa-empty'>{html.escape(str(exc))}</div>"
    shown = {k: pair[k] for k in ("impression_id", "token", "task", "instruction", "source_url",
                                  "left_url", "right_url")}
    return {**shown, "shown_at": time.time(), "receipt": None}, pair_html(pair)


def vote_on_pair(arena: Arena, choice: str, state: dict | None, task: str | None,
                 voter: str | None) -> tuple[dict | None, str, str]:
    """Record the vote on the pair on screen and reveal its models under the same images;
    returns (state, HTML, reveal). The next pair waits for :func:`next_after_reveal`.

    A vote on a pair already revealed stores nothing (a second key press); one the server
    refuses as too fast leaves the pair on screen to be voted again."""
    if not state:
        new_state, page = next_pair(arena, task, voter)
        return new_state, page, ""
    if state.get("receipt"):
        return state, pair_html(state, state["receipt"], _voted(state["receipt"])), \
            reveal_markdown(state["receipt"])
    duration = int((time.time() - state["shown_at"]) * 1000)
    try:
        receipt, _ = record_vote(arena, state["impression_id"], state["token"], choice, duration)
    except TooFast:
        return state, pair_html(state), TOO_FAST
    except PairClosed as exc:
        new_state, page = next_pair(arena, task, voter)
        return new_state, page, f"Vote not recorded: {exc}. Here is a new pair."
    except VoteError as exc:
        return state, pair_html(state), f"Vote not recorded: {exc}"
    state = {**state, "receipt": receipt}
    return state, pair_html(state, receipt, _voted(receipt)), reveal_markdown(receipt)


def _voted(receipt: dict) -> str:
    return f"You voted {CHOICE_WORDS[receipt['choice']]}. Next pair: the button or Enter."


def next_after_reveal(arena: Arena, state: dict | None, task: str | None,
                      voter: str | None) -> tuple[dict | None, str, str]:
    """The next pair once the shown one is voted; while it is not, the same pair again (Next
    is no way to skip a pair unseen)."""
    if state and not state.get("receipt"):
        return state, pair_html(state), ""
    new_state, page = next_pair(arena, task, voter)
    return new_state, page, ""


def vote_and_advance(arena: Arena, choice: str, state: dict | None, task: str | None,
                     voter: str | None) -> tuple[dict | None, str, str]:
    """Vote on the shown pair, then issue the next at once (for scripts; the page reveals
    first and advances on Next)."""
    state, page, reveal = vote_on_pair(arena, choice, state, task, voter)
    if state and state.get("receipt"):
        state, page, _ = next_after_reveal(arena, state, task, voter)
    return state, page, reveal


def change_task(arena: Arena, state: dict | None, task: str | None,
                voter: str | None) -> tuple[dict | None, str, str]:
    """Skip the open pair when it is not of the chosen task, then show one that is."""
    wanted = None if task in (None, "", "any") else task
    if state and not state.get("receipt") and wanted is not None and state.get("task") != wanted:
        try:
            record_skip(arena, state["impression_id"], state["token"])
        except VoteError:
            pass            # voted or expired meanwhile: nothing is open
    if state and not state.get("receipt") and (wanted is None or state.get("task") == wanted):
        return state, pair_html(state), ""
    new_state, page = next_pair(arena, task, voter)
    return new_state, page, ""


def build_vote_tab(arena: Arena, visitors: Visitors, blocks: gr.Blocks, menus: TaskMenus) -> None:
    """Lay out the Vote tab inside the current Blocks.

    The vote buttons show while the pair waits for a vote and *Next pair* once it is revealed
    (CSS reads the pair's ``data-phase``), so one event draws both."""
    state = gr.State(None)
    task = menus.dropdown([("Any task", "any")], value="any", label="Task", show_label=False,
                          container=False, elem_id="task-select", elem_classes="pa-task")
    page = gr.HTML(pair_html(None), elem_id="pair", padding=False)
    reveal = gr.Markdown("", elem_id="reveal", elem_classes="pa-message")
    with gr.Row(equal_height=True, elem_classes="pa-buttons", elem_id="vote-row"):
        buttons = [gr.Button(label, elem_id=elem_id, min_width=0,
                             variant="primary" if choice in ("left", "right") else "secondary")
                   for choice, label, elem_id in BUTTONS]
    with gr.Row(elem_classes="pa-buttons pa-next-row", elem_id="vote-next-row"):
        next_button = gr.Button("Next pair", elem_id="vote-next", variant="primary", min_width=0)
    gr.Markdown("Keys: **1** A better · **2** B better · **3** tie · **4** both bad · **Enter** "
                "next pair. Tap an image to look closer. Model names are shown after you vote.",
                elem_classes="pa-help")

    def shown(fn, *args: object) -> tuple:
        try:
            return fn(*args)
        except VoteError as exc:        # out of new identities at this address
            return None, f"<div class='pa-empty'>{exc}</div>", ""

    def on_load(task_name: str, request: gr.Request):
        return shown(lambda: (*next_pair(arena, task_name, voter_of(visitors, request)), ""))

    def on_task(s: dict | None, task_name: str, request: gr.Request):
        return shown(lambda: change_task(arena, s, task_name, voter_of(visitors, request)))

    def on_next(s: dict | None, task_name: str, request: gr.Request):
        return shown(lambda: next_after_reveal(arena, s, task_name, voter_of(visitors, request)))

    def voter_button(choice: str):
        def on_vote(s: dict | None, task_name: str, request: gr.Request):
            return shown(lambda: vote_on_pair(arena, choice, s, task_name,
                                              voter_of(visitors, request)))
        return on_vote

    outputs = [state, page, reveal]
    quiet = {"show_progress": "hidden"}
    task.change(on_task, [state, task], outputs, api_name="change_task")
    for (choice, _, _), button in zip(BUTTONS, buttons):
        button.click(voter_button(choice), [state, task], outputs, api_name=f"vote_{choice}", **quiet)
    next_button.click(on_next, [state, task], outputs, api_name="next_pair", **quiet)
    blocks.load(on_load, [task], outputs, api_name="start")
