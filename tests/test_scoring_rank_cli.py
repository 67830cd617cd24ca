"""``arena rank`` options of the scoring engine, and what importing scoring costs."""
import json
import subprocess
import sys

import numpy as np
import pytest
from live_server import ROOT, app_env, run_cli

from arena.files.battles import write_battles
from scoring import Votes
from scoring.elo import fit_elo

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")


def battles(n=600, seed=0):
    rng = np.random.default_rng(seed)
    names = ["ed-a", "ed-b", "ed-c", "ed-d"]
    strength = np.array([1.0, 0.5, 0.0, -0.5])
    rows = []
    for t in range(n):
        a, b = rng.choice(4, 2, replace=False)
        p = 1 / (1 + np.exp(strength[b] - strength[a]))
        w = WINNERS[2 + rng.integers(0, 2)] if rng.random() < 0.2 else WINNERS[0 if rng.random() < p else 1]
        rows.append({"model_a": names[a], "model_b": names[b], "winner": w,
                     "judge": f"v{rng.integers(0, 30)}", "task": "recolor" if t % 2 else "style",
                     "tstamp": 1000.0 + t})
    return rows


@pytest.fixture
def env(tmp_path):
    return app_env(tmp_path)


def rank_json(args, env):
    done = run_cli(["rank", *args], env)
    assert done.returncode == 0, done.stderr
    return {b["task"]: b for b in json.loads(done.stdout)["leaderboards"]}


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_elo_replays_votes_in_tstamp_order(tmp_path, env, fmt):
    rows = battles()
    path = tmp_path / f"votes.{fmt}"
    write_battles(rows[::-1], path)                       # file order is newest first
    boards = rank_json(["--votes", str(path), "--method", "elo"], env)
    overall = boards["overall"]
    assert overall["method"] == "elo" and overall["intervals"] == "none"
    expected = fit_elo(Votes.from_battles([r["model_a"] for r in rows], [r["model_b"] for r in rows],
                                          [r["winner"] for r in rows])).as_dict()
    assert {r["model"]: r["score"] for r in overall["rows"]} == pytest.approx(expected, abs=1e-9)
    assert set(boards) == {"overall", "recolor", "style"}


def test_tie_model_and_seeded_bootstrap_are_reproducible(tmp_path, env):
    path = tmp_path / "votes.parquet"
    write_battles(battles(), path)
    args = ["--votes", str(path), "--ties", "davidson", "--intervals", "bootstrap", "--rounds", "60",
            "--seed", "3", "--task", "overall"]
    one, two = rank_json(args, env), rank_json(args, env)
    assert one == two
    board = one["overall"]
    assert board["ties"] == "davidson" and board["intervals"] == "bootstrap"
    assert board["snapshot"]["seed"] == 3 and board["snapshot"]["params"]["rounds"] == 60
    assert rank_json([*args[:-4], "--seed", "4", "--task", "overall"], env) != one
    assert [r["model"] for r in board["rows"]][0] == "ed-a"


@pytest.mark.parametrize("args,message", [
    (["--method", "elo"], "needs --votes"),
    (["--method", "elo", "--intervals", "sandwich", "--votes", "x.json"], "needs a likelihood"),
    (["--rounds", "1"], "at least 2"),
    (["--ties", "thurstone"], "invalid choice"),
])
def test_bad_options_exit_2_with_one_line(env, args, message):
    done = run_cli(["rank", *args], env)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_unknown_winner_in_parquet_is_named(tmp_path, env):
    path = tmp_path / "votes.parquet"
    write_battles([{"model_a": "a", "model_b": "b", "winner": "draw"}], path)
    done = run_cli(["rank", "--votes", str(path)], env)
    assert done.returncode == 2 and "unknown winner label(s) 'draw'" in done.stderr


def test_importing_scoring_is_light():
    code = ("import sys, scoring, scoring.leaderboard, scoring.agreement; "
            "bad = [m for m in ('arena', 'gradio', 'torch', 'sqlalchemy', 'pandas', 'scipy.stats', "
            "'pyarrow') if m in sys.modules]; print(bad)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_arrow_table_cubes_equal_the_cubes_of_numpy_columns(tmp_path, fmt):
    from arena.files.battles import read_battle_table, read_battles
    from arena.views.leaderboard import battle_cubes

    path = tmp_path / f"votes.{fmt}"
    write_battles(battles(), path)
    ours = battle_cubes(read_battle_table(str(path)), None)
    theirs = battle_cubes(read_battles(path))
    assert list(ours) == list(theirs) == ["overall", "recolor", "style"]
    assert all(ours[t].digest() == theirs[t].digest() for t in ours)


def test_position_bias_none_and_vote_resampling_from_the_cli(tmp_path, env):
    path = tmp_path / "votes.parquet"
    write_battles(battles(), path)
    fitted = rank_json(["--votes", str(path), "--task", "overall"], env)["overall"]
    assert fitted["position_bias"]["h"] is not None and fitted["effective_voters"] > 1
    plain = rank_json(["--votes", str(path), "--task", "overall", "--position-bias", "none"],
                      env)["overall"]
    assert plain["position_bias"] is None and plain["snapshot"]["params"]["position_bias"] is False
    boot = rank_json(["--votes", str(path), "--task", "overall", "--intervals", "bootstrap",
                      "--rounds", "40", "--resample", "votes"], env)["overall"]
    assert boot["snapshot"]["params"]["resample"] == "votes"
    costs = tmp_path / "costs.csv"
    costs.write_text("model,latency_s\ned-a,4\ned-b,3\ned-c,2\ned-d,1\n")
    done = run_cli(["pareto", "--votes", str(path), "--costs", str(costs), "--task", "overall",
                    "--position-bias", "none", "--resample", "votes", "--rounds", "20"], env)
    assert done.returncode == 0, done.stderr
    points = {p["model"]: p for p in json.loads(done.stdout)["fronts"][0]["points"]}
    assert points["ed-a"]["score"] == pytest.approx(
        {r["model"]: r["score"] for r in plain["rows"]}["ed-a"])
