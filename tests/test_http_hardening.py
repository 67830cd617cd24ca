"""Hostile and careless requests against the real app, on SQLite and PostgreSQL: every one gets
a clear 4xx, nothing is written, and no 5xx (DESIGN.md §3)."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlalchemy import func, select
from starlette.testclient import TestClient
from toy_catalog import make_toy_catalog

from arena.store.schema import Impression, Vote, Voter

JSON = {"content-type": "application/json"}


def rows(arena) -> tuple[int, int, int]:
    with arena.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (Vote.__table__, Impression.__table__, Voter.__table__))


@pytest.fixture
def app_client(arena, monkeypatch):
    from arena.web.server import build_app

    make_toy_catalog(arena)
    with TestClient(build_app(arena)) as client:
        client.arena = arena
        yield client


def vote_body(pair, **extra):
    return {"impression_id": pair["impression_id"], "token": pair["token"], "choice": "left", **extra}


def test_malformed_votes_get_4xx_and_write_nothing(app_client):
    pair = app_client.get("/api/pair").json()
    before = rows(app_client.arena)
    deep = b'{"impression_id": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    cases = [
        (deep, JSON, 422),
        (json.dumps(vote_body(pair, token="é" * 40)).encode(), JSON, 403),
        (json.dumps(vote_body(pair, token="\x00" * 40)).encode(), JSON, 403),
        (json.dumps(vote_body(pair, choice="left\x00")).encode(), JSON, 422),
        (json.dumps(vote_body(pair, impression_id=2**63)).encode(), JSON, 422),
        (json.dumps(vote_body(pair, impression_id=2**31)).encode(), JSON, 422),
        (json.dumps(vote_body(pair, token="x" * 5000)).encode(), JSON, 422),
        (b'{"impression_id": 1e999}', JSON, 422),
        (b'{"impression_id": ' + b"9" * 5000 + b"}", JSON, 422),
        (json.dumps(vote_body(pair)).encode(), {"content-type": "text/plain"}, 415),
        (json.dumps(vote_body(pair)).encode(), {}, 415),
        (b"x" * (65 * 1024), JSON, 413),
    ]
    for body, headers, status in cases:
        answer = app_client.post("/api/votes", content=body, headers=headers)
        assert answer.status_code == status, (body[:60], answer.text)
        assert set(answer.json()) == {"detail"} and answer.json()["detail"]
    chunked = app_client.post("/api/votes", content=iter([b"{" + b" " * 40_000, b" " * 40_000 + b"}"]),
                              headers=JSON)
    assert chunked.status_code == 413
    live_deep = app_client.post("/api/live/ABCDEF/votes", content=deep, headers=JSON)
    assert live_deep.status_code == 422
    assert rows(app_client.arena) == before
    assert app_client.post("/api/votes", json=vote_body(pair)).status_code == 201


def test_methods_paths_and_head(app_client):
    wrong = app_client.get("/api/votes")
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]
    assert app_client.delete("/api/pair").status_code == 405
    assert app_client.put("/api/live").status_code == 405
    missing = app_client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"detail": "no API route /api/nothing-here"}
    pair = app_client.get("/api/pair").json()
    head = app_client.head(pair["left_url"])
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == "image/png"
    for answer in (head, app_client.get(pair["left_url"])):
        assert "last-modified" not in answer.headers and "etag" not in answer.headers
    assert app_client.get("/api/pair", params={"task": "x\x00y"}).status_code == 404
    schema = app_client.get("/api/openapi.json").json()
    votes = schema["paths"]["/api/votes"]["post"]
    assert "requestBody" in votes and {"403", "404", "409", "413", "415", "422", "429"} <= set(votes["responses"])
    assert "HTTPValidationError" not in json.dumps(schema)
    assert "image/png" in schema["paths"]["/media/{token}"]["get"]["responses"]["200"]["content"]


def test_one_open_pair_a_recorded_skip_and_expiry(app_client):
    first = app_client.get("/api/pair").json()
    again = app_client.get("/api/pair", params={"task": "recolor"}).json()
    assert again["impression_id"] == first["impression_id"]      # no free re-roll
    assert again == first                                          # the very same pair
    skip = app_client.post("/api/votes", json=vote_body(first, choice="skip"))
    assert skip.status_code == 201 and skip.json() == {
        "impression_id": first["impression_id"], "task": "recolor", "choice": "skip"}
    assert app_client.post("/api/votes", json=vote_body(first, choice="skip")).status_code == 200
    assert app_client.post("/api/votes", json=vote_body(first)).status_code == 409
    second = app_client.get("/api/pair").json()
    assert second["impression_id"] != first["impression_id"]
    with app_client.arena.engine.begin() as conn:                  # let it age past its expiry
        conn.execute(Impression.__table__.update().where(Impression.id == second["impression_id"])
                     .values(expires_at=Impression.issued_at))
    late = app_client.post("/api/votes", json=vote_body(second))
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    third = app_client.get("/api/pair").json()
    assert third["impression_id"] not in (first["impression_id"], second["impression_id"])
    assert app_client.post("/api/votes", json=vote_body(third)).status_code == 201
    with app_client.arena.engine.connect() as conn:
        endings = dict(conn.execute(select(Impression.id, Impression.ended)).all())
    assert [endings[p["impression_id"]] for p in (first, second, third)] == ["skipped", "expired", "voted"]


def test_identity_comes_from_the_server(app_client):
    pair = app_client.get("/api/pair", params={"voter": "chosen-by-me-01"}).json()
    cookie = app_client.cookies["pa_voter"]
    with app_client.arena.engine.connect() as conn:
        voters = [v for (v,) in conn.execute(select(Voter.id))]
        owner = conn.execute(select(Impression.voter_id).where(Impression.id == pair["impression_id"])).scalar_one()
    assert "chosen-by-me-01" not in voters and owner == cookie.split(".")[0]
    app_client.cookies.clear()
    forged = app_client.get("/api/pair", headers={"cookie": "pa_voter=chosen-by-me-01.000000000000000000000000"})
    assert forged.cookies["pa_voter"].split(".")[0] not in ("chosen-by-me-01", owner)


def test_images_are_per_impression_and_unlinkable(app_client):
    a, b = app_client.get("/api/pair").json(), None
    app_client.post("/api/votes", json=vote_body(a, choice="skip"))
    b = app_client.get("/api/pair").json()
    urls = [p[k] for p in (a, b) for k in ("source_url", "left_url", "right_url")]
    assert len(set(urls)) == 6
    one, two = app_client.get(a["left_url"]).content, app_client.get(a["left_url"]).content
    assert one != two and len(one) != len(two) or one != two          # bytes differ per response
    assert (Image.open(io.BytesIO(one)).tobytes() == Image.open(io.BytesIO(two)).tobytes())
    token = a["left_url"].rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert app_client.get("/media/" + tampered).status_code == 404
    assert app_client.get("/media/..%2Farena.db").status_code == 404


def test_config_publishes_nothing_of_the_signing_secret(app_client):
    page = app_client.get("/config").text
    secret = app_client.arena.secret
    assert secret.decode()[:16] not in page and secret.hex()[:16] not in page


def test_rate_limits_answer_429_with_retry_after(arena, monkeypatch):
    from arena.web.server import build_app

    make_toy_catalog(arena)
    monkeypatch.setenv("ARENA_RATE_PER_ADDRESS", "1")       # bursts of 10
    monkeypatch.setenv("ARENA_IDENTITIES_PER_ADDRESS", "3")
    with TestClient(build_app(arena)) as client:
        codes = []
        for _ in range(5):                                  # no cookies: a new identity each time
            client.cookies.clear()
            codes.append(client.get("/api/pair").status_code)
        assert codes[:3] == [200] * 3 and codes[3] == 429
        refused = client.get("/api/pair")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        statuses = [client.get("/api/tasks").status_code for _ in range(5)]
        assert statuses == [200] * 5                         # reading is not limited
        client.cookies.clear()
        flood = [client.post("/api/votes", json={"impression_id": 1, "token": "x", "choice": "tie"}
                             ).status_code for _ in range(12)]
        assert 429 in flood


def test_forwarded_for_is_believed_only_from_trusted_proxies(monkeypatch):
    from arena.web.client import client_address

    monkeypatch.delenv("ARENA_TRUSTED_PROXIES", raising=False)
    assert client_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert client_address("10.1.2.3", "198.51.100.1, 10.0.0.7") == "198.51.100.1"
    assert client_address("10.1.2.3", "1.2.3.4, 198.51.100.1") == "198.51.100.1"   # spoofed head
    assert client_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"          # untrusted peer


def test_a_vote_faster_than_a_look_is_refused(app_client, monkeypatch):
    import time

    monkeypatch.setenv("ARENA_MIN_LOOK_MS", "400")
    pair = app_client.get("/api/pair").json()
    hasty = app_client.post("/api/votes", json=vote_body(pair))
    assert hasty.status_code == 409 and "faster than the pair could be looked at" in hasty.json()["detail"]
    with app_client.arena.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Vote.__table__)).scalar_one() == 0
    time.sleep(0.45)
    assert app_client.post("/api/votes", json=vote_body(pair)).status_code == 201


def test_two_pair_requests_at_once_leave_one_open_pair(arena):
    """Concurrent first requests of one voter: both answers name the same open impression."""
    from concurrent.futures import ThreadPoolExecutor

    from arena.collect.voting import issue_pair, register

    make_toy_catalog(arena)
    register(arena.engine, "voter-racing-01")
    for _ in range(5):
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: issue_pair(arena, None, "voter-racing-01",
                                                         registered=True), range(4)))
        with arena.engine.connect() as conn:
            still_open = conn.execute(select(func.count()).select_from(Impression.__table__).where(
                Impression.voter_id == "voter-racing-01", Impression.ended.is_(None))).scalar_one()
        assert still_open == 1
        assert len({a["impression_id"] for a in answers}) == 1
        pair = answers[0]
        with arena.engine.begin() as conn:            # vote it away for the next round
            conn.execute(Impression.__table__.update().where(Impression.id == pair["impression_id"])
                         .values(ended="skipped"))
