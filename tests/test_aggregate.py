"""The count cubes from the database (arena.views.cubes) on SQLite and PostgreSQL: the same cubes
as Comparisons.from_battles on the same votes, planted repeats left out, one task at a time,
odd voter ids, and the GROUP BY path that other databases take."""
from __future__ import annotations

import numpy as np
import pytest
from toy_catalog import make_toy_catalog

from arena.store.catalog import ensure_model, model_names
from arena.store.schema import Vote
from arena.views import reading as vote_reading
from arena.views.cubes import OVERALL, count_rows, cubes_from_rows, db_cubes
from arena.views.leaderboard import leaderboards
from scoring.data import Comparisons
from scoring.errors import UnknownOutcomeError
from scoring.simulate import simulate_crowd

CHOICES = ("left", "right", "tie", "both_bad")
WINNERS = {"left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
TASKS = ("recolor", "style", "text_edit")
MODELS = ("alpha", "beta", "delta", "epsilon", "gamma")    # ids in name order


def store_votes(arena, rows) -> None:
    """Insert vote rows in one statement (votes imported without impressions)."""
    with arena.engine.begin() as conn:
        conn.execute(Vote.__table__.insert(), rows)


def catalog(arena, models=MODELS) -> dict[str, int]:
    for task in TASKS:
        make_toy_catalog(arena, task=task, models=models, items=1)
    return {name: ensure_model(arena.engine, name, "classical").id for name in models}


def crowd_votes(ids: dict[str, int], seed: int = 5, voters: int = 40,
                votes: int = 1500) -> list[dict]:
    """Simulated votes over TASKS, a few anonymous, with planted repeats and gold checks."""
    names = list(ids)
    crowd = simulate_crowd(voters=voters, votes=votes, models=len(names), tasks=TASKS, seed=seed)
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["none", "repeat", "gold"], size=len(crowd), p=[0.85, 0.1, 0.05])
    return [{"voter_id": None if v % 13 == 0 else f"v-{crowd.voters[v]}", "task": TASKS[t],
             "left_model_id": ids[names[l]], "right_model_id": ids[names[r]],
             "choice": CHOICES[c], "check_kind": str(k), "duration_ms": 3000}
            for v, t, l, r, c, k in zip(crowd.voter, crowd.task, crowd.left, crowd.right,
                                        crowd.choice, kinds)]


def battle_cubes(rows: list[dict], names: dict[int, str], *, repeats: bool = False) -> dict:
    """The reference: Comparisons.from_battles per task and overall on the same votes."""
    kept = [r for r in rows if repeats or r["check_kind"] != "repeat"]

    def cube(sub):
        return Comparisons.from_battles([names[r["left_model_id"]] for r in sub],
                                        [names[r["right_model_id"]] for r in sub],
                                        [WINNERS[r["choice"]] for r in sub],
                                        voter=[r["voter_id"] or "" for r in sub])

    out = {OVERALL: cube(kept)}
    for task in sorted({r["task"] for r in kept}):
        out[task] = cube([r for r in kept if r["task"] == task])
    return out


def canonical(cube: Comparisons, labels=None) -> dict:
    """Rows keyed by (voter label, left name, right name), independent of any ordering."""
    voters = cube.voters if labels is None else [labels[int(k)] for k in cube.voters]
    return {(voters[v], cube.models[l], cube.models[r]): tuple(c)
            for v, l, r, c in zip(cube.voter, cube.left, cube.right, cube.counts.tolist())}


def assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for task in want:
        assert got[task].digest() == want[task].digest(), task


@pytest.fixture
def fast_only(monkeypatch):
    """Fail if a query falls back to the GROUP BY path (SQLite and PostgreSQL should not)."""
    def refuse(*args):
        raise AssertionError("took the GROUP BY path")
    monkeypatch.setattr(vote_reading, "_grouped_rows", refuse)


