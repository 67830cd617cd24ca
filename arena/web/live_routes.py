"""Plain HTTP routes and light pages for live sessions (no Gradio on the audience's path).

JSON routes: ``POST /api/live`` (create), ``GET /api/live/{code}`` (state; ``?voter=V`` adds that
person's own impression of the round), ``GET /api/live/{code}/tally``, ``POST
/api/live/{code}/next|reveal|close`` (header ``X-Presenter-Token``) and ``POST
/api/live/{code}/votes`` (the body and answers of ``POST /api/votes``, plus 409 once the round
is no longer open). Pages: ``/live`` (enter a code), ``/live/{code}`` (audience, phone-first)
and ``/live/{code}/present?token=T`` (presenter). The pages are static HTML with their script
in ``arena/static``; every value shown is set as text by the script, never as markup.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from arena.collect import live
from arena.collect.voting import VoteError
from arena.context import Arena
from arena.store.organiser import WHERE, is_organiser

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"live.css": "text/css", "live_audience.js": "text/javascript",
          "live_present.js": "text/javascript", "live_join.js": "text/javascript"}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; script-src 'self'; "
                                "style-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
}


def _page(name: str, status: int = 200, **values: str) -> HTMLResponse:
    text = (STATIC / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)


def _message(title: str, text: str, status: int) -> HTMLResponse:
    return _page("live_message.html", status, title=title, text=text)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(422, "body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "body must be a JSON object")
    return body


def _call(fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except VoteError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def build_live_router(arena: Arena) -> APIRouter:
    """Live-session routes and pages bound to one arena; include it before mounting Gradio."""
    router = APIRouter()

    @router.post("/api/live", status_code=201)
    async def create(request: Request, x_organiser_key: str | None = Header(default=None)
                     ) -> dict[str, Any]:
        if not await run_in_threadpool(is_organiser, arena.engine, x_organiser_key):
            raise HTTPException(403, "starting a live session needs the organiser key in the "
                                     f"X-Organiser-Key header ({WHERE})")
        task = (await _json_body(request)).get("task")
        if task is not None and not isinstance(task, str):
            raise HTTPException(422, "task must be a string")
        made = await run_in_threadpool(_call, live.create_session, arena, task)
        base = live.public_base(str(request.base_url))
        return {"code": made.code, "presenter_token": made.presenter_token, "task": made.task or "any",
                "join_url": base + live.join_path(made.code),
                "present_url": base + live.present_path(made.code, made.presenter_token)}

    @router.get("/api/live/{code}")
    def state(code: str, voter: str | None = None) -> dict[str, Any]:
        return _call(live.state, arena, code, voter)

    @router.get("/api/live/{code}/tally")
    def tally(code: str) -> dict[str, Any]:
        return _call(live.tally, arena, code)

    def presenter_route(action):
        def route(code: str, x_presenter_token: str | None = Header(default=None)) -> dict[str, Any]:
            return _call(action, arena, code, x_presenter_token)
        return route

    for name, action in (("next", live.next_round), ("reveal", live.reveal), ("close", live.close)):
        router.add_api_route(f"/api/live/{{code}}/{name}", presenter_route(action), methods=["POST"],
                             name=f"live_{name}", summary=action.__doc__.splitlines()[0])

    @router.post("/api/live/{code}/votes", status_code=201)
    async def vote(code: str, request: Request) -> JSONResponse:
        body = await _json_body(request)
        answer, created = await run_in_threadpool(
            _call, live.vote, arena, code, body.get("impression_id"), body.get("token"),
            body.get("choice"), body.get("duration_ms"))
        return JSONResponse(answer, status_code=201 if created else 200)

    @router.get("/live-assets/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404, "no such file")
        return Response((STATIC / name).read_bytes(), media_type=ASSETS[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    @router.get("/live", response_class=HTMLResponse)
    def join_page() -> HTMLResponse:
        return _page("live_join.html")

    @router.get("/live/{code}", response_class=HTMLResponse)
    def audience_page(code: str) -> HTMLResponse:
        try:
            row = live.get_session(arena, code)
        except live.UnknownSession:
            return _message("No such session", "Check the code on the presenter's screen.", 404)
        return _page("live_audience.html", code=row.code)

    @router.get("/live/{code}/present", response_class=HTMLResponse)
    def present_page(code: str, request: Request, token: str | None = None) -> HTMLResponse:
        try:
            row = live.check_presenter(arena, code, token)
        except live.UnknownSession:
            return _message("No such session", "This live session does not exist.", 404)
        except live.NotPresenter:
            return _message("Presenter link needed",
                            "Open the presenter link you got when the session was started.", 403)
        join_url = live.public_base(str(request.base_url)) + live.join_path(row.code)
        return _page("live_present.html", code=row.code, join_url=join_url,
                     join_short=join_url.split("://", 1)[-1])

    return router
