"""The vote budget planner: simulated intervals shrink as votes grow, and the CLI around it."""
from __future__ import annotations

import json

import numpy as np
import pytest
from live_server import app_env, run_cli

from arena.files.battles import write_battles
from scoring.errors import ScoringError
from scoring.planning import plan_votes, spread_scores


def test_intervals_shrink_like_one_over_root_votes():
    plan = plan_votes(spread_scores(6, 300), budgets=(500, 2000, 8000), runs=4, seed=1,
                      target_half_width=30)
    widths = [r.ci_half_width for r in plan.rows]
    assert widths[0] > widths[1] > widths[2]
    for a, b in zip(widths, widths[1:]):                     # 4x the votes, half the width
        assert 0.4 < b / a < 0.6
    assert plan.votes_needed == next(r.votes for r in plan.rows if r.ci_half_width <= 30)
    assert plan.rows[-1].kendall_tau == pytest.approx(1.0) and plan.rows[-1].top_correct == 1.0
    seps = [r.adjacent_separated for r in plan.rows]
    assert seps[0] < seps[-1]


def test_the_width_matches_what_the_arena_would_report():
    # 2 models, uniform pairs, no ties: theta-hat has variance ~ 1 / (n p (1-p)), p = 1/2
    plan = plan_votes([1000, 1000], budgets=(4000,), tie_rate=0.0, runs=3, sampler="uniform")
    expected = 1.96 * 400 / np.log(10) * np.sqrt(1 / (4000 * 0.25)) / 2   # per model, centred
    assert plan.rows[0].ci_half_width == pytest.approx(expected, rel=0.05)


def test_an_unreachable_target_and_a_plan_are_reported_plainly():
    plan = plan_votes(spread_scores(3, 200), budgets=(100, 200), runs=2, target_half_width=1)
    assert plan.votes_needed is None
    data = plan.to_dict()
    assert [b["votes"] for b in data["budgets"]] == [100, 200] and data["sampler"] == "variance"


@pytest.mark.parametrize("kwargs,message", [
    ({"scores": [1000]}, "at least two"),
    ({"scores": [1000, float("nan")]}, "finite"),
    ({"scores": [1000, 900], "budgets": (500, 100)}, "increasing"),
    ({"scores": [1000, 900], "sampler": "greedy"}, "unknown sampler"),
    ({"scores": [1000, 900], "runs": 0}, "runs"),
])
def test_bad_plans_are_named_errors(kwargs, message):
    with pytest.raises(ScoringError, match=message):
        plan_votes(**kwargs)


def test_cli_plans_from_a_guess_and_from_a_task(tmp_path):
    env = app_env(tmp_path)
    done = run_cli(["plan", "--models", "4", "--spread", "400", "--budgets", "200,800",
                    "--runs", "2", "--format", "table"], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["votes", "ci_half_width", "adjacent_separated", "kendall_tau",
                                "top_correct"]
    assert lines[-1].startswith("# half-width of 25 points needs")

    battles = [{"model_a": a, "model_b": b, "winner": w, "task": "recolor"}
               for a, b, w in [("alpha", "beta", "model_a"), ("beta", "gamma", "model_a"),
                               ("gamma", "alpha", "model_b"), ("alpha", "beta", "tie")] * 10]
    votes = tmp_path / "votes.csv"
    write_battles(battles, votes)
    done = run_cli(["plan", "--votes", str(votes), "--task", "recolor", "--budgets", "100,400",
                    "--runs", "2"], env)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["models"][0] == "alpha" and plan["votes_so_far"] == 40
    assert [b["votes"] for b in plan["budgets"]] == [100, 400]

    for args, message in [([], "give --models"), (["--task", "style", "--votes", str(votes)], "no votes"),
                          (["--models", "3", "--budgets", "10,x"], "whole numbers"),
                          (["--models", "1"], "at least 2 models")]:
        bad = run_cli(["plan", *args], env)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_cli_plans_from_the_database(tmp_path):
    from toy_catalog import make_toy_catalog

    from arena.collect.voting import issue_pair, record_vote
    from arena.context import Arena

    env = app_env(tmp_path)
    arena = Arena.open(env["DATABASE_URL"], media=env["ARENA_MEDIA"])
    make_toy_catalog(arena)
    for i in range(24):
        pair = issue_pair(arena, "recolor", f"plan-voter-{i % 3:04d}")
        record_vote(arena, pair["impression_id"], pair["token"], ("left", "right", "tie")[i % 3])
    done = run_cli(["plan", "--task", "recolor", "--budgets", "100,400", "--runs", "2"], env)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    from sqlmodel import select

    from arena.store.db import session
    from arena.store.schema import Vote

    with session(arena.engine) as s:                   # planted repeats do not count twice
        ranked = len(s.exec(select(Vote).where(Vote.check_kind != "repeat")).all())
    assert sorted(plan["models"]) == ["alpha", "beta", "gamma"] and plan["votes_so_far"] == ranked
