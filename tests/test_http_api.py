"""The HTTP API of a real server: tasks, pairs, votes (with every bad-input case), leaderboards."""
from __future__ import annotations

import httpx
import pytest

from arena.views.voters import defended_note

CHOICES = ("left", "right", "tie", "both_bad")


@pytest.fixture
def client(demo_server):
    with httpx.Client(base_url=demo_server.url, timeout=30) as c:
        yield c


def test_tasks_lists_the_demo_tasks(client):
    tasks = {t["name"]: t for t in client.get("/api/tasks").json()["tasks"]}
    assert {"object_removal", "background_change", "text_edit", "recolor"} <= set(tasks)
    for t in tasks.values():
        assert t["items"] == 3 and t["models"] >= 4 and t["description"]


def test_pair_names_no_model_and_serves_images(client):
    names = set()
    for _ in range(10):  # learn the model names from reveals
        pair = client.get("/api/pair", params={"task": "recolor"}).json()
        receipt = client.post("/api/votes", json={"impression_id": pair["impression_id"],
                                                  "token": pair["token"], "choice": "tie"}).json()
        names |= {receipt["left_model"], receipt["right_model"]}
    assert len(names) >= 3
    pair = client.get("/api/pair", params={"task": "recolor"}).json()
    assert set(pair) == {"impression_id", "token", "task", "instruction", "source_url", "left_url", "right_url"}
    assert pair["task"] == "recolor" and pair["instruction"]
    text = str(pair).lower()
    assert not any(n.lower() in text for n in names)
    for key in ("source_url", "left_url", "right_url"):
        image = client.get(pair[key])
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_vote_reveals_models_and_is_idempotent(client):
    pair = client.get("/api/pair", params={"task": "object_removal"}).json()
    body = {"impression_id": pair["impression_id"], "token": pair["token"], "choice": "left",
            "duration_ms": 900}
    first = client.post("/api/votes", json=body)
    assert first.status_code == 201
    receipt = first.json()
    assert receipt["left_model"] != receipt["right_model"]
    assert receipt["left_model"].lower() not in str(pair).lower()
    again = client.post("/api/votes", json={**body, "choice": "right"})
    assert again.status_code == 200 and again.json() == receipt


def test_bad_votes_get_403_404_422(client):
    pair = client.get("/api/pair").json()
    ok = {"impression_id": pair["impression_id"], "token": pair["token"], "choice": "tie"}
    assert client.post("/api/votes", json={**ok, "token": "f" * 40}).status_code == 403
    assert client.post("/api/votes", json={**ok, "impression_id": 10**9}).status_code == 404
    assert client.post("/api/votes", json={**ok, "choice": "A"}).status_code == 422
    assert client.post("/api/votes", json={**ok, "impression_id": "x"}).status_code == 422
    assert client.post("/api/votes", json={**ok, "duration_ms": "slow"}).status_code == 422
    assert client.post("/api/votes", content=b"{not json",
                       headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/api/votes", content=b"{not json").status_code == 415
    assert client.post("/api/votes", json=[1, 2]).status_code == 422
    assert client.post("/api/votes", json=ok).status_code == 201


def test_unknown_task_and_bad_voter_are_refused(client):
    assert client.get("/api/pair", params={"task": "no_such_task"}).status_code == 404
    assert client.get("/api/leaderboard", params={"task": "no_such_task"}).status_code == 404
    assert client.get("/media/../arena.db").status_code == 404
    assert client.get("/media/nothing.png").status_code == 404


def _stored_votes(server, task: str) -> tuple[int, int]:
    """The server's stored votes in ``task``: all, and those a board counts (planted repeats
    left out: a voter's earlier pair shown again is a consistency check, not a second vote)."""
    import sqlite3

    with sqlite3.connect(server.env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        return db.execute("SELECT count(*), sum(check_kind != 'repeat') FROM vote WHERE task = ?",
                          (task,)).fetchone()


def test_leaderboard_counts_votes_per_task(client, demo_server):
    for _ in range(6):
        pair = client.get("/api/pair", params={"task": "text_edit"}).json()
        r = client.post("/api/votes", json={"impression_id": pair["impression_id"],
                                            "token": pair["token"], "choice": "left"})
        assert r.status_code == 201
    defended = client.get("/api/leaderboard", params={"task": "text_edit"}).json()
    # the defended board by default; this new identity (after whatever this server's other
    # tests did) is either too new to be checked alone or pooled with its address's others
    summary = defended["voters"]
    assert summary["mode"] == "defended" and defended["note"] == defended_note(summary)
    assert summary["provisional"] or summary["pooled_identities"]
    boards = client.get("/api/leaderboard", params={"task": "text_edit", "voters": "all"}
                        ).json()["leaderboards"]
    assert [b["task"] for b in boards] == ["text_edit"]
    board = boards[0]
    stored, counted = _stored_votes(demo_server, "text_edit")
    assert stored >= 6 and board["votes"] == counted
    rows = board["rows"]
    assert rows and all({"model", "score", "ci_low", "ci_high", "rank", "votes"} <= set(r) for r in rows)
    assert all(r["ci_low"] <= r["score"] <= r["ci_high"] for r in rows)
    overall = client.get("/api/leaderboard", params={"voters": "all"}).json()["leaderboards"]
    assert overall[0]["task"] == "overall" and overall[0]["votes"] >= board["votes"]


def test_pareto_fronts_combine_votes_with_measured_latency(client):
    for _ in range(8):
        pair = client.get("/api/pair", params={"task": "background_change"}).json()
        client.post("/api/votes", json={"impression_id": pair["impression_id"],
                                        "token": pair["token"], "choice": "right"})
    fronts = client.get("/api/pareto", params={"task": "background_change"}).json()["fronts"]
    assert [(f["task"], f["axis"]) for f in fronts] == [("background_change", "latency_s"),
                                                        ("background_change", "cost_usd"),
                                                        ("background_change", "energy_wh")]
    points = fronts[0]["points"]
    assert len(points) >= 2 and all(p["latency_s"] is not None for p in points)
    on = [p for p in points if p["on_front"]]
    assert on and max(points, key=lambda p: p["score"])["on_front"]
    assert min(points, key=lambda p: p["latency_s"])["on_front"]
    for p in points:
        assert 0.0 <= p["p_front"] <= 1.0 and (p["on_front"] or p["dominated_by"])
    assert client.get("/api/pareto", params={"task": "nope"}).status_code == 404


def test_other_sites_get_no_cross_origin_access(client):
    evil = {"Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in client.get("/api/tasks", headers=evil).headers
    preflight = client.options("/api/votes", headers={**evil, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    page = client.get("/config", headers=evil)
    assert page.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