@pytest.fixture
def voted(arena):
    ids = catalog(arena)
    rows = crowd_votes(ids)
    store_votes(arena, rows)
    return arena, rows


def test_cubes_equal_from_battles_without_repeats(voted, fast_only):
    arena, rows = voted
    names = model_names(arena.engine)
    got = db_cubes(arena.engine)
    assert_same(got, battle_cubes(rows, names))
    n_repeats = sum(r["check_kind"] == "repeat" for r in rows)
    assert n_repeats > 50
    assert got[OVERALL].n_votes == len(rows) - n_repeats
    # the voter codes index the sorted voter ids of the votes read ("" for anonymous votes)
    labels = sorted({r["voter_id"] or "" for r in rows if r["check_kind"] != "repeat"})
    assert labels[0] == "" and [labels[k] for k in got[OVERALL].voters] == labels


def test_repeats_on_request(voted, fast_only):
    arena, rows = voted
    names = model_names(arena.engine)
    assert_same(db_cubes(arena.engine, include_repeats=True),
                battle_cubes(rows, names, repeats=True))
    assert int(count_rows(arena.engine, include_repeats=True)["count"].sum()) == len(rows)
    ranked = count_rows(arena.engine)
    assert int(ranked["count"].sum()) == sum(r["check_kind"] != "repeat" for r in rows)
    assert set(ranked["choice"]) <= set(CHOICES) and "" in set(ranked["voter"])


def test_count_rows_and_cubes_from_rows_agree_with_db_cubes(voted):
    arena, _ = voted
    names = model_names(arena.engine)
    rows = count_rows(arena.engine)
    keys = list(zip(rows["task"], rows["voter"], rows["left"], rows["right"], rows["choice"]))
    assert len(set(keys)) == len(keys)                         # one row per distinct vote kind
    from_rows, direct = cubes_from_rows(rows, names), db_cubes(arena.engine)
    assert_same(from_rows, direct)
    assert all(from_rows[t].voters == direct[t].voters for t in direct)


def test_one_task_at_a_time(voted, fast_only):
    arena, _ = voted
    every = db_cubes(arena.engine)
    labels = sorted({v for v in count_rows(arena.engine)["voter"]})
    for task in TASKS:
        one = db_cubes(arena.engine, [task])
        assert list(one) == [task] and one[task].digest() == every[task].digest()
        # voter codes index the voters of the votes read: here that task's only
        own = sorted({v for v, t in zip(count_rows(arena.engine)["voter"],
                                        count_rows(arena.engine)["task"]) if t == task})
        assert canonical(one[task], own) == canonical(every[task], labels)
    some = db_cubes(arena.engine, [OVERALL, "style", "no_such_task"])
    assert list(some) == [OVERALL, "style", "no_such_task"]
    assert some["style"].digest() == every["style"].digest()
    assert some["no_such_task"].n_votes == 0 and some["no_such_task"].models == ()
    boards = leaderboards(some)["leaderboards"]
    assert [b["task"] for b in boards] == [OVERALL, "no_such_task", "style"]
    assert boards[1]["rows"] == [] and boards[1]["warnings"]


