"""rank(): the leaderboard contract, interval coverage, snapshots, Elo."""
import json
import time

import numpy as np
import pytest

from scoring import Comparisons, EmptyDataError, ScoringError, Votes, rank
from scoring.bradley_terry import SCALE
from scoring.leaderboard import interval_ranks

WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)


def simulate(m=8, n=4000, h=0.2, tie=0.1, seed=1, voters=100, spread=1.0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, spread, m)
    theta -= theta.mean()
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + h)))
    tie_draw = rng.random(n) < tie
    code = np.where(tie_draw, 2 + (rng.random(n) < 0.5), np.where(rng.random(n) < p, 0, 1))
    names = np.array([f"m{k:02d}" for k in range(m)], dtype=object)
    return names[a], names[b], WINNERS[code], rng.integers(0, voters, n), theta


def test_board_contract_and_json():
    a, b, w, v, _ = simulate()
    board = rank(Comparisons.from_battles(a, b, w, voter=v))
    d = json.loads(json.dumps(board.to_dict(), allow_nan=False))
    assert set(d) >= {"votes", "rows", "position_bias", "warnings", "snapshot", "method",
                      "intervals"}
    assert d["votes"] == 4000 and d["method"] == "bt" and d["intervals"] == "sandwich"
    row = d["rows"][0]
    assert set(row) == {"model", "score", "ci_low", "ci_high", "rank", "votes", "wins", "losses",
                        "ties", "both_bad", "both_bad_rate", "both_bad_low", "both_bad_high",
                        "provisional"}
    scores = [r["score"] for r in d["rows"]]
    assert scores == sorted(scores, reverse=True)
    assert abs(np.mean(scores) - 1000) < 1e-9
    assert sum(r["votes"] for r in d["rows"]) == 2 * 4000
    for r in d["rows"]:
        assert r["ci_low"] < r["score"] < r["ci_high"]
        assert r["wins"] + r["losses"] + r["ties"] + r["both_bad"] == r["votes"]
        assert r["both_bad_low"] <= r["both_bad_rate"] <= r["both_bad_high"]
    pb = d["position_bias"]
    assert pb["h_low"] < pb["h"] < pb["h_high"] and 0.5 < pb["p_left"] < 1


def test_rank_is_one_plus_models_clearly_above():
    low = np.array([10.0, 5.0, 0.0, -20.0])
    high = np.array([20.0, 12.0, 8.0, 4.0])
    assert interval_ranks(low, high).tolist() == [1, 1, 2, 3]


def test_provisional_rows():
    a, b, w, v, _ = simulate(m=4, n=200)
    a, b, w = list(a) + ["new", "m00"], list(b) + ["m01", "new"], list(w) + ["model_a", "tie"]
    board = rank(Comparisons.from_battles(a, b, w), min_votes=20)
    assert board.row("new").provisional and not board.row("m00").provisional
    wide = rank(Comparisons.from_battles(a, b, w), min_votes=0, max_ci_width=1.0)
    assert all(r.provisional for r in wide.rows)


def test_sandwich_interval_coverage_is_close_to_95_percent():
    t0 = time.perf_counter()
    hits = total = 0
    for s in range(250):
        a, b, w, v, theta = simulate(m=8, n=1500, h=0.1, tie=0.0, seed=1000 + s, voters=150)
        board = rank(Comparisons.from_battles(a, b, w, voter=v))
        for r in board.rows:
            true = 1000 + SCALE * theta[int(r.model[1:])]
            hits += r.ci_low <= true <= r.ci_high
            total += 1
    coverage = hits / total
    assert 0.93 <= coverage <= 0.97, coverage
    assert time.perf_counter() - t0 < 30


def test_bootstrap_agrees_with_sandwich_and_is_seeded():
    a, b, w, _, _ = simulate(m=10, n=6000, tie=0.2)
    c = Comparisons.from_battles(a, b, w)
    sw = rank(c, intervals="sandwich")
    bs = rank(c, intervals="bootstrap", rounds=300, seed=3)
    widths = np.array([[sw.row(m).ci_high - sw.row(m).ci_low, bs.row(m).ci_high - bs.row(m).ci_low]
                       for m in c.models])
    assert np.all(np.abs(widths[:, 1] / widths[:, 0] - 1) < 0.25)
    again = rank(c, intervals="bootstrap", rounds=300, seed=3)
    assert again.to_dict() == bs.to_dict()
    assert rank(c, intervals="bootstrap", rounds=300, seed=4).to_dict() != bs.to_dict()
    multi = rank(c, intervals="bootstrap", rounds=300, bootstrap="multinomial")
    assert multi.snapshot["params"]["bootstrap"] == "multinomial"


