"""Two app processes on one PostgreSQL database: a voter's open pair, its images, its vote and a
live room's long poll agree whichever process answers."""
from __future__ import annotations

import threading
import time

import httpx
import pytest
from live_server import LiveServer, app_env, run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def two_servers(postgres_url, tmp_path):
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from arena.store import schema  # noqa: F401

    engine = create_engine(postgres_url)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()
    env = {**app_env(tmp_path, postgres_url), "ARENA_MIN_LOOK_MS": "0"}
    assert run_cli(["demo", "--per-task", "2"], env).returncode == 0
    key = run_cli(["organiser"], env).stdout.strip()
    (tmp_path / "b").mkdir()
    a = LiveServer(tmp_path, env)
    try:
        b = LiveServer(tmp_path / "b", env)
    except Exception:
        a.stop()
        raise
    yield a, b, key
    a.stop()
    b.stop()


def test_two_processes_share_pairs_votes_and_rooms(two_servers):
    a, b, key = two_servers
    one = httpx.Client(base_url=a.url, timeout=30)
    pair = one.get("/api/pair").json()
    other = httpx.Client(base_url=b.url, timeout=30, cookies={"pa_voter": one.cookies["pa_voter"]})
    assert other.get("/api/pair").json()["impression_id"] == pair["impression_id"]
    assert other.get(pair["left_url"]).status_code == 200
    body = {"impression_id": pair["impression_id"], "token": pair["token"], "choice": "left"}
    assert other.post("/api/votes", json=body).status_code == 201
    again = one.post("/api/votes", json={**body, "choice": "right"})
    assert again.status_code == 200 and again.json()["choice"] == "left"
    assert other.get("/api/leaderboard", params={"voters": "all"}).json()["leaderboards"][0]["votes"] == 1

    made = httpx.post(a.url + "/api/live", json={"task": "any"}, headers={"X-Organiser-Key": key},
                      timeout=30).json()
    code, presenter = made["code"], {"X-Presenter-Token": made["presenter_token"]}
    phone = httpx.Client(base_url=b.url, timeout=40)
    assert phone.get(f"/api/live/{code}").json()["seat"]
    timer = threading.Timer(1.0, lambda: httpx.post(f"{a.url}/api/live/{code}/next", headers=presenter,
                                                    timeout=30))
    timer.start()
    began = time.monotonic()
    woke = phone.get(f"/api/live/{code}/wait", params={"round": 0, "state": "open"}).json()
    timer.join()
    assert woke["round"] == 1 and time.monotonic() - began < 10   # the other process's poller saw it
