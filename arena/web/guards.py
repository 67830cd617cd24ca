"""What every API request must pass before a route sees it: a bounded body, JSON content, and
JSON of bounded depth, each refused with its own status (413, 415, 422) and a one-line detail.

:class:`BodyGuard` is plain ASGI middleware (no Starlette request objects on the hot path); it
buffers at most :data:`MAX_BODY` bytes of a request under ``/api/`` and replays them to the
route, so a 100 MB body costs the server no more than 64 KiB. :func:`json_object` parses what
it let through.
"""
from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException

#: Largest request body accepted under /api/ (a vote is about 150 bytes).
MAX_BODY = 64 * 1024
#: Deepest nesting of JSON arrays and objects accepted in a body.
MAX_DEPTH = 16
JSON_TYPES = (b"application/json",)


def _reply(status: int, detail: str) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"detail": detail}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    return start, body


class BodyGuard:
    """ASGI middleware: bodies of requests under ``prefix`` are capped and must be JSON."""

    def __init__(self, app: Any, prefix: str = "/api/", max_body: int = MAX_BODY):
        self.app, self.prefix, self.max_body = app, prefix, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) \
                or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = await read_body(scope, receive, send, self.max_body)
        if body is None:
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def read_body(scope: dict, receive: Any, send: Any, max_body: int = MAX_BODY) -> bytes | None:
    """The request's body, read as :class:`BodyGuard` allows it; ``None`` when the request
    was refused here (413, 415; the answer is sent) or the client went away."""
    headers = dict(scope["headers"])
    length = headers.get(b"content-length")
    if length is not None and (not length.isdigit() or int(length) > max_body):
        await _refuse(send, 413, f"request body larger than {max_body} bytes")
        return None
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            await _refuse(send, 413, f"request body larger than {max_body} bytes")
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if body.strip() and kind not in JSON_TYPES:
        await _refuse(send, 415, "request body must be JSON (Content-Type: application/json)")
        return None
    return body


async def _refuse(send: Any, status: int, detail: str) -> None:
    start, body = _reply(status, detail)
    await send(start)
    await send({"type": "http.response.body", "body": body})


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not
    count); cheap when the text has few brackets, as every real vote does."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:      # backslash
                escaped = True
            elif byte == 0x22:      # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def json_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """A request body as a JSON object, else 422 (malformed, too deep, or not an object)."""
    if empty_ok and not raw.strip():
        return {}
    if json_depth(raw) > MAX_DEPTH:
        raise HTTPException(422, f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HTTPException(422, "body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "body must be a JSON object")
    return body
