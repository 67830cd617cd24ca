"""The Campaigns tab (for the organiser): each annotation campaign's progress, agreement, time
per item and flagged annotators with reasons, a confusion matrix per annotator, and the labels
as a battle-format file. Numbers come from :mod:`arena.views.campaign_status`; nothing is shown
without the organiser key, checked on the server for every call."""
from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from arena.collect.campaigns import campaign_names
from arena.context import Arena
from arena.store.organiser import WHERE, is_organiser
from arena.views.campaign_labels import UnknownCampaignName, export_labels
from arena.views.campaign_status import campaign_status
from arena.web.ui.organiser_field import given_key, key_field
from scoring.columns import CHOICES

HEADERS = ["Annotator", "Done", "Skipped", "Agrees with majority", "Gold right",
           "Repeats same", "Seconds per item", "Flags"]
WORDS = {"left": "A better", "right": "B better", "tie": "Tie", "both_bad": "Both bad"}
CONFUSION_HEADERS = ["Their answer \\ others' majority", *(WORDS[c] for c in CHOICES)]
LOCKED = ("**For the organiser.** Enter the organiser key to see the campaigns, their "
          f"annotators and their agreement. {WHERE[0].upper() + WHERE[1:]}.")
WRONG_KEY = "**That is not the organiser key.** " + LOCKED.split("**", 2)[2].strip()
NONE_YET = ("No campaign yet. Make one with `python -m arena campaign create NAME --task T "
            "--pairs N --overlap K --annotators a,b,c`; it prints each annotator's private link.")
STAT_WORDS = (("alpha_nominal", "Krippendorff's alpha (nominal)"),
              ("alpha_ordinal", "alpha (ordinal, tie between A and B)"),
              ("fleiss_kappa", "Fleiss' kappa"))


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def _fraction(k: int, n: int) -> str:
    return f"{k}/{n}" if n else ""


def _stats(s: dict[str, Any]) -> str:
    if s["units"] == 0 or all(s[k] is None for k, _ in STAT_WORDS):
        return "no pair has labels from two annotators yet"
    parts = []
    for key, words in STAT_WORDS:
        v, ci = s[key], s["intervals"][key]
        interval = "" if ci["low"] is None else f" (95% CI {ci['low']:.2f} to {ci['high']:.2f})"
        parts.append(f"{words} {'n/a' if v is None else f'{v:.2f}'}{interval}")
    return "; ".join(parts) + f", over {s['units']} pairs"


def summary_markdown(status: dict[str, Any]) -> str:
    """The campaign in a paragraph or two: progress, agreement, time, per-task figures."""
    s = status
    share = f" ({100 * s['done'] / s['assigned']:.0f}%)" if s["assigned"] else ""
    seconds = "" if s["seconds_per_item"] is None else \
        f" Median time per item: {s['seconds_per_item']:.1f} s."
    text = (f"**{html.escape(s['campaign'])}** · task {html.escape(s['task'])} · {s['pairs']} pairs, "
            f"each judged by {s['overlap']} annotator{'' if s['overlap'] == 1 else 's'}, "
            f"{s['gold_pairs']} gold pair{'' if s['gold_pairs'] == 1 else 's'} · "
            f"**{s['done']} of {s['assigned']} items done**{share}, {s['skipped']} skipped."
            f"{seconds}\n\nAgreement: {_stats(s)}.")
    if len(s["per_task"]) > 1:
        text += "\n" + "\n".join(f"- {html.escape(t['task'])}: {_stats(t)}" for t in s["per_task"])
    if s["flagged"]:
        text += "\n\n**Flagged annotators**\n" + "\n".join(
            f"- **{html.escape(f['annotator'])}**: {html.escape('; '.join(f['reasons']))}"
            for f in s["flagged"])
    else:
        text += "\n\nNo annotator is flagged."
    return text


def annotator_rows(status: dict[str, Any]) -> list[list[Any]]:
    return [[r["annotator"], f"{r['done']}/{r['assigned']}", r["skipped"],
             "" if r["agreement_with_majority"] is None
             else f"{_pct(r['agreement_with_majority'])} of {r['compared']}",
             "" if r["gold_accuracy"] is None
             else f"{_pct(r['gold_accuracy'])} of {r['gold_answered']}",
             _fraction(r["repeat_same"], r["repeats"]),
             "" if r["seconds_per_item"] is None else round(r["seconds_per_item"], 1),
             "; ".join(r["reasons"])] for r in status["annotators"]]


