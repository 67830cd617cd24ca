"""The Leaderboard tab: per-task Bradley-Terry scores with 95% intervals and latencies, on the
defended board by default (flagged voters left out, identities too new to be checked counted
at a quarter), all votes one click away; and agreement between tasks and with a board from
elsewhere."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from arena.context import Arena
from arena.files.boards import BoardFileError
from arena.views.agreement import against_file, between_tasks
from arena.views.cached import boards_of, stats_of
from arena.views.leaderboard import OVERALL
from arena.web.ui.task_menus import TaskMenus
from scoring.errors import ScoringError

HEADERS = ["Rank", "Model", "Score", "95% CI", "Votes", "Both bad", "Median latency", "Rank change"]
MODES = {"Defended (default)": "defended", "All votes": "all", "Flagged voters excluded": "exclude",
         "Reliability-weighted": "weighted"}
TASK_HEADERS = ["Task", "Task", "Models in common", "Kendall tau-b", "Spearman", "Top-3 overlap"]
SHIFT_HEADERS = ["Model", "Position here", "Position there", "Shift"]


def _median(values: dict[str, float]) -> float | None:
    ordered = sorted(values.values())
    return ordered[len(ordered) // 2] if ordered else None


def leaderboard_rows(arena: Arena, task: str, mode: str = "defended") -> tuple[list[list[Any]], str]:
    """Table rows for one task and a summary (votes, position bias, warnings)."""
    result, note = boards_of(arena, [task], mode)
    board = result["leaderboards"][0]
    latency = {m["model"]: m["latency_s"] for m in stats_of(arena)}
    rows = []
    for r in board["rows"]:
        lat = latency.get(r["model"], {})
        median = lat.get(task) if task != OVERALL else _median(lat)
        change = r.get("rank_change")
        rows.append([
            r["rank"], r["model"] + (" (provisional)" if r.get("provisional") else ""),
            round(r["score"], 1), f"{r['ci_low']:.0f} – {r['ci_high']:.0f}", r["votes"],
            f"{100 * r['both_bad_rate']:.0f}%" if r.get("both_bad_rate") is not None else "",
            f"{median * 1000:.1f} ms" if median is not None else "",
            "" if change is None else f"{change:+d}" if change else "0",
        ])
    summary = f"**{board['votes']} votes** on {task}."
    bias = board.get("position_bias")
    if bias and bias.get("p_left") is not None and board["votes"] >= 20:  # too noisy before
        summary += (f" Position bias: between equal models the left image wins "
                    f"{100 * bias['p_left']:.0f}% (95% CI {100 * bias['p_left_low']:.0f}–"
                    f"{100 * bias['p_left_high']:.0f}%); scores are corrected for it.")
    notes = [_sentence(text) for text in [result.get("note"), note, *board.get("warnings", [])]
             if text]
    if notes:
        summary += "\n\n" + "\n".join(f"- {text}" for text in notes)
    return rows, summary


def _sentence(text: str) -> str:
    """A note as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def task_agreement_rows(arena: Arena) -> list[list[Any]]:
    """Pairwise agreement between the task boards that share models."""
    boards = boards_of(arena)[0]
    return [[r["task_a"], r["task_b"], r["models"], _num(r["kendall_tau_b"]), _num(r["spearman"]),
             _num(r["top_k_overlap"])] for r in between_tasks(boards["leaderboards"])]


def file_agreement(arena: Arena, task: str, path: str | None) -> tuple[list[list[Any]], str]:
    """Shifts and a summary of our board of ``task`` against an uploaded board file."""
    if not path:
        return [], "Upload a board (our rank JSON, or CSV with model and score or rank) to compare."
    board = boards_of(arena, [task])[0]["leaderboards"][0]
    try:
        result = against_file(board, path)
    except (BoardFileError, ScoringError) as exc:
        return [], f"Cannot compare with {Path(path).name}: {exc}"
    rows = [[s["model"], s["position_a"], s["position_b"], s["shift"]] for s in result["shifts"]]
    text = (f"**{Path(path).name} against {task}**: {result['models']} models in common, Kendall "
            f"tau-b {_num(result['kendall_tau_b'])}, Spearman {_num(result['spearman'])}, top-"
            f"{result['k']} overlap {_num(result['top_k_overlap'])}.")
    if result["only_in_b"]:
        text += f" Only there: {', '.join(result['only_in_b'])}."
    return rows, text


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def build_leaderboard_tab(arena: Arena, menus: TaskMenus):
    """Lay out the Leaderboard tab; returns (inputs, show callback, outputs)."""
    with gr.Row():
        task = menus.dropdown([OVERALL], value=OVERALL, label="Task", elem_id="board-task")
        mode = gr.Radio(choices=list(MODES.items()), value="defended", label="Votes")
        refresh = gr.Button("Refresh", size="sm", min_width=120, scale=0)
    summary = gr.Markdown("")
    table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="board")
    with gr.Accordion("Do the rankings agree?", open=False):
        gr.Markdown("Between tasks that share models, and with a board from elsewhere.")
        tasks_table = gr.Dataframe(headers=TASK_HEADERS, interactive=False)
        upload = gr.File(label="Board to compare (rank JSON or CSV)", file_types=[".json", ".csv"],
                         type="filepath")
        upload_summary = gr.Markdown("")
        shifts = gr.Dataframe(headers=SHIFT_HEADERS, interactive=False)

    def show(task_name: str, mode_name: str):
        return (*leaderboard_rows(arena, task_name, mode_name), task_agreement_rows(arena))

    def compare(task_name: str, path: str | None):
        return file_agreement(arena, task_name, path)

    outputs = [table, summary, tasks_table]
    for trigger in (task.change, mode.change):
        trigger(show, [task, mode], outputs, api_name="leaderboard" if trigger == task.change else False)
    refresh.click(show, [task, mode], outputs, api_name=False)
    upload.change(compare, [task, upload], [shifts, upload_summary], api_name="compare_board")
    return [task, mode], show, outputs
