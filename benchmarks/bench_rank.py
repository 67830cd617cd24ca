"""Benchmark: from a Parquet vote file to a leaderboard, ours against evalica, choix, FastChat.

    python benchmarks/bench_rank.py [--votes 1700000] [--models 130] [--tasks 5] [--voters 57000]
                                    [--file PATH] [--repeat 3] [--only NAME ...]

Writes (once) a synthetic vote file in the arena battle format (``model_a``, ``model_b``,
``winner``, ``judge``, ``task``, ``tstamp``): by default 1.7M votes over 130 models in 5 tasks
from about 49,000 distinct voters with heavy-tailed activity (``--tasks 1``: every vote in one
task). Then it times each contender as a separate process, from interpreter start to scores on
stdout-file, and reads its peak resident memory from ``os.wait4``; rounds are interleaved
(each round runs every contender once), every process with ``OMP_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` at 1, so a busy machine slows all alike. Contenders:

* ``arena``: ``python -m arena rank --votes FILE`` (Bradley-Terry with position bias and
  voter-clustered CR3 sandwich intervals for every task and overall, every model's counts, the
  whole JSON);
* ``scoring``: the bare library path (pyarrow columns -> ``Comparisons.from_battles`` ->
  ``rank``), overall only, no CLI;
* ``evalica``: ``evalica.bradley_terry`` on the raw columns (its Rust solver), point scores,
  overall only;
* ``choix``: ``choix.ilsr_pairwise`` on (winner, loser) tuples, each decisive vote twice and
  each tie once each way (wins plus half ties, as FastChat's tables do);
* ``fastchat``: FastChat's ``compute_mle_elo`` recipe without scikit-learn: pandas pivot tables
  of unique pairs (wins doubled, ties both ways), then the weighted logistic likelihood
  minimised by scipy's L-BFGS-B (FastChat uses sklearn's ``LogisticRegression``, lbfgs).

Prints each wall time and peak RSS (best of ``--repeat`` rounds), the ratios to ours, the
arena/evalica ratio of every round, whether the goal (at most a quarter of evalica's time, less
peak memory) is met, and each contender's largest score difference from our fit without
position bias (the model the others fit).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SCALE = 400 / 2.302585092994046


TASKS = ("object_removal", "background_change", "text_edit", "recolor", "style")


def make_votes(path: Path, n: int, m: int, seed: int = 0, *, tasks: int = len(TASKS),
               voters: int = 57_000) -> None:
    """Synthetic battles: skewed model popularity, position bias, ties, tasks, a crowd of voters.

    Each vote has a ``task`` (``tasks`` of them, unequally popular; one task when ``tasks`` is
    1) and a ``judge`` drawn from ``voters`` identities with log-normal activity (sigma 1.8):
    about 50,000 distinct voters in 1.7M votes, the busiest casting ~1%, a tenth with one or two
    votes, as in public arena logs where a few heavy users sit on a long tail.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.6, m)
    pop = rng.dirichlet(np.full(m, 0.7))
    a = rng.choice(m, n, p=pop)
    b = rng.choice(m - 1, n, p=np.ones(m - 1) / (m - 1))
    b = b + (b >= a)
    task_p = rng.dirichlet(np.full(tasks, 4.0))
    task = rng.choice(tasks, n, p=task_p)
    shift = rng.normal(0, 0.3, (tasks, m))              # each task ranks the models a bit apart
    d = theta[a] - theta[b] + shift[task, a] - shift[task, b] + 0.05
    u = rng.random(n)
    code = np.where(u < 0.15, 2, np.where(u < 0.2, 3,
                    np.where(rng.random(n) < 1 / (1 + np.exp(-d)), 0, 1)))
    activity = rng.lognormal(0, 1.8, voters)
    judge = rng.choice(voters, n, p=activity / activity.sum())
    names = np.array([f"editor-{k:03d}-v{k % 3 + 1}" for k in range(m)], dtype=object)
    table = pa.table({
        "model_a": pa.array(names[a]), "model_b": pa.array(names[b]),
        "winner": pa.array(np.array(WINNERS, dtype=object)[code]),
        "judge": pa.array(np.char.add("arena_user_", judge.astype(str)).astype(object)),
        "task": pa.array(np.array(TASKS[:tasks] if tasks <= len(TASKS) else
                                  [f"task_{k}" for k in range(tasks)], dtype=object)[task]),
        "tstamp": pa.array(1.7e9 + np.sort(rng.random(n)) * 3e7)})
    pq.write_table(table, path)


