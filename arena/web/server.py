"""One server: the HTTP API and media routes in FastAPI, with the Gradio pages mounted at /."""
from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402

from arena.context import Arena  # noqa: E402
from arena.store.catalog import demo_incomplete  # noqa: E402
from arena.store.organiser import organiser_key  # noqa: E402
from arena.web import contract  # noqa: E402
from arena.web.api import build_router  # noqa: E402
from arena.web.contract import method_guards  # noqa: E402
from arena.web.guards import BodyGuard  # noqa: E402
from arena.web.live_routes import build_live_router  # noqa: E402
from arena.web.ui.blocks import CSS, HEAD, build_blocks  # noqa: E402
from arena.web.visitors import PageCookie, Visitors  # noqa: E402


API_PREFIXES = ("/api/", "/media/", "/live", "/live-assets/")


class Dispatch:
    """ASGI: the API, media and live routes go to a lean FastAPI app (no Gradio middleware on
    the vote path); everything else, and the lifespan, to the app that mounts the pages."""

    def __init__(self, api: FastAPI, pages: Any):
        self.api, self.pages = api, pages

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIXES):
            await self.api(scope, receive, send)
        else:
            await self.pages(scope, receive, send)


def _cors(app: FastAPI) -> None:
    """Same-origin only, unless ARENA_ALLOWED_ORIGINS lists other sites (comma-separated):
    without this, the mounted Gradio app would answer cross-origin requests with credentials."""
    origins = [o.strip() for o in os.environ.get("ARENA_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                       allow_headers=["content-type"])


def build_app(arena: Arena) -> Dispatch:
    """The ASGI app: the API routes, and the Gradio UI mounted at /."""
    api = FastAPI(title="Pareto Arena", docs_url="/api/docs", openapi_url="/api/openapi.json")
    visitors = Visitors(arena)
    routers = (build_router(arena, visitors), build_live_router(arena, visitors))
    for router in (*routers, method_guards(*routers)):   # then 405s and /api/ 404s
        api.include_router(router)
    contract.install(api)
    if os.environ.get("ARENA_ALLOWED_ORIGINS", "").strip():
        _cors(api)
    api.add_middleware(BodyGuard)
    pages = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _cors(pages)
    pages.add_middleware(PageCookie, arena=arena)
    pages = gr.mount_gradio_app(pages, build_blocks(arena, visitors), path="/", css=CSS,
                                head=HEAD, footer_links=["api"])
    return Dispatch(api, pages)


def serve(host: str = "127.0.0.1", port: int = 7860, *, build_demo: bool = True,
          arena: Arena | None = None) -> None:
    """Start serving; builds the demo set first when the database has no items."""
    import uvicorn

    arena = arena or Arena.open()
    if build_demo and demo_incomplete(arena.engine):
        from arena.demo.build import build_demo as build

        print("Building the demo set (first start, or finishing an interrupted build)...", flush=True)
        print(build(arena).describe(), flush=True)
    print(f"Pareto Arena on http://{host}:{port}", flush=True)
    print(f"Organiser key (Voters tab, starting live sessions): {organiser_key(arena.engine)}", flush=True)
    uvicorn.run(build_app(arena), host=host, port=port, log_level="warning", **fast_http())


def fast_http() -> dict[str, str]:
    """uvicorn's httptools parser and uvloop event loop where installed (they are in
    requirements.txt), else its pure-Python defaults."""
    import importlib.util

    options = {}
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    return options
