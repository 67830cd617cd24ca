"""Leaderboards per task and overall, as the ``rank`` JSON of DESIGN.md §3.

Shared by the CLI, the HTTP API and the Leaderboard tab; the numbers come from
:func:`scoring.leaderboard.rank`.
"""
from __future__ import annotations

import contextlib
import copy
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping

import numpy as np
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
                 ordered: bool = False, digests: bool = False,
                 on_cube: Callable[[str, Comparisons], None] | None = None,
                 ) -> dict[str, Comparisons | Votes]:
    """Per-task and overall comparisons from battle-format votes (an Arrow table or columns).

    Planted repeat checks (``check == "repeat"``, as exported) are left out, as in the
    database's ranking. The cubes come from one sort of all votes
    (:func:`scoring.grouped.comparisons_by_group`), each equal to ``Comparisons.from_battles``
    on its task's votes; with a single task its cube *is* the overall cube. With ``ordered``
    each value is a :class:`scoring.data.Votes` in row order (for Elo). With ``digests`` each
    cube's snapshot hash is computed on a background thread as soon as the cube exists
    (hashing releases the GIL), for callers about to rank every cube; ``on_cube(task, cube)``
    is called as each cube is built.
    """
    if ordered:
        return _ordered_cubes(votes, tasks)
    from scoring.columns import optional_codes
    from scoring.grouped import comparisons_by_group

    names = votes.column_names if isinstance(votes, pa.Table) else list(votes)

    def col(name):
        return votes.column(name) if isinstance(votes, pa.Table) else votes[name]

    keep = None
    if "check" in names:
        codes, labels = optional_codes(col("check"))
        repeat = [k for k, x in enumerate(labels) if x is not None and str(x) == "repeat"]
        keep = ~np.isin(codes, repeat) if repeat else None
    group, n_groups, wanted = None, 0, [] if tasks is None else \
        list(dict.fromkeys(t for t in tasks if t != OVERALL))
    if "task" in names:
        codes, labels = optional_codes(col("task"))
        text = [None if x is None else str(x) for x in labels]
        if tasks is None:                           # votes per label, missing ones first
            used = np.bincount(codes + 1 if keep is None else codes[keep] + 1,
                               minlength=len(labels) + 1)[1:]
            wanted = sorted({text[k] for k in np.flatnonzero(used)} - {None, ""})
        index = {t: k for k, t in enumerate(wanted)}
        group = np.take(np.array([index.get(t, -1) for t in text] + [-1],
                                 dtype=np.int16 if len(wanted) < 32767 else np.int32),
                        codes, mode="wrap")          # code -1 (missing) takes the last entry
        n_groups = len(wanted)
    elif wanted:
        group, n_groups = np.full(len(col("winner")), -1, np.int32), len(wanted)
    want_overall = tasks is None or OVERALL in tasks
    ahead = _DigestAhead() if digests else None

    def ready(k: int, cube: Comparisons) -> None:
        if ahead:
            ahead.add(cube)
        if on_cube:
            on_cube(OVERALL if k < 0 else wanted[k], cube)

    try:
        whole, parts = comparisons_by_group(
            col("model_a"), col("model_b"), col("winner"),
            voter=col("judge") if "judge" in names else None, group=group, n_groups=n_groups,
            keep=keep, overall=want_overall, on_cube=ready if ahead or on_cube else None)
    except UnknownOutcomeError as exc:
        raise _winner_error(exc) from None
    finally:
        if ahead:
            ahead.add(None)
    cubes: dict[str, Comparisons | Votes] = {OVERALL: whole} if want_overall else {}
    cubes.update(zip(wanted, parts))
    return cubes


class _DigestAhead:
    """Hashes cubes on one daemon thread, in the order given (see ``battle_cubes``)."""

    def __init__(self):
        import queue
        import threading

        self.queue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="digest", daemon=True).start()

    def add(self, cube: Comparisons | None) -> None:
        """Hash ``cube`` next; ``None`` ends the thread once the cubes before it are hashed."""
        self.queue.put(cube)

    def _run(self) -> None:
        while (cube := self.queue.get()) is not None:
            cube.digest()


