"""Automatic metrics beside the human ranking: per-task rankings by a metric, and agreement.

Means, counts and sums of squares of every metric come from one ``GROUP BY task, model`` over
the outputs' metrics JSON. From them:

* a leaderboard per task ranked by a metric's mean (direction from
  :data:`models.metrics.METRIC_DIRECTION`), shaped like the ``rank`` JSON;
* how well each metric separates the models of a task: eta squared, the share of the metric's
  variance across outputs explained by which model made them (one-way ANOVA, Fisher 1925),
  with the F test's p-value;
* how well each metric's ranking agrees with the human Bradley-Terry ranking: Kendall's tau-b
  between the metric means (oriented so that larger is better) and the model scores
  (Kendall 1938; ``scipy.stats.kendalltau``), over the models both rank.

Metrics are "task-specific" when they measure what only one kind of edit asks for (the OCR
metrics of text edits), "generic" otherwise (pixel fidelity inside or outside the mask).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arena.store.catalog import model_names
from arena.store.schema import Item, Output
from models.metrics import METRIC_DIRECTION

#: Metrics that measure what only some tasks ask for.
TASK_SPECIFIC = frozenset({"ocr_cer", "ocr_exact", "old_text_gone"})

#: Fewest models for which a rank correlation is reported.
MIN_MODELS = 3


class UnknownMetricError(ValueError):
    """A metric name that is not one of :data:`models.metrics.METRIC_DIRECTION`."""


@dataclass(frozen=True)
class MetricGroup:
    """One metric over one model's outputs of one task: count, mean and mean of squares."""

    n: int
    mean: float
    mean_sq: float


def scope(metric: str) -> str:
    """``"task-specific"`` or ``"generic"``."""
    return "task-specific" if metric in TASK_SPECIFIC else "generic"


def check_metric(metric: str) -> str:
    """Return ``metric`` if known, else raise :class:`UnknownMetricError` listing the known ones."""
    if metric not in METRIC_DIRECTION:
        raise UnknownMetricError(f"unknown metric {metric!r}; known: {', '.join(METRIC_DIRECTION)}")
    return metric


def metric_groups(engine: Engine, tasks: Iterable[str] | None = None,
                  metrics: Iterable[str] = tuple(METRIC_DIRECTION)) -> dict[str, dict[str, dict[str, MetricGroup]]]:
    """task → metric → model name → :class:`MetricGroup`, from one SQL aggregate."""
    metrics = list(metrics)
    column = Output.__table__.c.metrics
    values = [column[m].as_float() for m in metrics]
    aggregates = [agg for v in values for agg in (func.count(v), func.avg(v), func.avg(v * v))]
    query = (select(Item.task, Output.model_id, *aggregates).join(Item, Item.id == Output.item_id)
             .group_by(Item.task, Output.model_id))
    if tasks is not None:
        query = query.where(Item.task.in_(list(tasks)))
    names = model_names(engine)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out: dict[str, dict[str, dict[str, MetricGroup]]] = {}
    for task, model_id, *aggs in rows:
        for k, metric in enumerate(metrics):
            n, mean, mean_sq = aggs[3 * k: 3 * k + 3]
            if n:
                out.setdefault(task, {}).setdefault(metric, {})[names[model_id]] = MetricGroup(
                    int(n), float(mean), float(mean_sq))
    return out


def _oriented(metric: str, value: float) -> float:
    return value if METRIC_DIRECTION[metric] == "higher" else -value


def board(task: str, metric: str, groups: Mapping[str, MetricGroup]) -> dict[str, Any]:
    """One task's models ranked by a metric's mean; rank = 1 + models strictly better."""
    better = {m: _oriented(metric, g.mean) for m, g in groups.items()}
    rows = [{"model": m, "score": g.mean, "outputs": g.n,
             "rank": 1 + sum(v > better[m] for v in better.values())} for m, g in groups.items()]
    rows.sort(key=lambda r: (r["rank"], r["model"]))
    return {"task": task, "metric": metric, "direction": METRIC_DIRECTION[metric],
            "outputs": sum(g.n for g in groups.values()), "rows": rows}


