"""The vote path's two routes as plain ASGI: ``GET /api/pair`` and ``POST /api/votes``.

FastAPI still declares them (the OpenAPI schema, every other method of their paths, and any
other route), but in a running server their requests are answered here, before FastAPI's
middleware stack, route matching, dependency solving and request objects: per pair+vote cycle
those cost about a third of the server's CPU, as much as the vote's own SQL. What the routes do
is shared (:class:`arena.web.api.VotePath`), and so are their guards: the body's limits
(:func:`arena.web.guards.read_body`), the one error shape for an ``HTTPException``
(FastAPI's own handler), 503 when the database cannot answer (:mod:`arena.web.contract`),
and the CORS policy when ``ARENA_ALLOWED_ORIGINS`` sets one.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import cookie_parser

from arena.collect.identity import COOKIE
from arena.web.api import VotePath
from arena.web.contract import database_errors, database_unavailable
from arena.web.guards import MAX_BODY, read_body


def _headers(scope: dict) -> tuple[str | None, str | None]:
    """The first ``X-Forwarded-For`` header and the identity cookie (the last of several
    ``Cookie`` headers wins, as in Starlette's request)."""
    forwarded = cookie = None
    for name, value in scope["headers"]:
        if name == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(COOKIE)
            cookie = found if found is not None else cookie
        elif name == b"x-forwarded-for" and forwarded is None:
            forwarded = value.decode("latin-1")
    return forwarded, cookie


def _query_task(scope: dict) -> str | None:
    """The ``task`` query parameter as FastAPI reads it (the last of several wins)."""
    raw = scope.get("query_string", b"")
    if not raw:
        return None
    task = None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name == "task":
            task = value
    return task


class HotRoutes:
    """ASGI: answers the pair and vote routes itself; everything else goes to ``app``."""

    def __init__(self, app: Any, votes: VotePath, cors: dict[str, Any] | None = None):
        self.app, self.votes = app, votes
        self._errors = database_errors()
        self._answer: Any = CORSMiddleware(self._route, **cors) if cors else self._route

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (scope["path"], scope["method"]) in (
                ("/api/pair", "GET"), ("/api/votes", "POST")):
            await self._answer(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _route(self, scope: dict, receive: Any, send: Any) -> None:
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded, cookie = _headers(scope)
        try:
            if scope["method"] == "GET":
                answer = await self.votes.pair(peer, forwarded, cookie, _query_task(scope),
                                               scope.get("scheme") == "https")
            else:
                raw = await read_body(scope, receive, send, MAX_BODY)
                if raw is None:                 # refused (answered) or the client left
                    return
                answer = await self.votes.vote(peer, forwarded, raw)
        except HTTPException as exc:
            answer = await http_exception_handler(None, exc)    # type: ignore[arg-type]
        except self._errors as exc:
            answer = await database_unavailable(None, exc)      # type: ignore[arg-type]
        await answer(scope, receive, send)
