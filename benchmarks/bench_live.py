"""Benchmark: a hall of phones in a live room, on SQLite and on PostgreSQL.

    python benchmarks/bench_live.py [--phones 1000] [--rounds 5] [--burst] [--watch events|wait]
                                    [--idle 30] [--no-images] [--gradio-votes 100]
                                    [--only sqlite postgres] [--postgres URL] [--seed 7]

Starts the real server (``app.py``, one process) on a small demo set and runs, in this one
process on the same cores, a presenter and ``--phones`` phones as asyncio tasks doing what
``live_audience.js`` and ``live_present.js`` do. Each phone loads the page (HTML, CSS, script),
opens the room (``GET /api/live/CODE``: its seat cookie), then watches the room's version on
one server-sent event stream (``/events``; ``--watch wait`` uses the long poll instead, the
page's fallback). When the presenter starts a round the phone wakes, waits a random moment
within 1.5 s (as the page does, to spread the hall's requests), opens the round (its own
impression), loads the three images and votes after a human delay: lognormal, median 4 s,
sigma 0.6 (p95 about 11 s), between 0.5 and 15 s (``--burst``: every phone votes at the same
moment, once all have opened). Once every vote is in the presenter reveals (the phones wake
again and reload the state, as the page does) and starts the next round; it polls the tally
every 1.5 s meanwhile, like its page. The room is first left ``--idle`` seconds with every
phone watching and no round change.

Reported per round: the wake-up fan-out (presenter's ``next`` sent to the last phone woken),
open latency p50/p95, vote latency p50/p95/p99 (the ``POST`` alone), server CPU per phone;
for the idle room, requests per second and server CPU (read from the server's /proc entry).
Every acknowledged vote is then looked up in the database: one vote per phone per round,
each with the choice and id its phone was told. Any 5xx fails the run. The named peer, on the
same server: votes through the Vote tab's Gradio event (``gradio_client``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from live_server import LiveServer, app_env, drop_postgres, fresh_postgres, run_cli  # noqa: E402  (the tests' server runner)
sys.path.insert(0, str(ROOT / "benchmarks"))
from hall_client import Answer, Connection  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHOICES = ("left", "right", "tie", "both_bad")
MEDIAN_S, SIGMA, LOW_S, CAP_S = 4.0, 0.6, 0.5, 15.0
SPREAD_S = 1.5      # live_audience.js: SPREAD_MS, a random wait before asking for the new state


def start_server(workdir: Path, database_url: str, phones: int) -> tuple[LiveServer, str]:
    """``app.py`` on a demo set of 3 items per task, and its organiser key."""
    env = {**app_env(workdir, database_url), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "ARENA_SEATS_PER_ADDRESS": str(phones + 10)}     # the whole hall is on 127.0.0.1
    env.pop("ARENA_MIN_LOOK_MS", None)                      # the real look-time rule
    for args in (["demo", "--per-task", "3"], ["organiser"]):
        done = run_cli(args, env)
        if done.returncode:
            raise SystemExit(f"arena {args[0]} failed: {done.stderr}")
    return LiveServer(workdir, env), done.stdout.strip()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def human_delay(rng: random.Random) -> float:
    return min(CAP_S, max(LOW_S, rng.lognormvariate(math.log(MEDIAN_S), SIGMA)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Hall:
    """The phones and the presenter of one room, with what they measured."""

    def __init__(self, address: tuple[str, int], code: str, presenter: dict, args, rng):
        self.address, self.code, self.presenter, self.args, self.rng = address, code, presenter, args, rng
        self.desk = Connection(*address)            # the presenter's
        self.base = f"/api/live/{code}"
        self.requests = self.joined = 0
        self.statuses: Counter = Counter()
        self.round_started: dict[int, float] = {}
        self.woke: dict[int, list[float]] = {}
        self.opens: dict[int, list[float]] = {}
        self.votes: dict[int, list[float]] = {}
        self.acks: dict[int, dict[int, tuple[int, str]]] = {}   # round -> phone -> (vote id, choice)
        self.opened: dict[int, int] = {}
        self.all_opened: dict[int, asyncio.Event] = {}
        self.voted = asyncio.Event()
        self.seen_reveal = Counter()
        self.stop = asyncio.Event()
        self.watcher = Connection(*address)         # the presenter page's tally poll
        self.tasks: list[asyncio.Task] = []

    async def call(self, conn: Connection, method: str, url: str, **kw) -> Answer:
        self.requests += 1
        answer = await conn.request(method, url, **kw)
        self.statuses[answer.status_code // 100] += 1
        if answer.status_code >= 500:
            raise SystemExit(f"{method} {url}: {answer.status_code} {answer.text[:300]}")
        return answer

    async def phone(self, k: int) -> None:
        """One phone: the page, its seat, then watching and voting until the room closes."""
        page, ballot = Connection(*self.address), Connection(*self.address)
        await self.call(page, "GET", f"/live/{self.code}")
        for asset in ("live.css", "live_audience.js"):
            await self.call(page, "GET", f"/live-assets/{asset}")
        first = await self.call(page, "GET", self.base)
        cookie = {"cookie": first.headers["set-cookie"].split(";", 1)[0]}
        view = first.json()
        self.joined += 1
        watch = self.events if self.args.watch == "events" else self.long_polls
        async for now in watch(view):
            if self.stop.is_set() or now["state"] == "closed":
                return
            if (now["round"], now["state"]) == (view["round"], view["state"]):
                continue
            if now["round"] != view["round"]:
                self.woke.setdefault(now["round"], []).append(time.perf_counter())
            await asyncio.sleep(self.rng.random() * SPREAD_S)     # as the page spreads its ask
            view = await self.open(k, page, ballot, cookie)

    async def open(self, k: int, page: Connection, ballot: Connection, cookie: dict) -> dict:
        start = time.perf_counter()
        view = (await self.call(page, "GET", self.base, headers=cookie)).json()
        number = view["round"]
        if view["state"] == "revealed":
            self.seen_reveal[number] += 1
            return view
        self.opens.setdefault(number, []).append(time.perf_counter() - start)
        pair = view["pair"]
        if not self.args.no_images:
            for slot in ("source_url", "left_url", "right_url"):
                await self.call(page, "GET", pair[slot])
        self.opened[number] = self.opened.get(number, 0) + 1
        if self.opened[number] == self.args.phones:
            self.all_opened.setdefault(number, asyncio.Event()).set()
        self.tasks.append(asyncio.get_running_loop().create_task(self.vote(k, ballot, number, pair)))
        return view

    async def vote(self, k: int, ballot: Connection, number: int, pair: dict) -> None:
        shown = time.perf_counter()
        if self.args.burst:
            await self.all_opened.setdefault(number, asyncio.Event()).wait()
            await asyncio.sleep(0.5)             # the look-time rule: 400 ms after the last open
        else:
            await asyncio.sleep(human_delay(self.rng))
        choice = CHOICES[(k + number) % 4]
        start = time.perf_counter()
        done = await self.call(ballot, "POST", self.base + "/votes", json_body={
            "impression_id": pair["impression_id"], "token": pair["token"], "choice": choice,
            "duration_ms": int((start - shown) * 1000)})
        self.votes.setdefault(number, []).append(time.perf_counter() - start)
        if done.status_code != 201:
            raise SystemExit(f"phone {k}, round {number}: vote refused {done.status_code} {done.text}")
        self.acks.setdefault(number, {})[k] = (done.json()["vote_id"], choice)
        if len(self.acks[number]) == self.args.phones:
            self.voted.set()

    async def events(self, view: dict):
        """The room's version as the page's EventSource gets it (reconnecting if cut)."""
        stream = Connection(*self.address)
        while not self.stop.is_set():
            self.requests += 1
            first = True
            async for status, line in stream.stream_lines(self.base + "/events"):
                if first:
                    self.statuses[status // 100] += 1
                    if status >= 500:
                        raise SystemExit(f"events: {status}")
                    first = False
                if line.startswith("data:"):
                    yield json.loads(line[5:])

    async def long_polls(self, view: dict):
        now, conn = view, Connection(*self.address)
        while not self.stop.is_set():
            now = (await self.call(conn, "GET", f"{self.base}/wait?round={now['round']}"
                                   f"&state={now['state']}")).json()
            yield now

    async def presenter_page(self) -> None:
        """The presenter page's poll of the tally every 1.5 s."""
        while not self.stop.is_set():
            await self.call(self.watcher, "GET", self.base + "/tally", headers=self.presenter)
            await asyncio.sleep(1.5)

    async def act(self, action: str) -> dict:
        answer = await self.call(self.desk, "POST", f"{self.base}/{action}", headers=self.presenter)
        if answer.status_code != 200:
            raise SystemExit(f"{action}: {answer.status_code} {answer.text}")
        return answer.json()


