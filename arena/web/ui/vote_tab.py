"""The Vote tab: a pair, four vote buttons (and keys 1-4), the reveal, then the next pair.

The voter is the identity in the page's signed cookie (:mod:`arena.web.visitors`), never a
value the browser keeps or sends in an event; changing the task skips the open pair (recorded)
before the next one is drawn.
"""
from __future__ import annotations

import time

import gradio as gr
from fastapi import HTTPException

from arena.collect.identity import COOKIE
from arena.collect.sampling import NoPairError
from arena.collect.voting import VoteError, issue_pair, record_skip, record_vote
from arena.context import Arena
from arena.web.ui.pair_view import pair_html, reveal_markdown
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
    state = {"impression_id": pair["impression_id"], "token": pair["token"], "task": pair["task"],
             "shown_at": time.time()}
    return state, pair_html(pair)


def vote_and_advance(arena: Arena, choice: str, state: dict | None, task: str | None,
                     voter: str | None) -> tuple[dict | None, str, str]:
    """Record the vote on the shown pair, then issue the next; returns (state, HTML, reveal)."""
    if not state:
        new_state, page = next_pair(arena, task, voter)
        return new_state, page, ""
    duration = int((time.time() - state["shown_at"]) * 1000)
    try:
        receipt, _ = record_vote(arena, state["impression_id"], state["token"], choice, duration)
        reveal = reveal_markdown(receipt)
    except VoteError as exc:
        reveal = f"Vote not recorded: {exc}"
    new_state, page = next_pair(arena, task, voter)
    return new_state, page, reveal


def change_task(arena: Arena, state: dict | None, task: str | None,
                voter: str | None) -> tuple[dict | None, str, str]:
    """Skip the open pair when it is not of the chosen task, then show one that is."""
    wanted = None if task in (None, "", "any") else task
    if state and wanted is not None and state.get("task") != wanted:
        try:
            record_skip(arena, state["impression_id"], state["token"])
        except VoteError:
            pass            # voted or expired meanwhile: nothing is open
    new_state, page = next_pair(arena, task, voter)
    return new_state, page, ""


def build_vote_tab(arena: Arena, visitors: Visitors, blocks: gr.Blocks, menus: TaskMenus) -> None:
    """Lay out the Vote tab inside the current Blocks."""
    state = gr.State(None)
    task = menus.dropdown([("Any task", "any")], value="any", label="Task", elem_id="task-select")
    page = gr.HTML(pair_html(None), elem_id="pair")
    with gr.Row(equal_height=True, elem_classes="pa-buttons"):
        buttons = [gr.Button(label, elem_id=elem_id, min_width=0,
                             variant="primary" if choice in ("left", "right") else "secondary")
                   for choice, label, elem_id in BUTTONS]
    reveal = gr.Markdown("", elem_id="reveal")
    gr.Markdown("Keys: **1** A better · **2** B better · **3** tie · **4** both bad. "
                "Model names are shown after you vote.", elem_classes="pa-help")

    def shown(fn, *args: object) -> tuple:
        try:
            return fn(*args)
        except VoteError as exc:        # out of new identities at this address
            return None, f"<div class='pa-empty'>{exc}</div>", ""

    def on_load(task_name: str, request: gr.Request):
        return shown(lambda: (*next_pair(arena, task_name, voter_of(visitors, request)), ""))

    def on_task(s: dict | None, task_name: str, request: gr.Request):
        return shown(lambda: change_task(arena, s, task_name, voter_of(visitors, request)))

    def voter_button(choice: str):
        def on_vote(s: dict | None, task_name: str, request: gr.Request):
            return shown(lambda: vote_and_advance(arena, choice, s, task_name,
                                                  voter_of(visitors, request)))
        return on_vote

    outputs = [state, page, reveal]
    task.change(on_task, [state, task], outputs, api_name="change_task")
    for (choice, _, _), button in zip(BUTTONS, buttons):
        button.click(voter_button(choice), [state, task], outputs, api_name=f"vote_{choice}")
    blocks.load(on_load, [task], outputs, api_name="start")
