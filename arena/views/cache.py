"""Leaderboards and Pareto fronts kept until the next vote or output, so a room of readers does
not refit them per view.

Votes and outputs are only ever added, so their highest ids name the data: a cached result is
reused while both are unchanged (one query of two indexed ``max(id)`` per view) and for at most
``ttl_s`` seconds, which bounds staleness if the database is changed behind the arena's back
(a model's price edited in place, say). Cached results are shared between callers: treat them
as read-only.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arena.store.schema import Output, Vote


class BoardCache:
    """Results of ``compute()`` per key, valid for one set of votes and outputs (and ``ttl_s``
    seconds)."""

    def __init__(self, engine: Engine, *, size: int = 64, ttl_s: float = 300.0):
        self.engine = engine
        self.size = size
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[tuple[int, int], float, Any]] = OrderedDict()
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
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == version and now - hit[1] < self.ttl_s:
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
            value = compute()
        with self._lock:
            self._entries[key] = (version, now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
