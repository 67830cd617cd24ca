"""`arena simulate`, `arena voters` and `arena rank --voters`: exit codes, JSON shape, errors."""
from __future__ import annotations

import json

import pytest
from live_server import app_env, run_cli

from arena.cli import main
from arena.files.battles import write_battles


def cli(args, capsys) -> tuple[int, str, str]:
    """Run a command in this process (the entry point itself is run as a subprocess above)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def crowd_file(tmp_path_factory):
    """A simulated crowd written by the CLI, with its truth beside it."""
    work = tmp_path_factory.mktemp("crowd")
    env = app_env(work)
    path = work / "crowd.parquet"
    done = run_cli(["simulate", str(path), "--voters", "400", "--votes", "24000", "--seed", "7"],
                   env)
    assert done.returncode == 0, done.stderr
    return path, env, json.loads(done.stdout)


def test_simulate_writes_votes_and_truth(crowd_file):
    path, env, summary = crowd_file
    truth = json.loads((path.parent / "crowd.truth.json").read_text())
    assert summary["votes"] == 24000 and summary["voters"] == 400 and path.is_file()
    assert summary["truth"].endswith("crowd.truth.json")
    assert set(truth) >= {"tasks", "scores", "voters", "rigged_model", "config"}
    assert sum(truth["voter_types"].values()) == 400 and len(truth["voters"]) == 400
    again = run_cli(["simulate", str(path.parent / "again.csv"), "--voters", "400", "--votes",
                     "24000", "--seed", "7", "--truth", str(path.parent / "t2.json")], env)
    assert again.returncode == 0, again.stderr
    assert json.loads((path.parent / "t2.json").read_text()) == truth     # seeded


def test_voters_json_shape_and_flags(crowd_file, capsys):
    path, env, _ = crowd_file
    done = run_cli(["voters", "--votes", str(path)], env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"voters", "summary"} and len(out["voters"]) == 400
    for row in out["voters"]:
        assert {"voter", "votes", "flagged", "reasons", "reliability", "weight"} <= set(row)
        assert row["flagged"] == bool(row["reasons"])
    truth = json.loads((path.parent / "crowd.truth.json").read_text())["voters"]
    flagged = [r["voter"] for r in out["voters"] if r["flagged"]]
    assert flagged and all(truth[v] != "honest" for v in flagged)
    code, text, _ = cli(["voters", "--votes", path, "--flagged"], capsys)
    assert code == 0 and [r["voter"] for r in json.loads(text)["voters"]] == flagged


def test_voters_table_and_csv(crowd_file, capsys):
    path, _, _ = crowd_file
    code, table, _ = cli(["voters", "--votes", path, "--format", "table", "--flagged"], capsys)
    assert code == 0 and table.split()[:3] == ["voter", "votes", "decisive"]
    code, csv, _ = cli(["voters", "--votes", path, "--format", "csv"], capsys)
    lines = csv.splitlines()
    assert lines[0] == "voter,votes,decisive,flagged,reliability,weight,reasons"
    assert len(lines) == 401


def test_rank_with_voters_excluded(crowd_file, capsys):
    path, _, _ = crowd_file
    code, text, err = cli(["rank", "--votes", path, "--voters", "exclude", "--task", "recolor"],
                          capsys)
    assert code == 0, err
    out = json.loads(text)
    assert out["voters"]["mode"] == "exclude" and out["voters"]["flagged"] > 0
    rows = out["leaderboards"][0]["rows"]
    assert all(r["rank_change"] == r["rank_all"] - r["rank"] for r in rows)
    code, table, _ = cli(["rank", "--votes", path, "--voters", "weighted", "--format", "table"],
                         capsys)
    assert code == 0 and "rank_all" in table.splitlines()[0]


@pytest.mark.parametrize("args, message", [
    (["voters", "--votes", "{tmp}/missing.json"], "no such file"),
    (["voters", "--votes", "{nojudge}"], "no judge column"),
    (["voters", "--votes", "{bad}"], "unknown winner label"),
    (["voters", "--alpha", "3"], "--alpha"),
    (["simulate", "out.xlsx"], "unknown vote file format"),
    (["simulate", "{tmp}/o.json", "--mix", "honest=1,lazy=1"], "unknown voter type"),
    (["simulate", "{tmp}/o.json", "--voters", "50", "--votes", "10"], "at least one vote"),
    (["rank", "--votes", "{nojudge}", "--voters", "exclude"], "no judge column"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    nojudge, bad = tmp_path / "nojudge.json", tmp_path / "bad.csv"
    write_battles([{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 3, nojudge)
    bad.write_text("model_a,model_b,winner,judge\na,b,model_c,j1\n")
    args = [a.format(nojudge=nojudge, bad=bad, tmp=tmp_path) for a in args]
    code, _, err = cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_a_bad_file_through_the_entry_point(tmp_path):
    done = run_cli(["voters", "--votes", str(tmp_path / "missing.csv")], app_env(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no such file" in done.stderr


def test_voters_from_the_database(tmp_path, monkeypatch, capsys):
    from toy_catalog import make_toy_catalog

    from arena.collect.voting import issue_pair, record_vote
    from arena.context import Arena
    from arena.store.db import get_engine

    env = app_env(tmp_path)
    arena = Arena.open(env["DATABASE_URL"], media=env["ARENA_MEDIA"])
    make_toy_catalog(arena)
    for k in range(30):
        pair = issue_pair(arena, "recolor", "voter-cli-000001")
        record_vote(arena, pair["impression_id"], pair["token"], "left", 3000)
    monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])
    get_engine.cache_clear()
    code, text, err = cli(["voters"], capsys)
    assert code == 0, err
    rows = json.loads(text)["voters"]
    assert [r["voter"] for r in rows] == ["voter-cli-000001"] and rows[0]["votes"] == 30
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_engine.cache_clear()
    code, _, err = cli(["voters"], capsys)
    assert code == 2 and "no votes with a voter id" in err
    get_engine.cache_clear()
