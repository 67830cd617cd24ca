"""Leaderboards per task and overall, as the ``rank`` JSON of DESIGN.md §3.

Shared by the CLI, the HTTP API and the Leaderboard tab; the numbers come from
:func:`scoring.leaderboard.rank`.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import pyarrow as pa
from threadpoolctl import threadpool_limits

from arena.files.battles import WINNERS, BattleFileError
from scoring.data import Comparisons, Votes
from scoring.errors import ScoringError, UnknownOutcomeError
from scoring.leaderboard import rank

OVERALL = "overall"
#: Threads that fit boards at once (each board's fit stays single-threaded).
FIT_THREADS = 2


def battle_cubes(votes: pa.Table | Mapping[str, Any], tasks: list[str] | None = None, *,
                 ordered: bool = False) -> dict[str, Comparisons | Votes]:
    """Per-task and overall comparisons from battle-format votes (an Arrow table or columns).

    Planted repeat checks (``check == "repeat"``, as exported) are left out, as in the
    database's ranking. With ``ordered`` each value is a :class:`scoring.data.Votes` in row order
    (for Elo).
    """
    import pyarrow.compute as pc

    table = votes if isinstance(votes, pa.Table) else pa.table(dict(votes))
    if "check" in table.column_names:
        table = table.filter(pc.not_equal(table["check"].cast(pa.string()).fill_null(""), "repeat"))
    build = Votes.from_battles if ordered else Comparisons.from_battles

    def cube(t: pa.Table):
        voter = t["judge"] if "judge" in t.column_names else None
        try:
            return build(t["model_a"], t["model_b"], t["winner"], voter=voter)
        except UnknownOutcomeError as exc:
            raise BattleFileError("unknown winner label(s) " + ", ".join(map(repr, exc.labels[:5]))
                                  + "; expected one of " + ", ".join(WINNERS)) from None

    task_col = table["task"].cast(pa.string()) if "task" in table.column_names else None
    present = sorted(x for x in pc.unique(task_col).to_pylist() if x) if task_col is not None else []
    wanted = present if tasks is None else [t for t in tasks if t != OVERALL]
    cubes = {}
    if tasks is None or OVERALL in tasks:
        cubes[OVERALL] = cube(table)
    for task in wanted:
        keep = pc.equal(task_col, task) if task_col is not None else pa.array([False] * table.num_rows)
        cubes[task] = cube(table.filter(keep))
    return cubes


def board_json(task: str, data: Comparisons, **options: Any) -> dict[str, Any]:
    """One task's leaderboard as JSON; a task that cannot be ranked gets rows [] and a warning."""
    try:
        board = rank(data, **options).to_dict()
    except ScoringError as exc:
        board = {"votes": int(data.n_votes), "rows": [], "warnings": [str(exc)]}
    return {"task": task, **board}


def leaderboards(cubes: Mapping[str, Comparisons], **options: Any) -> dict[str, Any]:
    """The ``rank`` JSON for every cube, overall first.

    Boards are fitted on up to two threads (numpy releases the GIL in the heavy steps), each
    with single-threaded BLAS; results do not depend on the number of threads.
    """
    order = sorted(cubes, key=lambda t: (t != OVERALL, t))
    workers = min(FIT_THREADS, os.cpu_count() or 1, len(order))
    if workers < 2:
        return {"leaderboards": [board_json(t, cubes[t], **options) for t in order]}
    # One BLAS limit and one warnings filter for the whole pool: the fits' own (per-call)
    # settings are process-wide, so they must not be the ones left in place afterwards.
    with threadpool_limits(1), warnings.catch_warnings(), \
            ThreadPoolExecutor(workers, thread_name_prefix="fit") as pool:
        warnings.simplefilter("ignore")
        boards = list(pool.map(lambda t: board_json(t, cubes[t], **options), order))
    return {"leaderboards": boards}