async def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run_hall(url: str, key: str, pid: int, args) -> tuple[Hall, dict]:
    made = httpx.post(url + "/api/live", json={"task": "any"}, headers={"X-Organiser-Key": key},
                      timeout=30).raise_for_status().json()
    host, port = url.split("//", 1)[1].split(":")
    hall = Hall((host, int(port)), made["code"], {"X-Presenter-Token": made["presenter_token"]},
                args, random.Random(args.seed))
    began = time.perf_counter()
    phones = [asyncio.create_task(hall.phone(k)) for k in range(args.phones)]
    presenter = asyncio.create_task(hall.presenter_page())

    def check() -> None:
        for task in phones + hall.tasks + [presenter]:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()

    await wait_until(lambda: check() or hall.joined == args.phones, 300, "the phones to join")
    await asyncio.sleep(2.0)                 # every phone holds its watch
    figures = {"join_s": time.perf_counter() - began}
    idle_req, idle_cpu, idle_t = hall.requests, cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(args.idle)
    span = time.perf_counter() - idle_t
    figures["idle_rps"] = (hall.requests - idle_req) / span
    figures["idle_cpu"] = (cpu_seconds(pid) - idle_cpu) / span
    figures["rounds"] = []
    for number in range(1, args.rounds + 1):
        hall.voted.clear()
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        hall.round_started[number] = t0
        await hall.act("next")
        await wait_until(lambda: check() or hall.voted.is_set(), 120, f"the votes of round {number}")
        voting_s = time.perf_counter() - t0
        await hall.act("reveal")
        await wait_until(lambda: check() or hall.seen_reveal[number] >= args.phones, 60, "the reveal")
        figures["rounds"].append({"cpu": cpu_seconds(pid) - cpu0, "voting_s": voting_s,
                                  "round_s": time.perf_counter() - t0})
    hall.stop.set()
    await hall.act("close")
    await asyncio.wait(phones, timeout=30)
    check()
    for task in phones + [presenter]:
        task.cancel()
    return hall, figures


