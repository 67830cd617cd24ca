"""Benchmark: a room of phones voting in a live session, on SQLite and on PostgreSQL.

    python benchmarks/bench_live.py [--phones 300] [--rounds 3] [--concurrency 64]
                                    [--gradio-votes 200] [--only sqlite postgres]
                                    [--postgres URL] [--workdir DIR]

Starts the real server (``app.py``) on a small demo set, opens a live session as the presenter,
and for each round lets ``--phones`` phones, up to ``--concurrency`` at a time, do what the
audience page does: open the round (``GET /api/live/CODE``, which gives a new phone its seat, a
signed cookie kept for the next rounds, and signs its impression) and vote (``POST /api/live/CODE/votes``). Prints the time until every vote of
a round is stored, votes per second, and each phone's open-and-vote latency (median, p95, max),
then checks that the tally counts every phone once.

The named peer, run against the same server: votes cast through the Gradio page's vote event
(``gradio_client``, the path the Vote tab's buttons take), ``--gradio-votes`` of them on as many
threads as ``--concurrency`` allows; the ratio shows why a room votes on plain routes. The
phones run in this process, on the same cores as the server, so the figures are a floor.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from live_server import LiveServer, app_env, drop_postgres, fresh_postgres, run_cli  # noqa: E402  (the tests' server runner)
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHOICES = ("left", "right", "tie", "both_bad")


def start_server(workdir: Path, database_url: str, per_task: int = 3) -> tuple[LiveServer, str]:
    """``app.py`` on a demo set of ``per_task`` items per task, and its organiser key."""
    env = {**app_env(workdir, database_url), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "ARENA_MIN_LOOK_MS": "0"}   # phones here vote at once: the look time is not measured
    for args in (["demo", "--per-task", str(per_task)], ["organiser"]):
        done = run_cli(args, env)
        if done.returncode:
            raise SystemExit(f"arena {args[0]} failed: {done.stderr}")
    return LiveServer(workdir, env), done.stdout.strip()


class _KeepNothing(DefaultCookiePolicy):
    def set_ok(self, cookie, request) -> bool:
        return False


def keep_no_cookies(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client's jar keeps nothing: each phone sends its own seat cookie, as its browser would."""
    client.cookies.jar.set_policy(_KeepNothing())
    return client


async def _phone(client: httpx.AsyncClient, code: str, seats: dict[int, str], k: int, choice: str,
                 gate: asyncio.Semaphore) -> float:
    async with gate:
        start = time.perf_counter()
        sent = {"cookie": seats[k]} if k in seats else {}
        answer = (await client.get(f"/api/live/{code}", headers=sent)).raise_for_status()
        if k not in seats:
            if "set-cookie" not in answer.headers:
                raise SystemExit(f"phone {k} got no seat: {answer.text[:200]}")
            seats[k] = answer.headers["set-cookie"].split(";", 1)[0]
        view = answer.json()
        pair = view["pair"]
        done = await client.post(f"/api/live/{code}/votes", json={
            "impression_id": pair["impression_id"], "token": pair["token"], "choice": choice,
            "duration_ms": 2500})
        if done.status_code != 201:
            raise SystemExit(f"vote refused: {done.status_code} {done.text}")
        return time.perf_counter() - start


async def _round(url: str, code: str, phones: int, number: int, concurrency: int,
                 seats: dict[int, str]) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with keep_no_cookies(httpx.AsyncClient(base_url=url, limits=limits, timeout=60)) as client:
        start = time.perf_counter()
        latencies = await asyncio.gather(*(
            _phone(client, code, seats, k, CHOICES[(k + number) % 4], gate) for k in range(phones)))
        return time.perf_counter() - start, list(latencies)


def live_room(url: str, key: str, phones: int, rounds: int, concurrency: int
              ) -> list[tuple[float, list[float]]]:
    """Every phone votes once per round; returns (seconds, latencies) per round."""
    made = httpx.post(url + "/api/live", json={"task": "any"},
                      headers={"X-Organiser-Key": key}).raise_for_status().json()
    code, header = made["code"], {"X-Presenter-Token": made["presenter_token"]}
    out, seats = [], {}
    for number in range(1, rounds + 1):
        httpx.post(f"{url}/api/live/{code}/next", headers=header).raise_for_status()
        out.append(asyncio.run(_round(url, code, phones, number, concurrency, seats)))
        tally = httpx.get(f"{url}/api/live/{code}/tally", headers=header).raise_for_status().json()
        counted = tally["votes"]
        if counted != phones:
            raise SystemExit(f"round {number}: the tally counts {counted} votes, expected {phones}")
    httpx.post(f"{url}/api/live/{code}/close", headers=header)
    return out


def gradio_votes(url: str, votes: int, concurrency: int) -> float:
    """Seconds to cast ``votes`` votes through the Vote tab's Gradio events (the peer)."""
    from gradio_client import Client

    workers = min(concurrency, 8)
    per = max(votes // workers, 1)

    def voter(k: int) -> None:
        cookie = httpx.get(url + "/").cookies["pa_voter"]    # the page load issues the identity
        client = Client(url + "/", verbose=False, headers={"Cookie": f"pa_voter={cookie}"})
        client.predict(task_name="any", api_name="/start")
        for _ in range(per):
            client.predict(task_name="any", api_name="/vote_left")

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(voter, range(workers)))
    return (time.perf_counter() - start) / (per * workers)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--phones", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=64, help="phones in flight at once")
    p.add_argument("--gradio-votes", type=int, default=200, help="votes through Gradio events (peer)")
    p.add_argument("--only", nargs="*", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    p.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL (a database is made there)")
    p.add_argument("--workdir", default=None)
    args = p.parse_args()

    base = Path(args.workdir or tempfile.mkdtemp(prefix="arena_bench_live_"))
    print(f"{args.phones} phones x {args.rounds} rounds, {args.concurrency} in flight; "
          f"server: one process ({os.cpu_count()} cores here)")
    per_vote = {}
    for kind in args.only:
        workdir = base / kind
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{workdir / 'arena.db'}"
        if kind == "postgres":
            url = fresh_postgres(args.postgres, 'arena_bench_live')
        server, key = start_server(workdir, url)
        try:
            rounds = live_room(server.url, key, args.phones, args.rounds, args.concurrency)
            best = min(r[0] for r in rounds)
            lat = [x for _, l in rounds for x in l]
            print(f"{kind:9s} a round of {args.phones} votes stored in {best:.2f} s (best of "
                  f"{len(rounds)}: {', '.join(f'{r[0]:.2f}' for r in rounds)}) = "
                  f"{args.phones / best:.0f} votes/s; per phone open+vote median "
                  f"{statistics.median(lat) * 1000:.0f} ms, p95 {_pct(lat, 0.95) * 1000:.0f} ms, "
                  f"max {max(lat) * 1000:.0f} ms; tally exact", flush=True)
            per_vote[kind] = best / args.phones
            if args.gradio_votes:
                g = gradio_votes(server.url, args.gradio_votes, args.concurrency)
                per_vote[kind + "-gradio"] = g
                print(f"{'':9s} peer: Gradio vote events {1 / g:.0f} votes/s "
                      f"({g * 1000:.1f} ms of wall time per vote)", flush=True)
        finally:
            server.stop()
            if kind == "postgres":
                drop_postgres(args.postgres, url)
    print("\nratios (wall time per vote, Gradio event path / live route):")
    for kind in args.only:
        if kind + "-gradio" in per_vote:
            print(f"  {kind:9s} {per_vote[kind + '-gradio'] / per_vote[kind]:.1f}x")
    if not args.workdir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