def overview(arena: Arena, key: str | None, name: str | None) -> tuple[str, list, list[str], list[str]]:
    """Summary, annotator rows, campaign names and annotator names for the tab; with a wrong or
    missing key, only a note saying how to get one."""
    if not is_organiser(arena.engine, key):
        return (WRONG_KEY if key else LOCKED), [], [], []
    names = campaign_names(arena)
    if not names:
        return NONE_YET, [], [], []
    try:
        status = campaign_status(arena, name if name in names else names[-1], rounds=500)
    except UnknownCampaignName as exc:
        return str(exc), [], names, []
    return (summary_markdown(status), annotator_rows(status), names,
            [r["annotator"] for r in status["annotators"]])


def confusion_rows(arena: Arena, key: str | None, name: str | None, member: str | None) -> list:
    """One annotator's answers against the others' majority (counts), for the organiser only."""
    if not member or not name or not is_organiser(arena.engine, key):
        return []
    try:
        status = campaign_status(arena, name, rounds=0)
    except UnknownCampaignName:
        return []
    row = next((r for r in status["annotators"] if r["annotator"] == member), None)
    if row is None or row["confusion"] is None:
        return []
    return [[WORDS[c], *row["confusion"][i]] for i, c in enumerate(CHOICES)]


def export_file(arena: Arena, key: str | None, name: str | None) -> str | None:
    """The campaign's labels as a battle-format CSV, for the organiser only."""
    if not name or not is_organiser(arena.engine, key):
        return None
    folder = Path(tempfile.mkdtemp(prefix="campaign-"))
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    path = folder / f"{safe}-labels.csv"
    try:
        export_labels(arena.engine, name, path, "csv")
    except UnknownCampaignName:
        return None
    return str(path)


def build_campaign_tab(arena: Arena):
    """Lay out the Campaigns tab; returns ``(inputs, show, outputs)`` (``show`` refreshes it)."""
    gr.Markdown("Annotation campaigns: how far each annotator is, how well they agree "
                "(Krippendorff's alpha, Fleiss' kappa, 95% bootstrap intervals over pairs), "
                "their planted checks and who is flagged, with the reason.")
    with gr.Row():
        key, saved = key_field(arena, scale=3, elem_id="campaign-key")
        unlock = gr.Button("Open", size="sm", min_width=100, scale=0, elem_id="campaign-open")
    with gr.Row():
        campaign = gr.Dropdown(choices=[], label="Campaign", elem_id="campaign-pick", scale=3,
                               min_width=160)
        refresh = gr.Button("Refresh", size="sm", min_width=100, scale=0)
    summary = gr.Markdown(LOCKED, elem_id="campaign-summary")
    table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, elem_id="campaign-annotators",
                         column_widths=["140px", "70px", "80px", "120px", "100px", "90px", "90px",
                                        "360px"])
    member = gr.Dropdown(choices=[], label="Confusion matrix of an annotator", elem_id="campaign-member")
    confusion = gr.Dataframe(headers=CONFUSION_HEADERS, interactive=False, elem_id="campaign-confusion")
    with gr.Row():
        export = gr.Button("Labels as a battle-format CSV", size="sm", elem_id="campaign-export")
        download = gr.File(label="Labels", interactive=False, visible=False, elem_id="campaign-file")

    def show(name: str | None, typed: str, remembered: str):
        given, keep = given_key(arena, typed, remembered)
        text, rows, names, members = overview(arena, given, name)
        chosen = name if name in names else (names[-1] if names else None)
        return (text, rows, gr.update(choices=names, value=chosen),
                gr.update(choices=members, value=None), [], keep)

    inputs = [campaign, key, saved]
    outputs = [summary, table, campaign, member, confusion, saved]
    for trigger in (refresh.click, unlock.click, key.submit, campaign.input):
        trigger(show, inputs, outputs, api_name=False)

    def pick(name, who, typed, remembered):
        return confusion_rows(arena, given_key(arena, typed, remembered)[0], name, who)

    member.change(pick, [campaign, member, key, saved], confusion, api_name=False)
    def labels(name, typed, remembered):
        path = export_file(arena, given_key(arena, typed, remembered)[0], name)
        return gr.update(value=path, visible=path is not None)

    export.click(labels, [campaign, key, saved], download, api_name=False)
    return inputs, show, outputs
