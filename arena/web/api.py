"""The plain HTTP routes (DESIGN.md §3): tasks, pairs, votes, leaderboards, Pareto fronts, media.

The vote path lives here rather than in Gradio events: a FastAPI route costs about a tenth of a
Gradio event, which is what lets a room of phones vote at once.
"""
from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from arena.collect.sampling import NoPairError
from arena.collect.voting import VoteError, issue_pair, record_vote
from arena.context import Arena
from arena.store.catalog import task_names, task_summaries
from arena.views.cached import boards_of, pareto_of
from arena.views.leaderboard import OVERALL


def _check_task(arena: Arena, task: str | None, *, allow_any: bool) -> str | None:
    if task in (None, "") or (allow_any and task == "any") or (not allow_any and task == OVERALL):
        return task
    if task not in task_names(arena.engine):
        raise HTTPException(404, f"unknown task {task!r}")
    return task


def build_router(arena: Arena) -> APIRouter:
    """Routes bound to one arena."""
    router = APIRouter()

    @router.get("/api/tasks")
    def tasks() -> dict[str, Any]:
        return {"tasks": [{"name": t.name, "description": t.description, "items": t.items,
                           "models": t.models} for t in task_summaries(arena.engine)]}

    @router.get("/api/pair")
    def pair(task: str | None = None, voter: str | None = None) -> dict[str, Any]:
        task = _check_task(arena, task, allow_any=True)
        try:
            return issue_pair(arena, task, voter)
        except NoPairError as exc:
            raise HTTPException(404, str(exc)) from None
        except VoteError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @router.post("/api/votes", status_code=201)
    async def vote(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(422, "body must be a JSON object") from None
        if not isinstance(body, dict):
            raise HTTPException(422, "body must be a JSON object")
        try:
            answer, created = await run_in_threadpool(
                record_vote, arena, body.get("impression_id"), body.get("token"),
                body.get("choice"), body.get("duration_ms"))
        except VoteError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return JSONResponse(answer, status_code=201 if created else 200)

    @router.get("/api/leaderboard")
    def leaderboard(task: str | None = None) -> dict[str, Any]:
        task = _check_task(arena, task, allow_any=False)
        return boards_of(arena, [task] if task else None)[0]

    @router.get("/api/pareto")
    def pareto(task: str | None = None) -> dict[str, Any]:
        task = _check_task(arena, task, allow_any=False)
        return pareto_of(arena, task)

    @router.get("/media/{name}")
    def media(name: str) -> FileResponse:
        try:
            path = arena.media.path(name)
        except FileNotFoundError:
            raise HTTPException(404, "no such image") from None
        return FileResponse(path, media_type="image/png",
                            headers={"Cache-Control": "public, max-age=31536000, immutable"})

    return router
