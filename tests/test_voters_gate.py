"""The decisive-vote gate and the test level through the views and `arena voters`: a sybil
swarm in a vote file is left out of the boards, and the settings reach the report."""
from __future__ import annotations

import argparse
import json

import pyarrow as pa
import pytest

from arena.cli import main
from arena.cli.voters import add_gate_options, gate_settings
from arena.files.battles import write_battles
from arena.views.voters import voter_cubes, voter_leaderboards, voter_settings
from scoring.simulate import simulate_crowd


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    crowd = simulate_crowd(voters=1500, votes=60_000, seed=6, rigged_rank=0.85,
                           tasks=("recolor", "text_edit"),
                           mix={"honest": 1480 / 1500, "sybil": 20 / 1500})
    path = tmp_path_factory.mktemp("swarm") / "votes.parquet"
    write_battles(pa.table({k: list(v) for k, v in crowd.columns().items()}), path)
    sybils = {v for v, t in zip(crowd.voters, crowd.types()) if t == "sybil"}
    return path, crowd, sybils


def test_voters_cli_takes_the_gate_and_the_level(swarm, capsys):
    path, crowd, sybils = swarm
    assert main(["voters", "--votes", str(path), "--flagged", "--min-decisive", "20",
                 "--alpha", "0.01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["alpha"] == 0.01
    flagged = {r["voter"] for r in out["voters"]}
    assert len(flagged & sybils) >= 18 and flagged <= sybils
    assert out["summary"]["pooled"]["groups"][0]["model"] == crowd.models[crowd.rigged_model]
    assert main(["voters", "--votes", str(path), "--min-decisive", "0"]) == 2


def test_gate_options_and_settings():
    p = argparse.ArgumentParser()
    add_gate_options(p)
    s = gate_settings(p.parse_args(["--min-decisive", "30", "--alpha", "0.1"]))
    assert (s.min_decisive, s.alpha) == (30, 0.1)
    assert voter_settings() == voter_settings(None, None) and voter_settings().min_decisive == 20


def test_boards_leave_the_swarm_out(swarm):
    path, crowd, sybils = swarm
    target = crowd.models[crowd.rigged_model]
    cubes, summary = voter_cubes("defended", path=str(path), settings=voter_settings(alpha=0.05))
    assert summary["pooled_flagged"] >= 18 and summary["min_decisive"] == 20
    assert set(cubes) >= {"recolor", "text_edit"}
    board = voter_leaderboards("defended", path=str(path), settings=voter_settings())
    assert board["voters"]["pooled_flagged"] >= 18 and "push one model" in board["note"]
    rows = {r["model"]: r for b in board["leaderboards"] if b["task"] == "recolor"
            for r in b["rows"]}
    assert rows[target]["score"] < rows[target]["score_all"]         # the lift is gone
