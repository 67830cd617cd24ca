"""Reading votes out of the database as integer codes, without an object per vote.

On SQLite and PostgreSQL (psycopg) one aggregate query per block of vote ids returns two values:
the voter ids concatenated, and per vote one integer packing the task, both model ids, the choice
and the byte length of the voter id (``group_concat`` on SQLite; ``string_agg`` and a
``bigint[]`` in PostgreSQL's binary format). Blocks are read on a few connections at once,
sharing one snapshot on PostgreSQL; numpy unpacks the integers and Arrow dictionary-encodes the
voter ids. Other databases, and votes that do not fit the packed integer, take ``GROUP BY task,
voter, left, right, choice`` with the same result. Planted ``repeat`` checks are left out unless
asked for.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from arena.store.catalog import model_names
from arena.store.schema import Model, Task, Vote
from scoring.columns import BATTLE_WINNERS, CHOICES, choice_codes, factorize
from scoring.errors import ScoringError, UnknownOutcomeError

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
ROW_NAMES = ("task", "voter", "left", "right", "choice", "count")


@dataclass(frozen=True)
class VoteRows:
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
               wanted: list[str] | None) -> VoteRows | None:
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
    return VoteRows(tasks, voters[1], task, voters[0], left, right, choice)


def _unknown_choices(conn: Connection) -> None:
    v = Vote.__table__.c
    known = list(CHOICES) + list(BATTLE_WINNERS)
    bad = conn.execute(select(v.choice).where(v.choice.not_in(known)).distinct().limit(5)).scalars()
    raise UnknownOutcomeError(sorted(map(str, bad)), BATTLE_WINNERS + CHOICES)


def _grouped_rows(conn: Connection, include_repeats: bool, wanted: list[str] | None) -> VoteRows:
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
    return rows_from_columns(*(np.array(c, dtype=object) for c in cols[:5]),
                               np.array(cols[5], dtype=np.int64))


def rows_from_columns(task, voter, left, right, choice, count) -> VoteRows:
    n = len(task)
    task_codes, tasks = factorize(np.array([str(x) for x in task], dtype=object), "task") if n \
        else (np.zeros(0, np.int64), [])
    voter_codes, voters = factorize(np.array(["" if x is None else str(x) for x in voter],
                                             dtype=object), "voter") if n \
        else (np.zeros(0, np.int64), [])
    return VoteRows(list(tasks), list(voters), np.asarray(task_codes, np.int64),
                 np.asarray(voter_codes, np.int64), np.asarray(left, np.int64).reshape(n),
                 np.asarray(right, np.int64).reshape(n),
                 choice_codes(choice, "choice").astype(np.int8),
                 np.asarray(count, np.int64).reshape(n))


def read_votes(engine: Engine, include_repeats: bool, wanted: list[str] | None
          ) -> tuple[VoteRows, dict[int, str], np.ndarray]:
    """The votes as codes, then the model names (read after, so every voted model is named)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        rows = _fast_rows(engine, conn, include_repeats, wanted)
        if rows is None:
            rows = _grouped_rows(conn, include_repeats, wanted)
    names = model_names(engine)
    return rows, names, np.array(sorted(names), dtype=np.int64)
