"""``arena campaign create|status|export|link|list``: the contract users script against, and
one-line errors with exit code 2."""
from __future__ import annotations

import json
import re

import pytest
from toy_catalog import make_toy_catalog

from arena.collect import annotation as an
from arena.collect import annotator_links

LINK = re.compile(r"(https?://\S+/\?annotate=([A-Za-z0-9_-]+))")


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``arena.cli.main`` on a fresh SQLite database holding the toy catalogue."""
    from arena.cli import main
    from arena.context import Arena
    from arena.store.db import get_engine

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ARENA_MEDIA", str(tmp_path / "media"))
    monkeypatch.delenv("ARENA_PUBLIC_URL", raising=False)
    get_engine.cache_clear()
    make_toy_catalog(Arena.open())
    yield main
    get_engine.cache_clear()


def test_create_prints_one_private_link_per_annotator_on_the_public_url(cli, capsys, monkeypatch):
    from arena.context import Arena

    monkeypatch.setenv("ARENA_PUBLIC_URL", "https://label.example.org")
    assert cli(["campaign", "create", "spring", "--task", "recolor", "--pairs", "6",
                "--overlap", "2", "--annotators", "ann,bob,cy"]) == 0
    out = capsys.readouterr().out
    found = LINK.findall(out)
    assert len(found) == 3 and all(url.startswith("https://label.example.org/?annotate=")
                                   for url, _ in found)
    arena = Arena.open()
    owners = [annotator_links.resolve(arena, token) for _, token in found]
    assert owners == ["campaign1-ann", "campaign1-bob", "campaign1-cy"]
    for line, name in zip(out.splitlines(), ("ann", "bob", "cy")):
        assert line.split()[0] == name

    assert cli(["campaign", "create", "summer", "--task", "recolor", "--pairs", "3", "--overlap",
                "1", "--annotators", "dee", "--base-url", "http://10.0.0.5:8080/", "--format",
                "json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["campaign"] == "summer" and made["pairs"] == 3
    assert made["annotators"][0]["link"].startswith("http://10.0.0.5:8080/?annotate=")


def test_status_json_contract_then_export_and_rank_from_the_file(cli, capsys, tmp_path):
    from arena.context import Arena

    assert cli(["campaign", "create", "spring", "--task", "recolor", "--pairs", "6",
                "--overlap", "2", "--annotators", "ann,bob,cy", "--seed", "4"]) == 0
    tokens = [t for _, t in LINK.findall(capsys.readouterr().out)]
    assert cli(["campaign", "status", "spring", "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    for key in ("campaign", "task", "pairs", "overlap", "labels", "annotators", "alpha_nominal",
                "alpha_ordinal", "fleiss_kappa"):
        assert key in status
    assert (status["campaign"], status["task"], status["pairs"], status["overlap"],
            status["labels"]) == ("spring", "recolor", 6, 2, 0)
    assert [a["annotator"] for a in status["annotators"]] == ["ann", "bob", "cy"]
    for row in status["annotators"]:
        assert set(row) >= {"annotator", "done", "assigned", "agreement_with_majority", "gold_accuracy"}
        assert row["done"] == 0 and row["assigned"] >= 4 and row["agreement_with_majority"] is None
    assert status["alpha_nominal"] is status["alpha_ordinal"] is status["fleiss_kappa"] is None

    arena = Arena.open()
    voters = [annotator_links.resolve(arena, t) for t in tokens]
    for voter in voters:                           # everyone answers "left" on every item
        while (item := an.next_item(arena, voter)) is not None:
            an.vote(arena, voter, item.assignment_id, "left", 2500)
    assert cli(["campaign", "status", "spring"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["labels"] == sum(a["done"] for a in status["annotators"]) > 12
    assert all(a["done"] == a["assigned"] for a in status["annotators"])
    assert all(isinstance(status[k], float) for k in ("alpha_nominal", "fleiss_kappa"))
    assert all(a["agreement_with_majority"] is not None for a in status["annotators"])

    assert cli(["campaign", "status", "spring", "--format", "table"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["annotator", "done", "assigned"] and len(table) == 4

    path = tmp_path / "labels.jsonl"
    assert cli(["campaign", "export", "spring", str(path)]) == 0
    assert f"wrote {status['labels']} labels" in capsys.readouterr().out
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["judge"] for r in rows} == {"ann", "bob", "cy"} and {r["winner"] for r in rows} == {"model_a"}
    assert cli(["rank", "--votes", str(path)]) == 0
    board = json.loads(capsys.readouterr().out)["leaderboards"][0]
    assert board["votes"] == sum(r["check"] != "repeat" for r in rows) == 12   # repeats out

    # the campaign's board from the database: the same votes, intervals clustered by annotator
    assert cli(["rank", "--campaign", "spring", "--format", "json"]) == 0
    own = json.loads(capsys.readouterr().out)["leaderboards"]
    task_board = next(b for b in own if b["task"] == "recolor")
    assert task_board["votes"] == 12
    assert any(w.startswith("3 voters, effective number") for w in task_board["warnings"])
    assert not any("treat votes as independent" in w for w in task_board["warnings"])
    assert exit_code(cli, ["rank", "--campaign", "nope"]) == 2
    assert exit_code(cli, ["rank", "--campaign", "spring", "--votes", str(path)]) == 2

    assert cli(["campaign", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == ["spring", "recolor", "6", "2"]

    assert cli(["campaign", "link", "spring", "--annotator", "bob", "--base-url", "https://x.org"]) == 0
    (url, token), = LINK.findall(capsys.readouterr().out)
    assert url.startswith("https://x.org/?annotate=")
    assert annotator_links.resolve(arena, token) == voters[1]
    assert annotator_links.resolve(arena, tokens[1]) is None       # the old link is void


@pytest.mark.parametrize("args,message", [
    (["status", "nope"], "unknown campaign 'nope'; known campaigns: spring"),
    (["export", "nope", "out.json"], "unknown campaign 'nope'"),
    (["link", "nope", "--annotator", "ann"], "unknown campaign 'nope'"),
    (["link", "spring", "--annotator", "zed"], "'zed' is not an annotator of campaign 'spring'"),
    (["create", "spring", "--task", "recolor", "--pairs", "2", "--overlap", "1", "--annotators", "a"],
     "campaign 'spring' exists already"),
    (["create", "x", "--task", "nope", "--pairs", "2", "--overlap", "1", "--annotators", "a"],
     "unknown task 'nope'; known tasks: recolor"),
    (["create", "x", "--task", "recolor", "--pairs", "2", "--overlap", "3", "--annotators", "a,b"],
     "--overlap must be between 1 and the number of annotators (2)"),
    (["create", "x", "--task", "recolor", "--pairs", "99", "--overlap", "1", "--annotators", "a"],
     "has 12 distinct pairs"),
    (["create", "x", "--pairs-file", "missing.csv", "--overlap", "1", "--annotators", "a"],
     "no such file"),
    (["create", "x", "--task", "recolor", "--pairs", "2", "--overlap", "1"], "--annotators"),
    (["create", "x", "--task", "recolor", "--pairs", "2", "--overlap", "1", "--annotators", "a",
      "--seed", "-1"], "--seed must be"),
    (["export", "spring", "labels.xlsx"], "unknown vote file format"),
    (["status"], "NAME"),
    ([], "ACTION"),
])
def test_bad_input_is_one_line_and_exit_code_2(cli, capsys, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(["campaign", "create", "spring", "--task", "recolor", "--pairs", "2",
                "--overlap", "1", "--annotators", "ann"]) == 0
    capsys.readouterr()
    code = exit_code(cli, ["campaign", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def exit_code(cli, args) -> int:
    """What the command exits with, whether it returns or argparse exits."""
    try:
        return cli(args)
    except SystemExit as exc:
        return exc.code


def test_the_module_runs_with_errors_as_one_line(tmp_path):
    from live_server import app_env, run_cli

    env = app_env(tmp_path)
    done = run_cli(["campaign", "status", "nope", "--format", "json"], env)
    assert done.returncode == 2 and done.stderr.startswith("arena campaign: error: unknown campaign")
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert "create" in run_cli(["campaign", "--help"], env).stdout
