"""Comparisons and Votes: building the count cube from battles and aggregated rows."""
import numpy as np
import pyarrow as pa
import pytest

from scoring import (CHOICES, Comparisons, EmptyDataError, ScoringError, UnknownOutcomeError,
                     Votes)

A = ["x", "y", "x", "z", "x", "y"]
B = ["y", "x", "y", "x", "y", "z"]
W = ["model_a", "model_b", "tie", "tie (bothbad)", "model_a", "model_a"]
J = ["u1", "u1", "u2", "u2", "u1", "u3"]


def test_from_battles_counts_every_outcome():
    c = Comparisons.from_battles(A, B, W)
    assert c.models == ("x", "y", "z")
    assert c.n_votes == 6 and c.voter is None
    cube = {(c.models[i], c.models[j]): tuple(row) for i, j, row in zip(c.left, c.right, c.counts)}
    assert cube[("x", "y")] == (2.0, 0.0, 1.0, 0.0)
    assert cube[("y", "x")] == (0.0, 1.0, 0.0, 0.0)
    assert cube[("z", "x")] == (0.0, 0.0, 0.0, 1.0)
    assert cube[("y", "z")] == (1.0, 0.0, 0.0, 0.0)
    # per model: wins, losses, ties, both_bad
    assert c.model_counts()[0].tolist() == [3.0, 0.0, 1.0, 1.0]
    assert c.votes_per_model().tolist() == [5.0, 5.0, 2.0]


def test_from_battles_with_voters_keeps_one_row_per_voter_and_pair():
    c = Comparisons.from_battles(A, B, W, voter=J)
    assert c.voters == ("u1", "u2", "u3")
    rows = {(c.voters[v], c.models[i], c.models[j]): row.tolist()
            for v, i, j, row in zip(c.voter, c.left, c.right, c.counts)}
    assert rows[("u1", "x", "y")] == [2.0, 0.0, 0.0, 0.0]
    assert rows[("u2", "x", "y")] == [0.0, 0.0, 1.0, 0.0]
    assert len(rows) == 5
    pairs = c.pairs()
    assert pairs.voter is None and pairs.counts.sum() == 6


def test_from_counts_matches_from_battles_and_reaggregates():
    ref = Comparisons.from_battles(A, B, W, voter=J)
    codes = [CHOICES.index({"model_a": "left", "model_b": "right", "tie": "tie",
                            "tie (bothbad)": "both_bad"}[w]) for w in W]
    got = Comparisons.from_counts(None, A, B, codes, np.ones(6), voter=J)
    assert got.digest() == ref.digest()
    # the same votes as GROUP BY rows in another order, names for choices
    got2 = Comparisons.from_counts(("x", "y", "z"), ["x", "x", "y", "z", "y", "x"],
                                   ["y", "y", "z", "x", "x", "y"],
                                   ["left", "tie", "left", "both_bad", "right", "left"],
                                   [1, 1, 1, 1, 1, 1], voter=["u1", "u2", "u3", "u2", "u1", "u1"])
    assert got2.digest() == ref.digest()


def test_from_counts_accepts_indices_and_extra_models():
    c = Comparisons.from_counts(("a", "b", "c"), [0, 1], [1, 0], [0, 2], [3, 2])
    assert c.models == ("a", "b", "c") and c.n_votes == 5
    assert c.votes_per_model().tolist() == [5.0, 5.0, 0.0]


def test_arrow_columns_give_the_same_cube():
    ref = Comparisons.from_battles(A, B, W, voter=J)
    chunked = [pa.chunked_array([pa.array(col[:3]), pa.array(col[3:])]) for col in (A, B, W, J)]
    assert Comparisons.from_battles(*chunked[:3], voter=chunked[3]).digest() == ref.digest()


