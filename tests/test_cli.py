"""The command line: rank from every file format and from the database, export, bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from live_server import ROOT, app_env, run_cli

from arena.files.battles import write_battles

BATTLES = (
    [{"model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": f"j{i % 3}", "task": "recolor"} for i in range(12)]
    + [{"model_a": "beta", "model_b": "alpha", "winner": "model_b", "judge": "j1", "task": "recolor"} for _ in range(4)]
    + [{"model_a": "beta", "model_b": "gamma", "winner": "model_a", "judge": "j2", "task": "recolor"} for _ in range(8)]
    + [{"model_a": "gamma", "model_b": "beta", "winner": "tie", "judge": "j0", "task": "recolor"} for _ in range(4)]
    + [{"model_a": "alpha", "model_b": "gamma", "winner": "tie (bothbad)", "judge": "j0", "task": "text_edit"} for _ in range(5)]
    + [{"model_a": "gamma", "model_b": "alpha", "winner": "model_b", "judge": "j2", "task": "text_edit"} for _ in range(7)]
)


@pytest.fixture
def env(tmp_path):
    return app_env(tmp_path)


def rank_json(args, env) -> dict:
    done = run_cli(["rank", *args], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_rank_reads_every_format_the_same(tmp_path, env, fmt):
    path = tmp_path / f"votes.{fmt}"
    write_battles(BATTLES, path)
    boards = {b["task"]: b for b in rank_json(["--votes", str(path)], env)["leaderboards"]}
    assert list(boards) == ["overall", "recolor", "text_edit"]
    assert boards["overall"]["votes"] == len(BATTLES) and boards["recolor"]["votes"] == 28
    recolor = [r["model"] for r in boards["recolor"]["rows"]]
    assert recolor[0] == "alpha" and recolor[-1] == "gamma"
    for row in boards["overall"]["rows"]:
        assert row["ci_low"] <= row["score"] <= row["ci_high"] and row["rank"] >= 1


def test_rank_table_and_csv_formats(tmp_path, env):
    path = tmp_path / "votes.json"
    write_battles(BATTLES, path)
    table = run_cli(["rank", "--votes", str(path), "--format", "table", "--task", "recolor"], env)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:3] == ["task", "rank", "model"]
    csv = run_cli(["rank", "--votes", str(path), "--format", "csv"], env)
    lines = csv.stdout.splitlines()
    assert lines[0].startswith("task,rank,model,score") and len(lines) == 1 + 3 + 3 + 2


@pytest.mark.parametrize("content,name,message", [
    (None, "missing.json", "no such file"),
    ("model_a,model_b,winner\n", "votes.xlsx", "unknown vote file format"),
    ("model_a,model_b,winner\na,b,model_c\n", "votes.csv", "unknown winner label"),
    ("model_a,winner\na,tie\n", "votes.csv", "missing column(s) model_b"),
    ("[{\"model_a\": ", "votes.json", "not a readable json vote file"),
])
def test_bad_vote_files_exit_2_with_one_line(tmp_path, env, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    done = run_cli(["rank", "--votes", str(path)], env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr


def _parquet(path, **columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"model_a": ["a"], "model_b": ["b"], "winner": ["model_a"], **columns}), path)


VOTE_FILES_THAT_RAISED = {
    "deep.json": (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "duration.csv": (lambda p: p.write_text("model_a,model_b,winner,duration_ms\na,b,model_a,fast\n"),
                     "column duration_ms must hold numbers"),
    "duration.json": (lambda p: p.write_text(json.dumps([{"model_a": "a", "model_b": "b", "winner": "tie",
                                                          "duration_ms": "fast"}])),
                      "column duration_ms must hold numbers"),
    "latin1.csv": (lambda p: p.write_bytes("model_a,model_b,winner\ncaf\xe9,b,model_a\n".encode("latin-1")),
                   "column model_a is not UTF-8 text"),
    "object.json": (lambda p: p.write_text(json.dumps([{"model_a": {"x": 1}, "model_b": "b", "winner": "tie"}])),
                    "column model_a holds struct<x: int64> values, not text"),
    "list.parquet": (lambda p: _parquet(p, model_a=[["a"]]), "column model_a holds list<"),
    "winner-list.parquet": (lambda p: _parquet(p, winner=[["tie"]]), "column winner holds list<"),
}


@pytest.mark.parametrize("command", ["rank", "voters", "pareto"])
@pytest.mark.parametrize("name", sorted(VOTE_FILES_THAT_RAISED))
def test_vote_files_that_raised_exit_2_with_one_line(tmp_path, env, name, command):
    """Each of these once ended in a traceback and exit 1."""
    write, message = VOTE_FILES_THAT_RAISED[name]
    path = tmp_path / name
    write(path)
    done = run_cli([command, "--votes", str(path)], env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr


def test_unknown_option_exits_2(env):
    done = run_cli(["rank", "--no-such-option"], env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_rank_from_a_vote_file_does_not_import_heavy_libraries(tmp_path, env):
    path = tmp_path / "votes.jsonl"
    write_battles(BATTLES, path)
    code = ("import sys; from arena.cli import main; main(['rank', '--votes', %r]); "
            "heavy = [m for m in ('gradio', 'torch', 'diffusers', 'sqlalchemy') if m in sys.modules]; "
            "sys.stderr.write(repr(heavy))" % str(path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip().endswith("[]"), done.stderr


def test_help_lists_the_commands(env):
    done = run_cli(["--help"], env)
    assert done.returncode == 0
    for command in ("serve", "demo", "rank", "models", "export"):
        assert command in done.stdout


def test_export_then_rank_gives_the_database_ranking(tmp_path, env):
    from toy_catalog import make_toy_catalog

    from arena.collect.voting import issue_pair, record_vote
    from arena.context import Arena

    arena = Arena.open(env["DATABASE_URL"], media=env["ARENA_MEDIA"])
    make_toy_catalog(arena)
    for i in range(30):
        pair = issue_pair(arena, "recolor", f"cli-voter-{i % 4:04d}")
        record_vote(arena, pair["impression_id"], pair["token"], ("left", "right", "tie", "both_bad")[i % 4])
    models = json.loads(run_cli(["models"], env).stdout)["models"]
    assert {m["model"] for m in models} == {"alpha", "beta", "gamma"}
    assert all(m["outputs"] == 4 and m["latency_s"]["recolor"] > 0 for m in models)
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / f"export.{fmt}"
        done = run_cli(["export", str(out)], env)
        assert done.returncode == 0 and "wrote 30 votes" in done.stdout
        from_file = rank_json(["--votes", str(out)], env)
        from_db = rank_json([], env)
        strip = lambda boards: [(b["task"], [(r["model"], round(r["score"], 6)) for r in b["rows"]])
                                for b in boards["leaderboards"]]
        assert strip(from_file) == strip(from_db)
        snapshot = lambda boards: [b["snapshot"]["cube_sha256"] for b in boards["leaderboards"]]
        assert snapshot(from_file) == snapshot(from_db)  # the same votes, the same snapshot


def test_pareto_from_vote_and_costs_files(tmp_path, env):
    votes, costs = tmp_path / "votes.csv", tmp_path / "costs.csv"
    write_battles(BATTLES, votes)
    costs.write_text("model,task,latency_s,cost_usd\nalpha,,9.0,0.02\nbeta,,1.0,0.001\n"
                     "gamma,recolor,0.5,0.0005\ngamma,text_edit,20,0.5\n")
    done = run_cli(["pareto", "--votes", str(votes), "--costs", str(costs), "--task", "recolor"], env)
    assert done.returncode == 0, done.stderr
    fronts = json.loads(done.stdout)["fronts"]
    latency = next(f for f in fronts if f["axis"] == "latency_s")
    # recolor: alpha > beta > gamma in preference, and the reverse in latency: all on the front.
    assert latency["front"] == ["gamma", "beta", "alpha"]
    bad = tmp_path / "bad.csv"
    bad.write_text("model,latency_s\nalpha,fast\n")
    done = run_cli(["pareto", "--votes", str(votes), "--costs", str(bad)], env)
    assert done.returncode == 2 and "latency_s 'fast' is not a number" in done.stderr


def test_compare_a_rank_output_with_a_public_board(tmp_path, env):
    votes = tmp_path / "votes.jsonl"
    write_battles(BATTLES, votes)
    ours = tmp_path / "ours.json"
    ours.write_text(run_cli(["rank", "--votes", str(votes), "--task", "recolor"], env).stdout)
    public = tmp_path / "public.csv"
    public.write_text("model,rank\ngamma,1\nbeta,2\nalpha,3\n")  # the reverse of ours
    done = run_cli(["compare", str(ours), str(public), "--task", "recolor"], env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["comparisons"][0]
    assert result["kendall_tau_b"] == pytest.approx(-1.0) and result["spearman"] == pytest.approx(-1.0)
    assert {s["model"]: s["shift"] for s in result["shifts"]} == {"alpha": 2, "beta": 0, "gamma": -2}
    done = run_cli(["compare", str(ours), str(tmp_path / "missing.csv")], env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_organiser_prints_the_key_kept_in_the_database(env):
    from arena.context import Arena
    from arena.store.organiser import is_organiser

    first, again = run_cli(["organiser"], env), run_cli(["organiser"], env)
    assert first.returncode == 0 and first.stdout == again.stdout
    key = first.stdout.strip()
    assert is_organiser(Arena.open(env["DATABASE_URL"]).engine, key)
    chosen = run_cli(["organiser"], {**env, "ARENA_ORGANISER_KEY": "room-key-2026"})
    assert chosen.stdout.strip() == "room-key-2026"


def test_an_unexpected_error_is_one_line_and_exit_1(env):
    unreachable = {**env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    done = run_cli(["models"], unreachable)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "arena models: failed: OperationalError" in done.stderr
    debug = run_cli(["models"], {**unreachable, "ARENA_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr
