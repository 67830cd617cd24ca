"""Pareto fronts: dominance, ties on either axis, missing costs, probability of being on the front."""
from __future__ import annotations

import numpy as np
import pytest

from scoring.data import Comparisons
from scoring.errors import ScoringError
from scoring.pareto import dominance, pareto_front, score_draws


def test_front_keeps_only_undominated_models():
    # fast-weak, mid, slow-strong are a front; "bad" is slower and worse than "mid".
    front = pareto_front(["fast", "mid", "slow", "bad"], [900, 1000, 1100, 950], [0.1, 1.0, 10.0, 2.0])
    assert front.front == ("fast", "mid", "slow")
    bad = next(p for p in front.points if p.model == "bad")
    assert not bad.on_front and bad.dominated_by == ("mid",)
    assert [p.model for p in front.points] == ["slow", "mid", "bad", "fast"]


def test_equal_cost_or_equal_score_dominates_only_with_a_strict_gain():
    d = dominance(np.array([1000.0, 1000.0, 990.0]), np.array([1.0, 1.0, 1.0]))
    assert not d[0, 1] and not d[1, 0]  # identical models do not dominate each other
    assert d[0, 2] and d[1, 2]  # same cost, higher score
    d = dominance(np.array([1000.0, 1000.0]), np.array([1.0, 2.0]))
    assert d[0, 1] and not d[1, 0]  # same score, cheaper


def test_models_without_cost_are_left_out_and_negative_costs_refused():
    front = pareto_front(["a", "b"], [1000, 900], [np.nan, 1.0])
    assert [p.model for p in front.points] == ["b"] and front.front == ("b",)
    with pytest.raises(ScoringError):
        pareto_front(["a"], [1000], [-1.0])


def test_probability_of_the_front_reflects_uncertainty():
    rng = np.random.default_rng(0)
    # "close" is cheaper than "best" and only slightly worse: it is on the front in every draw
    # where it scores below "best", and "best" is on the front in every draw.
    draws = np.column_stack([rng.normal(1100, 5, 500), rng.normal(1098, 5, 500), rng.normal(900, 5, 500)])
    front = pareto_front(["best", "close", "dominated"], draws.mean(0), [2.0, 1.0, 3.0], draws=draws)
    p = {q.model: q.p_front for q in front.points}
    assert p["close"] == 1.0  # cheaper than everyone able to beat it
    assert 0.5 < p["best"] < 1.0  # beaten at lower cost whenever "close" scores higher
    assert p["dominated"] == 0.0


def test_score_draws_centre_on_the_fit():
    a = ["x"] * 60 + ["y"] * 60 + ["x"] * 30
    b = ["y"] * 60 + ["z"] * 60 + ["z"] * 30
    w = (["model_a"] * 45 + ["model_b"] * 15) + (["model_a"] * 40 + ["model_b"] * 20) + ["model_a"] * 25 + ["model_b"] * 5
    models, draws = score_draws(Comparisons.from_battles(a, b, w), rounds=200, seed=1)
    assert draws.shape == (200, 3)
    means = dict(zip(models, draws.mean(0)))
    assert means["x"] > means["y"] > means["z"]
    assert np.allclose(draws.mean(1), 1000.0)
