"""Live sessions over HTTP on a real server: the JSON routes, the two pages and their escaping."""
from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(live_url, organiser):
    with httpx.Client(base_url=live_url, timeout=30) as c:
        c.organiser = organiser          # sent only where a test starts a session
        yield c


@pytest.fixture
def phones(live_url):
    """Separate cookie jars: each is one phone, holding the seat the server gives it."""
    made = [httpx.Client(base_url=live_url, timeout=30) for _ in range(4)]
    yield made
    for c in made:
        c.close()


def start(client, task="recolor"):
    made = client.post("/api/live", json={"task": task}, headers=client.organiser)
    assert made.status_code == 201, made.text
    return made.json()


def test_a_round_over_http(client, phones):
    made = start(client)
    code, presenter = made["code"], {"X-Presenter-Token": made["presenter_token"]}
    assert made["join_url"].endswith(f"/live/{code}") and made["join_url"].startswith("http")
    assert made["present_url"].endswith(f"/live/{code}/present?token={made['presenter_token']}")
    assert client.get(f"/api/live/{code}").json()["round"] == 0

    assert client.post(f"/api/live/{code}/next").status_code == 403
    assert client.post(f"/api/live/{code}/next", headers={"X-Presenter-Token": "nope"}).status_code == 403
    shown = client.post(f"/api/live/{code}/next", headers=presenter).json()
    assert shown["round"] == 1 and shown["tally"]["votes"] == 0
    assert shown["seats"] == 1 and shown["busiest_address_seats"] == 1 and shown["joining"]

    seen = [c.get(f"/api/live/{code}").json() for c in phones[:3]]
    assert all(s["seat"] for s in seen)
    assert len({p["pair"]["impression_id"] for p in seen}) == 3
    assert len({p["pair"]["left_url"] for p in seen}) == 1
    again = phones[0].get(f"/api/live/{code}", params={"voter": "someone-else-01"}).json()
    assert again["pair"]["impression_id"] == seen[0]["pair"]["impression_id"]
    # the running tally is the presenter's until the reveal
    assert phones[0].get(f"/api/live/{code}/tally").status_code == 403
    assert "tally" not in seen[0] and seen[0]["reveal"] is None
    phones_seen, phones = seen, phones

    def send(phone, choice):
        return client.post(f"/api/live/{code}/votes", json={
            "impression_id": phone["pair"]["impression_id"], "token": phone["pair"]["token"],
            "choice": choice, "duration_ms": 1200})

    first = send(phones_seen[0], "left")
    assert first.status_code == 201 and set(first.json()) == {"vote_id", "impression_id", "task", "choice"}
    assert send(phones_seen[0], "right").json() == first.json()  # no second vote
    assert send(phones_seen[1], "tie").status_code == 201
    # The regular route refuses live pairs: its answer would name the models before the reveal.
    plain = client.post("/api/votes", json={"impression_id": phones_seen[2]["pair"]["impression_id"],
                                            "token": phones_seen[2]["pair"]["token"], "choice": "tie"})
    assert plain.status_code == 409 and "live session" in plain.json()["detail"]
    tally = client.get(f"/api/live/{code}/tally", headers=presenter).json()
    assert tally["counts"] == {"left": 1, "right": 0, "tie": 1, "both_bad": 0} and tally["viewers"] == 3

    revealed = client.post(f"/api/live/{code}/reveal", headers=presenter).json()
    names = {revealed["reveal"]["left_model"], revealed["reveal"]["right_model"]}
    assert len(names) == 2 and not any(
        n in str(first.json()) for n in names)
    late = send(phones_seen[2], "left")
    assert late.status_code == 409 and "ended" in late.json()["detail"]
    phone = phones[0].get(f"/api/live/{code}").json()
    assert phone["state"] == "revealed" and phone["your_vote"] == "left" and phone["reveal"]
    assert phones[0].get(f"/api/live/{code}/tally").json()["votes"] == 2   # public after the reveal

    assert client.post(f"/api/live/{code}/close", headers=presenter).json()["state"] == "closed"
    assert client.post(f"/api/live/{code}/next", headers=presenter).status_code == 409


