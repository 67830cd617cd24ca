"""Plain HTTP routes and light pages for live sessions (no Gradio on the audience's path).

JSON routes: ``POST /api/live`` (create), ``GET /api/live/{code}`` (state; a phone gets a seat,
a signed cookie issued by the server, and with it its own impression of the round; with
``X-Presenter-Token`` the presenter's view), ``GET /api/live/{code}/events`` (server-sent
events at each change of round or state) and ``/wait`` (the same as a long poll),
``GET /api/live/{code}/tally`` (the presenter's
until the reveal), ``POST /api/live/{code}/next|reveal|close|joining`` (header
``X-Presenter-Token``) and ``POST /api/live/{code}/votes`` (the body and answers of ``POST
/api/votes``, plus 409 once the round is no longer open). Pages: ``/live`` (enter a code), ``/live/{code}`` (audience, phone-first)
and ``/live/{code}/present?token=T`` (presenter). The pages are static HTML with their script
in ``arena/web/static``; every value shown is set as text by the script, never as markup.
"""
from __future__ import annotations

import asyncio
import html
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from arena.collect import live
from arena.collect.identity import cookie_value, read_cookie
from arena.collect.image_links import jitter_png, stored_name
from arena.collect.voting import VoteError
from arena.context import Arena
from arena.store.organiser import WHERE, is_organiser
from arena.web.contract import LIVE_BODY, VOTE_BODY, errors, json_body
from arena.web.guards import json_object
from arena.web.live_watch import LiveWatch
from arena.web.qr import qr_data_uri
from arena.web.visitors import Visitors

JOINING_BODY = {"type": "object", "required": ["open"], "properties": {"open": {"type": "boolean"}}}

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


@lru_cache(maxsize=16)
def _static(name: str) -> bytes:
    """A page or asset of ``arena/web/static``, read once per process."""
    return (STATIC / name).read_bytes()


def _page(name: str, status: int = 200, **values: str) -> HTMLResponse:
    text = _static(name).decode("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)


def _message(title: str, text: str, status: int) -> HTMLResponse:
    return _page("live_message.html", status, title=title, text=text)


async def _json_body(request: Request) -> dict[str, Any]:
    return json_object(await request.body(), empty_ok=True)


#: Threads for phones opening a round, and apart from them for votes, so that a vote never
#: queues behind a hall's worth of openings (or image requests) when a round starts. Plain
#: executors: a thousand phones queue in one ``SimpleQueue`` each, where AnyIO's thread pool
#: adds a capacity limiter's waiters and a cancel scope to every call.
OPENING_THREADS, VOTING_THREADS = 8, 8
_OPENING = ThreadPoolExecutor(OPENING_THREADS, thread_name_prefix="live-open")
_VOTING = ThreadPoolExecutor(VOTING_THREADS, thread_name_prefix="live-vote")


async def _on(pool: ThreadPoolExecutor, fn, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args))
IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "no-referrer"}


def _seat_cookie(code: str) -> str:
    return f"pa_seat_{code}"