def metric_leaderboards(engine: Engine, metric: str, tasks: Iterable[str] | None = None) -> dict[str, Any]:
    """Per task, the models ranked by the mean of ``metric`` (tasks without it are left out)."""
    check_metric(metric)
    groups = metric_groups(engine, tasks, [metric])
    return {"metric": metric, "direction": METRIC_DIRECTION[metric],
            "leaderboards": [board(t, metric, groups[t][metric]) for t in sorted(groups)]}


def separation(groups: Mapping[str, MetricGroup]) -> tuple[float | None, float | None]:
    """Eta squared and the one-way ANOVA p-value of a metric grouped by model."""
    from scipy.stats import f as f_dist

    n = sum(g.n for g in groups.values())
    k = len(groups)
    if k < 2 or n <= k:
        return None, None
    mean = sum(g.n * g.mean for g in groups.values()) / n
    between = sum(g.n * (g.mean - mean) ** 2 for g in groups.values())
    total = max(sum(g.n * g.mean_sq for g in groups.values()) - n * mean * mean, 0.0)
    within = max(total - between, 0.0)
    if total <= 1e-12 * max(1.0, n * mean * mean):
        return 0.0, 1.0  # the metric is constant: it separates nothing
    eta = min(between / total, 1.0)
    if within <= 0:
        return eta, 0.0
    f_stat = (between / (k - 1)) / (within / (n - k))
    return eta, float(f_dist.sf(f_stat, k - 1, n - k))


def agreement(metric: str, groups: Mapping[str, MetricGroup],
              human: Mapping[str, float]) -> tuple[int, float | None, float | None]:
    """Models ranked by both, Kendall's tau-b and its p-value (None under MIN_MODELS or ties only)."""
    from scipy.stats import kendalltau

    common = sorted(set(groups) & set(human))
    if len(common) < MIN_MODELS:
        return len(common), None, None
    result = kendalltau([human[m] for m in common], [_oriented(metric, groups[m].mean) for m in common])
    tau, p = float(result.statistic), float(result.pvalue)
    return len(common), (None if math.isnan(tau) else tau), (None if math.isnan(p) else p)


def human_scores(engine: Engine, tasks: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """task → model → Bradley-Terry score from the stored votes (tasks that can be ranked)."""
    from arena.views.cubes import OVERALL, db_cubes
    from arena.views.leaderboard import leaderboards

    wanted = None if tasks is None else list(tasks)
    boards = leaderboards({t: c for t, c in db_cubes(engine, wanted).items() if t != OVERALL})
    return {b["task"]: {r["model"]: r["score"] for r in b["rows"]} for b in boards["leaderboards"]}


def metric_agreement(engine: Engine, tasks: Iterable[str] | None = None) -> dict[str, Any]:
    """Per task and metric: separation of the models, and agreement with the human ranking.

    Returns ``{"agreement": [row, ...], "summary": [row, ...]}``; the summary averages tau and
    eta squared over the task-specific and the generic metrics of each task.
    """
    tasks = None if tasks is None else list(tasks)
    groups = metric_groups(engine, tasks)
    human = human_scores(engine, tasks)
    rows = []
    for task in sorted(groups):
        for metric in METRIC_DIRECTION:
            if metric not in groups[task]:
                continue
            models, tau, p = agreement(metric, groups[task][metric], human.get(task, {}))
            eta, anova_p = separation(groups[task][metric])
            rows.append({"task": task, "metric": metric, "scope": scope(metric),
                         "direction": METRIC_DIRECTION[metric],
                         "outputs": sum(g.n for g in groups[task][metric].values()),
                         "models": len(groups[task][metric]), "ranked_by_votes": models,
                         "kendall_tau": tau, "p_value": p, "eta_squared": eta, "anova_p": anova_p})
    return {"agreement": rows, "summary": summarize(rows)}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean tau and eta squared per task and scope (metrics without a value left out)."""
    out = []
    for task, kind in sorted({(r["task"], r["scope"]) for r in rows}):
        picked = [r for r in rows if r["task"] == task and r["scope"] == kind]
        taus = [r["kendall_tau"] for r in picked if r["kendall_tau"] is not None]
        etas = [r["eta_squared"] for r in picked if r["eta_squared"] is not None]
        out.append({"task": task, "scope": kind, "metrics": len(picked),
                    "mean_kendall_tau": sum(taus) / len(taus) if taus else None,
                    "mean_eta_squared": sum(etas) / len(etas) if etas else None})
    return out
