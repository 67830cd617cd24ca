"""The count cubes from the database: one pass over the votes, then one sort in numpy.

Votes are never loaded as objects. On SQLite and PostgreSQL one aggregate query returns two
values per block of votes: every voter id concatenated, and per vote one integer that packs the
task, the two model ids, the choice and the length of the voter id (``group_concat`` on
SQLite, ``string_agg`` of 8-byte integers on PostgreSQL); numpy unpacks them, Arrow
dictionary-encodes the voter ids, and one sort gives the counts of each (task, voter, left
model, right model, choice). Other databases use ``GROUP BY task, voter, left, right, choice``
and the same numpy code. Either way the cubes are the same: each task's
:class:`scoring.data.Comparisons` and the overall one, rows ordered by (voter, left, right),
``voters`` holding codes into the sorted voter ids of the votes read (``""`` for votes
without a voter id). Planted ``repeat`` checks are left out unless asked for.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from arena.catalog import model_names
from arena.schema import Task, Vote
from scoring.columns import BATTLE_WINNERS, CHOICES, choice_codes, factorize
from scoring.data import Comparisons
from scoring.errors import ScoringError, UnknownOutcomeError

OVERALL = "overall"
#: Votes per aggregate query: keeps each concatenated value well under the databases' 1 GB.
BLOCK = 1 << 22
_LENGTH_BITS = 9                                   # voter ids up to 510 bytes ride in the key
_NAMES = ("task", "voter", "left", "right", "choice", "count")


@dataclass(frozen=True)
class _Rows:
    """Votes (or aggregated rows with ``count``) as codes: ``task`` into ``tasks``, ``voter``
    into ``voters`` (both sorted), ``left``/``right`` model ids, ``choice`` into CHOICES."""

    tasks: list
    voters: list
    task: np.ndarray
    voter: np.ndarray
    left: np.ndarray
    right: np.ndarray
    choice: np.ndarray
    count: np.ndarray | None = None


# -- reading the votes ----------------------------------------------------------------------------
def _filters(include_repeats: bool, tasks: list[str] | None, params: dict) -> str:
    where = "" if include_repeats else " AND check_kind != 'repeat'"
    if tasks is not None:
        names = []
        for k, task in enumerate(tasks):
            params[f"want{k}"] = task
            names.append(f":want{k}")
        where += f" AND task IN ({', '.join(names) or 'NULL'})"
    return where


def _packed(dialect: str, tasks: list[str], width: int, params: dict) -> str:
    """SQL for one integer per vote: task code, left id, right id, choice code, id length."""
    for k, task in enumerate(tasks):
        params[f"task{k}"] = task
    task = "CASE task " + " ".join(f"WHEN :task{k} THEN {k}" for k in range(len(tasks))) \
        + f" ELSE {len(tasks)} END"
    labels = [(c, i) for i, c in enumerate(CHOICES)] + [(w, i) for i, w in enumerate(BATTLE_WINNERS)]
    choice = "CASE choice " + " ".join(f"WHEN '{c}' THEN {i}" for c, i in labels) + " ELSE 4 END"
    top = (1 << _LENGTH_BITS) - 1
    if dialect == "sqlite":
        length, smaller, big = "length(CAST(coalesce(voter_id, '') AS BLOB))", "min", ""
    else:
        length, smaller, big = "octet_length(coalesce(voter_id, ''))", "least", "::bigint"
    ok = f"left_model_id BETWEEN 0 AND {width - 1} AND right_model_id BETWEEN 0 AND {width - 1}"
    key = (f"(((({task}){big} * {width} + left_model_id) * {width} + right_model_id) * 8 + {choice})"
           f" * {top + 1} + {smaller}({length}, {top})")
    return f"CASE WHEN {ok} THEN {key} ELSE -1 END"


def _read_packed(conn: Connection, tasks: list[str], width: int, include_repeats: bool,
                 wanted: list[str] | None) -> tuple[np.ndarray, bytes] | None:
    """Every vote's packed integer and the concatenated voter ids, block by block of ids."""
    dialect = conn.dialect.name
    params: dict = {}
    key = _packed(dialect, tasks, width, params)
    where = _filters(include_repeats, wanted, params)
    if dialect == "sqlite":
        aggs = f"group_concat(coalesce(voter_id, ''), ''), group_concat({key})"
    else:
        aggs = f"string_agg(coalesce(voter_id, ''), ''), string_agg(int8send({key}), CAST('' AS bytea))"
    low, high = conn.execute(select(func.min(Vote.id), func.max(Vote.id))).one()
    keys, voters = [], []
    if low is not None:
        query = text(f"SELECT {aggs} FROM vote WHERE id >= :low AND id < :high{where}")
        for start in range(low, high + 1, BLOCK):
            ids, packed = conn.execute(query, {**params, "low": start, "high": start + BLOCK}).one()
            if packed is None:
                continue
            voters.append(ids.encode())
            if dialect == "sqlite":          # a short parse shows in the voter ids' lengths
                part = np.fromstring(packed, dtype=np.int64, sep=",")
            else:
                part = np.frombuffer(packed, dtype=">i8").astype(np.int64)
            keys.append(part)
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    blob = b"".join(voters)
    if np.any(key < 0) or not (blob.isascii() or _utf8(conn)):
        return None
    return key, blob