def test_bootstrap_of_100_models_is_fast():
    a, b, w, _, _ = simulate(m=100, n=100_000, spread=0.5)
    c = Comparisons.from_battles(a, b, w)
    t = time.process_time()
    board = rank(c, intervals="bootstrap", rounds=1000)
    # goal 3 s on one core; CPU time (not wall) so a busy machine does not fail it, with margin
    assert time.process_time() - t < 3.0 * 1.5
    assert len(board.rows) == 100 and all(r.ci_low < r.score < r.ci_high for r in board.rows)


def test_snapshot_identifies_the_data_and_the_estimator():
    a, b, w, v, _ = simulate()
    c = Comparisons.from_battles(a, b, w, voter=v)
    one, two = rank(c), rank(Comparisons.from_battles(a[::-1], b[::-1], w[::-1], voter=v[::-1]))
    assert one.snapshot == two.snapshot
    assert one.to_dict() == two.to_dict()
    snap = one.snapshot
    assert len(snap["cube_sha256"]) == 64 and snap["estimator"] == "bradley_terry/half"
    assert snap["params"]["intervals"] == "sandwich" and "version" in snap
    assert rank(c, ties="davidson").snapshot["estimator"] == "bradley_terry/davidson"
    fewer = Comparisons.from_battles(a[1:], b[1:], w[1:], voter=v[1:])
    assert rank(fewer).snapshot["cube_sha256"] != snap["cube_sha256"]


@pytest.mark.parametrize("ties", ["davidson", "rao-kupper"])
def test_tie_models_give_the_same_order(ties):
    a, b, w, v, _ = simulate(m=6, n=8000, tie=0.25)
    c = Comparisons.from_battles(a, b, w, voter=v)
    half, other = rank(c), rank(c, ties=ties)
    assert [r.model for r in half.rows] == [r.model for r in other.rows]
    assert other.ties == ties and 0.5 < other.position_bias.p_left < 1


def test_elo_needs_ordered_votes():
    a, b, w, v, _ = simulate(m=5, n=3000)
    votes = Votes.from_battles(a, b, w)
    board = rank(votes, method="elo")
    assert board.method == "elo" and board.intervals == "none"
    assert abs(np.mean([r.score for r in board.rows]) - 1000) < 1e-9
    bt = rank(votes)
    assert [r.model for r in board.rows][:2] == [r.model for r in bt.rows][:2]
    with pytest.raises(ScoringError, match="in order"):
        rank(votes.comparisons(), method="elo")
    boot = rank(votes, method="elo", intervals="bootstrap", rounds=20)
    assert all(r.ci_low <= r.ci_high for r in boot.rows)
    with pytest.raises(ScoringError, match="not available"):
        rank(votes, method="elo", intervals="sandwich")


def test_elo_update_rule():
    from scoring.elo import elo_ratings
    r = elo_ratings([0], [1], [0], 2)                    # left wins at equal ratings
    assert np.allclose(r, [1002.0, 998.0])
    r = elo_ratings([0, 0], [1, 1], [0, 2], 2)
    e = 1 / (1 + 10 ** ((998 - 1002) / 400))
    assert np.allclose(r, [1002 + 4 * (0.5 - e), 998 - 4 * (0.5 - e)])


def test_errors():
    with pytest.raises(EmptyDataError):
        rank(Comparisons.from_battles([], [], []))
    c = Comparisons.from_battles(["a", "b"], ["b", "a"], ["model_a", "model_b"])
    with pytest.raises(ScoringError, match="unknown method"):
        rank(c, method="trueskill")
    with pytest.raises(ScoringError, match="not available"):
        rank(c, intervals="jackknife")


def test_unidentifiable_position_bias_is_reported():
    c = Comparisons.from_battles(["a", "a", "a"], ["b", "b", "b"], ["model_a", "model_b", "tie"])
    board = rank(c)
    assert board.position_bias is None
    assert any("position bias" in x for x in board.warnings)


def test_few_voters_get_per_vote_intervals_not_collapsed_ones():
    a, b, w, v, _ = simulate(m=5, n=300, voters=3, seed=4)
    few = rank(Comparisons.from_battles(a, b, w, voter=v))
    independent = rank(Comparisons.from_battles(a, b, w))
    assert any("only 3 voter(s)" in note for note in few.warnings)
    assert [(r.ci_low, r.ci_high) for r in few.rows] == [(r.ci_low, r.ci_high) for r in independent.rows]
    one = rank(Comparisons.from_battles(a, b, w, voter=np.zeros(len(a), int)))
    assert min(r.ci_high - r.ci_low for r in one.rows) > 50       # one voter: still honest widths
    a, b, w, v, _ = simulate(m=5, n=3000, voters=40, seed=4)
    many = rank(Comparisons.from_battles(a, b, w, voter=v))
    assert not any("voter(s)" in note for note in many.warnings)
