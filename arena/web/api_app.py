"""The lean ASGI app: the HTTP API, image links and live rooms, without the Gradio pages.

Every request of the vote path and of a live room goes here (:class:`arena.web.server.Dispatch`
sends it past the pages' middleware), and the pair and vote routes are answered before FastAPI's
own stack (:mod:`arena.web.hot_routes`). On its own it is what each worker process serves under
``python app.py --workers N``, or under any ASGI process manager::

    uvicorn --factory arena.web.api_app:make --workers 4 --port 7861 --http httptools --loop uvloop

(gradio is not even imported). Workers share nothing but the database: identities, pairs, votes,
seats and the signing secret live there, and each process's caches check it
(:mod:`arena.views.cache`, :mod:`arena.collect.hot`).
"""
from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from arena.context import Arena
from arena.web import contract
from arena.web.api import VotePath, build_router
from arena.web.contract import method_guards
from arena.web.guards import BodyGuard
from arena.web.hot_routes import HotRoutes
from arena.web.live_routes import build_live_router
from arena.web.visitors import Visitors

#: Paths served by this app; everything else is a page.
API_PREFIXES = ("/api/", "/media/", "/live", "/live-assets/")


def cors_options() -> dict[str, Any]:
    """The CORS policy: same-origin only, unless ARENA_ALLOWED_ORIGINS lists other sites
    (comma-separated)."""
    origins = [o.strip() for o in os.environ.get("ARENA_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    return {"allow_origins": origins, "allow_methods": ["GET", "POST"],
            "allow_headers": ["content-type"]}


def add_cors(app: FastAPI) -> None:
    """:func:`cors_options` as middleware: without it, the mounted Gradio app would answer
    cross-origin requests with credentials."""
    app.add_middleware(CORSMiddleware, **cors_options())


def telemetry_config() -> dict[str, bool] | None:
    """FastAPI's native OpenTelemetry on (its defaults) when the operator configures
    OpenTelemetry (any ``OTEL_*`` variable), else off: unconfigured, it still looks up the
    global tracer, meter and logger providers on every request, about 3% of the vote path."""
    if any(name.startswith("OTEL_") for name in os.environ):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def build_api(arena: Arena, visitors: Visitors) -> HotRoutes:
    """The API, media and live routes of one arena, with their guards and error contract; the
    pair and vote routes answered in plain ASGI (:mod:`arena.web.hot_routes`)."""
    api = FastAPI(title="Pareto Arena", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  telemetry=telemetry_config())
    votes = VotePath(arena, visitors)
    routers = (build_router(votes), build_live_router(arena, visitors))
    for router in (*routers, method_guards(*routers)):   # then 405s and /api/ 404s
        api.include_router(router)
    contract.install(api)
    cross_site = bool(os.environ.get("ARENA_ALLOWED_ORIGINS", "").strip())
    if cross_site:
        add_cors(api)
    api.add_middleware(BodyGuard)
    return HotRoutes(api, votes, cors_options() if cross_site else None)


def make() -> HotRoutes:
    """The app factory of one worker process: the arena of ``$DATABASE_URL``."""
    arena = Arena.open()
    return build_api(arena, Visitors(arena))
