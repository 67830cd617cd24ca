"""Benchmark: the server's cost per pair+vote cycle, and throughput under concurrent voters.

    python benchmarks/bench_serve.py [--cycles 300] [--concurrency 50 200] [--only sqlite postgres]
                                     [--postgres URL]

Starts the real server (``app.py``) on a small demo set, then (1) runs ``--cycles`` sequential
cycles of ``GET /api/pair`` and ``POST /api/votes`` with one identity and reads the server
process's own CPU time from /proc, and (2) lets each of ``--concurrency`` voters (one identity
each) run cycles for ``--seconds``, printing votes per second and the p50/p95/p99 of a cycle.
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


async def _voter(url: str, until: float, times: list[float]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while time.perf_counter() < until:
            start = time.perf_counter()
            pair = (await client.get("/api/pair")).raise_for_status().json()
            (await client.post("/api/votes", json={
                "impression_id": pair["impression_id"], "token": pair["token"],
                "choice": "right", "duration_ms": 3000})).raise_for_status()
            times.append(time.perf_counter() - start)


def throughput(url: str, voters: int, seconds: float) -> tuple[float, float, float, float]:
    times: list[float] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_voter(url, until, times) for _ in range(voters)))

    asyncio.run(run())
    q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0]] * 99
    return len(times) / seconds, q[49], q[94], q[98]


def start_arena(workdir: Path, database_url: str) -> LiveServer:
    env = {**app_env(workdir, database_url), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "ARENA_MIN_LOOK_MS": "0", "ARENA_RATE_PER_ADDRESS": "100000",
           "ARENA_IDENTITIES_PER_ADDRESS": "100000"}   # every voter comes from 127.0.0.1 here
    done = run_cli(["demo", "--per-task", "3"], env)
    if done.returncode:
        raise SystemExit(f"arena demo failed: {done.stderr}")
    return LiveServer(workdir, env)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=os.environ.get("ARENA_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bare = Bare(work)
        try:
            bare_cpu = cpu_per_cycle(bare.url, bare.proc.pid, args.cycles)
            bare_tp = {n: throughput(bare.url, n, args.seconds) for n in args.concurrency}
        finally:
            bare.stop()
        print(f"peer (bare FastAPI + one SQLite insert): {1000 * bare_cpu:.2f} ms of server CPU per cycle")
        for n, (rate, p50, p95, p99) in bare_tp.items():
            print(f"  {n:4d} voters: {rate:6.0f} cycles/s, p50 {1000 * p50:.0f} ms, p95 "
                  f"{1000 * p95:.0f} ms, p99 {1000 * p99:.0f} ms")
        for backend in args.only:
            url = f"sqlite:///{work / backend / 'arena.db'}" if backend == "sqlite" else args.postgres
            (work / backend).mkdir()
            if backend == "postgres":
                url = fresh_postgres(args.postgres, 'arena_bench_serve')
            server = start_arena(work / backend, url)
            try:
                ours = cpu_per_cycle(server.url, server.proc.pid, args.cycles)
                print(f"{backend}: {1000 * ours:.2f} ms of server CPU per pair+vote cycle "
                      f"({ours / bare_cpu:.1f}x the peer)")
                for n in args.concurrency:
                    rate, p50, p95, p99 = throughput(server.url, n, args.seconds)
                    print(f"  {n:4d} voters: {rate:6.0f} cycles/s ({rate / bare_tp[n][0]:.2f}x the "
                          f"peer), p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms, p99 {1000 * p99:.0f} ms")
            finally:
                server.stop()
                if backend == "postgres":
                    drop_postgres(args.postgres, url)


if __name__ == "__main__":
    main()
