"""SQLite writes run on the event loop, with a bounded wait.

The HTTP vote path runs its SQLite work on the event loop (a hop to a thread costs more than
the work). A writer waits for the database's write lock, though, for as long as another
holder keeps it (``busy_timeout``, 30 s): a bulk ``arena import`` in another process, or a
thread of this one stuck behind it, would then stall every request of the process, pages,
images and event streams too. Inside :func:`inline_writes` a writer gives up instead after
:data:`INLINE_BUSY_MS` (this process's write lock taken with that timeout, the connection's
``busy_timeout`` lowered to it) by raising :class:`WriterBusy`, and the caller runs the work
again on a thread, where it waits as long as it must. For :data:`BUSY_COOLDOWN_S` after that,
:func:`worth_trying` says no, so a stream of writers during a long lock goes straight to threads
instead of each spending its bound on the loop. Work run this way must be safe to run
again after such a failure: the failing statement wrote nothing, so the caller need only keep
what earlier, committed steps made (``arena.web.api`` keeps the voter it registered).
"""
from __future__ import annotations

import contextlib
import contextvars
import sqlite3
import time
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

#: Longest wait for a write lock on the event loop, in milliseconds.
INLINE_BUSY_MS = 100
#: ``busy_timeout`` of connections used elsewhere, in milliseconds.
BUSY_MS = 30_000
#: Seconds after a writer gave up during which work goes straight to a thread.
BUSY_COOLDOWN_S = 1.0
_busy_until = 0.0

_inline: contextvars.ContextVar[bool] = contextvars.ContextVar("arena_inline_writes", default=False)


class WriterBusy(Exception):
    """The write lock was not free within :data:`INLINE_BUSY_MS`: run the work on a thread."""


@contextlib.contextmanager
def inline_writes() -> Iterator[None]:
    """Within this block SQLite writers wait at most :data:`INLINE_BUSY_MS` for the write lock
    and raise :class:`WriterBusy` past it (a locked-database error is turned into one)."""
    token = _inline.set(True)
    try:
        yield
    except WriterBusy:
        _cool_down()
        raise
    except OperationalError as exc:
        if _locked(exc.orig):
            _cool_down()
            raise WriterBusy(str(exc.orig)) from None
        raise
    except sqlite3.OperationalError as exc:
        if _locked(exc):
            _cool_down()
            raise WriterBusy(str(exc)) from None
        raise
    finally:
        _inline.reset(token)


def worth_trying() -> bool:
    """Whether to run work inline now: no writer gave up in the last :data:`BUSY_COOLDOWN_S`."""
    return time.monotonic() >= _busy_until


def _cool_down() -> None:
    global _busy_until
    _busy_until = time.monotonic() + BUSY_COOLDOWN_S


def inline() -> bool:
    """Whether the caller is inside :func:`inline_writes`."""
    return _inline.get()


def _locked(exc: BaseException | None) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def bound_busy_waits(engine: Engine) -> None:
    """Give each connection taken inside :func:`inline_writes` the short ``busy_timeout``, and
    the long one back when taken elsewhere (set only when it changes: a PRAGMA per change)."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):  # pragma: no cover - run by SQLAlchemy
        want = INLINE_BUSY_MS if _inline.get() else BUSY_MS
        if record.info.get("busy_ms", BUSY_MS) != want:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={want}")
            cursor.close()
            record.info["busy_ms"] = want