def _winner_error(exc: UnknownOutcomeError) -> BattleFileError:
    return BattleFileError("unknown winner label(s) " + ", ".join(map(repr, exc.labels[:5]))
                           + "; expected one of " + ", ".join(WINNERS))


def _ordered_cubes(votes, tasks) -> dict[str, Votes]:
    """Per-task and overall :class:`scoring.data.Votes` in row order (for Elo)."""
    import pyarrow.compute as pc

    table = votes if isinstance(votes, pa.Table) else pa.table(dict(votes))
    if "check" in table.column_names:
        table = table.filter(pc.not_equal(table["check"].cast(pa.string()).fill_null(""), "repeat"))

    def cube(t: pa.Table):
        voter = t["judge"] if "judge" in t.column_names else None
        try:
            return Votes.from_battles(t["model_a"], t["model_b"], t["winner"], voter=voter)
        except UnknownOutcomeError as exc:
            raise _winner_error(exc) from None

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

    A cube shared by several tasks (the overall cube of a file with one task) is ranked once
    and its board copied. Boards are fitted on up to two threads (numpy releases the GIL in
    the heavy steps), each with single-threaded BLAS; results do not depend on the number of
    threads.
    """
    first: dict[int, str] = {}
    for t in _order(cubes):
        first.setdefault(id(cubes[t]), t)
    workers = min(FIT_THREADS, os.cpu_count() or 1, len(first))
    if workers < 2:
        done = {t: board_json(t, cubes[t], **options) for t in first.values()}
        return _boards(cubes, first, done)
    with _fitting(workers) as pool:
        done = dict(zip(first.values(), pool.map(lambda t: board_json(t, cubes[t], **options),
                                                 first.values())))
    return _boards(cubes, first, done)


def battle_leaderboards(votes: pa.Table | Mapping[str, Any], tasks: list[str] | None = None,
                        **options: Any) -> dict[str, Any]:
    """``leaderboards(battle_cubes(votes, tasks))``, the same JSON, with each cube ranked as
    soon as it is built (the overall cube is fitted while the tasks' cubes are made) and the
    snapshot hashes taken on a thread of their own."""
    cubes: dict[str, Comparisons] = {}
    first: dict[int, str] = {}
    futures = {}
    with _fitting(max(1, min(FIT_THREADS, os.cpu_count() or 1))) as pool:
        def ready(task: str, cube: Comparisons) -> None:
            cubes[task] = cube
            if id(cube) not in first:
                first[id(cube)] = task
                futures[task] = pool.submit(board_json, task, cube, **options)

        built = battle_cubes(votes, tasks, digests=True, on_cube=ready)
        for task, cube in built.items():               # empty cubes of absent tasks
            if task not in cubes:
                ready(task, cube)
        done = {task: future.result() for task, future in futures.items()}
    return _boards(cubes, {id(cubes[t]): first[id(cubes[t])] for t in _order(cubes)}, done)


def _order(cubes: Mapping[str, Any]) -> list[str]:
    return sorted(cubes, key=lambda t: (t != OVERALL, t))


@contextlib.contextmanager
def _fitting(workers: int):
    """A pool of fitting threads under one BLAS limit and one warnings filter: the fits' own
    (per-call) settings are process-wide, so they must not be the ones left in place."""
    with threadpool_limits(1), warnings.catch_warnings(), \
            ThreadPoolExecutor(workers, thread_name_prefix="fit") as pool:
        warnings.simplefilter("ignore")
        yield pool


def _boards(cubes: Mapping[str, Comparisons], first: dict[int, str],
            done: dict[str, dict]) -> dict[str, Any]:
    """Boards in leaderboard order; a task sharing a ranked cube gets a copy of its board."""
    boards = []
    for t in _order(cubes):
        owner = first[id(cubes[t])]
        boards.append(done[owner] if owner == t else {**copy.deepcopy(done[owner]), "task": t})
    return {"leaderboards": boards}
