"""The pair and vote routes answered in plain ASGI (arena.web.hot_routes): they skip FastAPI's
stack, and answer every request as the FastAPI routes that document them do, on SQLite and
PostgreSQL: statuses, error details, the identity cookie's attributes, throttling and CORS."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from toy_catalog import make_toy_catalog

from arena.collect.identity import COOKIE
from arena.context import Arena
from arena.web.api_app import build_api
from arena.web.visitors import Visitors


def _stacks(arena: Arena):
    """The app a server runs, and the FastAPI app under it (its routes answer alone)."""
    hot = build_api(arena, Visitors(arena))
    return hot, hot.app


def _cookie_attributes(header: str | None) -> tuple[str, ...] | None:
    """A Set-Cookie header without its value (values are signed per identity)."""
    if header is None:
        return None
    name, _, rest = header.partition(";")
    return (name.split("=")[0], *sorted(p.strip().lower() for p in rest.split(";")))


def _shape(answer: httpx.Response) -> tuple:
    """What must be the same whichever stack answered: status, type, error text, body keys."""
    body = answer.content
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    if isinstance(parsed, dict) and "detail" in parsed:
        content: object = parsed["detail"]
    elif isinstance(parsed, dict):
        content = sorted(parsed)
    else:
        content = parsed
    headers = {k: v for k, v in answer.headers.items()
               if k in ("content-type", "retry-after", "access-control-allow-origin",
                        "access-control-allow-credentials", "vary")}
    return answer.status_code, headers, content, _cookie_attributes(answer.headers.get("set-cookie"))


async def _script(app, base: str) -> list[tuple]:
    """One voter's requests, good and bad, in order; every answer's shape."""
    shapes = []
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        async def ask(method: str, url: str, **kw) -> httpx.Response:
            answer = await client.request(method, url, **kw)
            shapes.append(_shape(answer))
            return answer

        first = await ask("GET", "/api/pair")
        cookie = first.headers["set-cookie"].split(";")[0]
        client.cookies.clear()
        again = await ask("GET", "/api/pair", headers={"cookie": cookie})
        assert again.json()["impression_id"] == first.json()["impression_id"]
        await ask("GET", "/api/pair?task=no_such_task", headers={"cookie": cookie})
        await ask("GET", "/api/pair?task=no_such_task&task=recolor", headers={"cookie": cookie})
        await ask("GET", "/api/pair?task=recolor&task=no_such_task", headers={"cookie": cookie})
        await ask("GET", "/api/pair?task=", headers={"cookie": cookie})
        await ask("GET", "/api/pair", headers={"cookie": f"{COOKIE}=v-forged0000.0000"})
        client.cookies.clear()
        pair = again.json()
        vote = {"impression_id": pair["impression_id"], "token": pair["token"], "choice": "left"}
        await ask("POST", "/api/votes", content=b"choice=left", headers={"content-type": "text/plain"})
        await ask("POST", "/api/votes", content=b"{" * 70_000, headers={"content-type": "application/json"})
        await ask("POST", "/api/votes", content=b"[" * 40 + b"]" * 40,
                  headers={"content-type": "application/json"})
        await ask("POST", "/api/votes", content=b"[1, 2]", headers={"content-type": "application/json"})
        await ask("POST", "/api/votes", content=b"", headers={"content-type": "application/json"})
        await ask("POST", "/api/votes", json={**vote, "token": "0" * 40})
        await ask("POST", "/api/votes", json={**vote, "choice": "middle"})
        await ask("POST", "/api/votes", json={**vote, "impression_id": 10**6})
        stored = await ask("POST", "/api/votes", json=vote)
        retried = await ask("POST", "/api/votes", json=vote)
        assert stored.status_code == 201 and retried.status_code == 200
        assert retried.json() == stored.json()
        await ask("PUT", "/api/votes", json=vote)
        await ask("GET", "/api/votes")
    return shapes


def _run(coroutine):
    """``asyncio.run`` on a thread of its own (an earlier test may leave this thread a loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _arena(db_url: str, tmp_path, name: str) -> Arena:
    arena = Arena.open(db_url, media=str(tmp_path / name))
    make_toy_catalog(arena)
    return arena


def test_the_vote_path_answers_as_the_documented_routes_do(db_url, tmp_path):
    arena = _arena(db_url, tmp_path, "m")
    hot, plain = _stacks(arena)
    for base in ("http://arena.test", "https://arena.test"):     # the cookie's Secure flag
        assert _run(_script(hot, base)) == _run(_script(plain, base))


def test_pair_and_vote_requests_skip_the_fastapi_stack(arena):
    make_toy_catalog(arena)
    hot, _ = _stacks(arena)
    seen: list[str] = []
    below = hot.app

    async def counting(scope, receive, send):
        seen.append(scope["path"])
        await below(scope, receive, send)

    hot.app = counting

    async def cycle():
        transport = httpx.ASGITransport(app=hot)
        async with httpx.AsyncClient(transport=transport, base_url="http://arena.test") as client:
            pair = (await client.get("/api/pair")).json()
            vote = await client.post("/api/votes", json={"impression_id": pair["impression_id"],
                                                         "token": pair["token"], "choice": "tie"})
            assert vote.status_code == 201
            assert (await client.get("/api/tasks")).status_code == 200
            schema = (await client.get("/api/openapi.json")).json()
            assert {"/api/pair", "/api/votes"} <= set(schema["paths"])

    _run(cycle())
    assert seen == ["/api/tasks", "/api/openapi.json"]


def test_the_hot_path_throttles_each_address(db_url, tmp_path, monkeypatch):
    """Each client address (behind a trusted proxy, the one it forwarded) has its own bucket."""
    monkeypatch.setenv("ARENA_RATE_PER_ADDRESS", "1")            # bursts of 10
    monkeypatch.setenv("ARENA_LIMITS_DIR", str(tmp_path))
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", "198.51.100.9")
    arena = _arena(db_url, tmp_path, "m")
    hot, _ = _stacks(arena)

    async def flood(client_address: str, n: int):
        transport = httpx.ASGITransport(app=hot, client=("198.51.100.9", 1))
        headers = {"x-forwarded-for": f"{client_address}, 198.51.100.9"}
        async with httpx.AsyncClient(transport=transport, base_url="http://arena.test") as client:
            return [await client.get("/api/pair", headers=headers) for _ in range(n)]

    answers = _run(flood("203.0.113.50", 14))
    codes = [a.status_code for a in answers]
    assert codes[:10] == [200] * 10 and 429 in codes[10:]
    assert [a.status_code for a in _run(flood("203.0.113.51", 3))] == [200] * 3
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert "too many requests" in refused.json()["detail"]


@pytest.mark.parametrize("origin, allowed", [("https://kiosk.example", True),
                                             ("https://evil.example", False)])
def test_the_hot_path_keeps_the_cors_policy(tmp_path, monkeypatch, origin, allowed):
    monkeypatch.setenv("ARENA_ALLOWED_ORIGINS", "https://kiosk.example")
    arena = Arena.open(f"sqlite:///{tmp_path / 'a.db'}", media=str(tmp_path / "m"))
    make_toy_catalog(arena)
    hot, plain = _stacks(arena)

    async def ask(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://arena.test") as client:
            answer = await client.get("/api/pair", headers={"origin": origin})
            preflight = await client.options("/api/votes", headers={
                "origin": origin, "access-control-request-method": "POST"})
            return answer, preflight

    (answer, preflight), (plain_answer, _) = _run(ask(hot)), _run(ask(plain))
    assert answer.status_code == 200
    assert answer.headers.get("access-control-allow-origin") == plain_answer.headers.get(
        "access-control-allow-origin") == (origin if allowed else None)
    assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed


def _raw_post(app, body_parts: list[bytes], *, disconnect: bool = False) -> list[dict]:
    """POST /api/votes with the body in ``body_parts`` (a chunked upload); the messages sent."""
    messages = [{"type": "http.request", "body": part, "more_body": True} for part in body_parts]
    messages[-1]["more_body"] = False
    if disconnect:
        messages[-1] = {"type": "http.disconnect"}
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/votes", "raw_path": b"/api/votes", "query_string": b"",
             "root_path": "", "client": ("192.0.2.1", 5000), "server": ("arena.test", 80),
             "headers": [(b"host", b"arena.test"), (b"content-type", b"application/json"),
                         (b"transfer-encoding", b"chunked")]}
    _run(app(scope, receive, send))
    return sent


def test_a_chunked_vote_is_read_whole_and_a_vanished_client_stores_nothing(arena):
    from sqlalchemy import func, select

    from arena.store.schema import Vote

    make_toy_catalog(arena)
    hot, _ = _stacks(arena)

    async def pair():
        transport = httpx.ASGITransport(app=hot, client=("192.0.2.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://arena.test") as client:
            return (await client.get("/api/pair")).json()

    def votes() -> int:
        with arena.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Vote.__table__)).scalar_one()

    first = _run(pair())
    raw = json.dumps({"impression_id": first["impression_id"], "token": first["token"],
                      "choice": "right"}).encode()
    assert _raw_post(hot, [raw[:10], raw[10:30]], disconnect=True) == []     # gone mid-body
    assert votes() == 0
    sent = _raw_post(hot, [raw[:10], raw[10:30], raw[30:]])
    assert sent[0]["status"] == 201 and json.loads(sent[1]["body"])["choice"] == "right"
    assert votes() == 1
    big = _raw_post(hot, [b"{" + b" " * 40_000, b" " * 40_000 + b"}"])          # no length given
    assert big[0]["status"] == 413
