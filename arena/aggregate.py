"""The count cube from the database: one ``GROUP BY`` over votes, then numpy.

Votes are never loaded as objects: the database returns one row per (task, voter, left model,
right model, choice) with its count, and each task's :class:`scoring.data.Comparisons` is built
from those rows.
"""
from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arena.catalog import model_names
from arena.schema import Vote
from scoring.data import Comparisons

OVERALL = "overall"


def count_rows(engine: Engine, *, include_repeats: bool = False) -> dict[str, np.ndarray]:
    """Aggregated vote rows: columns task, voter, left, right, choice, count (numpy arrays)."""
    v = Vote.__table__.c
    query = (select(v.task, v.voter_id, v.left_model_id, v.right_model_id, v.choice, func.count())
             .group_by(v.task, v.voter_id, v.left_model_id, v.right_model_id, v.choice))
    if not include_repeats:
        query = query.where(v.check_kind != "repeat")
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    names = ("task", "voter", "left", "right", "choice", "count")
    if not rows:
        return {n: np.array([], dtype=object if n in ("task", "voter", "choice") else np.int64) for n in names}
    cols = list(zip(*rows))
    out = {}
    for name, col in zip(names, cols):
        if name in ("left", "right", "count"):
            out[name] = np.fromiter(col, dtype=np.int64, count=len(rows))
        else:
            out[name] = np.array(["" if x is None else x for x in col], dtype=object)
    return out


def cubes_from_rows(rows: dict[str, np.ndarray], names: dict[int, str],
                    tasks: list[str] | None = None) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from aggregated rows (model ids mapped to names)."""
    ids = np.array(sorted(names), dtype=np.int64)
    models = tuple(names[i] for i in ids)
    left = np.searchsorted(ids, rows["left"])
    right = np.searchsorted(ids, rows["right"])
    _, voter = np.unique(rows["voter"].astype(str), return_inverse=True)
    present = sorted(set(rows["task"].tolist()))
    wanted = present if tasks is None else [t for t in tasks if t != OVERALL]
    cubes: dict[str, Comparisons] = {}
    if tasks is None or OVERALL in tasks:
        cubes[OVERALL] = _subset(models, left, right, rows, voter, slice(None))
    for task in wanted:
        cubes[task] = _subset(models, left, right, rows, voter, rows["task"] == task)
    return cubes


def _subset(models, left, right, rows, voter, keep) -> Comparisons:
    l, r = left[keep], right[keep]
    used = np.unique(np.concatenate([l, r])) if len(l) else np.array([], dtype=np.int64)
    remap = np.full(len(models), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return Comparisons.from_counts(tuple(models[i] for i in used), remap[l], remap[r],
                                   rows["choice"][keep], rows["count"][keep], voter=voter[keep])


def db_cubes(engine: Engine, tasks: list[str] | None = None, *,
             include_repeats: bool = False) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from the votes stored in the database."""
    return cubes_from_rows(count_rows(engine, include_repeats=include_repeats), model_names(engine), tasks)
