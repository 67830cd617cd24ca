"""``python app.py --workers N`` on SQLite (WAL) and PostgreSQL: the pages on one port, N API
worker processes on another; concurrent voters across the workers keep one open pair each, and
every vote is stored once."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from live_server import ROOT, app_env, free_port, run_cli
from sqlalchemy import create_engine, func, select

from arena.store.schema import Impression, Vote

pytestmark = pytest.mark.slow

VOTERS, CYCLES = 8, 15


@contextlib.contextmanager
def _serving(env: dict[str, str], tmp_path):
    """``python app.py --workers 3`` on a demo database: (pages URL, API URL, process)."""
    assert run_cli(["demo", "--per-task", "2"], env).returncode == 0
    port, api_port = free_port(), free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--workers",
                             "3", "--api-port", str(api_port)], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def workers(db_url, tmp_path):
    env = {**app_env(tmp_path, db_url), "ARENA_MIN_LOOK_MS": "0",
           "ARENA_RATE_PER_ADDRESS": "100000", "ARENA_IDENTITIES_PER_ADDRESS": "100000"}
    with _serving(env, tmp_path) as (pages, api, proc):
        yield pages, api, db_url, proc


def _voter(api: str) -> list[int]:
    statuses = []
    with httpx.Client(base_url=api, timeout=60) as client:
        for _ in range(CYCLES):
            pair = client.get("/api/pair")
            statuses.append(pair.status_code)
            pair = pair.json()
            vote = client.post("/api/votes", json={"impression_id": pair["impression_id"],
                                                   "token": pair["token"], "choice": "left"})
            statuses.append(vote.status_code)
    return statuses


def _worker_pids(proc: subprocess.Popen) -> set[int]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    managers = {int(pid) for pid, ppid, args in rows if int(ppid) == proc.pid and "api_app" in args}
    return {int(pid) for pid, ppid, args in rows if int(ppid) in managers and "spawn_main" in args}


def test_workers_serve_the_api_and_every_vote_once(workers):
    pages, api, database_url, proc = workers
    assert len(_worker_pids(proc)) == 3
    assert "Pareto Arena" in httpx.get(pages + "/", timeout=30).text
    with ThreadPoolExecutor(VOTERS) as pool:
        statuses = [s for voter in pool.map(_voter, [api] * VOTERS) for s in voter]
    assert statuses.count(200) == VOTERS * CYCLES and statuses.count(201) == VOTERS * CYCLES

    # one voter's pair requests racing across the workers settle on one open pair
    first = httpx.get(api + "/api/pair", timeout=30)
    cookie = {"pa_voter": first.cookies["pa_voter"]}

    def ask(_):
        return httpx.get(api + "/api/pair", cookies=cookie, timeout=60).json()["impression_id"]

    with ThreadPoolExecutor(6) as pool:
        seen = set(pool.map(ask, range(12)))
    assert seen == {first.json()["impression_id"]}

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            votes = conn.execute(select(func.count()).select_from(Vote)).scalar_one()
            counted = conn.execute(select(func.count()).select_from(Vote)      # repeats: quality only
                                   .where(Vote.check_kind != "repeat")).scalar_one()
            open_per_voter = conn.execute(
                select(func.count()).select_from(Impression)
                .where(Impression.ended.is_(None), Impression.expires_at.is_not(None))
                .group_by(Impression.voter_id)).scalars().all()
    finally:
        engine.dispose()
    assert votes == VOTERS * CYCLES
    assert max(open_per_voter) == 1
    board = httpx.get(pages + "/api/leaderboard", params={"voters": "all"}, timeout=60).json()
    assert sum(b["votes"] for b in board["leaderboards"] if b["task"] != "overall") == counted


def test_the_server_raises_its_open_file_limit_for_a_hall_of_phones():
    """A thousand phones hold some 2,000 connections; a soft limit of 1,024 is raised to the
    hard limit before serving (and worker processes inherit it)."""
    code = ("import resource, sys; sys.path.insert(0, sys.argv[1]);"
            "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE);"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard));"
            "from arena.web.server import raise_open_file_limit;"
            "got = raise_open_file_limit();"
            "print(got, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got, now, hard = (int(x) for x in out.stdout.split())
    assert got == now == min(hard if hard >= 0 else 65536, 65536) and now > 256


def test_per_address_limits_hold_across_the_workers(tmp_path):
    """Limits are the arena's, not each worker's: 3 new identities an hour and 0.5 requests a
    second (bursts of 5) per address, asked for on fresh connections spread over 3 workers."""
    env = {**app_env(tmp_path), "ARENA_MIN_LOOK_MS": "0", "ARENA_RATE_PER_ADDRESS": "0.5",
           "ARENA_IDENTITIES_PER_ADDRESS": "3"}
    with _serving(env, tmp_path) as (_, api, proc):
        assert len(_worker_pids(proc)) == 3
        start = time.monotonic()
        answers = [httpx.get(api + "/api/pair", timeout=30) for _ in range(9)]   # no cookies
        answers += [httpx.post(api + "/api/votes", json={"impression_id": 1, "token": "x",
                                                         "choice": "tie"}, timeout=30)
                    for _ in range(12)]
        elapsed = time.monotonic() - start
    codes = [a.status_code for a in answers]
    assert codes[:9].count(200) == 3                    # new identities: the arena's 3 an hour
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)
    passed = sum(a.status_code != 429 or "new voters" in a.text for a in answers)
    assert passed <= 5 + 0.5 * elapsed + 1              # the burst, and what refilled meanwhile