def test_blocks_read_at_once_give_the_same_cubes(voted, fast_only, monkeypatch):
    """Many small blocks of ids on several connections (one shared snapshot on PostgreSQL)."""
    arena, rows = voted
    whole = db_cubes(arena.engine)
    monkeypatch.setattr(vote_reading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(vote_reading, "BLOCK", 97)
    monkeypatch.setattr(vote_reading, "READERS", 3)
    assert len(vote_reading._blocks(1, len(rows), 3)) == -(-len(rows) // 97)
    apart = db_cubes(arena.engine)
    assert_same(apart, whole)
    assert all(apart[t].voters == whole[t].voters for t in whole)


def test_group_by_path_gives_the_same_cubes(voted, monkeypatch):
    arena, _ = voted
    fast = db_cubes(arena.engine)
    fast_rows = count_rows(arena.engine, include_repeats=True)
    monkeypatch.setattr(vote_reading, "_fast_rows", lambda *args: None)
    slow = db_cubes(arena.engine)
    assert_same(slow, fast)
    assert all(slow[t].voters == fast[t].voters for t in fast)
    slow_rows = count_rows(arena.engine, include_repeats=True)
    columns = ("task", "voter", "left", "right", "choice", "count")
    order = lambda r: sorted(zip(*(r[c].tolist() for c in columns)))  # noqa: E731
    assert order(slow_rows) == order(fast_rows)


def test_model_ids_out_of_name_order(arena):
    """Cubes list models in id order; the counts match from_battles whatever the order."""
    ids = catalog(arena, models=("zeta", "beta", "alpha"))
    rows = crowd_votes(ids, seed=9, voters=15, votes=400)
    store_votes(arena, rows)
    names = model_names(arena.engine)
    got, want = db_cubes(arena.engine), battle_cubes(rows, names)
    labels = sorted({r["voter_id"] or "" for r in rows if r["check_kind"] != "repeat"})
    assert got[OVERALL].models == ("zeta", "beta", "alpha")
    for task in want:
        assert canonical(got[task], labels) == canonical(want[task])


def check_odd_voter_ids(arena, long_id, monkeypatch):
    """Commas, quotes, tabs, newlines and non-ASCII voter ids give the same cubes as
    from_battles; an id too long for the packed key (SQLite does not enforce the column's
    length) sends the query down the GROUP BY path, with the same result."""
    grouped = []
    original = vote_reading._grouped_rows
    monkeypatch.setattr(vote_reading, "_grouped_rows", lambda *a: grouped.append(1) or original(*a))
    ids = catalog(arena, models=("alpha", "beta", "gamma"))
    odd = ['a,b', 'say "hi"', 'josé-ü-ß', '日本語の投票者', "", 'tab\there', 'line\nbreak', "x" * 64]
    odd += ["y" * 700] if long_id else []
    rng = np.random.default_rng(2)
    rows = []
    for k in range(300):
        left, right = rng.choice(list(ids.values()), 2, replace=False)
        rows.append({"voter_id": odd[k % len(odd)] or None, "task": TASKS[k % 2],
                     "left_model_id": int(left), "right_model_id": int(right),
                     "choice": CHOICES[k % 4], "check_kind": "none"})
    store_votes(arena, rows)
    assert_same(db_cubes(arena.engine), battle_cubes(rows, model_names(arena.engine)))
    assert len(grouped) == int(long_id)


def test_odd_voter_ids(arena, monkeypatch):
    check_odd_voter_ids(arena, False, monkeypatch)


def test_overlong_voter_id_takes_the_group_by_path(tmp_path, monkeypatch):
    """Only SQLite stores an id over the 64 characters of the column (PostgreSQL refuses it)."""
    from arena.context import Arena

    check_odd_voter_ids(Arena.open(f"sqlite:///{tmp_path / 'long.db'}", media=str(tmp_path / "m")),
                        True, monkeypatch)


def test_unknown_choice_is_named(arena):
    ids = catalog(arena, models=("alpha", "beta", "gamma"))
    store_votes(arena, [{"voter_id": "someone-1", "task": "recolor", "left_model_id": ids["alpha"],
                         "right_model_id": ids["beta"], "choice": c, "check_kind": "none"}
                        for c in ("left", "maybe")])
    with pytest.raises(UnknownOutcomeError, match="maybe"):
        db_cubes(arena.engine)


def test_empty_database(arena):
    cubes = db_cubes(arena.engine)
    assert list(cubes) == [OVERALL] and cubes[OVERALL].n_votes == 0
    assert cubes[OVERALL].digest() == Comparisons.from_counts((), [], [], [], [], voter=[]).digest()
    assert all(len(v) == 0 for v in count_rows(arena.engine).values())
    board = leaderboards(cubes)["leaderboards"][0]
    assert board["rows"] == [] and board["warnings"]
