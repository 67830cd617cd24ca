"""The count cubes from the database: one pass over the votes, then one sort in numpy.

Votes are never loaded as objects. On SQLite and PostgreSQL (psycopg) one aggregate query per
block of vote ids returns two values: the voter ids concatenated, and per vote one integer
packing the task, both model ids, the choice and the byte length of the voter id
(``group_concat`` on SQLite; ``string_agg`` and a ``bigint[]`` in PostgreSQL's binary format).
Blocks are read on a few connections at once, sharing one snapshot on PostgreSQL. numpy
unpacks the integers, Arrow dictionary-encodes the voter ids, and one sort gives the count of
each (task, voter, left model, right model, choice). Other databases, and votes that do not
fit the packed integer, take ``GROUP BY task, voter, left, right, choice`` and the same numpy
code, with the same result.

The cubes are each task's :class:`scoring.data.Comparisons` and the overall one: rows in
(voter, left, right) order, models in id order, ``voters`` holding codes into the sorted voter
ids of the votes read (``""`` stands for votes without a voter id). Planted ``repeat`` checks
are left out unless asked for.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from arena.catalog import model_names
from arena.schema import Model, Task, Vote
from scoring.columns import BATTLE_WINNERS, CHOICES, choice_codes, factorize
from scoring.data import Comparisons
from scoring.errors import ScoringError, UnknownOutcomeError

OVERALL = "overall"
#: Votes per aggregate query: keeps each concatenated value well under the databases' 1 GB.
BLOCK = 1 << 22
#: Connections that read blocks of votes at once (threads wait on the database, not on Python).
READERS = max(1, min(4, os.cpu_count() or 1))
#: Fewer vote ids than this are read in one query.
PARALLEL_MIN = 1 << 17
#: (dialect, driver) pairs read with one packed integer per vote; others use GROUP BY.
FAST_DRIVERS = (("sqlite", "pysqlite"), ("postgresql", "psycopg"))
_TEXT_OID, _INT8_ARRAY_OID = 25, 1016                # PostgreSQL's fixed type ids
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


# -- reading the votes ----------------------------------------------------------------------
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
    labels = [*((c, i) for i, c in enumerate(CHOICES)),
              *((w, i) for i, w in enumerate(BATTLE_WINNERS))]
    choice = "CASE choice " + " ".join(f"WHEN '{c}' THEN {i}" for c, i in labels) + " ELSE 4 END"
    top = (1 << _LENGTH_BITS) - 1
    if dialect == "sqlite":
        length, smaller, big = "length(CAST(coalesce(voter_id, '') AS BLOB))", "min", ""
    else:
        length, smaller, big = "octet_length(coalesce(voter_id, ''))", "least", "::bigint"
    ok = f"left_model_id BETWEEN 0 AND {width - 1} AND right_model_id BETWEEN 0 AND {width - 1}"
    key = (f"(((({task}){big} * {width} + left_model_id) * {width} + right_model_id) * 8"
           f" + {choice}) * {top + 1} + {smaller}({length}, {top})")
    return f"CASE WHEN {ok} THEN {key} ELSE -1 END"


def _blocks(low: int, high: int, readers: int) -> list[tuple[int, int]]:
    """Id ranges [start, stop) covering low..high: one per reader, none over BLOCK ids."""
    n = high - low + 1
    parts = max(readers if n >= PARALLEL_MIN else 1, -(-n // BLOCK))
    cuts = [low + n * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _readers(engine: Engine) -> int:
    """Connections to read with at once: one for an in-memory SQLite database."""
    database = engine.url.database or ""
    memory = database in ("", ":memory:") or "mode=memory" in str(engine.url)
    if engine.dialect.name == "sqlite" and memory:
        return 1
    return READERS


def _read_packed(engine: Engine, conn: Connection, tasks: list[str], width: int,
                 include_repeats: bool, wanted: list[str] | None
                 ) -> tuple[np.ndarray, bytes] | None:
    """Every vote's packed integer and the concatenated voter ids, block by block of ids.

    Blocks are read on up to :data:`READERS` connections at once. On PostgreSQL they share
    ``conn``'s snapshot (``pg_export_snapshot``); on SQLite every block stops at the largest id
    ``conn`` saw, and votes are only ever appended.
    """
    dialect = conn.dialect.name
    params: dict = {}
    key = _packed(dialect, tasks, width, params)
    where = _filters(include_repeats, wanted, params)
    if dialect == "sqlite":
        aggs = f"group_concat(coalesce(voter_id, ''), ''), group_concat({key})"
    else:
        aggs = f"string_agg(coalesce(voter_id, ''), ''), array_agg({key})"
    query = text(f"SELECT {aggs} FROM vote WHERE id >= :low AND id < :high{where}")
    # two scalar subqueries: SQLite reads a lone min() or max() off the index, but scans the
    # table for both in one select
    low, high = conn.execute(select(select(func.min(Vote.id)).scalar_subquery(),
                                    select(func.max(Vote.id)).scalar_subquery())).one()
    blocks = [] if low is None else _blocks(low, high, _readers(engine))

    def read(c: Connection, block: tuple[int, int]) -> tuple[np.ndarray, bytes]:
        values = {**params, "low": block[0], "high": block[1]}
        if dialect == "sqlite":              # a short parse shows in the voter ids' lengths
            ids, packed = c.execute(query, values).one()
            if packed is None:
                return np.zeros(0, np.int64), b""
            return np.fromstring(packed, dtype=np.int64, sep=","), ids.encode()
        return _pg_arrays(c, query, values)

    snapshot = _export_snapshot(conn) if len(blocks) > 1 else None
    if len(blocks) <= 1 or (dialect == "postgresql" and snapshot is None):
        parts = [read(conn, b) for b in blocks]
    else:
        def read_apart(block):
            with engine.connect() as c:
                if snapshot:
                    c = c.execution_options(isolation_level="REPEATABLE READ")
                    c.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                return read(c, block)

        with ThreadPoolExecutor(min(len(blocks), READERS)) as pool:
            parts = list(pool.map(read_apart, blocks))
    key = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    blob = b"".join(p[1] for p in parts)
    if np.any(key < 0) or not (blob.isascii() or _utf8(conn)):
        return None
    return key, blob


def _pg_arrays(c: Connection, query, values: dict) -> tuple[np.ndarray, bytes]:
    """PostgreSQL: the voter ids as bytes and the ``bigint[]`` of keys in the binary wire
    format, read by numpy (psycopg would otherwise make a Python int of every key)."""
    import psycopg
    from psycopg.adapt import Loader

    class Raw(Loader):
        format = psycopg.pq.Format.BINARY

        def load(self, data):
            return bytes(data)

    with c.connection.driver_connection.cursor(binary=True) as cur:
        for oid in (_TEXT_OID, _INT8_ARRAY_OID):
            cur.adapters.register_loader(oid, Raw)
        cur.execute(str(query.compile(dialect=c.dialect)), values)
        ids, packed = cur.fetchone()
    if packed is None:
        return np.zeros(0, np.int64), b""
    # header: dimensions, null flag, element type, length, lower bound; then (4-byte size,
    # 8-byte value) per element
    ndim, nulls, _, n, _ = np.frombuffer(packed, ">i4", 5)
    if ndim != 1 or nulls:
        raise ScoringError("unexpected array from the database")
    cells = np.frombuffer(packed, np.dtype([("size", ">i4"), ("value", ">i8")]), n, 20)
    return cells["value"].astype(np.int64), ids


def _export_snapshot(conn: Connection) -> str | None:
    """PostgreSQL: an id other connections can read ``conn``'s snapshot with (None on a
    standby, which may not export one)."""
    if conn.dialect.name != "postgresql":
        return None
    if conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar():
        return None
    snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        raise ScoringError(f"unexpected snapshot id {snapshot!r}")
    return snapshot


def _utf8(conn: Connection) -> bool:
    """Whether the database counts the bytes of a text in UTF-8, as Python encodes it."""
    if conn.dialect.name == "sqlite":
        return str(conn.exec_driver_sql("PRAGMA encoding").scalar()).upper() == "UTF-8"
    return all(str(conn.exec_driver_sql(f"SHOW {which}").scalar()).upper() in ("UTF8", "UTF-8")
               for which in ("server_encoding", "client_encoding"))


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


def _fast_rows(engine: Engine, conn: Connection, include_repeats: bool,
               wanted: list[str] | None) -> _Rows | None:
    """One row per vote as codes, or None when this database or these votes need the
    ``GROUP BY`` path (another dialect, an unknown task, or ids that do not fit the key)."""
    if (conn.dialect.name, conn.dialect.driver) not in FAST_DRIVERS:
        return None
    tasks = sorted(conn.execute(select(Task.name)).scalars())
    if not tasks:
        return None
    bits = int(conn.execute(select(func.max(Model.id))).scalar() or 0).bit_length()
    width = 1 << bits                                  # model ids 0..width-1
    if (len(tasks) + 1) * width * width * 8 << _LENGTH_BITS >= 1 << 62:
        return None
    read = _read_packed(engine, conn, tasks, width, include_repeats, wanted)
    if read is None:
        return None
    key, blob = read
    lengths = key & ((1 << _LENGTH_BITS) - 1)
    if np.any(lengths == (1 << _LENGTH_BITS) - 1):
        return None
    key = key >> _LENGTH_BITS
    choice = (key & 7).astype(np.int8)
    key >>= 3
    right = key & (width - 1)
    key >>= bits
    left = key & (width - 1)
    task = key >> bits
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
                 np.asarray(right, np.int64).reshape(n),
                 choice_codes(choice, "choice").astype(np.int8),
                 np.asarray(count, np.int64).reshape(n))


def _read(engine: Engine, include_repeats: bool, wanted: list[str] | None
          ) -> tuple[_Rows, dict[int, str], np.ndarray]:
    """The votes as codes, then the model names (read after, so every voted model is named)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        rows = _fast_rows(engine, conn, include_repeats, wanted)
        if rows is None:
            rows = _grouped_rows(conn, include_repeats, wanted)
    names = model_names(engine)
    return rows, names, np.array(sorted(names), dtype=np.int64)


# -- counting -------------------------------------------------------------------------------
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


def _tally(rows: _Rows, ids: np.ndarray) -> _Tally:
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
    rows, _, ids = _read(engine, include_repeats, None)
    tally = _tally(rows, ids)
    if len(tally.count) == 0:
        return {n: np.array([], dtype=object if n in ("task", "voter", "choice") else np.int64)
                for n in _NAMES}
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
    codes = _codes_from_columns(rows["task"], rows["voter"], rows["left"], rows["right"],
                                rows["choice"], rows["count"])
    return _cubes(_tally(codes, ids), names, ids, tasks)


def db_cubes(engine: Engine, tasks: list[str] | None = None, *,
             include_repeats: bool = False) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from the votes stored in the database.

    ``tasks`` limits the cubes to those tasks (``"overall"`` for the overall cube); without
    ``"overall"`` only those tasks' votes are read.
    """
    wanted = None if tasks is None or OVERALL in tasks else [t for t in tasks if t != OVERALL]
    rows, names, ids = _read(engine, include_repeats, wanted)
    return _cubes(_tally(rows, ids), names, ids, tasks)
