"""Leaderboards per task and overall, as the ``rank`` JSON of DESIGN.md §3.

Shared by the CLI, the HTTP API and the Leaderboard tab; the numbers come from
:func:`scoring.leaderboard.rank`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from scoring.data import Comparisons
from scoring.errors import ScoringError
from scoring.leaderboard import rank

OVERALL = "overall"


def battle_cubes(cols: Mapping[str, np.ndarray], tasks: list[str] | None = None) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from battle-format columns (see ``arena.battles``)."""
    def cube(keep) -> Comparisons:
        voter = cols["judge"][keep] if "judge" in cols else None
        return Comparisons.from_battles(cols["model_a"][keep], cols["model_b"][keep],
                                        cols["winner"][keep], voter=voter)

    everything = np.ones(len(cols["winner"]), dtype=bool)
    present = sorted(set(cols["task"].astype(str)) - {""}) if "task" in cols else []
    wanted = present if tasks is None else [t for t in tasks if t != OVERALL]
    cubes = {}
    if tasks is None or OVERALL in tasks:
        cubes[OVERALL] = cube(everything)
    for task in wanted:
        keep = cols["task"].astype(str) == task if "task" in cols else ~everything
        cubes[task] = cube(keep)
    return cubes


def board_json(task: str, data: Comparisons, **options: Any) -> dict[str, Any]:
    """One task's leaderboard as JSON; a task that cannot be ranked gets rows [] and a warning."""
    try:
        board = rank(data, **options).to_dict()
    except ScoringError as exc:
        board = {"votes": int(data.n_votes), "rows": [], "warnings": [str(exc)]}
    return {"task": task, **board}


def leaderboards(cubes: Mapping[str, Comparisons], **options: Any) -> dict[str, Any]:
    """The ``rank`` JSON for every cube, overall first."""
    order = sorted(cubes, key=lambda t: (t != OVERALL, t))
    return {"leaderboards": [board_json(t, cubes[t], **options) for t in order]}
