"""Engine creation and sessions: SQLite in WAL mode by default, PostgreSQL by URL."""
from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

from arena.store import schema  # noqa: F401  (registers the tables)
from arena.store.config import database_url
from arena.store.inline_writes import INLINE_BUSY_MS, WriterBusy, bound_busy_waits, inline

_sqlite_write_lock = threading.Lock()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # pragma: no cover - run by SQLAlchemy
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


#: PostgreSQL advisory lock held while tables are made ("ARENA" in ASCII).
_SCHEMA_LOCK = 0x4152454E41


def _create_tables(engine: Engine) -> None:
    """``create_all``, one process at a time on PostgreSQL: two at once on an empty database
    collide on its catalogue (``pg_type_typname_nsp_index``) and the second one fails. On
    SQLite a table made by another process between the check and the make is simply checked
    again."""
    if engine.dialect.name != "postgresql":
        for attempt in range(10):       # another process made some tables between check and make
            try:
                SQLModel.metadata.create_all(engine)
                return
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 9:
                    raise
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        SQLModel.metadata.create_all(conn)


def sqlite_synchronous() -> str:
    """``$ARENA_SQLITE_SYNC``: ``NORMAL`` (default: in WAL mode a power cut may lose the last
    commits, never corrupt the file) or ``FULL`` (every commit reaches the disk first)."""
    value = os.environ.get("ARENA_SQLITE_SYNC", "NORMAL").strip().upper()
    if value not in ("NORMAL", "FULL"):
        raise SystemExit("ARENA_SQLITE_SYNC must be NORMAL or FULL")
    return value


def make_engine(url: str | None = None) -> Engine:
    """A new engine for ``url`` (default: ``$DATABASE_URL`` or the SQLite file) with tables made.

    The pool hands out the connection returned last (LIFO), so sequential requests keep using
    one connection: with SQLite in WAL mode a connection drops its whole page cache when
    another connection has written since its last transaction, and the default round-robin
    made every request re-read the pages it needed (about 26 ``pread`` calls per pair+vote
    cycle against 1 with LIFO); on PostgreSQL the statements psycopg has prepared stay on the
    connections in use, and the spare ones can idle out."""
    url = database_url(url)
    if url.startswith("sqlite"):
        on_file = url.startswith("sqlite:///") and ":memory:" not in url
        if on_file:
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        lifo = {"pool_use_lifo": True} if on_file else {}       # in memory: no queued pool
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **lifo)
        _configure_sqlite(engine)
        bound_busy_waits(engine)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_use_lifo=True)
        ping_when_idle(engine)
    _create_tables(engine)
    add_missing_columns(engine)
    add_missing_indexes(engine)
    return engine


#: Seconds a pooled connection may sit unused before it is checked with a ping when next taken.
PING_IDLE_S = 2.0


def ping_when_idle(engine: Engine, idle_s: float = PING_IDLE_S) -> None:
    """Pessimistic disconnect handling that costs a round trip only after an idle spell.

    ``pool_pre_ping`` pings on every checkout: on the vote path that is a third of the
    PostgreSQL round trips. Here a connection is pinged when it has been idle ``idle_s`` or
    more (a server restart or an idle-connection timeout shows up there), or dropped at once
    when the driver already knows it is broken; a failed ping raises ``DisconnectionError``,
    on which the pool replaces the connection and tries again (SQLAlchemy, "Disconnect
    Handling - Pessimistic", custom checkout handler).
    """
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, proxy) -> None:
        if getattr(dbapi_connection, "broken", False) or getattr(dbapi_connection, "closed", False):
            raise DisconnectionError("connection broken")
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if not getattr(dbapi_connection, "autocommit", True):
                dbapi_connection.rollback()     # the ping's own transaction: the connection
        except Exception as exc:  # noqa: BLE001 - any failure means a new connection
            raise DisconnectionError(str(exc)) from exc     # goes out idle, as it came in


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the nullable columns a newer schema has to tables made by an older one.

    ``create_all`` makes missing tables only; this brings existing tables up to date with
    ``ALTER TABLE ... ADD COLUMN`` for each new nullable column (every column added since the
    first release is nullable), so a database kept from an earlier version keeps working.
    Returns the columns added, as ``table.column``.
    """
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import DBAPIError

    added = []
    have = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        present = {c["name"] for c in have.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
            except DBAPIError:  # another process added it first
                continue
            added.append(f"{table.name}.{column.name}")
    return added


def add_missing_indexes(engine: Engine) -> list[str]:
    """Create the indexes a newer schema declares on tables made by an older one (``create_all``
    skips tables that exist); returns their names."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    have = inspect(engine)
    made = []
    for table in SQLModel.metadata.sorted_tables:
        present = {i["name"] for i in have.get_indexes(table.name)}
        for index in table.indexes:
            if index.name in present:
                continue
            try:
                with write_transaction(engine) as conn:
                    if index.name == schema.OPEN_HELD_INDEX:
                        _end_extra_held_pairs(conn)
                    index.create(conn, checkfirst=True)
            except DBAPIError:  # another process made it first
                continue
            made.append(index.name)
    if schema.OPEN_HELD_INDEX in {i["name"] for i in
                                  inspect(engine).get_indexes(schema.Impression.__tablename__)}:
        _open_held_unique.add(engine)
    return made