def _utf8(conn: Connection) -> bool:
    """Whether the database counts the bytes of a text in UTF-8, as Python encodes it."""
    if conn.dialect.name == "sqlite":
        return str(conn.exec_driver_sql("PRAGMA encoding").scalar()).upper() == "UTF-8"
    return str(conn.exec_driver_sql("SHOW server_encoding").scalar()).upper() in ("UTF8", "UTF-8")


def _voter_codes(blob: bytes, lengths: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """Codes into the sorted distinct voter ids, from the ids concatenated and their lengths
    (None if the lengths do not add up)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] != len(blob):
        return None
    ids = pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(blob))
    encoded = pc.dictionary_encode(ids)
    labels = encoded.dictionary.to_pylist()
    order = sorted(range(len(labels)), key=labels.__getitem__)
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels))
    indices = np.asarray(encoded.indices) if len(lengths) else np.zeros(0, np.int64)
    return rank[indices], [labels[k] for k in order]


def _fast_rows(conn: Connection, ids: np.ndarray, include_repeats: bool,
               wanted: list[str] | None) -> _Rows | None:
    """One row per vote as codes, or None when this database or these votes need the
    ``GROUP BY`` path (another dialect, an unknown task, or ids that do not fit the key)."""
    if conn.dialect.name not in ("sqlite", "postgresql"):
        return None
    tasks = sorted(conn.execute(select(Task.name)).scalars())
    if not tasks:
        return None
    width = int(ids.max()) + 1 if len(ids) else 1
    if (len(tasks) + 1) * width * width * 8 << _LENGTH_BITS >= 1 << 62:
        return None
    read = _read_packed(conn, tasks, width, include_repeats, wanted)
    if read is None:
        return None
    key, blob = read
    lengths = key & ((1 << _LENGTH_BITS) - 1)
    if np.any(lengths == (1 << _LENGTH_BITS) - 1):
        return None
    key = key >> _LENGTH_BITS
    choice = (key & 7).astype(np.int8)
    key >>= 3
    right = key % width
    key //= width
    left = key % width
    task = key // width
    if np.any(task == len(tasks)):
        return None
    if np.any(choice == 4):
        _unknown_choices(conn)
    voters = _voter_codes(blob, lengths)
    if voters is None:
        return None
    return _Rows(tasks, voters[1], task, voters[0], left, right, choice)


def _unknown_choices(conn: Connection) -> None:
    v = Vote.__table__.c
    known = list(CHOICES) + list(BATTLE_WINNERS)
    bad = conn.execute(select(v.choice).where(v.choice.not_in(known)).distinct().limit(5)).scalars()
    raise UnknownOutcomeError(sorted(map(str, bad)), BATTLE_WINNERS + CHOICES)


def _grouped_rows(conn: Connection, include_repeats: bool, wanted: list[str] | None) -> _Rows:
    """``GROUP BY task, voter, left, right, choice`` through SQLAlchemy (any database)."""
    v = Vote.__table__.c
    query = (select(v.task, v.voter_id, v.left_model_id, v.right_model_id, v.choice, func.count())
             .group_by(v.task, v.voter_id, v.left_model_id, v.right_model_id, v.choice))
    if not include_repeats:
        query = query.where(v.check_kind != "repeat")
    if wanted is not None:
        query = query.where(v.task.in_(wanted))
    rows = conn.execute(query).all()
    cols = list(zip(*rows)) if rows else [()] * 6
    return _codes_from_columns(*(np.array(c, dtype=object) for c in cols[:5]),
                               np.array(cols[5], dtype=np.int64))


def _codes_from_columns(task, voter, left, right, choice, count) -> _Rows:
    n = len(task)
    task_codes, tasks = factorize(np.array([str(x) for x in task], dtype=object), "task") if n \
        else (np.zeros(0, np.int64), [])
    voter_codes, voters = factorize(np.array(["" if x is None else str(x) for x in voter],
                                             dtype=object), "voter") if n \
        else (np.zeros(0, np.int64), [])
    return _Rows(list(tasks), list(voters), np.asarray(task_codes, np.int64),
                 np.asarray(voter_codes, np.int64), np.asarray(left, np.int64).reshape(n),
                 np.asarray(right, np.int64).reshape(n), choice_codes(choice, "choice").astype(np.int8),
                 np.asarray(count, np.int64).reshape(n))


def _read_rows(engine: Engine, ids: np.ndarray, include_repeats: bool,
               wanted: list[str] | None) -> _Rows:
    with engine.connect() as conn:
        rows = _fast_rows(conn, ids, include_repeats, wanted)
        return rows if rows is not None else _grouped_rows(conn, include_repeats, wanted)


# -- counting -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tally:
    """Distinct (voter, left, right, choice, task) rows, sorted in that order, with counts;
    ``left``/``right`` index the models in id order."""

    tasks: list
    voters: list
    task: np.ndarray
    cell: np.ndarray          # (voter * m + left) * m + right
    choice: np.ndarray
    count: np.ndarray
    m: int


def _tally(rows: _Rows, ids: np.ndarray) -> _Tally:
    m, n_tasks, n_voters = len(ids), max(len(rows.tasks), 1), max(len(rows.voters), 1)
    lookup = np.full(int(ids.max()) + 2 if len(ids) else 1, -1, np.int64)
    lookup[ids] = np.arange(m)
    left = lookup[np.clip(rows.left, -1, len(lookup) - 1)]
    right = lookup[np.clip(rows.right, -1, len(lookup) - 1)]
    if np.any(left < 0) or np.any(right < 0):
        raise ScoringError("votes name model ids that are not in the model table")
    n = len(rows.task)
    order = None
    if n_voters * m * m * 4 * n_tasks < 1 << 63:     # one integer key per row: one sort
        key = (((rows.voter * m + left) * m + right) * 4 + rows.choice) * n_tasks + rows.task
        if rows.count is None:
            key.sort()
        else:
            order = np.argsort(key, kind="stable")
            key = key[order]
        change = key[1:] != key[:-1]
    else:                                            # too wide for one integer: sort columns
        key = None
        order = np.lexsort((rows.task, rows.choice, right, left, rows.voter))
        change = np.zeros(max(n - 1, 0), bool)
        for col in (rows.voter, left, right, rows.choice, rows.task):
            c = col[order]
            change |= c[1:] != c[:-1]
    first = np.flatnonzero(np.concatenate([[n > 0], change]))
    if rows.count is None:
        count = np.diff(np.append(first, n))
    else:
        count = np.add.reduceat(rows.count[order], first) if n else np.zeros(0, np.int64)
    if key is not None:
        head = key[first]
        head, task = np.divmod(head, n_tasks)
        cell, choice = np.divmod(head, 4)
    else:
        pick = order[first]
        task, choice = rows.task[pick], rows.choice[pick].astype(np.int64)
        cell = (rows.voter[pick] * m + left[pick]) * m + right[pick]
    return _Tally(rows.tasks, rows.voters, task, cell, choice, count, m)


def _cube(models: tuple, cell: np.ndarray, choice: np.ndarray, count: np.ndarray,
          m: int) -> Comparisons:
    """One cube from rows sorted by (cell, choice): voter-major, then left, then right."""
    if len(cell) == 0:
        empty = np.zeros(0, np.intp)
        return Comparisons((), empty, empty.copy(), np.zeros((0, 4)), empty.copy(), ())
    new = np.concatenate([[True], cell[1:] != cell[:-1]])
    row = np.cumsum(new) - 1
    cells = cell[new]
    counts = np.bincount(row * 4 + choice, weights=count, minlength=len(cells) * 4)
    counts = counts.reshape(len(cells), 4).astype(float, copy=False)
    voter, pair = np.divmod(cells, m * m)
    left, right = np.divmod(pair, m)
    used = np.flatnonzero(np.bincount(left, minlength=m) + np.bincount(right, minlength=m))
    remap = np.full(m, -1, np.intp)
    remap[used] = np.arange(len(used))
    start = np.concatenate([[True], voter[1:] != voter[:-1]])
    return Comparisons(tuple(models[i] for i in used), remap[left], remap[right], counts,
                       (np.cumsum(start) - 1).astype(np.intp), tuple(voter[start].tolist()))


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


def _model_ids(names: dict[int, str]) -> np.ndarray:
    return np.array(sorted(names), dtype=np.int64)


# -- public -----------------------------------------------------------------------------------------
def count_rows(engine: Engine, *, include_repeats: bool = False) -> dict[str, np.ndarray]:
    """Aggregated vote rows: columns task, voter, left, right, choice, count (numpy arrays).

    One row per distinct (task, voter, left model id, right model id, choice); ``voter`` is
    ``""`` for votes without a voter id; ``choice`` holds the stored names.
    """
    ids = _model_ids(model_names(engine))
    rows = _read_rows(engine, ids, include_repeats, None)
    tally = _tally(rows, ids)
    if len(tally.count) == 0:
        return {n: np.array([], dtype=object if n in ("task", "voter", "choice") else np.int64)
                for n in _NAMES}
    voter, pair = np.divmod(tally.cell, tally.m * tally.m)
    left, right = np.divmod(pair, tally.m)
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
    ids = _model_ids(names)
    codes = _codes_from_columns(rows["task"], rows["voter"], rows["left"], rows["right"],
                                rows["choice"], rows["count"])
    return _cubes(_tally(codes, ids), names, ids, tasks)


def db_cubes(engine: Engine, tasks: list[str] | None = None, *,
             include_repeats: bool = False) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from the votes stored in the database.

    ``tasks`` limits the cubes to those tasks (``"overall"`` for the overall cube); without
    ``"overall"`` only those tasks' votes are read.
    """
    names = model_names(engine)
    ids = _model_ids(names)
    wanted = None if tasks is None or OVERALL in tasks else [t for t in tasks if t != OVERALL]
    return _cubes(_tally(_read_rows(engine, ids, include_repeats, wanted), ids), names, ids, tasks)
