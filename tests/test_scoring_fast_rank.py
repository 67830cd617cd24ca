"""The fast ranking path against the straightforward computation it replaces.

* :func:`scoring.clustered.cluster_meat` (batched cluster blocks, CR3 by the jackknife solve,
  per-cell sums) against a per-cluster loop of the eigen-decomposition formula;
* :func:`scoring.grouped.comparisons_by_group` (one sort for every task) against
  ``Comparisons.from_battles`` on each task's votes;
* ``arena rank --votes FILE`` against ``scoring.rank`` on each task's cube, with one task and
  several.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scoring import Comparisons, fit_bradley_terry, rank
from scoring.bradley_terry import assemble
from scoring.clustered import (LEVERAGE_FLOOR, MAX_LEVERAGE, WORK_BUDGET, _adjust,
                               cluster_meat)
from scoring import grouped
from scoring.grouped import _sort_in_place, comparisons_by_group
from scoring.intervals import _active_rows, _bread_inverse
from scoring.ties import TIE_MODELS

ROOT = Path(__file__).resolve().parents[1]
WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)


def crowd(n=3000, m=7, voters=120, seed=0, top=0.3):
    """Votes where voter 0 casts a share ``top`` (leverage near 1: the capped route)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.7, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    u = rng.random(n)
    code = np.where(u < 0.12, 2, np.where(u < 0.18, 3, np.where(
        rng.random(n) < 1 / (1 + np.exp(theta[b] - theta[a] - 0.1)), 0, 1)))
    judge = np.where(rng.random(n) < top, 0, rng.zipf(1.5, n) % voters)
    names = np.array([f"m{k}" for k in range(m)], dtype=object)
    return names[a], names[b], WINNERS[code], np.char.add("v", judge.astype(str)).astype(object)


