"""Leaderboards and Pareto fronts kept until the next vote or output, so a room of readers does
not refit them per view.

Votes and outputs are only ever added, so their highest ids name the data: a cached result is
reused while both are unchanged (one query of two indexed ``max(id)`` per view) and for at most
``ttl_s`` seconds, which bounds staleness if the database is changed behind the arena's back
(a model's price edited in place, say). Cached results are shared between callers: treat them
as read-only.

A result is not refitted for every vote, either: after a new vote it is kept for
:data:`REFIT_SPACING` times as long as its fit took (a board fitted in 5 ms is refreshed 50 ms
later, one that took 1 s at a million votes after 10 s), so a stream of votes and reads costs at
most about a tenth of a core per board, however fast the votes come.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arena.store.schema import Item, Output, Task, Vote

#: A result stays served after new votes for this many times the seconds its fit took
#: (``$ARENA_BOARD_REFIT_SPACING``; 0: refit on the first read after every vote).
REFIT_SPACING = 10.0


def spacing_from_env() -> float:
    try:
        return max(0.0, float(os.environ.get("ARENA_BOARD_REFIT_SPACING", REFIT_SPACING)))
    except ValueError:
        return REFIT_SPACING


class BoardCache:
    """Results of ``compute()`` per key, valid for one set of votes and outputs (and ``ttl_s``
    seconds)."""

    def __init__(self, engine: Engine, *, size: int = 64, ttl_s: float = 300.0,
                 refit_spacing: float | None = None):
        self.engine = engine
        self.size = size
        self.ttl_s = ttl_s
        self.refit_spacing = spacing_from_env() if refit_spacing is None else refit_spacing
        self._lock = threading.Lock()
        # key -> (version, computed at, value, seconds the computation took)
        self._entries: OrderedDict[Hashable, tuple[tuple[int, int], float, Any, float]] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}

    def version(self) -> tuple[int, int]:
        """The highest vote id and output id (0 when none): they change with every vote or
        output stored."""
        with self.engine.connect() as conn:
            votes, outputs = conn.execute(select(
                select(func.max(Vote.__table__.c.id)).scalar_subquery(),
                select(func.max(Output.__table__.c.id)).scalar_subquery())).one()
        return int(votes or 0), int(outputs or 0)

    def _fresh(self, key: Hashable, version: tuple[int, int], now: float) -> tuple[bool, Any]:
        """A result to serve: one of these votes and outputs, or a recent one of fewer votes
        (outputs unchanged) while a refit would come too soon after the last."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or now - hit[1] >= self.ttl_s:
                return False, None
            same = hit[0] == version
            recent = (hit[0][1] == version[1] and hit[0][0] <= version[0]
                      and now - hit[1] < self.refit_spacing * hit[3])
            if same or recent:
                self._entries.move_to_end(key)
                return True, hit[2]
        return False, None

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached result for ``key`` if votes and outputs are unchanged, else ``compute()``.

        One caller computes a missing result while the others for the same key wait for it, so
        a crowd of readers after a vote costs one fit, not one each."""
        version, now = self.version(), time.monotonic()
        found, value = self._fresh(key, version, now)
        if found:
            return value
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            found, value = self._fresh(key, version, now)
            if found:
                return value
            started = time.monotonic()
            value = compute()
            took = time.monotonic() - started
        with self._lock:
            self._entries[key] = (version, now, value, took)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class CatalogueCache:
    """Results that depend on the catalogue alone (tasks, items, outputs; never on votes),
    kept while the number of tasks and the highest item and output ids are unchanged (one
    query of indexed aggregates per read) and for at most ``ttl_s`` seconds (a row removed or
    edited in place). A result is shared between callers: treat it as read-only."""

    def __init__(self, engine: Engine, *, ttl_s: float = 60.0):
        self.engine, self.ttl_s = engine, ttl_s
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[tuple[int, int, int], float, Any]] = {}

    def version(self) -> tuple[int, int, int]:
        with self.engine.connect() as conn:
            tasks, items, outputs = conn.execute(select(
                select(func.count()).select_from(Task.__table__).scalar_subquery(),
                select(func.max(Item.__table__.c.id)).scalar_subquery(),
                select(func.max(Output.__table__.c.id)).scalar_subquery())).one()
        return int(tasks or 0), int(items or 0), int(outputs or 0)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The result for ``key`` of this catalogue, else ``compute()`` (one caller at a time
        computes, so a crowd of readers costs one computation)."""
        version, now = self.version(), time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == version and now - hit[1] < self.ttl_s:
                return hit[2]
            value = compute()
            self._entries[key] = (version, now, value)
        return value
