"""Benchmark: every leaderboard straight from the database, on SQLite and on PostgreSQL.

    python benchmarks/bench_rank_db.py [--votes 1000000] [--models 100] [--tasks 10]
                                       [--voters 20000] [--workdir /tmp/arena_bench_db]
                                       [--postgres URL] [--only sqlite postgres] [--repeat 3]
                                       [--group-by] [--drop]

Builds once, and keeps, a database of each kind with the arena's real schema
(:func:`arena.store.db.make_engine`): tasks, models, items, every item's output from every model,
one impression per vote and the votes themselves, cast by a simulated crowd
(:func:`scoring.simulate.simulate_crowd`: skewed votes per voter, honest and bad voters, a
left/right advantage, ties and "both bad"). Voter ids are random 22-character tokens, as the
vote page makes them; about 1 vote in 15 is a planted check (repeat or gold), as the pair
sampler plants them. SQLite is written with ``executemany``, PostgreSQL with ``COPY``; the
SQLite file lives in ``--workdir``, the PostgreSQL database (named after the sizes) on the
server of ``--postgres`` (``--drop`` removes it and the folder afterwards).

Then times the whole path the CLI, the API and the Leaderboard tab take,
``db_cubes(engine) -> leaderboards(cubes)``: every task and overall, Bradley-Terry with
position bias and voter-clustered sandwich intervals. Shown separately: the SQL aggregation
(``db_cubes``: the query, the transfer and the count cubes) and the fitting
(``leaderboards``). Best of ``--repeat`` runs in one process, BLAS pinned to one thread;
prints the ratio to the goal (whole path under 1 s). ``--group-by`` also times, once, the
``GROUP BY`` path that databases other than SQLite and PostgreSQL take, and checks that it gives
the same cubes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_S = 1.0
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TASK_NAMES = ("object_removal", "background_change", "text_edit", "recolor", "style",
              "relight", "add_object", "replace_object", "outpaint", "portrait_retouch")
ITEMS_PER_TASK = 40
CHECK_SHARE = 1 / 15          # planted checks, as arena.collect.checks plants them
URLSAFE = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                        dtype="S1")


def task_names(n: int) -> list[str]:
    return [TASK_NAMES[k] if k < len(TASK_NAMES) else f"task_{k:02d}" for k in range(n)]


# -- the data -----------------------------------------------------------------------------------
def make_data(votes: int, models: int, tasks: int, voters: int, seed: int = 0) -> dict:
    """Every table's rows as numpy columns (ids start at 1, in insertion order)."""
    from scoring.simulate import simulate_crowd

    crowd = simulate_crowd(voters=voters, votes=votes, models=models,
                           tasks=tuple(task_names(tasks)), seed=seed)
    rng = np.random.default_rng(seed + 1)
    n = len(crowd)
    voter_ids = rng.choice(URLSAFE, (voters, 22)).view("S22").ravel().astype(str).astype(object)
    model_names = [f"editor-{k:03d}" for k in range(models)]
    # items: ITEMS_PER_TASK per task; outputs: every item x every model
    item_task = np.repeat(np.arange(tasks), ITEMS_PER_TASK)
    item = crowd.task * ITEMS_PER_TASK + rng.integers(ITEMS_PER_TASK, size=n)      # 0-based
    output_id = lambda it, mod: it * models + mod + 1                              # noqa: E731
    # planted checks: a repeat re-asks an earlier pair of the same voter with sides swapped,
    # a gold pair has a known answer
    kind = np.zeros(n, np.int8)                                    # 0 none, 1 repeat, 2 gold
    planted = rng.random(n) < CHECK_SHARE
    kind[planted] = np.where(rng.random(int(planted.sum())) < 0.5, 1, 2)
    order = np.argsort(crowd.voter, kind="stable")                 # each voter's votes in order
    prev = np.full(n, -1)
    same = crowd.voter[order][1:] == crowd.voter[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    kind[(kind == 1) & (prev < 0)] = 0                             # a first vote cannot repeat
    repeat_of = np.where(kind == 1, prev, -1)
    left, right, choice = crowd.left.copy(), crowd.right.copy(), crowd.choice.copy()
    rep = kind == 1
    left[rep], right[rep] = right[prev[rep]], left[prev[rep]]
    task = crowd.task.copy()
    task[rep], item[rep] = task[prev[rep]], item[prev[rep]]
    flip = np.array([1, 0, 2, 3])
    choice[rep] = np.where(rng.random(int(rep.sum())) < 0.85, flip[choice[prev[rep]]], choice[rep])
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    seconds = np.sort(rng.random(n)) * 180 * 86400
    return {"tasks": task_names(tasks), "models": model_names, "voters": voter_ids,
            "item_task": item_task, "task": task, "voter": crowd.voter, "left": left,
            "right": right, "choice": choice, "kind": kind, "repeat_of": repeat_of,
            "item": item, "left_output": output_id(item, left), "right_output": output_id(item, right),
            "duration_ms": crowd.duration_ms, "start": start, "seconds": seconds,
            "nonce": rng.choice(URLSAFE, (n, 16)).view("S16").ravel().astype(str)}


def _when(data: dict) -> list[datetime]:
    start = data["start"]
    return [start + timedelta(seconds=s) for s in data["seconds"].tolist()]


def table_rows(data: dict):
    """Rows of each table in column order (plain Python values), for executemany and COPY."""
    from arena.collect.checks import BASELINE_KIND

    created = data["start"]
    tasks, models = data["tasks"], data["models"]
    kinds = np.array(["none", "repeat", "gold"], dtype=object)
    choices = np.array(["left", "right", "tie", "both_bad"], dtype=object)
    n, m = len(data["task"]), len(models)
    when = _when(data)
    yield "task", ("name", "description"), [(t, "") for t in tasks]
    yield "model", ("id", "name", "version", "provider", "kind", "settings", "hardware",
                    "price_per_image", "created_at"), \
        [(k + 1, name, "1", "bench", "imported" if k else BASELINE_KIND, "{}", "", 0.001 * (k + 1),
          created) for k, name in enumerate(models)]
    yield "item", ("id", "key", "task", "instruction", "source_path", "params", "created_at"), \
        [(k + 1, f"{tasks[t]}-{k:05d}", tasks[t], f"Edit number {k}", f"{k:032x}.png", "{}",
          created) for k, t in enumerate(data["item_task"].tolist())]
    n_items = len(data["item_task"])
    yield "output", ("id", "item_id", "model_id", "image_path", "settings", "latency_s", "device",
                     "cost_usd", "content_hash", "metrics", "created_at"), \
        [(it * m + k + 1, it + 1, k + 1, f"{it * m + k:032x}.png", "{}", 1.0 + k / m, "cuda:0",
          0.001 * (k + 1), f"{it * m + k:064x}", "{}", created)
         for it in range(n_items) for k in range(m)]
    voter_ids = data["voters"]
    yield "voter", ("id", "kind", "created_at"), [(v, "public", created) for v in voter_ids.tolist()]
    task_col = np.array(tasks, dtype=object)[data["task"]].tolist()
    voter_col = voter_ids[data["voter"]].tolist()
    kind_col = kinds[data["kind"]].tolist()
    left = (data["left"] + 1).tolist()
    right = (data["right"] + 1).tolist()
    item = (data["item"] + 1).tolist()
    repeat_of = [None if r < 0 else r + 1 for r in data["repeat_of"].tolist()]
    yield "impression", ("id", "nonce", "task", "item_id", "left_output_id", "right_output_id",
                         "left_model_id", "right_model_id", "voter_id", "sampler", "propensity",
                         "check_kind", "repeat_of", "issued_at"), \
        zip(range(1, n + 1), data["nonce"].tolist(), task_col, item,
            data["left_output"].tolist(), data["right_output"].tolist(), left, right, voter_col,
            ["uniform"] * n, [1.0 / (m * (m - 1))] * n, kind_col, repeat_of, when)
    yield "vote", ("id", "impression_id", "voter_id", "task", "left_model_id", "right_model_id",
                   "item_id", "choice", "check_kind", "duration_ms", "created_at"), \
        zip(range(1, n + 1), range(1, n + 1), voter_col, task_col, left, right, item,
            choices[data["choice"]].tolist(), kind_col, data["duration_ms"].tolist(), when)


def load_sqlite(path: Path, data: dict) -> None:
    """Create the schema through the arena, then bulk-insert with ``executemany``."""
    import sqlite3

    from arena.store.db import make_engine

    make_engine(f"sqlite:///{path}").dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        for table, cols, rows in table_rows(data):
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", rows)
    con.close()


def load_postgres(url: str, data: dict) -> None:
    """Create the schema through the arena, then ``COPY`` each table (foreign-key triggers off
    for the load: the rows are consistent by construction); ``VACUUM ANALYZE``."""
    from arena.store.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            for table, cols, rows in table_rows(data):
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in ("model", "item", "output", "impression", "vote"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
            cur.execute("SET session_replication_role = DEFAULT")
        raw.commit()
        raw.autocommit = True
        raw.execute("VACUUM ANALYZE")
    engine.dispose()


def _stamp(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def _stored_stamp(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT value FROM setting WHERE key = 'bench_rank_db'")).scalar()
    except Exception:  # noqa: BLE001  (no database or no table yet)
        return None
    finally:
        engine.dispose()


def _write_stamp(url: str, stamp: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('bench_rank_db', :v)"), {"v": stamp})
    engine.dispose()


def postgres_names(admin_url: str, config: dict) -> tuple[str, str]:
    name = f"arena_bench_{config['votes']}_{config['models']}_{config['tasks']}_{config['voters']}"
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def prepare(kind: str, args, config: dict, data_cache: dict) -> str:
    """The database URL of ``kind``, built first unless a matching one is kept."""
    from sqlalchemy import create_engine, text

    stamp = _stamp(config)
    if kind == "sqlite":
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        name = f"arena_{config['votes']}_{config['models']}_{config['tasks']}_{config['voters']}.db"
        path = workdir / name
        url = f"sqlite:///{path}"
        if path.exists() and _stored_stamp(url) == stamp:
            return url
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        load = lambda: load_sqlite(path, data_cache.setdefault("data", make_data(**config)))  # noqa: E731
    else:
        name, url = postgres_names(args.postgres, config)
        if _stored_stamp(url) == stamp:
            return url
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        load = lambda: load_postgres(url, data_cache.setdefault("data", make_data(**config)))  # noqa: E731
    t = time.perf_counter()
    load()
    _write_stamp(url, stamp)
    print(f"built the {kind} database ({config['votes']:,} votes, {config['models']} models, "
          f"{config['tasks']} tasks, {config['voters']:,} voters) in {time.perf_counter() - t:.1f} s",
          flush=True)
    return url


def drop(args, config: dict) -> None:
    import shutil

    from sqlalchemy import create_engine, text

    name, _ = postgres_names(args.postgres, config)
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    shutil.rmtree(args.workdir, ignore_errors=True)
    print(f"dropped the PostgreSQL database {name} and removed {args.workdir}")


# -- the timing ---------------------------------------------------------------------------------
def time_path(url: str, repeat: int) -> tuple[list[tuple[float, float]], dict]:
    """(aggregation s, fitting s) per run, and the last result."""
    from threadpoolctl import threadpool_limits

    from arena.store.db import make_engine
    from arena.views.cubes import db_cubes
    from arena.views.leaderboard import leaderboards

    engine = make_engine(url)
    runs, result = [], None
    try:
        with threadpool_limits(1):
            for _ in range(repeat):
                t0 = time.perf_counter()
                cubes = db_cubes(engine)
                t1 = time.perf_counter()
                result = leaderboards(cubes)
                t2 = time.perf_counter()
                runs.append((t1 - t0, t2 - t1))
    finally:
        engine.dispose()
    return runs, result


def time_group_by(url: str) -> tuple[float, bool]:
    """Seconds of ``db_cubes`` through the ``GROUP BY`` path (the one other databases take),
    and whether its cubes equal the fast path's."""
    from arena.store.db import make_engine
    from arena.views import cubes as aggregate
    from arena.views import reading as vote_reading

    engine = make_engine(url)
    fast = vote_reading._fast_rows
    try:
        want = {t: c.digest() for t, c in aggregate.db_cubes(engine).items()}
        vote_reading._fast_rows = lambda *args: None
        t = time.perf_counter()
        got = aggregate.db_cubes(engine)
        seconds = time.perf_counter() - t
    finally:
        vote_reading._fast_rows = fast
        engine.dispose()
    return seconds, {t: c.digest() for t, c in got.items()} == want


def summary(result: dict) -> str:
    boards = result["leaderboards"]
    rows = sum(len(b["rows"]) for b in boards)
    overall = boards[0]
    return (f"{len(boards)} boards ({', '.join(b['task'] for b in boards[:2])}, ...), "
            f"{rows} rows, {overall['votes']:,} votes overall")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--votes", type=int, default=1_000_000)
    p.add_argument("--models", type=int, default=100)
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--voters", type=int, default=20_000)
    p.add_argument("--workdir", default="/tmp/arena_bench_db", help="folder of the SQLite database")
    p.add_argument("--postgres", default=os.environ.get("ARENA_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                   help="URL of an existing PostgreSQL database; the benchmark database is "
                        "created beside it")
    p.add_argument("--only", nargs="*", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    p.add_argument("--repeat", type=int, default=3, help="timed runs per database, best kept")
    p.add_argument("--group-by", action="store_true",
                   help="also time the GROUP BY path once (the one other databases take)")
    p.add_argument("--drop", action="store_true", help="remove the kept databases and exit")
    args = p.parse_args()
    config = {"votes": args.votes, "models": args.models, "tasks": args.tasks,
              "voters": args.voters, "seed": 0}
    if args.drop:
        drop(args, config)
        return
    data_cache: dict = {}
    best = {}
    boards = {}
    for kind in args.only:
        url = prepare(kind, args, config, data_cache)
        runs, result = time_path(url, args.repeat)
        total = [a + f for a, f in runs]
        k = int(np.argmin(total))
        best[kind] = (total[k], runs[k][0], runs[k][1])
        boards[kind] = result
        print(f"{kind:9s} {total[k]:6.3f} s  = SQL aggregation {runs[k][0]:6.3f} s + fitting "
              f"{runs[k][1]:6.3f} s   (best of {len(runs)}: "
              + ", ".join(f"{t:.3f}" for t in total) + " s)", flush=True)
        print(f"          {summary(result)}")
        if args.group_by:
            seconds, same = time_group_by(url)
            print(f"          GROUP BY path: aggregation {seconds:.3f} s "
                  f"({seconds / runs[k][0]:.1f}x this path's), same cubes: {'yes' if same else 'NO'}")
    print(f"\nratio to the goal (whole path / {GOAL_S:g} s; under 1 meets it):")
    for kind, (total, agg, fit) in best.items():
        print(f"  {kind:9s} {total / GOAL_S:5.2f}x  ({'met' if total < GOAL_S else 'NOT met'}; "
              f"aggregation {agg / total:.0%} of it)")
    if len(boards) == 2:
        a, b = (boards[k]["leaderboards"] for k in args.only)
        same = all(x["task"] == y["task"] and x["snapshot"]["cube_sha256"] == y["snapshot"]["cube_sha256"]
                   for x, y in zip(a, b)) and len(a) == len(b)
        print(f"\nsame count cubes (snapshot hashes) from both databases: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
