"""Pareto fronts per task: the human preference score against measured latency, cost and energy.

Scores come from the vote cube of each task (Bradley-Terry with voter-clustered intervals);
latency, cost and energy come from the outputs stored with each model (median latency, mean
cost and median energy per image on that task) or from a costs file (``model``, optional
``task``, ``latency_s``, ``cost_usd``, ``energy_wh``). The ``overall`` board uses the median
over a model's tasks. An axis appears only where some model has a value on it.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Mapping

from arena.views.leaderboard import OVERALL, board_json
from scoring.data import Comparisons
from scoring.errors import ScoringError
from scoring.pareto import pareto_front, score_draws

AXES = ("latency_s", "cost_usd", "energy_wh")
#: task -> model -> {"latency_s": ..., "cost_usd": ..., "energy_wh": ...}
Costs = Mapping[str, Mapping[str, Mapping[str, float]]]


class CostsFileError(ValueError):
    """A costs file that is missing, unreadable or has bad columns or values."""


def read_costs(path: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """Read a costs file (CSV, JSON list or JSONL); rows without a task apply to every task."""
    path = Path(path)
    if not path.is_file():
        raise CostsFileError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(text.splitlines()))
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CostsFileError(f"{path}: unreadable costs file ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CostsFileError(f"{path}: expected rows with model and latency_s, cost_usd or energy_wh")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for n, row in enumerate(rows, start=1):
        if not row.get("model"):
            raise CostsFileError(f"{path}: row {n} has no model")
        values = {}
        for axis in AXES:
            raw = row.get(axis)
            if raw in (None, ""):
                continue
            try:
                values[axis] = float(raw)
            except (TypeError, ValueError):
                raise CostsFileError(f"{path}: row {n}: {axis} {raw!r} is not a number") from None
            if not math.isfinite(values[axis]) or values[axis] < 0:
                raise CostsFileError(f"{path}: row {n}: {axis} must be a non-negative number")
        if not values:
            raise CostsFileError(f"{path}: row {n} has none of latency_s, cost_usd, energy_wh")
        out.setdefault(row.get("task") or "*", {})[str(row["model"])] = values
    return out


def db_costs(model_stats: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Costs per task from :func:`arena.store.catalog.model_stats` rows, with an ``overall`` entry."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for m in model_stats:
        for axis in AXES:
            per_task = m.get(axis) or {}
            for task, value in per_task.items():
                out.setdefault(task, {}).setdefault(m["model"], {})[axis] = value
            if per_task:
                values = sorted(per_task.values())
                out.setdefault(OVERALL, {}).setdefault(m["model"], {})[axis] = values[len(values) // 2]
    return out


def _cost(costs: Costs, task: str, model: str, axis: str) -> float:
    for key in (task, "*"):
        value = costs.get(key, {}).get(model, {}).get(axis)
        if value is not None:
            return float(value)
    return math.nan


def task_fronts(task: str, data: Comparisons, costs: Costs, *, rounds: int = 200,
                seed: int = 0, position_bias: str = "fit",
                resample: str = "voters") -> list[dict[str, Any]]:
    """The fronts of one task along each axis that has costs, as JSON.

    ``position_bias`` (``"fit"`` or ``"none"``) and ``resample`` (``"voters"`` or ``"votes"``,
    for ``p_front``) are passed to :func:`scoring.leaderboard.rank` and
    :func:`scoring.pareto.score_draws`.
    """
    board = board_json(task, data, position_bias=position_bias)
    rows = board["rows"]
    if not rows:
        return []
    try:
        models, draws = score_draws(data, rounds=rounds, seed=seed, resample=resample,
                                    position_bias=position_bias)
    except ScoringError:
        models, draws = (), None
    order = [models.index(r["model"]) for r in rows] if draws is not None else None
    fronts = []
    for axis in AXES:
        values = [_cost(costs, task, r["model"], axis) for r in rows]
        if all(math.isnan(v) for v in values):
            continue
        front = pareto_front([r["model"] for r in rows], [r["score"] for r in rows], values,
                             ci_low=[r["ci_low"] for r in rows], ci_high=[r["ci_high"] for r in rows],
                             draws=None if order is None else draws[:, order], axis=axis)
        points = [{"model": p.model, "score": p.score, "ci_low": p.ci_low, "ci_high": p.ci_high,
                   **{a: _none_if_nan(_cost(costs, task, p.model, a)) for a in AXES},
                   "on_front": p.on_front, "p_front": p.p_front, "dominated_by": list(p.dominated_by)}
                  for p in front.points]
        fronts.append({"task": task, "axis": axis, "votes": board["votes"], "front": list(front.front),
                       "points": points})
    return fronts


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def pareto_json(cubes: Mapping[str, Comparisons], costs: Costs, **options: Any) -> dict[str, Any]:
    """The ``pareto`` JSON of DESIGN.md §3 for every cube, overall first."""
    order = sorted(cubes, key=lambda t: (t != OVERALL, t))
    return {"fronts": [f for t in order for f in task_fronts(t, cubes[t], costs, **options)]}
