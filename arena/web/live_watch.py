"""Watching live rooms: a phone is told when the round or its state changes, from memory, so a
hall of phones waiting for the next round costs one small database read per session per
:data:`POLL_S`, not one per phone.

Two ways to watch: :meth:`LiveWatch.events`, a server-sent event stream (one held request per
phone; nothing but a comment every :data:`KEEPALIVE_S` while nothing changes), and
:meth:`LiveWatch.wait`, a long poll (the page's fallback).

Each process keeps, per session being waited on, the latest ``(round, state)`` and one poller
task that refreshes it while anyone waits; a change wakes every waiter at once. Several app
processes each run their own poller, so a presenter's action in one process reaches the phones
of every process within :data:`POLL_S`. A wait ends after :data:`WAIT_S` with the unchanged
state (the phone simply asks again), so proxies and phones never hold a request for long.
A presenter's action in this process wakes its watchers at once (:meth:`LiveWatch.refresh`).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from arena.collect import live
from arena.context import Arena
from arena.store.schema import LiveSession

POLL_S = 0.5
WAIT_S = 25.0
KEEPALIVE_S = 20.0
#: Milliseconds an EventSource waits before reconnecting after the stream is cut.
RETRY_MS = 3000


class LiveWatch:
    """The waiting room of every live session served by this process."""

    def __init__(self, arena: Arena, poll_s: float = POLL_S, wait_s: float = WAIT_S,
                 keepalive_s: float = KEEPALIVE_S):
        self.arena, self.poll_s, self.wait_s, self.keepalive_s = arena, poll_s, wait_s, keepalive_s
        self._latest: dict[str, tuple[int, str]] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = {}
        self._pollers: dict[str, asyncio.Task] = {}

    def _read(self, code: str) -> tuple[int, str] | None:
        with self.arena.engine.connect() as conn:
            row = conn.execute(select(LiveSession.current_round, LiveSession.state)
                               .where(LiveSession.code == code)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    async def _watch(self, code: Any) -> str:
        """Count one more watcher of ``code`` (the caller must :meth:`_unwatch`), with its
        latest state known and a poller keeping it fresh."""
        code = live.normalize_code(code)
        if code not in self._pollers or self._pollers[code].done():   # nobody kept it fresh
            now = await run_in_threadpool(self._read, code)
            if now is None:
                raise live.UnknownSession(f"no live session {code}")
            self._latest[code] = now
            self._pollers[code] = asyncio.create_task(self._poll(code))
        self._waiting[code] = self._waiting.get(code, 0) + 1
        return code

    def _unwatch(self, code: str) -> None:
        self._waiting[code] -= 1

    async def events(self, code: Any) -> AsyncIterator[bytes]:
        """A server-sent event stream: ``data: {"code", "round", "state"}`` now and at every
        change, a comment every :attr:`keepalive_s` otherwise; :class:`live.UnknownSession`
        (raised before the first event) for a bad code."""
        code = live.normalize_code(code)
        if code not in self._latest and await run_in_threadpool(self._read, code) is None:
            raise live.UnknownSession(f"no live session {code}")
        return self._stream(code)

    async def _stream(self, code: str) -> AsyncIterator[bytes]:
        await self._watch(code)
        try:
            sent = self._latest[code]
            yield f"retry: {RETRY_MS}\n".encode() + self._event(code, sent)
            while True:
                event = self._changed.setdefault(code, asyncio.Event())
                if self._latest[code] == sent:
                    try:
                        await asyncio.wait_for(event.wait(), self.keepalive_s)
                    except asyncio.TimeoutError:
                        yield b": still here\n\n"
                        continue
                sent = self._latest[code]
                yield self._event(code, sent)
        finally:
            self._unwatch(code)

    @staticmethod
    def _event(code: str, now: tuple[int, str]) -> bytes:
        body = json.dumps({"code": code, "round": now[0], "state": now[1]})
        return f"data: {body}\n\n".encode()

    async def refresh(self, code: Any) -> None:
        """Read ``code``'s state now and wake its watchers if it changed (after a presenter's
        action in this process); the pollers of other processes see it within :data:`POLL_S`."""
        code = live.normalize_code(code)
        if code not in self._pollers:
            return
        now = await run_in_threadpool(self._read, code)
        self._publish(code, now)

    def _publish(self, code: str, now: tuple[int, str] | None) -> None:
        if now is not None and now != self._latest.get(code):
            self._latest[code] = now
            event = self._changed.pop(code, None)
            if event is not None:
                event.set()

    async def wait(self, code: Any, round_: int, state: str) -> dict[str, Any]:
        """``{"code", "round", "state"}`` once they differ from ``round_`` and ``state``, or
        after :attr:`wait_s` as they are; :class:`live.UnknownSession` for a bad code."""
        code = await self._watch(code)
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
            self._unwatch(code)
        now = self._latest[code]
        return {"code": code, "round": now[0], "state": now[1]}

    async def _poll(self, code: str) -> None:
        while self._waiting.get(code, 0) > 0:
            await asyncio.sleep(self.poll_s)
            try:
                now = await run_in_threadpool(self._read, code)
            except Exception:  # noqa: BLE001 - a failed read is retried at the next tick
                continue
            self._publish(code, now)
        self._pollers.pop(code, None)
