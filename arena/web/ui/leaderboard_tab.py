"""The Leaderboard tab: per-task Bradley-Terry scores with 95% intervals and latencies, on the
defended board by default (flagged voters left out, identities too new to be checked counted
at a quarter), all votes one click away; a campaign's board from its labels alone (intervals
clustered by annotator); and agreement between tasks and with a board from elsewhere."""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import gradio as gr

from arena.context import Arena
from arena.files.boards import BoardFileError
from arena.collect.campaigns import campaign_names
from arena.views.agreement import against_file, between_tasks
from arena.views.cached import boards_of, stats_of
from arena.views.campaign_labels import UnknownCampaignName, campaign_cubes
from arena.views.leaderboard import OVERALL, leaderboards
from arena.web.ui.plots import control_models, forest_figure
from arena.web.ui.task_menus import TaskMenus
from scoring.errors import ScoringError

HEADERS = ["Rank", "Model", "Score", "95% CI", "Votes", "Both bad", "Median latency", "Rank change"]
MODES = {"Defended (default)": "defended", "All votes": "all", "Flagged voters excluded": "exclude",
         "Reliability-weighted": "weighted"}
TASK_HEADERS = ["Task", "Task", "Models in common", "Kendall tau-b", "Spearman", "Top-3 overlap"]
SHIFT_HEADERS = ["Model", "Position here", "Position there", "Shift"]
#: The campaign menu's first entry: the arena's own board.
ARENA_BOARD = "The arena (all voters)"


