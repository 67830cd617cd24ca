"""Another process holding SQLite's write lock for seconds (a bulk import, say) stalls only the
requests that must write, each answered once the lock is free; the rest of the server (reads,
images, other voters' pages) keeps answering meanwhile."""
from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from live_server import LiveServer, app_env, run_cli

pytestmark = pytest.mark.slow

HOLD_S = 4.0
NEWCOMERS = 20       # new voters asking for a pair while the lock is held


def test_a_long_write_lock_elsewhere_does_not_stall_the_server(tmp_path):
    env = {**app_env(tmp_path), "ARENA_MIN_LOOK_MS": "0"}
    assert run_cli(["demo", "--per-task", "2"], env).returncode == 0
    server = LiveServer(tmp_path, env)
    try:
        voter = httpx.Client(base_url=server.url, timeout=60)
        pair = voter.get("/api/pair").json()                        # before the lock
        image = pair["left_url"]
        holder = sqlite3.connect(tmp_path / "arena.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")                           # the write lock, for HOLD_S
        held = time.monotonic()
        release = threading.Timer(HOLD_S, holder.commit)
        release.start()
        with ThreadPoolExecutor(NEWCOMERS + 2) as pool:
            vote = pool.submit(voter.post, "/api/votes", json={
                "impression_id": pair["impression_id"], "token": pair["token"], "choice": "left"})
            newcomers = [pool.submit(httpx.get, server.url + "/api/pair", timeout=60)   # writers
                         for _ in range(NEWCOMERS)]
            time.sleep(0.5)                                         # all now wait for the lock
            started = time.monotonic()
            tasks = httpx.get(server.url + "/api/tasks", timeout=60)
            picture = voter.get(image)
            meanwhile = time.monotonic() - started
            assert tasks.status_code == 200 and picture.status_code == 200
            assert meanwhile < 0.75 and time.monotonic() - held < HOLD_S  # not behind the lock
            assert [n.result().status_code for n in newcomers] == [200] * NEWCOMERS
            assert vote.result().status_code == 201
        assert time.monotonic() - held >= HOLD_S - 0.1               # the writers did wait
        release.join()
        holder.close()
        again = voter.post("/api/votes", json={"impression_id": pair["impression_id"],
                                               "token": pair["token"], "choice": "right"})
        assert again.status_code == 200 and again.json()["choice"] == "left"    # stored once
        with sqlite3.connect(tmp_path / "arena.db") as conn:
            assert conn.execute("SELECT count(*) FROM vote").fetchone()[0] == 1
            voters = conn.execute("SELECT count(*) FROM voter WHERE kind = 'public'").fetchone()[0]
            assert voters == NEWCOMERS + 1                          # no identity made twice
    finally:
        server.stop()