def stored_once(database_url: str, hall: Hall) -> int:
    """Check in the database that each phone's vote of each round is stored once, as told."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    query = text("""SELECT r.number, v.id, v.choice, v.voter_id FROM livesession s
        JOIN liveround r ON r.session_id = s.id JOIN liveseat t ON t.round_id = r.id
        JOIN vote v ON v.impression_id = t.impression_id WHERE s.code = :code""")
    with engine.connect() as conn:
        rows = conn.execute(query, {"code": hall.code}).all()
    engine.dispose()
    per_round = Counter(r[0] for r in rows)
    stored = {(r[0], r[1]): r[2] for r in rows}
    for number, acks in hall.acks.items():
        if per_round[number] != len(acks) or len({r[3] for r in rows if r[0] == number}) != len(acks):
            raise SystemExit(f"round {number}: {per_round[number]} votes stored, {len(acks)} acknowledged")
        for vote_id, choice in acks.values():
            if stored.get((number, vote_id)) != choice:
                raise SystemExit(f"round {number}: vote {vote_id} not stored as acknowledged")
    return len(rows)


def gradio_votes(url: str, votes: int) -> float:
    """Median seconds of a vote through the Vote tab's Gradio event, 8 voters at once (the peer)."""
    from gradio_client import Client

    workers, per = 8, max(votes // 8, 1)
    times: list[float] = []

    def voter(k: int) -> None:
        cookie = httpx.get(url + "/").cookies["pa_voter"]    # the page load issues the identity
        client = Client(url + "/", verbose=False, headers={"Cookie": f"pa_voter={cookie}"})
        client.predict(task_name="any", api_name="/start")
        for _ in range(per):
            time.sleep(0.45)                                  # the look-time rule
            start = time.perf_counter()
            client.predict(task_name="any", api_name="/vote_left")
            times.append(time.perf_counter() - start)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(voter, range(workers)))
    return pct(times, 0.5), pct(times, 0.95)