def _median(values: dict[str, float]) -> float | None:
    ordered = sorted(values.values())
    return ordered[len(ordered) // 2] if ordered else None


def leaderboard_rows(arena: Arena, task: str, mode: str = "defended",
                     position_bias: str = "fit", campaign: str | None = None
                     ) -> tuple[list[list[Any]], str]:
    """Table rows for one task and a summary (votes, position bias, notes in plain words);
    with ``campaign``, from that campaign's labels alone (``mode`` does not apply)."""
    board, note, notes_of = _board(arena, task, mode, position_bias, campaign)
    latency = {m["model"]: m["latency_s"] for m in stats_of(arena)}
    controls = control_models(stats_of(arena))
    rows = []
    for r in board["rows"]:
        lat = latency.get(r["model"], {})
        median = lat.get(task) if task != OVERALL else _median(lat)
        change = r.get("rank_change")
        label = r["model"] + (" (control)" if r["model"] in controls else "") \
            + (" (provisional)" if r.get("provisional") else "")
        rows.append([
            r["rank"], label, round(r["score"], 1), f"{r['ci_low']:.0f} – {r['ci_high']:.0f}", r["votes"],
            f"{100 * r['both_bad_rate']:.0f}%" if r.get("both_bad_rate") is not None else "",
            f"{median * 1000:.1f} ms" if median is not None else "",
            "" if change is None else f"{change:+d}" if change else "0",
        ])
    summary = f"**{board['votes']} votes** on {task}."
    if campaign:
        summary = (f"**{board['votes']} labels** of campaign **{html.escape(campaign)}** on "
                   f"{task}; intervals clustered by annotator (the Votes menu applies to the arena's "
                   "board).")
    bias = board.get("position_bias")
    if bias and bias.get("p_left") is not None and board["votes"] >= 20:  # too noisy before
        summary += (f" Position bias: between equal models the left image wins "
                    f"{100 * bias['p_left']:.0f}% (95% CI {100 * bias['p_left_low']:.0f}–"
                    f"{100 * bias['p_left_high']:.0f}%); scores are corrected for it.")
    if controls & {r["model"] for r in board["rows"]}:
        summary += (" *no-edit* is a control: it returns the source unchanged, so a model "
                    "scored below it did worse than doing nothing.")
    if notes_of:
        summary += "\n\n" + "\n".join(f"- {text}" for text in notes_of)
    return rows, summary


def campaign_board(arena: Arena, name: str, task: str, position_bias: str = "fit") -> dict[str, Any]:
    """The rank JSON of one task from campaign ``name``'s labels alone (cached until the next
    vote, as the arena's boards), intervals clustered by annotator however few (as
    ``rank --campaign``)."""
    options = {"min_clusters": 2} if position_bias == "fit" else \
        {"min_clusters": 2, "position_bias": position_bias}
    return arena.boards.get(("campaign", name, task, position_bias), lambda: leaderboards(
        campaign_cubes(arena.engine, name, [task]), **options))


def _board(arena: Arena, task: str, mode: str, position_bias: str = "fit",
           campaign: str | None = None) -> tuple[dict[str, Any], str, list[str]]:
    if campaign:
        result, note = campaign_board(arena, campaign, task, position_bias), ""
    else:
        result, note = boards_of(arena, [task], mode, position_bias)
    board = result["leaderboards"][0]
    notes = [_sentence(plain_note(text)) for text in [result.get("note"), note,
                                                      *board.get("warnings", [])] if text]
    return board, note, notes


#: Fitting and sampling notes as a reader would say them (pattern, replacement).
PLAIN = (
    (r"comparison graph not strongly connected: MAP fit with ridge [\d.e-]+; cut off from the "
     r"main component: (.+)", r"Not yet compared with the rest: \1; their scores are held near "
     r"the middle until they are"),
    (r"comparison graph not strongly connected: MAP fit with ridge [\d.e-]+",
     "Not every model has been compared with every other yet; scores are held near the middle "
     "until they are"),
    (r"never lost \(score finite only through the ridge\): (.+)",
     r"Not beaten in any vote yet: \1 (the score is a cautious guess)"),
    (r"never won \(score finite only through the ridge\): (.+)",
     r"Not preferred in any vote yet: \1 (the score is a cautious guess)"),
    (r"position bias not identifiable from these pairs: h fixed at 0",
     "Too few votes to tell whether voters favour the left image; no correction is made for it"),
    (r"position bias not estimable: .+: h fixed at 0",
     "Every vote so far can be explained by a preference for one side, so how much voters "
     "favour the left image cannot be told yet; no correction is made for it"),
    (r"position bias not fitted \(h fixed at 0\)",
     "No correction for a preference for the left or right image (switched off)"),
    (r"only (\d+) voter\(s\): intervals treat votes as independent \(clustering by voter needs "
     r"(\d+) or more\)", r"Only \1 voters so far: the intervals treat every vote as independent "
     r"and may be too narrow (they allow for each voter's habits from \2 voters on)"),
    (r"(\d+) provisional model\(s\): fewer than (\d+) votes",
     r"\1 models have fewer than \2 votes (marked provisional): their places may still change"),
    (r"\b1 identities\b", "1 identity"),
    (r"All votes: voters=all\.?", "Choose All votes to count every vote."),
    (r"voters=(all|exclude|weighted)", r"the \1 board"),
)


def plain_note(text: str) -> str:
    """A note from the fit or the voter checks in plain words (unknown notes pass unchanged)."""
    for pattern, words in PLAIN:
        text = re.sub(pattern, words, text)
    return text


def board_html(rows: list[list[Any]]) -> str:
    """The table, every row shown (no scroll box); on a phone rank, model, score and interval
    stay and the other columns fold away."""
    if not rows:
        return "<p class='pa-empty'>No votes on this task yet.</p>"
    wide = {4, 5, 6, 7}
    head = "".join(f"<th scope='col' class='{_cls(i, wide)}'>{html.escape(h)}</th>"
                   for i, h in enumerate(HEADERS))
    body = "".join(
        f"<tr class='{'pa-control' if '(control)' in str(row[1]) else ''}'>"
        + "".join(f"<td class='{_cls(i, wide)}'>{html.escape(str(v))}</td>" for i, v in enumerate(row))
        + "</tr>" for row in rows)
    return f"<table class='pa-board' id='board-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cls(i: int, wide: set[int]) -> str:
    return " ".join(c for c in ("pa-left" if i == 1 else "", "pa-ci" if i == 3 else "",
                                "pa-wide" if i in wide else "") if c)


def board_view(arena: Arena, task: str, mode: str = "defended", position_bias: str = "fit",
               campaign: str | None = None):
    """The table (HTML), the forest plot and the summary of one task's board (``position_bias``
    ``"none"``: the conventional fit without a left/right term; ``campaign``: that campaign's
    labels alone)."""
    campaign = None if campaign in (None, "", ARENA_BOARD) else campaign
    try:
        rows, summary = leaderboard_rows(arena, task, mode, position_bias, campaign)
    except UnknownCampaignName as exc:
        return board_html([]), forest_figure([], set()), f"{exc}."
    board = (campaign_board(arena, campaign, task, position_bias) if campaign
             else boards_of(arena, [task], mode, position_bias)[0])["leaderboards"][0]
    return board_html(rows), forest_figure(board["rows"], control_models(stats_of(arena))), summary


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
        mode = gr.Dropdown(choices=list(MODES.items()), value="defended", label="Votes",
                           elem_id="board-mode")
    with gr.Row():
        bias = gr.Checkbox(value=True, label="Correct for the left/right position bias",
                           elem_id="board-bias", min_width=0)
        refresh = gr.Button("Refresh", size="sm", min_width=120, scale=0)
    campaign = gr.Dropdown(choices=[ARENA_BOARD, *campaign_names(arena)], value=ARENA_BOARD,
                           label="Board of", elem_id="board-campaign")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            table = gr.HTML("", elem_id="board")
        with gr.Column(scale=2, min_width=300):
            forest = gr.Plot(elem_id="board-plot", show_label=False)
    summary = gr.Markdown("", elem_classes="pa-notes", elem_id="board-notes")
    with gr.Accordion("Do the rankings agree?", open=False):
        gr.Markdown("Between tasks that share models, and with a board from elsewhere.")
        tasks_table = gr.Dataframe(headers=TASK_HEADERS, interactive=False)
        upload = gr.File(label="Board to compare (rank JSON or CSV)", file_types=[".json", ".csv"],
                         type="filepath")
        upload_summary = gr.Markdown("")
        shifts = gr.Dataframe(headers=SHIFT_HEADERS, interactive=False)

    def show(task_name: str, mode_name: str, corrected: bool = True, board_of: str | None = None):
        return (*board_view(arena, task_name, mode_name, "fit" if corrected else "none", board_of),
                task_agreement_rows(arena))

    def menu():
        return gr.update(choices=[ARENA_BOARD, *campaign_names(arena)])

    def compare(task_name: str, path: str | None):
        return file_agreement(arena, task_name, path)

    outputs = [table, forest, summary, tasks_table]
    inputs = [task, mode, bias, campaign]
    for trigger in (task.change, mode.change, bias.change, campaign.input):
        trigger(show, inputs, outputs,
                api_name="leaderboard" if trigger == task.change else False)
    refresh.click(show, inputs, outputs, api_name=False)
    for trigger in (refresh.click, campaign.focus):     # campaigns made while the server runs
        trigger(menu, None, campaign, api_name=False)
    upload.change(compare, [task, upload], [shifts, upload_summary], api_name="compare_board")
    return inputs, show, outputs
