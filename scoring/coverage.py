"""Simulated crowds with a known estimand, for measuring the coverage of interval methods.

A scenario fixes the number of models and votes, the number of voters, how the votes are
shared among them (the ``top`` busiest voters cast a share ``top_share`` of all votes, the rest
a log-normal spread) and the voters' taste: voter ``g`` sees model ``k`` at
``theta_k + delta_gk`` with ``delta_gk ~ N(0, taste^2)``, so the votes of one voter are
correlated and the clustered intervals matter. Each vote shows a uniformly drawn ordered pair,
left wins with ``sigmoid(theta_a + delta_ga - theta_b - delta_gb + h)``; a share ``tie_rate``
of votes are ties or both_bad (half each).

The estimand is the crowd's Bradley-Terry strength: the Bradley-Terry fit (with position term)
to the *expected* counts of the population, where the chance that ``a`` (left) beats ``b`` is
``E[sigmoid(theta_a - theta_b + h + e)]``, ``e ~ N(0, 2 taste^2)``, by Gauss-Hermite
quadrature. With taste, this is not ``theta`` itself (the logistic of a mixture is flatter).

Used by ``benchmarks/bench_coverage.py`` and the coverage tests.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .bradley_terry import BASE_SCORE, SCALE, fit_bradley_terry
from .data import Comparisons


@dataclass(frozen=True)
class Scenario:
    name: str
    voters: int = 200
    votes: int = 3000
    models: int = 8
    taste: float = 0.0
    top: int = 10
    top_share: float | None = None
    skew: float = 0.5
    spread: float = 1.0
    position_bias: float = 0.1
    tie_rate: float = 0.1


SCENARIOS = (
    Scenario("no taste"),
    Scenario("strong taste", taste=0.6),
    Scenario("top 10 cast 50%", taste=0.5, top_share=0.50),
    Scenario("top 10 cast 75%", taste=0.5, top_share=0.75),
    Scenario("few voters", voters=25, taste=0.5, skew=0.8),
)


def voter_shares(s: Scenario, rng) -> np.ndarray:
    """Each voter's expected share of the votes (shuffled: who is busy is not informative)."""
    w = rng.lognormal(0.0, s.skew, s.voters)
    w = w / w.sum()
    if s.top_share is not None:
        w[s.top:] *= (1 - s.top_share) / w[s.top:].sum()
        w[:s.top] = rng.dirichlet(np.full(s.top, 20.0)) * s.top_share
    return w[rng.permutation(s.voters)]


def population_scores(s: Scenario, theta: np.ndarray, position_term: bool = True) -> np.ndarray:
    """The estimand: scores of the BT fit to the population's expected counts (with or
    without the position term in the fit; the crowd always has ``s.position_bias``)."""
    m = len(theta)
    x, wts = np.polynomial.hermite_e.hermegauss(40)          # for N(0, 1)
    wts = wts / wts.sum()
    a, b = np.divmod(np.arange(m * m), m)
    keep = a != b
    a, b = a[keep], b[keep]
    d = theta[a] - theta[b] + s.position_bias
    p = (1 / (1 + np.exp(-(d[:, None] + np.sqrt(2) * s.taste * x[None, :])))) @ wts
    n = 1e6
    counts = np.column_stack([(1 - s.tie_rate) * p, (1 - s.tie_rate) * (1 - p),
                              np.full(len(p), s.tie_rate / 2), np.full(len(p), s.tie_rate / 2)])
    data = Comparisons(tuple(f"m{k:02d}" for k in range(m)), a, b, counts * n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bradley_terry(data, position_bias=position_term)
    return BASE_SCORE + SCALE * fit.theta


def draw_crowd(s: Scenario, seed: int):
    """One replication: ``(battle columns dict, true scores)``; columns in the battle format."""
    rng = np.random.default_rng(seed)
    m = s.models
    theta = rng.normal(0, s.spread, m)
    theta -= theta.mean()
    shares = voter_shares(s, rng)
    voter = rng.choice(s.voters, s.votes, p=shares)
    delta = rng.normal(0, s.taste, (s.voters, m)) if s.taste else np.zeros((s.voters, m))
    a = rng.integers(0, m, s.votes)
    b = (a + rng.integers(1, m, s.votes)) % m
    d = theta[a] + delta[voter, a] - theta[b] - delta[voter, b] + s.position_bias
    left = rng.random(s.votes) < 1 / (1 + np.exp(-d))
    tie = rng.random(s.votes) < s.tie_rate
    code = np.where(tie, 2 + (rng.random(s.votes) < 0.5), np.where(left, 0, 1))
    names = np.array([f"m{k:02d}" for k in range(m)], dtype=object)
    winners = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)
    cols = {"model_a": names[a], "model_b": names[b], "winner": winners[code],
            "judge": voter.astype(str).astype(object)}
    return cols, dict(zip(names.tolist(), population_scores(s, theta).tolist()))
