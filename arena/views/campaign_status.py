"""How a campaign is going: progress, agreement between annotators, time per item, flags.

Agreement is computed on the campaign's ordinary pairs (each labelled by ``overlap``
annotators; planted repeats and gold pairs left out), labels mapped to the pair's canonical
orientation (:mod:`arena.views.campaign_labels`), with :mod:`scoring.annotator_agreement`:
Krippendorff's alpha, nominal over left / right / tie / both bad and ordinal on left < tie <
right (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), and Fleiss' kappa
(Fleiss 1971), overall and per task, with percentile bootstrap intervals over pairs; each
annotator's agreement with the majority of the *others* on the same pairs, and their confusion
matrix against it. Gold accuracy is over decisive answers on gold pairs (the real edit against
the unedited image), as :func:`arena.collect.annotation.progress` counts it.

An annotator is flagged, with the reason in words, for: low agreement with the others'
majority (under :data:`LOW_AGREEMENT`, or :data:`BEHIND_MEDIAN` under the median annotator,
over :data:`MIN_COMPARED` pairs or more); low gold accuracy; answering repeated pairs (sides
swapped) differently; a left or right habit (two-sided binomial test at :data:`BIAS_ALPHA`);
answering too fast (median under :data:`FAST_MS`, or under a quarter of the others' median).
"""
from __future__ import annotations

import statistics
from typing import Any

import numpy as np
from scipy.stats import binomtest
from sqlalchemy import func, select

from arena.context import Arena
from arena.store.schema import Assignment, Campaign, CampaignMember, CampaignPair
from arena.views.campaign_labels import Label, campaign_id, campaign_labels
from scoring.annotator_agreement import annotator_scores, label_table, reliability
from scoring.columns import CHOICES

MIN_COMPARED = 10
LOW_AGREEMENT = 0.4
BEHIND_MEDIAN = 0.25
MIN_GOLD = 3
LOW_GOLD = 0.7
MIN_REPEATS = 3
LOW_REPEAT = 0.6
MIN_DECISIVE = 10
BIAS_ALPHA = 0.01
MIN_TIMED = 5
FAST_MS = 1000
ROUNDS = 1000
STATS = ("alpha_nominal", "alpha_ordinal", "fleiss_kappa")