#: The engines whose database has the one-open-held-pair index.
_open_held_unique: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def _end_extra_held_pairs(conn: Any) -> None:
    """Before the one-open-held-pair index is made on an older database: expire each voter's
    open held pairs but the latest (the one the arena serves them), with the table locked
    against writers (on SQLite the write transaction holds the database's write lock)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE impression IN SHARE ROW EXCLUSIVE MODE")
    imp = schema.Impression.__table__
    other = imp.alias("other")
    latest = select(func.max(other.c.id)).where(other.c.voter_id == imp.c.voter_id,
                                                schema.open_held(other.c)).scalar_subquery()
    conn.execute(update(imp).where(schema.open_held(imp.c), imp.c.id < latest)
                 .values(ended="expired"))


def open_held_unique(engine: Engine) -> bool:
    """Whether the database enforces one open held pair per voter (its index was made)."""
    return engine in _open_held_unique


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """A shared engine per URL for the process."""
    return make_engine(url)


@contextlib.contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """Serialise writes from this process on SQLite (one writer avoids busy stalls); inside
    :func:`arena.store.inline_writes.inline_writes`, waiting at most its bound."""
    if engine.dialect.name != "sqlite":
        yield
    elif not inline():
        with _sqlite_write_lock:
            yield
    elif _sqlite_write_lock.acquire(timeout=INLINE_BUSY_MS / 1000):
        try:
            yield
        finally:
            _sqlite_write_lock.release()
    else:
        raise WriterBusy("another writer of this process holds the write lock")


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Any]:
    """A connection in a transaction that may read, then write, what other writers change.

    On SQLite it is one writer of this process (:func:`write_lock`) holding the database's
    write lock from the start (``BEGIN IMMEDIATE``), so that other processes on the same file
    wait for it (``busy_timeout``) instead of failing with "database is locked" when it comes
    to write; on PostgreSQL an ordinary transaction (lock rows with ``FOR UPDATE`` to
    serialise on them). Commits on leaving, rolls back on an exception.
    """
    with write_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def insert_ignore(engine: Engine, table: Any, **values: Any):
    """``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL (a plain INSERT elsewhere).

    Add ``.returning(<primary key>)`` to learn whether the row went in.
    """
    if engine.dialect.name == "postgresql":
        return pg_insert(table).values(**values).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        return sqlite_insert(table).values(**values).on_conflict_do_nothing()
    return insert(table).values(**values)


def session(engine: Engine) -> Session:
    """A session that keeps loaded objects usable after commit."""
    return Session(engine, expire_on_commit=False)


def stored_setting(engine: Engine, key: str, make: Callable[[], str]) -> str:
    """The value of setting ``key``; made by ``make()`` and stored on first use.

    Safe when several processes start at once: the first insert wins, the others read it.
    """
    from sqlalchemy.exc import IntegrityError

    with session(engine) as s:
        row = s.get(schema.Setting, key)
        if row is None:
            s.add(schema.Setting(key=key, value=make()))
            try:
                s.commit()
            except IntegrityError:  # another process made it first
                s.rollback()
            row = s.get(schema.Setting, key)
        return row.value
