"""Rank agreement between boards (scoring.agreement) and the ``arena compare`` command."""
import argparse
import json

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from scoring import Comparisons, ScoringError, rank
from scoring.agreement import agreement, from_ranks, positions


def test_identical_and_reversed_boards():
    a = {"m1": 3.0, "m2": 2.0, "m3": 1.0, "m4": 0.0}
    same = agreement(a, dict(a), k=2)
    assert same.kendall_tau_b == pytest.approx(1) and same.spearman == pytest.approx(1)
    assert same.top_k_overlap == 1 and all(s.shift == 0 for s in same.shifts)
    rev = agreement(a, {m: -v for m, v in a.items()}, k=2)
    assert rev.kendall_tau_b == pytest.approx(-1) and rev.top_k_overlap == 0
    assert {s.model: s.shift for s in rev.shifts} == {"m1": 3, "m2": 1, "m3": -1, "m4": -3}


def test_matches_scipy_with_ties_and_reports_missing_models():
    rng = np.random.default_rng(0)
    names = [f"m{i}" for i in range(12)]
    a = dict(zip(names, rng.integers(0, 5, 12).astype(float)))
    b = dict(zip(names, rng.integers(0, 5, 12).astype(float)))
    b["extra"] = 9.0
    got = agreement(a, b, k=3)
    x, y = [a[m] for m in got.models], [b[m] for m in got.models]
    assert got.kendall_tau_b == pytest.approx(kendalltau(x, y, variant="b")[0])
    assert got.spearman == pytest.approx(spearmanr(x, y)[0])
    assert got.only_in_b == ("extra",) and got.only_in_a == ()
    assert 0 <= got.top_k_overlap <= 1


def test_positions_share_ties_and_ranks_convert():
    assert positions({"a": 5, "b": 5, "c": 1}) == {"a": 1, "b": 1, "c": 3}
    assert agreement(from_ranks({"a": 1, "b": 2, "c": 3}), {"a": 9, "b": 5, "c": 1}).kendall_tau_b \
        == pytest.approx(1)


def test_accepts_leaderboards_and_their_json():
    a = ["x", "y", "z", "x"] * 20
    b = ["y", "z", "x", "z"] * 20
    w = ["model_a", "model_a", "model_b", "tie"] * 20
    board = rank(Comparisons.from_battles(a, b, w))
    got = agreement(board, board.to_dict())
    assert got.kendall_tau_b == pytest.approx(1) and len(got.models) == 3


def test_bad_input():
    with pytest.raises(ScoringError, match="share 1 model"):
        agreement({"a": 1, "b": 2}, {"a": 1, "c": 2})
    with pytest.raises(ScoringError, match="finite"):
        agreement({"a": 1, "b": float("nan")}, {"a": 1, "b": 2})
    const = agreement({"a": 1, "b": 1}, {"a": 1, "b": 2})
    assert np.isnan(const.kendall_tau_b) and const.to_dict()["kendall_tau_b"] is None


# -- the command ---------------------------------------------------------------------------
def run_compare(argv, capsys):
    from arena.cli import compare

    parser = argparse.ArgumentParser()
    compare.add_parser(parser.add_subparsers())
    code = compare.run(parser.parse_args(["compare", *argv]))
    return code, capsys.readouterr().out


def write_boards(tmp_path):
    rank_json = {"leaderboards": [
        {"task": "overall", "rows": [{"model": "a", "score": 1100}, {"model": "b", "score": 1000},
                                     {"model": "c", "score": 900}]},
        {"task": "recolor", "rows": [{"model": "a", "score": 1}, {"model": "b", "score": 2}]}]}
    (tmp_path / "ours.json").write_text(json.dumps(rank_json))
    (tmp_path / "scores.csv").write_text("model,score\na,3\nc,2\nb,1\nd,0\n")
    (tmp_path / "ranks.csv").write_text("Model,Rank\nb,1\na,2\nc,3\n")
    return [str(tmp_path / n) for n in ("ours.json", "scores.csv", "ranks.csv")]


def test_compare_json_csv_and_table(tmp_path, capsys):
    paths = write_boards(tmp_path)
    code, out = run_compare([*paths, "--top", "2"], capsys)
    data = json.loads(out)
    assert code == 0 and data["reference"] == paths[0] and len(data["comparisons"]) == 2
    first, second = data["comparisons"]
    assert first["models"] == 3 and first["only_in_b"] == ["d"] and first["top_k_overlap"] == 0.5
    assert {s["model"]: s["shift"] for s in first["shifts"]} == {"a": 0, "b": 1, "c": -1}
    assert second["kendall_tau_b"] == pytest.approx(1 / 3)
    _, csv_out = run_compare([*paths, "--format", "csv"], capsys)
    lines = csv_out.splitlines()
    assert lines[0] == "board,model,position_a,position_b,shift,kendall_tau_b,spearman,top_k_overlap"
    assert len(lines) == 1 + 3 + 3
    _, table = run_compare([*paths, "--format", "table"], capsys)
    assert "kendall_tau_b" in table and "shift" in table
    _, task = run_compare([paths[0], paths[0], "--task", "recolor"], capsys)
    assert json.loads(task)["comparisons"][0]["models"] == 2


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ("model,votes\na,3\n", "needs a model column"),
    ("model,score\na,high\nb,2\n", "is not a number"),
    ("model,score\na,1\na,2\n", "appears twice"),
])
def test_compare_bad_input_is_one_line(tmp_path, capsys, content, message):
    from arena.cli import InputError

    good = write_boards(tmp_path)[1]
    bad = tmp_path / "bad.csv"
    if content is not None:
        bad.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        run_compare([good, str(bad)], capsys)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="at least two"):
        run_compare([good], capsys)