def _clean(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def agreement(labels: list[Label], rounds: int = ROUNDS, seed: int = 0) -> dict[str, Any]:
    """Alpha (nominal, ordinal) and kappa with intervals over the labels' ordinary pairs."""
    ordinary = [lab for lab in labels if lab.pair_kind == "pair" and lab.check_kind != "repeat"]
    out: dict[str, Any] = {s: None for s in STATS}
    out.update(intervals={s: {"low": None, "high": None} for s in STATS}, units=0,
               labels=len(ordinary))
    if not ordinary:
        return out
    table = label_table([lab.pair_id for lab in ordinary], [lab.member for lab in ordinary],
                        [lab.answer for lab in ordinary])
    result = reliability(table, rounds=rounds, seed=seed)
    out["units"] = result.units
    if result.units == 0:
        return out
    for s in STATS:
        est = getattr(result, s)
        out[s] = _clean(est.value)
        out["intervals"][s] = {"low": _clean(est.low), "high": _clean(est.high)}
    return out


def _preferred(answer: str) -> str | None:
    return {"left": "a", "right": "b"}.get(answer)


def _member_checks(labels: list[Label]) -> dict[str, dict[str, Any]]:
    """Per member: repeats answered the same, left/right counts and durations."""
    first = {lab.impression_id: lab for lab in labels}
    out: dict[str, dict[str, Any]] = {}
    for lab in labels:
        row = out.setdefault(lab.member, {"repeats": 0, "repeat_same": 0, "left": 0, "right": 0,
                                          "durations": []})
        if lab.choice in ("left", "right"):
            row[lab.choice] += 1
        if lab.duration_ms is not None:
            row["durations"].append(lab.duration_ms)
        if lab.check_kind == "repeat" and lab.repeat_of in first:
            row["repeats"] += 1
            row["repeat_same"] += _preferred(lab.answer) == _preferred(first[lab.repeat_of].answer)
    return out


def _scores(labels: list[Label]) -> tuple[dict, dict]:
    """Per member: (majority agreement, compared, confusion) and (gold accuracy, answered)."""
    majority, gold = {}, {}
    ordinary = [lab for lab in labels if lab.pair_kind == "pair" and lab.check_kind != "repeat"]
    if ordinary:
        table = label_table([lab.pair_id for lab in ordinary], [lab.member for lab in ordinary],
                            [lab.answer for lab in ordinary])
        s = annotator_scores(table)
        majority = {c: (_clean(s.majority_agreement[i]), int(s.compared[i]), s.confusion[i].tolist())
                    for i, c in enumerate(s.coders)}
    golds = [lab for lab in labels if lab.pair_kind == "gold" and lab.check_kind == "gold"
             and lab.answer in ("left", "right")]
    if golds:
        table = label_table([lab.pair_id for lab in golds], [lab.member for lab in golds],
                            [lab.answer for lab in golds])
        s = annotator_scores(table, {lab.pair_id: lab.gold_answer for lab in golds})
        gold = {c: (_clean(s.gold_accuracy[i]), int(s.gold_answered[i]))
                for i, c in enumerate(s.coders)}
    return majority, gold


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def flags(row: dict[str, Any], median_agreement: float | None, others_ms: float | None) -> list[str]:
    """The reasons, in words, for flagging one annotator (empty: not flagged)."""
    reasons = []
    agree, compared = row["agreement_with_majority"], row["compared"]
    if agree is not None and compared >= MIN_COMPARED:
        bar = LOW_AGREEMENT if median_agreement is None else max(LOW_AGREEMENT,
                                                                 median_agreement - BEHIND_MEDIAN)
        if agree < bar:
            than = "" if median_agreement is None else f"; the median annotator {_pct(median_agreement)}"
            reasons.append(f"agreed with the others' majority on {round(agree * compared)} of "
                           f"{compared} pairs ({_pct(agree)}{than})")
    if row["gold_accuracy"] is not None and row["gold_answered"] >= MIN_GOLD \
            and row["gold_accuracy"] < LOW_GOLD:
        wrong = row["gold_answered"] - round(row["gold_accuracy"] * row["gold_answered"])
        reasons.append(f"preferred the unedited image on {wrong} of {row['gold_answered']} gold pairs")
    if row["repeats"] >= MIN_REPEATS and row["repeat_same"] < LOW_REPEAT * row["repeats"]:
        reasons.append(f"answered {row['repeats'] - row['repeat_same']} of {row['repeats']} "
                       "repeated pairs (sides swapped) differently the second time")
    decisive = row["left"] + row["right"]
    if decisive >= MIN_DECISIVE and binomtest(row["left"], decisive).pvalue < BIAS_ALPHA:
        side, k = ("left", row["left"]) if row["left"] > row["right"] else ("right", row["right"])
        reasons.append(f"picked the {side} image {k} times out of {decisive} decisive answers")
    ms = row["median_ms"]
    if ms is not None and row["timed"] >= MIN_TIMED and (
            ms < FAST_MS or (others_ms is not None and ms < others_ms / 4)):
        others = "" if others_ms is None else f"; the others' median {others_ms / 1000:.1f} s"
        reasons.append(f"answered in {ms / 1000:.1f} s per item (median{others})")
    return reasons


def _progress(arena: Arena, cid: int) -> dict[str, dict[str, int]]:
    a, m = Assignment.__table__.c, CampaignMember.__table__.c
    with arena.engine.connect() as conn:
        rows = conn.execute(select(m.name, a.status, func.count())
                            .join(Assignment.__table__, a.voter_id == m.voter_id)
                            .where(m.campaign_id == cid).group_by(m.name, a.status)).all()
        names = conn.execute(select(m.name).where(m.campaign_id == cid).order_by(m.id)).scalars().all()
    counts = {n: {"done": 0, "skipped": 0, "pending": 0} for n in names}
    for name, status, n in rows:
        counts[name][status] = n
    return counts


def campaign_status(arena: Arena, name: str, *, rounds: int = ROUNDS) -> dict[str, Any]:
    """The status JSON of ``arena campaign status`` (see the README's contract)."""
    cid = campaign_id(arena.engine, name)
    c, p = Campaign.__table__.c, CampaignPair.__table__.c
    with arena.engine.connect() as conn:
        camp = conn.execute(select(Campaign.__table__).where(c.id == cid)).one()
        kinds = dict(conn.execute(select(p.kind, func.count()).where(p.campaign_id == cid)
                                  .group_by(p.kind)).all())
        per_task_pairs = dict(conn.execute(select(p.task, func.count()).where(
            p.campaign_id == cid, p.kind == "pair").group_by(p.task)).all())
    labels = campaign_labels(arena.engine, cid)
    progress = _progress(arena, cid)
    majority, gold = _scores(labels)
    checks = _member_checks(labels)
    rows = []
    for member, count in progress.items():
        agree, compared, confusion = majority.get(member, (None, 0, None))
        accuracy, answered = gold.get(member, (None, 0))
        check = checks.get(member, {"repeats": 0, "repeat_same": 0, "left": 0, "right": 0,
                                    "durations": []})
        durations = check["durations"]
        rows.append({
            "annotator": member, "done": count["done"], "assigned": sum(count.values()),
            "skipped": count["skipped"], "pending": count["pending"],
            "agreement_with_majority": agree, "compared": compared, "gold_accuracy": accuracy,
            "gold_answered": answered, "repeats": check["repeats"],
            "repeat_same": check["repeat_same"], "left": check["left"], "right": check["right"],
            "median_ms": float(statistics.median(durations)) if durations else None,
            "timed": len(durations), "confusion": confusion})
    rated = [r["agreement_with_majority"] for r in rows if r["agreement_with_majority"] is not None
             and r["compared"] >= MIN_COMPARED]
    for r in rows:
        others = [x for o in rows if o is not r for x in checks.get(o["annotator"], {}).get("durations", [])]
        r["reasons"] = flags(r, statistics.median(rated) if len(rated) >= 3 else None,
                             float(statistics.median(others)) if others else None)
        r["flagged"] = bool(r["reasons"])
        r["seconds_per_item"] = None if r["median_ms"] is None else r["median_ms"] / 1000
    overall = agreement(labels, rounds)
    tasks = list(camp.tasks)
    per_task = [{"task": t, "pairs": per_task_pairs.get(t, 0),
                 **agreement([lab for lab in labels if lab.task == t], rounds)} for t in tasks]
    durations = [lab.duration_ms for lab in labels if lab.duration_ms is not None]
    assigned = sum(r["assigned"] for r in rows)
    return {
        "campaign": camp.name, "task": tasks[0] if len(tasks) == 1 else ",".join(tasks),
        "tasks": tasks, "pairs": kinds.get("pair", 0), "gold_pairs": kinds.get("gold", 0),
        "overlap": camp.overlap, "labels": len(labels), "assigned": assigned,
        "done": sum(r["done"] for r in rows), "skipped": sum(r["skipped"] for r in rows),
        "annotators": rows,
        **{s: overall[s] for s in STATS}, "intervals": overall["intervals"],
        "units": overall["units"], "level": 0.95,
        "seconds_per_item": statistics.median(durations) / 1000 if durations else None,
        "per_task": per_task, "confusion_labels": list(CHOICES),
        "flagged": [{"annotator": r["annotator"], "reasons": r["reasons"]} for r in rows if r["flagged"]],
        "created_at": camp.created_at,
    }
