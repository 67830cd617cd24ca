"""The Leaderboard tab: per-task Bradley-Terry scores with 95% intervals and latencies."""
from __future__ import annotations

from typing import Any

import gradio as gr

from arena.aggregate import db_cubes
from arena.catalog import model_stats
from arena.context import Arena
from arena.leaderboard import OVERALL, board_json

HEADERS = ["Rank", "Model", "Score", "95% CI", "Votes", "Both bad", "Median latency"]


def leaderboard_rows(arena: Arena, task: str) -> tuple[list[list[Any]], str]:
    """Table rows for one task and a one-line summary."""
    cubes = db_cubes(arena.engine, [task])
    board = board_json(task, cubes[task])
    latency = {m["model"]: m["latency_s"] for m in model_stats(arena.engine)}
    rows = []
    for r in board["rows"]:
        lat = latency.get(r["model"], {})
        median = lat.get(task) if task != OVERALL else (sorted(lat.values())[len(lat) // 2] if lat else None)
        rows.append([
            r["rank"], r["model"] + (" (provisional)" if r.get("provisional") else ""),
            round(r["score"], 1), f"{r['ci_low']:.0f} – {r['ci_high']:.0f}", r["votes"],
            f"{100 * r['both_bad_rate']:.0f}%" if r.get("both_bad_rate") is not None else "",
            f"{median * 1000:.1f} ms" if median is not None else "",
        ])
    summary = f"**{board['votes']} votes** on {task}."
    if board.get("warnings"):
        summary += " " + " ".join(board["warnings"])
    return rows, summary


def build_leaderboard_tab(arena: Arena, task_choices: list[str]):
    """Lay out the Leaderboard tab; returns (task dropdown, show callback, its outputs)."""
    with gr.Row():
        task = gr.Dropdown(choices=[OVERALL] + task_choices, value=OVERALL, label="Task",
                           elem_id="board-task")
        refresh = gr.Button("Refresh", size="sm", min_width=120, scale=0)
    summary = gr.Markdown("")
    table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="board")

    def show(task_name: str):
        return leaderboard_rows(arena, task_name)

    task.change(show, task, [table, summary], api_name="leaderboard")
    refresh.click(show, task, [table, summary], api_name=False)
    return task, show, [table, summary]
