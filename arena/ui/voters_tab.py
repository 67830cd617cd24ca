"""The Voters tab (for the organiser): flagged voters with their reasons, their votes, and how
the ranking moves without them. The numbers come from :mod:`arena.voter_quality`."""
from __future__ import annotations

from typing import Any

import gradio as gr

from arena.catalog import task_names
from arena.context import Arena
from arena.leaderboard import OVERALL
from arena.voter_quality import voter_votes, voters_overview

FLAGGED_HEADERS = ["Voter", "Votes", "Reliability", "Why flagged"]
VOTE_HEADERS = ["When", "Task", "Left", "Right", "Choice", "Seconds", "Check"]
MOVE_HEADERS = ["Model", "Rank (all votes)", "Rank", "Change", "Score (all votes)", "Score"]
MODES = {"Exclude flagged voters": "exclude", "Also weigh the rest by reliability": "weighted"}


def summary_markdown(view: dict[str, Any]) -> str:
    """One paragraph about the crowd: voters checked and flagged, planted checks."""
    s = view["summary"]
    if s is None:
        return view["note"] or "No votes with a voter id yet."
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


def _fmt(x, digits: int = 2):
    return "" if x is None else round(x, digits)


def overview_tables(arena: Arena, mode_label: str, task: str):
    """Summary, flagged-voter rows, voter choices and rank-move rows for the tab."""
    view = voters_overview(arena.engine, MODES.get(mode_label, "exclude"), task or OVERALL)
    flagged = [[r["voter"], r["votes"], _fmt(r["reliability"]), " · ".join(r["reasons"])]
               for r in view["flagged"]]
    moves = [[m["model"], m["rank_all"], m["rank"],
              "" if m["rank_change"] is None else f"{m['rank_change']:+d}",
              _fmt(m["score_all"], 1), _fmt(m["score"], 1)] for m in view["moves"]]
    voters = [r["voter"] for r in view["flagged"]]
    return summary_markdown(view), flagged, voters, moves


def vote_rows(arena: Arena, voter: str | None) -> list[list[Any]]:
    """The chosen voter's latest votes."""
    if not voter:
        return []
    return [[v["when"], v["task"], v["left"], v["right"], v["choice"], v["seconds"], v["check"]]
            for v in voter_votes(arena.engine, voter)]


def build_voters_tab(arena: Arena):
    """Lay out the Voters tab inside the current Blocks.

    Returns ``(inputs, show, outputs)``: binding ``show`` to a tab's ``select`` with these
    inputs and outputs refreshes the tab when it is opened.
    """
    gr.Markdown("Voters whose answers do not fit the crowd (a left/right habit, favouring one "
                "model, ties on everything, too fast, random or inverted answers, failed "
                "planted checks), with the reason for each flag, and the ranking without them.")
    with gr.Row():
        task = gr.Dropdown(choices=[OVERALL] + task_names(arena.engine), value=OVERALL,
                           label="Task", elem_id="voters-task")
        mode = gr.Radio(list(MODES), value=next(iter(MODES)), label="Ranking without them")
        refresh = gr.Button("Refresh", size="sm", min_width=120, scale=0)
    summary = gr.Markdown("")
    flagged = gr.Dataframe(headers=FLAGGED_HEADERS, interactive=False, wrap=True,
                           elem_id="voters-flagged")
    moves = gr.Dataframe(headers=MOVE_HEADERS, interactive=False, elem_id="voters-moves")
    voter = gr.Dropdown(choices=[], label="Votes of a flagged voter", elem_id="voters-pick")
    votes = gr.Dataframe(headers=VOTE_HEADERS, interactive=False, elem_id="voters-votes")

    def show(mode_label: str, task_name: str):
        text, rows, voters, move_rows = overview_tables(arena, mode_label, task_name)
        return text, rows, gr.update(choices=voters, value=None), move_rows, []

    outputs = [summary, flagged, voter, moves, votes]
    for trigger in (refresh.click, mode.change, task.change):
        trigger(show, [mode, task], outputs, api_name=False)
    voter.change(lambda v: vote_rows(arena, v), voter, votes, api_name=False)
    return [mode, task], show, outputs
