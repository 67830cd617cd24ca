"""The Vote tab: a pair, four vote buttons (and keys 1-4), the reveal, then the next pair."""
from __future__ import annotations

import secrets
import time

import gradio as gr

from arena.collect.sampling import NoPairError
from arena.collect.voting import VoteError, issue_pair, record_vote
from arena.context import Arena
from arena.web.ui.pair_view import pair_html, reveal_markdown
from arena.web.ui.task_menus import TaskMenus

BUTTONS = (("left", "A is better", "vote-a"), ("right", "B is better", "vote-b"),
           ("tie", "Tie", "vote-tie"), ("both_bad", "Both bad", "vote-bad"))


def new_voter_id() -> str:
    return secrets.token_urlsafe(16)


def next_pair(arena: Arena, task: str | None, voter: str | None) -> tuple[dict | None, str]:
    """Issue the next impression; returns (state, page HTML)."""
    try:
        pair = issue_pair(arena, task or None, voter or None)
    except NoPairError:
        return None, pair_html(None)
    state = {"impression_id": pair["impression_id"], "token": pair["token"], "shown_at": time.time()}
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


def build_vote_tab(arena: Arena, blocks: gr.Blocks, menus: TaskMenus) -> None:
    """Lay out the Vote tab inside the current Blocks."""
    voter = gr.BrowserState("", storage_key="pareto-arena-voter", secret=arena.secret.hex()[:32])
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
    voter_tag = gr.Markdown("", elem_id="voter-tag", elem_classes="pa-help")

    def on_load(voter_id: str, task_name: str):
        voter_id = voter_id or new_voter_id()
        new_state, html = next_pair(arena, task_name, voter_id)
        return voter_id, new_state, html, "", f"Voting as `{voter_id[:8]}`"

    def on_task(voter_id: str, task_name: str):
        new_state, html = next_pair(arena, task_name, voter_id or None)
        return new_state, html, ""

    outputs = [state, page, reveal]
    task.change(on_task, [voter, task], outputs, api_name="change_task")
    for (choice, _, _), button in zip(BUTTONS, buttons):
        button.click(lambda s, t, v, c=choice: vote_and_advance(arena, c, s, t, v),
                     [state, task, voter], outputs, api_name=f"vote_{choice}")
    blocks.load(on_load, [voter, task], [voter, state, page, reveal, voter_tag], api_name="start")