def _call(fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except VoteError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def build_live_router(arena: Arena, visitors: Visitors) -> APIRouter:
    """Live-session routes and pages bound to one arena; include it before mounting Gradio."""
    router = APIRouter()

    def seat(request: Request, response: Response, code: str) -> str | None:
        """The phone's seat in session ``code`` (its signed cookie), or a new one if the room
        still takes joiners and the phone's address has seats left; ``None``: watch only."""
        code, number = live.normalize_code(code), live.session_id(arena, code)
        purpose = f"seat:{number}"
        voter = read_cookie(arena.secret, request.cookies.get(_seat_cookie(code)), purpose)
        if voter is None:
            row = live.get_session(arena, code)
            voter = live.join(arena, row, visitors.address_of(request))
            if voter is not None:
                response.set_cookie(_seat_cookie(row.code), cookie_value(arena.secret, voter, purpose),
                                    max_age=2 * 86400, httponly=True, samesite="lax",
                                    secure=request.url.scheme == "https",
                                    path="/api/live/")
        return voter

    def presenting(code: str, token: str | None) -> bool:
        if not token:
            return False
        live.check_presenter(arena, code, token)    # a wrong token is a 403, not a seat
        return True

    @router.post("/api/live", status_code=201, openapi_extra=json_body(LIVE_BODY, required=False),
                 responses=errors(403, 404, 413, 415, 422))
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

    watch = LiveWatch(arena)

    def view(code: str, request: Request, response: Response, token: str | None) -> dict[str, Any]:
        if _call(presenting, code, token):
            return _call(live.presenter_state, arena, code)
        voter = _call(seat, request, response, code)
        return {**_call(live.state, arena, code, voter), "seat": voter is not None}

    @router.get("/api/live/{code}", responses=errors(403, 404))
    async def state(code: str, request: Request, response: Response,
                    x_presenter_token: str | None = Header(default=None)) -> dict[str, Any]:
        """The round as a phone sees it (with its own seat's pair), or as the presenter does."""
        return await _on(_OPENING, view, code, request, response, x_presenter_token)

    @router.get("/api/live/{code}/events", response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}}, **errors(404)})
    async def events(code: str) -> StreamingResponse:
        """Server-sent events: ``{"code", "round", "state"}`` at once and at every change (from
        memory), a comment every 20 s between; what the audience page watches."""
        try:
            stream = await watch.events(code)
        except VoteError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @router.get("/api/live/{code}/wait", responses=errors(404, 422))
    async def wait(code: str, round: int = Query(0, ge=0, le=2**31 - 1),
                   state: str = Query("open", max_length=20)) -> dict[str, Any]:
        """Answers once the session's round or state differs from those given (a long poll,
        served from memory), or after about 25 s with them unchanged."""
        try:
            return await watch.wait(code, round, state)
        except VoteError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @router.get("/api/live/{code}/tally", responses=errors(403, 404))
    def tally(code: str, x_presenter_token: str | None = Header(default=None)) -> dict[str, Any]:
        """The current round's tally: for the presenter while voting is open, for all after."""
        answer = _call(live.tally, arena, code)
        if answer["state"] == "open" and answer["round"] and not _call(presenting, code, x_presenter_token):
            raise HTTPException(403, "the tally is shown at the reveal (or to the presenter)")
        return answer

    @router.post("/api/live/{code}/joining", openapi_extra=json_body(JOINING_BODY),
                 responses=errors(403, 404, 413, 415, 422))
    async def joining(code: str, request: Request,
                      x_presenter_token: str | None = Header(default=None)) -> dict[str, Any]:
        """Open or close joining: ``{"open": false}`` once the room is in."""
        is_open = (await _json_body(request)).get("open")
        if not isinstance(is_open, bool):
            raise HTTPException(422, "open must be true or false")
        await run_in_threadpool(_call, live.set_joining, arena, code, x_presenter_token, is_open)
        return await run_in_threadpool(_call, live.presenter_state, arena, code)

    def presenter_route(action):
        async def route(code: str, x_presenter_token: str | None = Header(default=None)
                        ) -> dict[str, Any]:
            answer = await run_in_threadpool(_call, action, arena, code, x_presenter_token)
            await watch.refresh(code)            # this process's watchers wake at once
            return answer
        return route

    for name, action in (("next", live.next_round), ("reveal", live.reveal), ("close", live.close)):
        router.add_api_route(f"/api/live/{{code}}/{name}", presenter_route(action), methods=["POST"],
                             name=f"live_{name}", summary=action.__doc__.splitlines()[0],
                             responses=errors(403, 404, 409))

    @router.post("/api/live/{code}/votes", status_code=201, openapi_extra=json_body(VOTE_BODY),
                 responses={200: {"description": "The stored vote again (a retry)"},
                            **errors(403, 404, 409, 413, 415, 422)})
    async def vote(code: str, request: Request) -> JSONResponse:
        body = await _json_body(request)
        answer, created = await _on(
            _VOTING, _call, live.vote, arena, code, body.get("impression_id"), body.get("token"),
            body.get("choice"), body.get("duration_ms"))
        return JSONResponse(answer, status_code=201 if created else 200)

    @router.get("/live-media/{token}", response_class=Response,
                responses={200: {"content": {"image/png": {}}}, **errors(404)})
    async def image(token: str) -> Response:
        """A round's image (the same for the whole room), from memory: as ``/media/`` serves
        it, with bytes that differ at every request."""
        data = await _round_image(stored_name(arena.secret, token) or "")
        if data is None:
            raise HTTPException(404, "no such image")
        return Response(jitter_png(data), media_type="image/png", headers=IMAGE_HEADERS)

    images: dict[str, bytes] = {}
    reading: dict[str, asyncio.Future] = {}

    async def _round_image(name: str) -> bytes | None:
        """The image from memory; when a round opens, the hall's requests for one image share
        a single read of its file."""
        data = images.get(name)
        if data is not None:
            return data
        pending = reading.get(name)
        if pending is None:
            pending = reading[name] = asyncio.ensure_future(_read_image(name))
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done():
                reading.pop(name, None)

    async def _read_image(name: str) -> bytes | None:
        try:
            data = await run_in_threadpool(lambda: arena.media.path(name).read_bytes())
        except (FileNotFoundError, ValueError, OSError):
            return None
        if len(images) >= 64:
            images.clear()
        images[name] = data
        return data

    @router.get("/live-assets/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404, "no such file")
        return Response(_static(name), media_type=ASSETS[name],
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
                     join_short=join_url.split("://", 1)[-1], qr=qr_data_uri(join_url))

    return router
