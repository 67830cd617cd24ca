"""The plain HTTP routes (DESIGN.md §3): tasks, pairs, votes, leaderboards, Pareto fronts, media.

The vote path lives here rather than in Gradio events: a FastAPI route costs about a tenth of a
Gradio event, which is what lets a room of phones vote at once. Pairs go to server-issued
identities only (the signed cookie of :mod:`arena.web.visitors`), one open pair at a time, and
their images are served under URLs of that impression alone (:mod:`arena.collect.image_links`).
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal

import orjson

from fastapi import APIRouter, HTTPException, Request, Response

from arena.collect.identity import COOKIE
from arena.collect.image_links import jitter_png, stored_name
from arena.collect.sampling import NoPairError
from arena.collect.voting import VoteError, issue_pair, record_skip, record_vote
from arena.context import Arena
from arena.store.inline_writes import WriterBusy, inline_writes, worth_trying
from arena.views.cached import boards_of, pareto_of, tasks_of
from arena.views.leaderboard import OVERALL
from arena.web.contract import PNG, VOTE_BODY, errors, json_body
from arena.web.guards import json_object
from arena.web.visitors import Visitors

MEDIA_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "no-referrer"}


def _check_task(arena: Arena, task: str | None, *, allow_any: bool) -> str | None:
    if task in (None, "") or (allow_any and task == "any") or (not allow_any and task == OVERALL):
        return task
    if not arena.hot.task_known(task):
        raise HTTPException(404, f"unknown task {task[:64]!r}")
    return task


#: Threads for the vote path's PostgreSQL work (as many as the engine's pool keeps open).
_DB_THREADS = ThreadPoolExecutor(10, thread_name_prefix="vote-db")


async def _offload(arena: Arena, fn, *args: Any) -> Any:
    """Run the vote path's database work: on SQLite inline (in-process calls of tens of
    microseconds, one writer at a time anyway; a hop to a worker thread would cost more than
    the work), on PostgreSQL on a thread of :data:`_DB_THREADS` (network round trips), through
    the event loop's executor hand-off (some 50 µs of CPU a call here, a little under AnyIO's
    thread pool with its capacity limiter and cancel scope). On SQLite a writer that would wait
    for another's lock gives up within :data:`arena.store.inline_writes.INLINE_BUSY_MS` and the
    work runs again on a thread (and the next second's work goes there at once), so the event
    loop never waits out a long lock; ``fn`` must be safe to run again after such a failure."""
    if arena.engine.dialect.name == "sqlite" and worth_trying():
        try:
            with inline_writes():
                return fn(*args)
        except WriterBusy:          # another writer holds the lock: wait for it on a thread
            pass
    return await asyncio.get_running_loop().run_in_executor(_DB_THREADS, fn, *args)


def _call(fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except NoPairError as exc:
        raise HTTPException(404, str(exc)) from None
    except VoteError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    """A JSON answer encoded with orjson (the vote path's routes skip response models)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class VotePath:
    """What ``GET /api/pair`` and ``POST /api/votes`` do, from the request's parts: shared by
    their FastAPI routes (which the schema documents) and the plain-ASGI path that answers them
    in a running server (:mod:`arena.web.hot_routes`). Errors are raised as ``HTTPException``."""

    def __init__(self, arena: Arena, visitors: Visitors):
        self.arena, self.visitors = arena, visitors

    async def pair(self, peer: str | None, forwarded_for: str | None, cookie: str | None,
                   task: str | None, https: bool) -> Response:
        """The voter's open pair, or a new one; the first pair sets the identity cookie."""
        arena, visitors = self.arena, self.visitors
        address = visitors.address(peer, forwarded_for)
        visitors.throttle(address)
        known: list[tuple[str, bool]] = []         # the voter, kept if the work runs again

        def work() -> tuple[str, bool, dict[str, Any]]:
            checked = _check_task(arena, task, allow_any=True)
            if not known:
                known.append(visitors.voter(cookie, address))
            voter, fresh = known[0]
            return voter, fresh, _call(partial(issue_pair, registered=True), arena, checked, voter)

        voter, fresh, body = await _offload(arena, work)
        answer = _json(body)
        if fresh:
            visitors.set_cookie(answer, voter, https)
        return answer

    async def vote(self, peer: str | None, forwarded_for: str | None, raw: bytes) -> Response:
        """Vote on an impression (or skip it); a retry returns the first answer."""
        self.visitors.throttle(self.visitors.address(peer, forwarded_for))
        body = json_object(raw)
        args = (self.arena, body.get("impression_id"), body.get("token"))
        if body.get("choice") == "skip":
            answer, created = await _offload(self.arena, _call, record_skip, *args)
        else:
            answer, created = await _offload(self.arena, _call, record_vote, *args,
                                             body.get("choice"), body.get("duration_ms"))
        return _json(answer, 201 if created else 200)


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_router(votes: VotePath) -> APIRouter:
    """Routes bound to one arena (the arena and visitors of ``votes``)."""
    router = APIRouter()
    arena = votes.arena

    @router.get("/api/tasks")
    def tasks() -> dict[str, Any]:
        """Every task with its number of items and of models with outputs."""
        return {"tasks": [{"name": t.name, "description": t.description, "items": t.items,
                           "models": t.models} for t in tasks_of(arena)]}

    @router.get("/api/pair", response_class=Response, responses={
        200: {"description": "The pair", "content": {"application/json": {}}}, **errors(404, 422, 429)})
    async def pair(request: Request, task: str | None = None) -> Response:
        """The voter's open pair, or a new one; the first pair sets the identity cookie."""
        return await votes.pair(_peer(request), request.headers.get("x-forwarded-for"),
                                request.cookies.get(COOKIE), task, request.url.scheme == "https")

    @router.post("/api/votes", status_code=201, openapi_extra=json_body(VOTE_BODY),
                 responses={200: {"description": "The stored vote again (a retry)"},
                            **errors(403, 404, 409, 413, 415, 422, 429)})
    async def vote(request: Request) -> Response:
        """Vote on an impression (or skip it); a retry returns the first answer."""
        return await votes.vote(_peer(request), request.headers.get("x-forwarded-for"),
                                await request.body())

    @router.get("/api/leaderboard", responses=errors(404, 422))
    def leaderboard(task: str | None = None,
                    voters: Literal["defended", "all", "exclude", "weighted"] = "defended",
                    position_bias: Literal["fit", "none"] = "fit") -> dict[str, Any]:
        """The ``rank`` JSON: by default the defended board (flagged voters left out,
        identities too new to be checked down-weighted; its ``note`` says how many), with the
        left/right term fitted (``position_bias=none``: the conventional fit without it)."""
        task = _check_task(arena, task, allow_any=False)
        result, note = boards_of(arena, [task] if task else None, voters, position_bias)
        return {**result, "note": result.get("note") or note or None} if voters != "all" else result

    @router.get("/api/pareto", responses=errors(404, 422))
    def pareto(task: str | None = None, position_bias: Literal["fit", "none"] = "fit"
               ) -> dict[str, Any]:
        task = _check_task(arena, task, allow_any=False)
        return pareto_of(arena, task, position_bias)

    @router.head("/media/{token}", response_class=Response, responses={**PNG, **errors(404)},
                 operation_id="media_head")
    @router.get("/media/{token}", response_class=Response, responses={**PNG, **errors(404)},
                operation_id="media_get")
    def media(token: str, request: Request) -> Response:
        """An image as shown in one impression (no Last-Modified, no ETag)."""
        name = stored_name(arena.secret, token)
        try:
            path = arena.media.path(name or "")
        except FileNotFoundError:
            raise HTTPException(404, "no such image") from None
        data = jitter_png(path.read_bytes())
        if request.method == "HEAD":
            return Response(headers={**MEDIA_HEADERS, "content-length": str(len(data))},
                            media_type="image/png")
        return Response(data, media_type="image/png", headers=MEDIA_HEADERS)

    return router