def test_bad_requests(client):
    made = start(client, "any")
    code = made["code"]
    assert made["task"] == "any"
    key = client.organiser
    assert client.post("/api/live", json={"task": "no_such_task"}, headers=key).status_code == 404
    assert client.post("/api/live", json={"task": 3}, headers=key).status_code == 422
    assert client.post("/api/live", content=b"{nope", headers=key).status_code == 415
    assert client.post("/api/live", content=b"{nope", headers={**key, "content-type": "application/json"}
                       ).status_code == 422
    for wrong in ({}, {"X-Organiser-Key": "nope"}, {"X-Organiser-Key": key["X-Organiser-Key"][:-1]}):
        refused = client.post("/api/live", json={"task": "recolor"}, headers=wrong)
        assert refused.status_code == 403 and "organiser key" in refused.json()["detail"]
    for method, path in (("GET", "/api/live/ZZZZZZ"), ("GET", "/api/live/ZZZZZZ/tally"),
                         ("POST", "/api/live/ZZZZZZ/next"), ("POST", "/api/live/ZZZZZZ/votes")):
        assert client.request(method, path, json={}).status_code == 404, path
    client.post(f"/api/live/{code}/next", headers={"X-Presenter-Token": made["presenter_token"]})
    assert client.get(f"/api/live/{code}", headers={"X-Presenter-Token": "x"}).status_code == 403
    assert client.post(f"/api/live/{code}/votes", json={"impression_id": "x"}).status_code == 422
    assert client.post(f"/api/live/{code}/votes", json=[1]).status_code == 422
    phone = client.get(f"/api/live/{code}").json()
    body = {"impression_id": phone["pair"]["impression_id"], "token": "f" * 40, "choice": "tie"}
    assert client.post(f"/api/live/{code}/votes", json=body).status_code == 403
    other = start(client)  # an impression of this session cannot be voted through another's code
    body["token"] = phone["pair"]["token"]
    assert client.post(f"/api/live/{other['code']}/votes", json=body).status_code == 404


def test_pages(client):
    made = start(client)
    code = made["code"]
    audience = client.get(f"/live/{code.lower()}")
    assert audience.status_code == 200 and f'data-code="{code}"' in audience.text
    assert "script-src 'self'" in audience.headers["content-security-policy"]
    assert audience.headers["cache-control"] == "no-store"
    present = client.get(f"/live/{code}/present", params={"token": made["presenter_token"]})
    assert present.status_code == 200 and code in present.text and f"/live/{code}" in present.text
    assert made["presenter_token"] not in present.text
    assert client.get(f"/live/{code}/present").status_code == 403
    assert client.get(f"/live/{code}/present", params={"token": "x"}).status_code == 403
    assert client.get("/live/ZZZZZZ").status_code == 404
    assert client.get("/live/ZZZZZZ/present", params={"token": "x"}).status_code == 404
    assert client.get("/live").status_code == 200
    for name in ("live.css", "live_audience.js", "live_present.js", "live_join.js"):
        assert client.get(f"/live-assets/{name}").status_code == 200
    assert client.get("/live-assets/live_audience.html").status_code == 404
    assert client.get("/live-assets/..%2Fapi.py").status_code == 404


def test_page_values_are_escaped():
    from arena.web.live_routes import _page
    from arena.web.ui.live_tab import session_html

    hostile = '"><script>alert(1)</script>'
    text = _page("live_present.html", code=hostile, join_url=hostile, join_short=hostile).body.decode()
    assert "<script>alert" not in text and "&lt;script&gt;" in text and '&quot;&gt;' in text
    text = session_html(hostile, hostile, hostile)
    assert "<script>alert" not in text and "&lt;script&gt;" in text


def test_live_tab_starts_a_session(tmp_path):
    import gradio as gr
    from toy_catalog import make_toy_catalog

    from arena.context import Arena
    from arena.store.organiser import organiser_key
    from arena.web.ui.live_tab import build_live_tab, start_session

    arena = Arena.open(f"sqlite:///{tmp_path / 'a.db'}", media=str(tmp_path / "media"))
    make_toy_catalog(arena)
    with gr.Blocks():
        task, button, result = build_live_tab(arena)
    assert task.choices[0][0] == "any" and ("recolor", "recolor") in task.choices
    key = organiser_key(arena.engine)
    shown = start_session(arena, "recolor", "http://10.0.0.5:7860", key)
    assert "http://10.0.0.5:7860/live/" in shown and "/present?token=" in shown
    assert "has no item" in start_session(arena, "<b>nope</b>", "http://h", key)
    assert "<b>nope" not in start_session(arena, "<b>nope</b>", "http://h", key)
    for wrong in (None, "", "nope"):
        refused = start_session(arena, "recolor", "http://h", wrong)
        assert "needs the organiser key" in refused and "/live/" not in refused


def test_a_phone_learns_of_the_next_round_by_a_long_poll(client, live_url):
    import threading
    import time

    made = start(client)
    code, presenter = made["code"], {"X-Presenter-Token": made["presenter_token"]}
    timer = threading.Timer(1.0, lambda: httpx.post(f"{live_url}/api/live/{code}/next",
                                                    headers=presenter, timeout=30))
    timer.start()
    began = time.monotonic()
    woke = client.get(f"/api/live/{code}/wait", params={"round": 0, "state": "open"}).json()
    waited = time.monotonic() - began
    timer.join()
    assert woke == {"code": code, "round": 1, "state": "open"} and 0.9 < waited < 10
    began = time.monotonic()          # a phone that is behind is answered at once
    assert client.get(f"/api/live/{code}/wait", params={"round": 0, "state": "open"}).json()["round"] == 1
    assert time.monotonic() - began < 2
    assert client.get("/api/live/ZZZZZZ/wait").status_code == 404
    assert client.get(f"/api/live/{code}/wait", params={"round": -1}).status_code == 422