# -- contenders: each runs in its own process and writes {model: score} to OUT ----------------
def _dictionary_columns(votes: str, cols: list[str]):
    """The columns as Arrow dictionary arrays, read batch by batch (no Python string per vote)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(votes, memory_map=True, read_dictionary=cols)
    return pa.Table.from_batches(list(reader.iter_batches(batch_size=1 << 18, columns=cols,
                                                          use_threads=False)))


def run_scoring(votes: str, out: str) -> None:
    from scoring import Comparisons, rank

    t = _dictionary_columns(votes, ["model_a", "model_b", "winner", "judge"])
    data = Comparisons.from_battles(t["model_a"], t["model_b"], t["winner"], voter=t["judge"])
    board = rank(data)
    Path(out).write_text(json.dumps(board.scores()))


def _columns(votes: str):
    import pyarrow.parquet as pq

    t = pq.read_table(votes, columns=["model_a", "model_b", "winner"])
    return [t[c].to_numpy(zero_copy_only=False) for c in ("model_a", "model_b", "winner")]


def run_evalica(votes: str, out: str) -> None:
    import evalica
    import numpy as np

    a, b, w = _columns(votes)
    code = np.select([w == "model_a", w == "model_b"], [1, 2], 0).astype(np.uint8)
    res = evalica.bradley_terry(a, b, code)
    logs = np.log(res.scores.to_numpy())
    Path(out).write_text(json.dumps(dict(zip(res.scores.index, (SCALE * (logs - logs.mean()) + 1000).tolist()))))


def run_choix(votes: str, out: str) -> None:
    import choix
    import numpy as np

    a, b, w = _columns(votes)
    names, idx = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = idx[:len(a)], idx[len(a):]
    left, right, tie = w == "model_a", w == "model_b", (w == "tie") | (w == "tie (bothbad)")
    pairs = np.concatenate([np.column_stack([ia[left], ib[left]])] * 2
                           + [np.column_stack([ib[right], ia[right]])] * 2
                           + [np.column_stack([ia[tie], ib[tie]]), np.column_stack([ib[tie], ia[tie]])])
    params = choix.ilsr_pairwise(len(names), pairs.tolist(), tol=1e-8)
    Path(out).write_text(json.dumps(dict(zip(names.tolist(), (SCALE * (params - params.mean()) + 1000).tolist()))))


def run_fastchat(votes: str, out: str) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from scipy.optimize import minimize
    from scipy.special import log_expit

    df = pq.read_table(votes, columns=["model_a", "model_b", "winner"]).to_pandas()
    # FastChat compute_mle_elo: pivot tables; a win counts twice, a tie once each way
    ptbl_a_win = pd.pivot_table(df[df["winner"] == "model_a"], index="model_a", columns="model_b",
                                aggfunc="size", fill_value=0)
    ties = df[df["winner"].isin(["tie", "tie (bothbad)"])]
    ptbl_tie = pd.pivot_table(ties, index="model_a", columns="model_b", aggfunc="size", fill_value=0)
    ptbl_tie = ptbl_tie + ptbl_tie.T
    ptbl_b_win = pd.pivot_table(df[df["winner"] == "model_b"], index="model_a", columns="model_b",
                                aggfunc="size", fill_value=0)
    ptbl_win = ptbl_a_win * 2 + ptbl_b_win.T * 2 + ptbl_tie
    ptbl_win = ptbl_win.fillna(0)
    models = pd.Series(np.arange(len(ptbl_win.index)), index=ptbl_win.index)
    rows, cols, ys, ws = [], [], [], []
    for m_a in ptbl_win.index:
        for m_b in ptbl_win.columns:
            if m_a == m_b:
                continue
            if m_a in ptbl_win.index and m_b in ptbl_win.columns and not np.isnan(ptbl_win.loc[m_a, m_b]) \
                    and not np.isnan(ptbl_win.loc[m_b, m_a]):
                for y, wgt in ((1.0, ptbl_win.loc[m_a, m_b]), (0.0, ptbl_win.loc[m_b, m_a])):
                    rows.append(models[m_a])
                    cols.append(models[m_b])
                    ys.append(y)
                    ws.append(wgt)
    i, j, y, w = map(np.asarray, (rows, cols, ys, ws))
    keep = w > 0
    i, j, y, w = i[keep], j[keep], y[keep], w[keep]
    k = len(models)

    def loss(beta):
        d = (beta[i] - beta[j]) * np.log(10)
        val = -(w * (y * log_expit(d) + (1 - y) * log_expit(-d))).sum()
        r = w * (y - 1 / (1 + np.exp(-d))) * np.log(10)
        grad = -(np.bincount(i, r, k) - np.bincount(j, r, k))
        return val, grad

    beta = minimize(loss, np.zeros(k), jac=True, method="L-BFGS-B", options={"gtol": 1e-6}).x
    elo = 400 * (beta - beta.mean()) + 1000
    Path(out).write_text(json.dumps(dict(zip(models.index.tolist(), elo.tolist()))))


CONTENDERS = {"arena": None, "scoring": run_scoring, "evalica": run_evalica,
              "choix": run_choix, "fastchat": run_fastchat}


def reference_scores(votes: str) -> dict[str, float]:
    """Our Bradley-Terry without the position bias (the model the others fit), for the check."""
    sys.path.insert(0, str(ROOT))
    from scoring import Comparisons, fit_bradley_terry

    t = _dictionary_columns(votes, ["model_a", "model_b", "winner"])
    fit = fit_bradley_terry(Comparisons.from_battles(t["model_a"], t["model_b"], t["winner"]),
                            position_bias=False)
    return fit.as_dict()


def bootstrap_timing(m: int = 100, n: int = 100_000, rounds: int = 1000) -> tuple[float, float]:
    """Wall and CPU seconds of ``rank(..., intervals="bootstrap")``: m models, all pairs."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from scoring import Comparisons, rank

    rng = np.random.default_rng(1)
    theta = rng.normal(0, 0.5, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    u = rng.random(n)
    code = np.where(u < 0.1, 2, np.where(u < 0.15, 3, np.where(
        rng.random(n) < 1 / (1 + np.exp(theta[b] - theta[a])), 0, 1)))
    data = Comparisons.from_battles(a.astype(str), b.astype(str), np.array(WINNERS)[code])
    wall, cpu = time.perf_counter(), time.process_time()
    rank(data, intervals="bootstrap", rounds=rounds)
    return time.perf_counter() - wall, time.process_time() - cpu


def describe(path: Path) -> str:
    """Votes, models, tasks and distinct voters of a vote file."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=[c for c in ("model_a", "task", "judge")
                                     if c in pq.read_schema(path).names])
    parts = [f"{path.name}: {t.num_rows:,} votes"]
    for col, what in (("model_a", "models"), ("task", "tasks"), ("judge", "distinct voters")):
        if col in t.column_names:
            parts.append(f"{len(t[col].unique()):,} {what}")
    return ", ".join(parts)


def measure(name: str, votes: str, out: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one contender in a fresh process."""
    if name == "arena":
        cmd = [sys.executable, "-m", "arena", "rank", "--votes", votes]
    else:
        cmd = [sys.executable, __file__, "--run", name, votes, out]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with open(out + ".stdout", "w") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{name} failed with status {status}")
    if name == "arena":
        board = json.loads(Path(out + ".stdout").read_text())["leaderboards"][0]
        Path(out).write_text(json.dumps({r["model"]: r["score"] for r in board["rows"]}))
    return wall, usage.ru_maxrss / 1024


def compile_project() -> None:
    """Write the project's bytecode caches, as running an installed program once does: the
    peers' packages were compiled when pip installed them, and a shell with
    ``PYTHONDONTWRITEBYTECODE`` set would otherwise have every ``arena`` run compile its
    modules from source (about 50 ms)."""
    import compileall

    for package in ("arena", "scoring", "models"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--votes", type=int, default=1_700_000)
    p.add_argument("--models", type=int, default=130)
    p.add_argument("--tasks", type=int, default=len(TASKS), help="tasks in the made file (1: one task)")
    p.add_argument("--voters", type=int, default=57_000,
                   help="identities the made file draws judges from (~86%% of them vote)")
    p.add_argument("--file", default=None, help="vote file (made if missing)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds, best kept (choix: 1)")
    p.add_argument("--only", nargs="*", default=list(CONTENDERS), choices=list(CONTENDERS))
    p.add_argument("--run", nargs=3, metavar=("NAME", "VOTES", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=5, metavar=("PATH", "VOTES", "MODELS", "TASKS", "VOTERS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make:
        make_votes(Path(args.make[0]), *map(int, args.make[1:3]), tasks=int(args.make[3]),
                   voters=int(args.make[4]))
        return
    if args.run:
        name, votes, out = args.run
        CONTENDERS[name](votes, out)
        return
    path = Path(args.file or Path(tempfile.gettempdir())
                / f"bench_votes_{args.votes}_{args.models}_{args.tasks}t_{args.voters}v.parquet")
    if not path.exists():
        # in a child process: pages this process touched would count in every contender's peak
        # RSS (a forked child shares them until it execs)
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--make", str(path), str(args.votes),
                        str(args.models), str(args.tasks), str(args.voters)], check=True)
        print(f"wrote {path} in {time.perf_counter() - t:.1f} s")
    print(describe(path))
    compile_project()
    runs: dict[str, list] = {name: [] for name in args.only}
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for name in args.only:
                if name == "choix" and r:
                    continue
                out = str(Path(tmp) / f"{name}.json")
                runs[name].append(measure(name, str(path), out))
                scores[name] = json.loads(Path(out).read_text())
    results = {}
    for name, got in runs.items():
        results[name] = (min(w for w, _ in got), min(m for _, m in got))
        print(f"{name:9s} {results[name][0]:7.2f} s  {results[name][1]:7.0f} MiB peak RSS"
              f"  (best of {len(got)}: " + ", ".join(f"{w:.2f}" for w, _ in got) + " s)", flush=True)
    base = "arena" if "arena" in results else args.only[0]
    print(f"\nratios to {base} (contender / {base}):")
    for name, (wall, peak) in results.items():
        print(f"  {name:9s} {wall / results[base][0]:6.2f}x time  {peak / results[base][1]:6.2f}x memory")
    if "evalica" in results and base == "arena":
        pairs = zip(runs["arena"], runs["evalica"])
        print("arena / evalica in each round: "
              + ", ".join(f"{a[0] / e[0]:.2f}" for a, e in pairs))
        ok = results["arena"][0] <= results["evalica"][0] / 4 and results["arena"][1] < results["evalica"][1]
        print(f"goal (arena at most 1/4 of evalica's time, less peak memory): {'met' if ok else 'NOT met'}")
    ref = reference_scores(str(path))
    print("\nlargest |score - ours without position bias| (score points; ours with h differs by h's effect):")
    for name, got in scores.items():
        common = sorted(set(got) & set(ref))
        print(f"  {name:9s} {max(abs(got[k] - ref[k]) for k in common):9.2e} over {len(common)} models")
    wall, cpu = bootstrap_timing()
    print(f"\nbootstrap intervals, 1,000 rounds, 100 models (9,900 pairs), 100,000 votes: "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU (goal: under 3 s)")


if __name__ == "__main__":
    main()
