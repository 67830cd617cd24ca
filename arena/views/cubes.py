"""The count cubes from the database: votes read as codes (:mod:`arena.views.reading`), then
one sort in numpy.

The cubes are each task's :class:`scoring.data.Comparisons` and the overall one: rows in
(voter, left, right) order, models in id order, ``voters`` holding codes into the sorted voter
ids of the votes read (``""`` stands for votes without a voter id). Planted ``repeat`` checks
are left out unless asked for.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine

from arena.views.reading import ROW_NAMES, VoteRows, read_votes, rows_from_columns
from scoring.columns import CHOICES
from scoring.data import Comparisons
from scoring.errors import ScoringError

OVERALL = "overall"


@dataclass(frozen=True)
class _Tally:
    """Distinct (voter, left, right, choice, task) rows, sorted in that order, with counts;
    ``left``/``right`` index the models in id order; ``m`` (a power of two) packs the cell."""

    tasks: list
    voters: list
    task: np.ndarray
    cell: np.ndarray          # (voter * m + left) * m + right
    choice: np.ndarray
    count: np.ndarray
    m: int


def _tally(rows: VoteRows, ids: np.ndarray) -> _Tally:
    """Count the distinct rows with one sort of one integer key per row (fields sized in
    powers of two, so the key is taken apart with shifts)."""
    m = 1 << max(len(ids) - 1, 0).bit_length()
    n_tasks = 1 << max(len(rows.tasks) - 1, 0).bit_length()
    n_voters = max(len(rows.voters), 1)
    lookup = np.full(int(ids.max()) + 2 if len(ids) else 1, -1, np.int64)
    lookup[ids] = np.arange(len(ids))
    left = lookup[np.clip(rows.left, -1, len(lookup) - 1)]
    right = lookup[np.clip(rows.right, -1, len(lookup) - 1)]
    if np.any(left < 0) or np.any(right < 0):
        raise ScoringError("votes name model ids that are not in the model table")
    n = len(rows.task)
    if n_voters * m * m * 4 * n_tasks >= 1 << 63:
        raise ScoringError(f"{n_voters} voters x {len(ids)} models are too many to count")
    key = (((rows.voter * m + left) * m + right) * 4 + rows.choice) * n_tasks + rows.task
    if rows.count is None:                            # one row per vote: sort and count runs
        key.sort()
        weights = None
    else:
        order = np.argsort(key, kind="stable")
        key, weights = key[order], rows.count[order]
    first = np.flatnonzero(np.concatenate([[n > 0], key[1:] != key[:-1]]))
    if weights is None:
        count = np.diff(np.append(first, n))
    else:
        count = np.add.reduceat(weights, first) if n else np.zeros(0, np.int64)
    head = key[first]
    task = head & (n_tasks - 1)
    head >>= n_tasks.bit_length() - 1
    choice = head & 3
    cell = head >> 2
    return _Tally(rows.tasks, rows.voters, task, cell, choice, count, m)


def _cube(models: tuple, cell: np.ndarray, choice: np.ndarray, count: np.ndarray,
          m: int) -> Comparisons:
    """One cube from rows sorted by (cell, choice): voter-major, then left, then right."""
    if len(cell) == 0:
        empty = np.zeros(0, np.intp)
        return Comparisons((), empty, empty.copy(), np.zeros((0, 4)), empty.copy(), ())
    new = np.empty(len(cell), bool)
    new[0] = True
    np.not_equal(cell[1:], cell[:-1], out=new[1:])
    row = np.cumsum(new, dtype=np.intp)
    row -= 1
    cells = cell[new]
    row *= 4
    row += choice
    counts = np.bincount(row, weights=count, minlength=len(cells) * 4).reshape(len(cells), 4)
    shift = m.bit_length() - 1
    voter, left, right = cells >> (2 * shift), (cells >> shift) & (m - 1), cells & (m - 1)
    used = np.flatnonzero(np.bincount(left, minlength=m) + np.bincount(right, minlength=m))
    if used[-1] != len(used) - 1:                     # some models without votes here
        remap = np.full(m, -1, np.intp)
        remap[used] = np.arange(len(used))
        left, right = remap[left], remap[right]
    start = np.empty(len(voter), bool)
    start[0] = True
    np.not_equal(voter[1:], voter[:-1], out=start[1:])
    code = np.cumsum(start, dtype=np.intp)
    code -= 1
    return Comparisons(tuple(models[i] for i in used), left.astype(np.intp, copy=False),
                       right.astype(np.intp, copy=False), counts, code,
                       tuple(voter[start].tolist()))


def _cubes(tally: _Tally, names: dict[int, str], ids: np.ndarray,
           tasks: list[str] | None) -> dict[str, Comparisons]:
    models = tuple(names[int(i)] for i in ids)
    small = np.int16 if len(tally.tasks) < 1 << 15 else np.int64      # radix sort when small
    order = np.argsort(tally.task.astype(small), kind="stable")       # each task stays sorted
    bounds = np.searchsorted(tally.task[order], np.arange(len(tally.tasks) + 1))
    code = {t: k for k, t in enumerate(tally.tasks) if bounds[k + 1] > bounds[k]}
    wanted = list(code) if tasks is None else [t for t in tasks if t != OVERALL]
    cubes: dict[str, Comparisons] = {}
    if tasks is None or OVERALL in tasks:
        # rows are sorted by (cell, choice, task): dropping the task keeps them sorted
        cubes[OVERALL] = _cube(models, tally.cell, tally.choice, tally.count, tally.m)
    for task in wanted:
        if task in code:
            seg = order[bounds[code[task]]:bounds[code[task] + 1]]
            cubes[task] = _cube(models, tally.cell[seg], tally.choice[seg], tally.count[seg],
                                tally.m)
        else:
            cubes[task] = _cube(models, np.zeros(0, np.int64), np.zeros(0, np.int64),
                                np.zeros(0), tally.m)
    return cubes


# -- public ---------------------------------------------------------------------------------
def count_rows(engine: Engine, *, include_repeats: bool = False) -> dict[str, np.ndarray]:
    """Aggregated vote rows: columns task, voter, left, right, choice, count (numpy arrays).

    One row per distinct (task, voter, left model id, right model id, choice); ``voter`` is
    ``""`` for votes without a voter id; ``choice`` holds the stored names.
    """
    rows, _, ids = read_votes(engine, include_repeats, None)
    tally = _tally(rows, ids)
    if len(tally.count) == 0:
        return {n: np.array([], dtype=object if n in ("task", "voter", "choice") else np.int64)
                for n in ROW_NAMES}
    shift = tally.m.bit_length() - 1
    voter = tally.cell >> (2 * shift)
    left, right = (tally.cell >> shift) & (tally.m - 1), tally.cell & (tally.m - 1)
    return {"task": np.array(tally.tasks, dtype=object)[tally.task],
            "voter": np.array(tally.voters, dtype=object)[voter],
            "left": ids[left], "right": ids[right],
            "choice": np.array(CHOICES, dtype=object)[tally.choice],
            "count": np.asarray(tally.count, np.int64)}


def cubes_from_rows(rows: dict[str, np.ndarray], names: dict[int, str],
                    tasks: list[str] | None = None) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from aggregated rows (model ids mapped to names).

    The cubes' ``voters`` are codes into the sorted distinct ``rows["voter"]`` labels.
    """
    ids = np.array(sorted(names), dtype=np.int64)
    codes = rows_from_columns(rows["task"], rows["voter"], rows["left"], rows["right"],
                                rows["choice"], rows["count"])
    return _cubes(_tally(codes, ids), names, ids, tasks)


def db_cubes(engine: Engine, tasks: list[str] | None = None, *,
             include_repeats: bool = False) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from the votes stored in the database.

    ``tasks`` limits the cubes to those tasks (``"overall"`` for the overall cube); without
    ``"overall"`` only those tasks' votes are read.
    """
    wanted = None if tasks is None or OVERALL in tasks else [t for t in tasks if t != OVERALL]
    rows, names, ids = read_votes(engine, include_repeats, wanted)
    return _cubes(_tally(rows, ids), names, ids, tasks)