def test_unknown_outcome_labels_are_named():
    with pytest.raises(UnknownOutcomeError, match="'draw'.*'left_wins'|'left_wins'.*'draw'"):
        Comparisons.from_battles(A[:3], B[:3], ["model_a", "draw", "left_wins"])
    with pytest.raises(UnknownOutcomeError):
        Comparisons.from_counts(None, ["a"], ["b"], [7], [1])


def test_bad_columns_raise_scoring_errors():
    with pytest.raises(ScoringError, match="differ in length"):
        Comparisons.from_battles(A, B[:2], W)
    with pytest.raises(ScoringError, match="itself"):
        Comparisons.from_battles(["a"], ["a"], ["tie"])
    with pytest.raises(ScoringError, match="missing"):
        Comparisons.from_battles(["a", None], ["b", "a"], ["tie", "tie"])
    with pytest.raises(ScoringError, match="not in models"):
        Comparisons.from_counts(("a", "b"), ["a"], ["c"], [0], [1])


def test_empty_data_is_an_error():
    c = Comparisons.from_battles([], [], [])
    assert c.n_votes == 0
    with pytest.raises(EmptyDataError):
        c.require_votes()


def test_weights_and_reweighting():
    c = Comparisons.from_battles(A, B, W, voter=J, weight=[2, 1, 1, 1, 1, 1])
    assert c.n_votes == 7
    dropped = c.reweighted([1.0, 0.0, 1.0])        # drop voter u2
    assert dropped.n_votes == 5 and set(dropped.voter.tolist()) == {0, 2}


def test_votes_keep_order_and_aggregate():
    v = Votes.from_battles(A, B, W, voter=J)
    assert len(v) == 6 and v.choice.tolist() == [0, 1, 2, 3, 0, 0]
    assert v.comparisons().digest() == Comparisons.from_battles(A, B, W, voter=J).digest()
    assert v.digest() != Votes.from_battles(A[::-1], B[::-1], W[::-1], voter=J[::-1]).digest()


def test_many_votes_are_fast_enough():
    import time
    rng = np.random.default_rng(0)
    names = np.array([f"model-{k:03d}" for k in range(130)], dtype=object)
    n = 300_000
    a, b = rng.integers(0, 130, n), rng.integers(0, 129, n)
    b = b + (b >= a)
    w = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)[rng.integers(0, 4, n)]
    t = time.perf_counter()
    c = Comparisons.from_battles(names[a], names[b], w, voter=rng.integers(0, 5000, n))
    assert time.perf_counter() - t < 2.0
    assert c.n_votes == n


def test_digest_compact_format_still_tells_cubes_apart():
    """The snapshot hash (format 2) reads indices and whole counts at their smallest dtype,
    yet any change of a value, a count's fraction, its dtype range or the voter column shows."""
    base = Comparisons(("a", "b"), np.array([0, 1]), np.array([1, 0]),
                       np.array([[1.0, 2, 0, 0], [0, 3, 1, 0]]), np.array([0, 1]), ("x", "y"))
    same = Comparisons(("a", "b"), np.array([0, 1], np.int32), np.array([1, 0], np.int64),
                       np.array([[1.0, 2, 0, 0], [0, 3, 1, 0]]), np.array([0, 1]), ("x", "y"))
    assert base.digest() == same.digest() and len(base.digest()) == 64
    variants = [
        Comparisons(("a", "b"), base.left, base.right, base.counts + [[0.5, 0, 0, 0], [0] * 4],
                    base.voter, base.voters),
        Comparisons(("a", "b"), base.left, base.right, base.counts + [[256, 0, 0, 0], [0] * 4],
                    base.voter, base.voters),
        Comparisons(("a", "b"), base.left, base.right, base.counts),
        Comparisons(("a", "b"), base.left, base.right, base.counts, np.array([1, 0]), ("x", "y")),
        Comparisons(("a", "c"), base.left, base.right, base.counts, base.voter, base.voters),
        Comparisons(("a", "b"), base.right, base.left, base.counts, base.voter, base.voters),
    ]
    digests = {v.digest() for v in variants}
    assert len(digests) == len(variants) and base.digest() not in digests
