"""Benchmark: the server's cost per pair+vote cycle, and throughput under concurrent voters.

    python benchmarks/bench_serve.py [--cycles 300] [--concurrency 50 200 500] [--workers 2]
                                     [--only sqlite postgres] [--postgres URL]

Starts the real server (``app.py``) on a small demo set, then (1) runs ``--cycles`` sequential
cycles of ``GET /api/pair`` and ``POST /api/votes`` with one identity and reads the server
process's own CPU time from /proc (best of three runs), and (2) lets each of ``--concurrency``
voters (one identity and connection each) run cycles for ``--seconds``, printing votes per
second and the p50/p95/p99 of a cycle, on one process and on ``app.py --workers N``.
The peer, measured in the same run: a bare FastAPI app (benchmarks/bare_vote_app.py) whose
pair route answers a fixed pair and whose vote route does one SQLite insert, on the same
uvicorn: the practical ceiling here. The load generator runs on the same cores, so throughput
figures are floors.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from live_server import LiveServer, app_env, drop_postgres, free_port, fresh_postgres, run_cli  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import Connection  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cycle(client: httpx.Client) -> None:
    pair = client.get("/api/pair").raise_for_status().json()
    client.post("/api/votes", json={"impression_id": pair["impression_id"], "token": pair["token"],
                                    "choice": "left", "duration_ms": 3000}).raise_for_status()


def cpu_per_cycle(url: str, pid: int, cycles: int) -> float:
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(20):
            cycle(client)
        before = cpu_seconds(pid)
        for _ in range(cycles):
            cycle(client)
        return (cpu_seconds(pid) - before) / cycles


async def _voter(url: str, until: float, times: list[float], errors: list[int]) -> None:
    conn = Connection(url)
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            pair = await conn.request("GET", "/api/pair")
            if pair.status != 200:
                errors.append(pair.status)
                await asyncio.sleep(0.05)
                continue
            pair = pair.json()
            vote = await conn.request("POST", "/api/votes", {
                "impression_id": pair["impression_id"], "token": pair["token"],
                "choice": "right", "duration_ms": 3000})
            if vote.status != 201:
                errors.append(vote.status)
            times.append(time.perf_counter() - start)
    finally:
        await conn.close()


def throughput(url: str, voters: int, seconds: float) -> tuple[float, float, float, float, int]:
    """Cycles per second and the p50/p95/p99 of a cycle with ``voters`` voters at once (one
    identity and one keep-alive connection each), and how many answers were not 200/201."""
    times: list[float] = []
    errors: list[int] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_voter(url, until, times, errors) for _ in range(voters)))

    asyncio.run(run())
    q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0]] * 99
    return len(times) / seconds, q[49], q[94], q[98], len(errors)


def arena_env(workdir: Path, database_url: str) -> dict[str, str]:
    env = {**app_env(workdir, database_url), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "ARENA_MIN_LOOK_MS": "0", "ARENA_RATE_PER_ADDRESS": "100000",
           "ARENA_IDENTITIES_PER_ADDRESS": "100000"}   # every voter comes from 127.0.0.1 here
    done = run_cli(["demo", "--per-task", "3"], env)
    if done.returncode:
        raise SystemExit(f"arena demo failed: {done.stderr}")
    return env


def start_arena(workdir: Path, database_url: str) -> LiveServer:
    return LiveServer(workdir, arena_env(workdir, database_url))


class ArenaWorkers:
    """``app.py --workers N``: the API workers' address, for throughput only (their CPU is
    spread over N processes)."""

    def __init__(self, workdir: Path, env: dict[str, str], workers: int):
        self.port, api_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{api_port}"
        self.log = (workdir / "workers.log").open("w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port),
                                      "--workers", str(workers), "--api-port", str(api_port)],
                                     cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/tasks", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise SystemExit("app.py --workers did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


class Bare:
    """The peer app under uvicorn in a subprocess."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BARE_DB": str(workdir / "bare.db"), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.bare_vote_app:app",
                                      "--port", str(self.port), "--log-level", "warning",
                                      "--http", "httptools", "--loop", "uvloop"],
                                     cwd=ROOT, env=env)
        for _ in range(100):
            try:
                httpx.get(self.url + "/api/pair", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit("the bare peer app did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _print_load(name: str, n: int, result: tuple, peer: tuple | None) -> None:
    rate, p50, p95, p99, errors = result
    ratio = f" ({rate / peer[0]:.2f}x the peer)" if peer else ""
    bad = f", {errors} answers not 200/201" if errors else ""
    print(f"  {name}{n:4d} voters: {rate:6.0f} cycles/s{ratio}, p50 {1000 * p50:.0f} ms, "
          f"p95 {1000 * p95:.0f} ms, p99 {1000 * p99:.0f} ms{bad}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2,
                        help="also measure throughput with app.py --workers N (0: skip)")
    parser.add_argument("--only", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=os.environ.get("ARENA_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; the voters run on "
          "the same cores (a lean HTTP/1.1 client, benchmarks/loadgen.py)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bare = Bare(work)
        try:
            bare_cpu = min(cpu_per_cycle(bare.url, bare.proc.pid, args.cycles) for _ in range(3))
            print(f"peer (bare FastAPI + one SQLite insert): {1000 * bare_cpu:.2f} ms of server CPU "
                  "per cycle (best of 3)", flush=True)
            bare_tp = {n: throughput(bare.url, n, args.seconds) for n in args.concurrency}
        finally:
            bare.stop()
        for n, result in bare_tp.items():
            _print_load("", n, result, None)
        for backend in args.only:
            url = f"sqlite:///{work / backend / 'arena.db'}" if backend == "sqlite" else args.postgres
            (work / backend).mkdir()
            if backend == "postgres":
                url = fresh_postgres(args.postgres, 'arena_bench_serve')
            env = arena_env(work / backend, url)
            server = LiveServer(work / backend, env)
            try:
                ours = min(cpu_per_cycle(server.url, server.proc.pid, args.cycles) for _ in range(3))
                goal = "meets" if ours <= 0.001 else "misses"
                print(f"{backend}: {1000 * ours:.2f} ms of server CPU per pair+vote cycle, best of 3 "
                      f"({ours / bare_cpu:.1f}x the peer; {goal} the goal of 1 ms)", flush=True)
                for n in args.concurrency:
                    _print_load("", n, throughput(server.url, n, args.seconds), bare_tp[n])
            finally:
                server.stop()
            if args.workers > 1:
                pool = ArenaWorkers(work / backend, env, args.workers)
                try:
                    for n in args.concurrency:
                        _print_load(f"--workers {args.workers}: ", n,
                                    throughput(pool.url, n, args.seconds), bare_tp[n])
                finally:
                    pool.stop()
            if backend == "postgres":
                drop_postgres(args.postgres, url)
    print("The 1,000-phone hall: benchmarks/bench_live.py (same machine, same backends).")


if __name__ == "__main__":
    main()
