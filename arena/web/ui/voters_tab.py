"""The Voters tab (for the organiser): flagged voters with their reasons, their votes, and how
the ranking moves without them. The numbers come from :mod:`arena.views.voters`; nothing is
shown without the organiser key (:mod:`arena.store.organiser`), checked on the server for every call."""
from __future__ import annotations

from typing import Any

import gradio as gr

from arena.context import Arena
from arena.store.organiser import WHERE, is_organiser
from arena.views.cached import voters_of
from arena.views.leaderboard import OVERALL
from arena.views.voters import voter_votes
from arena.web.ui.organiser_field import given_key, key_field
from arena.web.ui.task_menus import TaskMenus

FLAGGED_HEADERS = ["Voter", "Votes", "Reliability", "Why flagged"]
VOTE_HEADERS = ["When", "Task", "Left", "Right", "Choice", "Seconds", "Check"]
MOVE_HEADERS = ["Model", "Rank (all votes)", "Rank", "Change", "Score (all votes)", "Score"]
MODES = {"Exclude flagged voters": "exclude", "Also weigh the rest by reliability": "weighted"}
LOCKED = ("**For the organiser.** Enter the organiser key to see voters, their flags and their "
          f"votes. {WHERE[0].upper() + WHERE[1:]}.")
WRONG_KEY = "**That is not the organiser key.** " + LOCKED.split("**", 2)[2].strip()


def summary_markdown(view: dict[str, Any]) -> str:
    """One paragraph about the crowd: voters checked and flagged, planted checks."""
    s = view["summary"]
    if s is None:
        return view["note"] or "No votes with a voter id yet."
    if not s["tested"]:
        return (f"**No voter has 20 decisive votes yet**, so none is checked "
                f"({_count(s['voters'], 'voter')}, {_count(s['votes'], 'vote')} so far).")
    text = (f"**{s['flagged']} of {s['tested']} voters checked are flagged** ({s['voters']} voters "
            f"in all; voters need 20 decisive votes to be checked). Their votes: "
            f"{s['flagged_votes']} of {s['votes']}. Each check is corrected for the number of "
            f"voters (Bonferroni, z beyond {s['z_threshold']:.1f}).")
    retest = s.get("retest") or {}
    if retest.get("pairs"):
        kappa = f", Cohen's kappa {retest['kappa']:.2f}" if retest.get("kappa") is not None else ""
        text += (f" Repeated pairs: {100 * retest['agreement']:.0f}% same answer over "
                 f"{retest['pairs']}{kappa}.")
    gold = s.get("gold") or {}
    if gold.get("decisive"):
        text += (f" Gold pairs: {100 * gold['accuracy']:.0f}% right over {gold['decisive']} "
                 f"(95% interval {100 * gold['low']:.0f}-{100 * gold['high']:.0f}%).")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _fmt(x, digits: int = 2):
    return "" if x is None else round(x, digits)


def overview_tables(arena: Arena, key: str | None, mode_label: str, task: str):
    """Summary, flagged-voter rows, voter choices and rank-move rows for the tab; with a wrong
    or missing organiser ``key``, only a note saying how to get one."""
    if not is_organiser(arena.engine, key):
        return (WRONG_KEY if key else LOCKED), [], [], []
    mode, task = MODES.get(mode_label, "exclude"), task or OVERALL
    view = voters_of(arena, mode, task)
    flagged = [[r["voter"], r["votes"], _fmt(r["reliability"]), " · ".join(r["reasons"])]
               for r in view["flagged"]]
    moves = [[m["model"], m["rank_all"], m["rank"],
              "" if m["rank_change"] is None else f"{m['rank_change']:+d}",
              _fmt(m["score_all"], 1), _fmt(m["score"], 1)] for m in view["moves"]]
    voters = [r["voter"] for r in view["flagged"]]
    return summary_markdown(view), flagged, voters, moves


def vote_rows(arena: Arena, key: str | None, voter: str | None) -> list[list[Any]]:
    """The chosen voter's latest votes (none without the organiser key)."""
    if not voter or not is_organiser(arena.engine, key):
        return []
    return [[v["when"], v["task"], v["left"], v["right"], v["choice"], v["seconds"], v["check"]]
            for v in voter_votes(arena.engine, voter)]


def build_voters_tab(arena: Arena, menus: TaskMenus):
    """Lay out the Voters tab inside the current Blocks.

    Returns ``(inputs, show, outputs)``: binding ``show`` to a tab's ``select`` with these
    inputs and outputs refreshes the tab when it is opened.
    """
    gr.Markdown("Voters whose answers do not fit the crowd (a left/right habit, favouring one "
                "model, ties on everything, too fast, random or inverted answers, failed "
                "planted checks), with the reason for each flag, and the ranking without them.")
    with gr.Row():
        key, saved = key_field(arena, scale=3, elem_id="organiser-key")
        unlock = gr.Button("Open", size="sm", min_width=120, scale=0, elem_id="organiser-open")
    with gr.Row():
        task = menus.dropdown([OVERALL], value=OVERALL, label="Task", elem_id="voters-task")
        mode = gr.Radio(list(MODES), value=next(iter(MODES)), label="Ranking without them")
        refresh = gr.Button("Refresh", size="sm", min_width=120, scale=0)
    summary = gr.Markdown(LOCKED, elem_id="voters-summary")
    flagged = gr.Dataframe(headers=FLAGGED_HEADERS, interactive=False, wrap=True,
                           column_widths=["150px", "80px", "115px", "420px"], elem_id="voters-flagged")
    moves = gr.Dataframe(headers=MOVE_HEADERS, interactive=False, elem_id="voters-moves")
    voter = gr.Dropdown(choices=[], label="Votes of a flagged voter", elem_id="voters-pick")
    votes = gr.Dataframe(headers=VOTE_HEADERS, interactive=False, elem_id="voters-votes")

    def show(mode_label: str, task_name: str, typed: str, remembered: str):
        given, keep = given_key(arena, typed, remembered)
        text, rows, voters, move_rows = overview_tables(arena, given, mode_label, task_name)
        return text, rows, gr.update(choices=voters, value=None), move_rows, [], keep

    inputs = [mode, task, key, saved]
    outputs = [summary, flagged, voter, moves, votes, saved]
    for trigger in (refresh.click, mode.change, task.change, unlock.click, key.submit):
        trigger(show, inputs, outputs, api_name=False)
    def pick(name: str | None, typed: str, remembered: str):
        return vote_rows(arena, given_key(arena, typed, remembered)[0], name)

    voter.change(pick, [voter, key, saved], votes, api_name=False)
    return inputs, show, outputs
