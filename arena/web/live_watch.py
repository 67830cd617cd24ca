"""Long polls for live rooms: a phone asks "tell me when the round or its state changes" and
is answered from memory, so a hall of phones waiting for the next round costs one small
database read per session per :data:`POLL_S`, not one per phone.

Each process keeps, per session being waited on, the latest ``(round, state)`` and one poller
task that refreshes it while anyone waits; a change wakes every waiter at once. Several app
processes each run their own poller, so a presenter's action in one process reaches the phones
of every process within :data:`POLL_S`. A wait ends after :data:`WAIT_S` with the unchanged
state (the phone simply asks again), so proxies and phones never hold a request for long.
"""
from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from arena.collect import live
from arena.context import Arena
from arena.store.schema import LiveSession

POLL_S = 0.5
WAIT_S = 25.0


class LiveWatch:
    """The waiting room of every live session served by this process."""

    def __init__(self, arena: Arena, poll_s: float = POLL_S, wait_s: float = WAIT_S):
        self.arena, self.poll_s, self.wait_s = arena, poll_s, wait_s
        self._latest: dict[str, tuple[int, str]] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = {}
        self._pollers: dict[str, asyncio.Task] = {}

    def _read(self, code: str) -> tuple[int, str] | None:
        with self.arena.engine.connect() as conn:
            row = conn.execute(select(LiveSession.current_round, LiveSession.state)
                               .where(LiveSession.code == code)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    async def wait(self, code: Any, round_: int, state: str) -> dict[str, Any]:
        """``{"code", "round", "state"}`` once they differ from ``round_`` and ``state``, or
        after :attr:`wait_s` as they are; :class:`live.UnknownSession` for a bad code."""
        code = live.normalize_code(code)
        if code not in self._pollers or self._pollers[code].done():   # nobody kept it fresh
            now = await run_in_threadpool(self._read, code)
            if now is None:
                raise live.UnknownSession(f"no live session {code}")
            self._latest[code] = now
            self._pollers[code] = asyncio.create_task(self._poll(code))
        self._waiting[code] = self._waiting.get(code, 0) + 1
        try:
            deadline = asyncio.get_running_loop().time() + self.wait_s
            while self._latest[code] == (round_, state):
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                event = self._changed.setdefault(code, asyncio.Event())
                try:
                    await asyncio.wait_for(event.wait(), left)
                except asyncio.TimeoutError:
                    break
        finally:
            self._waiting[code] -= 1
        now = self._latest[code]
        return {"code": code, "round": now[0], "state": now[1]}

    async def _poll(self, code: str) -> None:
        while self._waiting.get(code, 0) > 0:
            await asyncio.sleep(self.poll_s)
            try:
                now = await run_in_threadpool(self._read, code)
            except Exception:  # noqa: BLE001 - a failed read is retried at the next tick
                continue
            if now is not None and now != self._latest.get(code):
                self._latest[code] = now
                event = self._changed.pop(code, None)
                if event is not None:
                    event.set()
        self._pollers.pop(code, None)