def report(kind: str, hall: Hall, figures: dict, stored: int, args) -> None:
    ms = lambda v: f"{v * 1000:.0f}"  # noqa: E731
    mode = "burst" if args.burst else "human delay"
    print(f"{kind}: {args.phones} phones joined in {figures['join_s']:.1f} s; idle room "
          f"({args.watch}): {figures['idle_rps']:.1f} requests/s, server CPU "
          f"{figures['idle_cpu'] * 100:.1f}% of a core (polling every 1.5 s: "
          f"{args.phones / 1.5:.0f} requests/s)")
    for number, r in enumerate(figures["rounds"], 1):
        start = hall.round_started[number]
        wake = [t - start for t in hall.woke.get(number, [])]
        print(f"  round {number} ({mode}): fan-out p50 {ms(pct(wake, .5))} / last {ms(max(wake))} ms; "
              f"open p50 {ms(pct(hall.opens[number], .5))} p95 {ms(pct(hall.opens[number], .95))} ms; "
              f"vote p50 {ms(pct(hall.votes[number], .5))} p95 {ms(pct(hall.votes[number], .95))} "
              f"p99 {ms(pct(hall.votes[number], .99))} ms; all votes in {r['voting_s']:.1f} s; "
              f"server CPU {r['cpu'] / args.phones * 1000:.2f} ms per phone")
    votes = [v for n in hall.votes for v in hall.votes[n]]
    opens = [v for n in hall.opens for v in hall.opens[n]]
    print(f"  all rounds: vote p50 {ms(pct(votes, .5))} p95 {ms(pct(votes, .95))} "
          f"p99 {ms(pct(votes, .99))} ms, open p95 {ms(pct(opens, .95))} ms; {stored} votes "
          f"stored once each ({args.rounds} x {args.phones}); statuses {dict(hall.statuses)}",
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--phones", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--burst", action="store_true", help="every phone votes at the same moment")
    p.add_argument("--watch", choices=["events", "wait"], default="events",
                   help="server-sent events (the page) or the long poll (its fallback)")
    p.add_argument("--idle", type=float, default=30.0, help="seconds of watching before round 1")
    p.add_argument("--no-images", action="store_true", help="phones skip the three images")
    p.add_argument("--gradio-votes", type=int, default=100, help="votes through Gradio events (peer)")
    p.add_argument("--only", nargs="*", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    p.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL (a database is made there)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default=None)
    args = p.parse_args()

    base = Path(args.workdir or tempfile.mkdtemp(prefix="arena_bench_live_"))
    print(f"the hall: {args.phones} phones x {args.rounds} rounds; server one process, load "
          f"generator one process, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for kind in args.only:
        workdir = base / kind
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{workdir / 'arena.db'}"
        if kind == "postgres":
            url = fresh_postgres(args.postgres, "arena_bench_live")
        server, key = start_server(workdir, url, args.phones)
        try:
            hall, figures = asyncio.run(run_hall(server.url, key, server.proc.pid, args))
            report(kind, hall, figures, stored_once(url, hall), args)
            if args.gradio_votes:
                g50, g95 = gradio_votes(server.url, args.gradio_votes)
                print(f"  peer: a vote through the Gradio event path, 8 voters at once: "
                      f"p50 {g50 * 1000:.0f} ms, p95 {g95 * 1000:.0f} ms", flush=True)
        finally:
            server.stop()
            if kind == "postgres":
                drop_postgres(args.postgres, url)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not args.workdir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