def reference_meat(voter, i, j, g, neg, m, fit_h, p, inv, correction):
    """The documented computation, cluster by cluster: leverage, the heaviest clusters within
    the work budget adjusted by ``M (I - M B^-1 M)^power M^+ s``, the rest kept plain."""
    n_tau = g.shape[1] - 1
    clusters = np.unique(voter)
    blocks = {c: assemble(i[voter == c], j[voter == c], m, g[voter == c], neg[voter == c],
                          fit_h, n_tau) for c in clusters}
    lev = {c: float(np.trace(inv @ blocks[c][1])) for c in clusters}
    order = sorted(clusters, key=lambda c: -lev[c])
    heavy = [c for c in order if lev[c] >= LEVERAGE_FLOOR][:max(int(WORK_BUDGET // p ** 3), 1)]
    g_count = len(clusters)
    meat = sum(np.outer(s, s) for s, _ in blocks.values())
    if correction == "cr1":
        return meat * g_count / (g_count - 1), heavy
    power = -0.5 if correction == "cr2" else -1.0
    for c in heavy:
        s, bg = blocks[c]
        adj, _ = _adjust(s, bg, inv, power)
        meat += np.outer(adj, adj) - np.outer(s, s)
    return meat, heavy


@pytest.mark.parametrize("ties", ["half", "davidson"])
@pytest.mark.parametrize("correction", ["cr3", "cr2", "cr1"])
@pytest.mark.parametrize("position_bias", [True, False])
def test_cluster_meat_equals_the_per_cluster_formula(ties, correction, position_bias):
    a, b, w, v = crowd(seed=3)
    data = Comparisons.from_battles(a, b, w, voter=v)
    fit = fit_bradley_terry(data, ties=ties, position_bias=position_bias)
    m, tie = len(fit.models), TIE_MODELS[ties]
    fit_h, tau = int(fit.position_bias), fit.params[m + fit.position_bias:]
    i, j = _active_rows(data, fit)
    _, g, neg = tie.row_terms(fit.theta[i] - fit.theta[j] + fit.h, tau, tie.prepare(data.counts),
                              False)
    inv = _bread_inverse(fit)
    p = len(fit.params)
    got = cluster_meat(data.voter, i, j, g, neg, m, fit_h, p, inv, correction, key=i * m + j)
    want, heavy = reference_meat(data.voter, i, j, g, neg, m, fit_h, p, inv, correction)
    assert got.adjusted == len(heavy) > 10
    assert np.allclose(got.meat, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    # the same result from rows in another order (sorted by voter first)
    shuffle = np.random.default_rng(0).permutation(len(i))
    again = cluster_meat(data.voter[shuffle], i[shuffle], j[shuffle], g[shuffle], neg[shuffle],
                         m, fit_h, p, inv, correction)
    assert np.allclose(again.meat, got.meat, rtol=1e-11, atol=1e-13 * np.abs(want).max())
    assert np.allclose(again.effective, got.effective, rtol=1e-11)


def test_the_capped_and_the_solved_cr3_routes_both_occur_and_agree():
    a, b, w, v = crowd(n=4000, m=5, voters=60, seed=8, top=0.3)
    # a model only voter v0 ever judged: that voter alone determines its score (leverage ~1)
    extra = 60
    a = np.concatenate([a, np.full(extra, "solo", dtype=object)])
    b = np.concatenate([b, np.array(["m0", "m1", "m2"] * 20, dtype=object)])
    w = np.concatenate([w, WINNERS[np.arange(extra) % 3]])
    v = np.concatenate([v, np.full(extra, "v0", dtype=object)])
    data = Comparisons.from_battles(a, b, w, voter=v)
    fit = fit_bradley_terry(data)
    m = len(fit.models)
    i, j = _active_rows(data, fit)
    _, g, neg = TIE_MODELS["half"].row_terms(fit.theta[i] - fit.theta[j] + fit.h, np.zeros(0),
                                             TIE_MODELS["half"].prepare(data.counts), False)
    inv = _bread_inverse(fit)
    got = cluster_meat(data.voter, i, j, g, neg, m, 1, m + 1, inv, "cr3", key=i * m + j)
    assert got.capped >= 1 and got.adjusted > got.capped
    want, _ = reference_meat(data.voter, i, j, g, neg, m, 1, m + 1, inv, "cr3")
    assert np.allclose(got.meat, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    assert MAX_LEVERAGE < 1


def columns(seed=1, tasks=("recolor", "style", "text_edit"), n=4000):
    a, b, w, v = crowd(n=n, m=8, voters=300, seed=seed, top=0.05)
    rng = np.random.default_rng(seed)
    task = np.array(list(tasks) + [None, ""], dtype=object)[
        rng.choice(len(tasks) + 2, n, p=[0.9 / len(tasks)] * len(tasks) + [0.05, 0.05])]
    check = np.array(["", "repeat", "gold"], dtype=object)[rng.choice(3, n, p=[0.9, 0.05, 0.05])]
    return {"model_a": a, "model_b": b, "winner": w, "judge": v, "task": task, "check": check}


@pytest.mark.parametrize("two_threads", [False, True])
def test_one_sort_cubes_equal_from_battles_on_each_task(monkeypatch, two_threads):
    if two_threads:                         # the two-thread sort of large files, on this file
        monkeypatch.setattr(grouped, "PARALLEL_SORT_MIN", 2)
        monkeypatch.setattr(grouped.os, "cpu_count", lambda: 2)
    cols = columns()
    keep = cols["check"] != "repeat"
    labels = ["recolor", "style", "text_edit", "absent"]
    group = np.array([labels.index(t) if t in labels else -1 for t in cols["task"]])
    whole, parts = comparisons_by_group(cols["model_a"], cols["model_b"], cols["winner"],
                                        voter=cols["judge"], group=group, n_groups=4, keep=keep)

    def reference(rows):
        return Comparisons.from_battles(cols["model_a"][rows], cols["model_b"][rows],
                                        cols["winner"][rows], voter=cols["judge"][rows])

    assert whole.digest() == reference(keep).digest()
    for k, cube in enumerate(parts):
        want = reference(keep & (group == k))
        assert cube.digest() == want.digest() and cube.models == want.models
        assert cube.voters == want.voters
        assert np.array_equal(cube.pairs().counts, want.pairs().counts)
    assert parts[3].n_votes == 0
    # one group holding every vote is the overall cube itself
    whole, (only,) = comparisons_by_group(cols["model_a"], cols["model_b"], cols["winner"],
                                          voter=cols["judge"], group=np.zeros(len(group), int),
                                          n_groups=1)
    assert only is whole and whole.digest() == reference(np.ones(len(group), bool)).digest()


@pytest.mark.parametrize("n", [2, 3, 1001, 4096])
def test_two_thread_sort_equals_numpy_sort(monkeypatch, n):
    monkeypatch.setattr(grouped, "PARALLEL_SORT_MIN", 2)
    monkeypatch.setattr(grouped.os, "cpu_count", lambda: 2)
    rng = np.random.default_rng(n)
    for key in (rng.integers(0, 1 << 40, n), rng.integers(0, 3, n), np.full(n, 7),
                np.arange(n)[::-1].copy()):
        want = np.sort(key)
        _sort_in_place(key)
        assert np.array_equal(key, want)


def rank_cli(path, *extra):
    done = subprocess.run([sys.executable, "-m", "arena", "rank", "--votes", str(path), *extra],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {b["task"]: b for b in json.loads(done.stdout)["leaderboards"]}


@pytest.mark.parametrize("tasks, large", [(("recolor", "style", "text_edit"), False),
                                          (("recolor",), False),
                                          (("recolor", "style", "text_edit"), True)])
def test_rank_cli_equals_rank_of_each_task_cube(tmp_path, tasks, large):
    """``large``: a file over 1 MB, which the command reads with its batch memory settings
    (glibc's heap warmed ahead, pyarrow's buffers on it): the same boards."""
    cols = columns(seed=2, tasks=tasks)
    if len(tasks) == 1:                     # every vote in the one task, as files often are
        cols["task"] = np.full(len(cols["task"]), tasks[0], dtype=object)
    path = tmp_path / "votes.parquet"
    table = pa.table(cols)
    if large:                               # a column the ranking does not read
        noise = np.random.default_rng(0).integers(0, 2**63, (len(cols["task"]), 40))
        table = table.append_column("note", pa.array([r.tobytes().hex() for r in noise]))
    pq.write_table(table, path)
    assert (path.stat().st_size >= 1 << 20) == large
    got = rank_cli(path)
    keep = cols["check"] != "repeat"
    expect = {"overall": keep}
    expect.update({t: keep & (cols["task"] == t) for t in tasks})
    assert sorted(got) == sorted(expect)
    for task, rows in expect.items():
        want = rank(Comparisons.from_battles(cols["model_a"][rows], cols["model_b"][rows],
                                             cols["winner"][rows], voter=cols["judge"][rows]))
        board = got[task]
        assert board["votes"] == want.votes
        assert board["snapshot"]["cube_sha256"] == want.snapshot["cube_sha256"]
        for r, w in zip(board["rows"], want.rows):
            assert r["model"] == w.model and r["rank"] == w.rank
            for k in ("score", "ci_low", "ci_high"):
                assert r[k] == pytest.approx(getattr(w, k), rel=1e-9, abs=1e-9)
    if len(tasks) == 1:
        only = {k: v for k, v in got[tasks[0]].items() if k != "task"}
        assert only == {k: v for k, v in got["overall"].items() if k != "task"}


def test_a_large_vote_file_is_read_into_the_system_heap(tmp_path):
    path = tmp_path / "votes.parquet"
    cols = columns(seed=4)
    noise = np.random.default_rng(1).integers(0, 2**63, (len(cols["task"]), 40))
    pq.write_table(pa.table(cols).append_column("note", pa.array([r.tobytes().hex() for r in noise])),
                   path)
    code = ("import sys, io, contextlib; import arena.cli, pyarrow as pa; "
            "before = pa.default_memory_pool().backend_name; "
            "contextlib.redirect_stdout(io.StringIO()).__enter__(); "
            "arena.cli.main(['rank', '--votes', %r]); "
            "print(before, pa.default_memory_pool().backend_name, file=sys.stderr)" % str(path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before, after = done.stderr.split()
    assert after == "system" and before != "system"


def test_rank_cli_imports_no_pandas_or_pyarrow_compute(tmp_path):
    path = tmp_path / "votes.parquet"
    pq.write_table(pa.table(columns(seed=4)), path)
    code = ("import sys, runpy; sys.argv = ['arena', 'rank', '--votes', %r]; "
            "import arena.cli; arena.cli.main(sys.argv[1:]); "
            "bad = [m for m in ('pandas', 'pyarrow.compute', 'sqlalchemy', 'gradio') "
            "if m in sys.modules]; print(bad, file=sys.stderr)" % str(path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "[]", done.stderr


@pytest.mark.parametrize("m, voters, q", [(6, 40, 1), (6, 40, 2), (200, 5000, 1)])
def test_meat_of_voter_sorted_rows_equals_the_sum_of_outer_products(m, voters, q):
    """Voter-ordered rows take the single-row and block routes (or the sparse one when the
    table would be too wide); all equal the plain sum over voters."""
    from scoring.intervals import _cluster_meat

    rng = np.random.default_rng(m + q)
    n = 3 * voters
    voter = np.sort(rng.integers(0, voters, n))
    i = rng.integers(0, m, n)
    j = (i + rng.integers(1, m, n)) % m
    g = rng.normal(size=(n, q))
    p = m + 1 + (q > 1)
    x = np.zeros((voters, p))
    np.add.at(x, (voter, i), g[:, 0])
    np.add.at(x, (voter, j), -g[:, 0])
    np.add.at(x, (voter, np.full(n, m)), g[:, 0])
    if q > 1:
        np.add.at(x, (voter, np.full(n, m + 1)), g[:, 1])
    used = len(np.unique(voter))
    want = x.T @ x * used / (used - 1)
    assert np.count_nonzero(np.bincount(voter) == 1) > 0
    got = _cluster_meat(voter, i, j, g, m, 1, p)
    assert np.allclose(got, want, rtol=1e-11, atol=1e-11 * np.abs(want).max())
