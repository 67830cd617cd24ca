"""One server: the HTTP API and media routes in FastAPI, with the Gradio pages mounted at /."""
from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from arena.context import Arena  # noqa: E402
from arena.store.catalog import demo_incomplete  # noqa: E402
from arena.store.organiser import organiser_key  # noqa: E402
from arena.web.api_app import API_PREFIXES, add_cors, build_api, telemetry_config  # noqa: E402
from arena.web.ui.blocks import CSS, HEAD, build_blocks  # noqa: E402
from arena.web.visitors import PageCookie, Visitors  # noqa: E402
from arena.web.workers import uvicorn_options  # noqa: E402


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


def build_app(arena: Arena) -> Dispatch:
    """The ASGI app: the API routes (:mod:`arena.web.api_app`), and the Gradio UI at /."""
    visitors = Visitors(arena)
    api = build_api(arena, visitors)
    pages = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=telemetry_config())
    add_cors(pages)
    pages.add_middleware(PageCookie, arena=arena)
    blocks = build_blocks(arena, visitors)
    pages = gr.mount_gradio_app(pages, blocks, path="/", css=CSS, head=HEAD, footer_links=["api"])
    quiet_queue(blocks)
    return Dispatch(api, pages)


def quiet_queue(blocks: gr.Blocks, poll_s: float = 0.01, progress_s: float = 0.1) -> None:
    """Gradio's event queue looks for work every millisecond when idle, and for progress
    updates every 10 ms (together about 4% of a core per process, all the time); every
    ``poll_s`` is plenty for events that take 10 ms or more, and the pages show no progress
    bars."""
    queue = getattr(blocks, "_queue", None)
    if queue is None:
        return
    queue.sleep_when_free = max(getattr(queue, "sleep_when_free", 0.0), poll_s)
    queue.progress_update_sleep_when_free = max(
        getattr(queue, "progress_update_sleep_when_free", 0.0), progress_s)


def serve(host: str = "127.0.0.1", port: int = 7860, *, build_demo: bool = True,
          arena: Arena | None = None, workers: int = 1, api_port: int | None = None) -> None:
    """Start serving; builds the demo set first when the database has no items. With
    ``workers`` > 1, that many more processes serve the API and live rooms on ``api_port``
    (default ``port + 1``; :mod:`arena.web.workers`)."""
    import uvicorn

    arena = arena or Arena.open()
    raise_open_file_limit()
    if build_demo and demo_incomplete(arena.engine):
        from arena.demo.build import build_demo as build

        print("Building the demo set (first start, or finishing an interrupted build)...", flush=True)
        print(build(arena).describe(), flush=True)
    pool = None
    if workers > 1:
        from arena.web.workers import Workers

        pool = Workers(host, api_port or port + 1, workers)
        pool.start()
    try:
        print(f"Pareto Arena on http://{host}:{port}", flush=True)
        if pool is not None:
            print(f"HTTP API, image links and live rooms, {workers} worker processes: "
                  f"http://{host}:{pool.port} (open a live room's presenter page there, so "
                  "phones join the workers)", flush=True)
        print(f"Organiser key (Voters tab, starting live sessions): {organiser_key(arena.engine)}",
              flush=True)
        uvicorn.run(build_app(arena), host=host, port=port, log_level="warning", **uvicorn_options())
    finally:
        if pool is not None:
            pool.stop()


def raise_open_file_limit(most: int = 65536) -> int:
    """Raise this process's open-file limit to its hard limit (at most ``most``); returns it.

    Each phone in a hall holds two connections (its event stream and its requests), so a
    thousand phones need some 2,000 descriptors where many systems allow 1,024 by default;
    worker processes started later inherit the limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = most if hard == resource.RLIM_INFINITY else min(hard, most)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft
