"""Pareto fronts of preference score against latency, cost or energy per image.

A model is dominated when another model scores at least as high at no more latency (or cost,
or energy),
and is strictly better on one of the two; the front is the set of models nobody dominates.
Because scores are estimates, :func:`pareto_front` also reports each model's probability of
being on the front over voter-bootstrap draws of the scores (DESIGN.md §4), so a model that sits on
the front only by noise shows a low ``p_front``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .bradley_terry import BASE_SCORE, SCALE, fit_bradley_terry
from .data import Comparisons
from .errors import ScoringError
from .resample import RESAMPLE, resample_params, small_sample_draws


@dataclass(frozen=True)
class ParetoPoint:
    model: str
    score: float
    ci_low: float
    ci_high: float
    cost: float
    on_front: bool
    p_front: float | None
    dominated_by: tuple[str, ...]


@dataclass(frozen=True)
class ParetoFront:
    """The front of one task along one axis (``latency_s``, ``cost_usd`` or ``energy_wh``), best
    score first."""

    axis: str
    points: tuple[ParetoPoint, ...]

    @property
    def front(self) -> tuple[str, ...]:
        """Models on the front, cheapest first."""
        return tuple(p.model for p in sorted(self.points, key=lambda p: p.cost) if p.on_front)


def dominance(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """``D[..., j, i]`` is True when model ``j`` dominates model ``i``.

    ``scores`` may carry leading dimensions (draws); ``costs`` is one value per model.
    """
    s_j, s_i = scores[..., :, None], scores[..., None, :]
    c_j, c_i = costs[:, None], costs[None, :]
    return (s_j >= s_i) & (c_j <= c_i) & ((s_j > s_i) | (c_j < c_i))


def on_front(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Which models nobody dominates (works on a stack of score draws too)."""
    return ~dominance(scores, costs).any(axis=-2)


def pareto_front(models, scores, costs, *, ci_low=None, ci_high=None, draws=None,
                 axis: str = "latency_s") -> ParetoFront:
    """The Pareto front of ``scores`` (higher is better) against ``costs`` (lower is better).

    Parameters
    ----------
    models, scores, costs : sequences of equal length
        Models without a finite cost are left out.
    ci_low, ci_high : sequences, optional
        Score intervals to carry into the points.
    draws : array (rounds, n_models), optional
        Score draws (e.g. from :func:`score_draws`), giving ``p_front``.
    """
    models = list(models)
    scores, costs = np.asarray(scores, float), np.asarray(costs, float)
    if not (len(models) == len(scores) == len(costs)):
        raise ScoringError("models, scores and costs must have the same length")
    if np.any(costs[np.isfinite(costs)] < 0):
        raise ScoringError(f"{axis} must not be negative")
    keep = np.flatnonzero(np.isfinite(costs) & np.isfinite(scores))
    s, c = scores[keep], costs[keep]
    dom = dominance(s, c)
    front = ~dom.any(axis=0)
    p = on_front(np.asarray(draws, float)[:, keep], c).mean(axis=0) if draws is not None else None
    low = scores if ci_low is None else np.asarray(ci_low, float)
    high = scores if ci_high is None else np.asarray(ci_high, float)
    points = [ParetoPoint(models[k], float(scores[k]), float(low[k]), float(high[k]), float(costs[k]),
                          bool(front[n]), None if p is None else float(p[n]),
                          tuple(models[keep[j]] for j in np.flatnonzero(dom[:, n])))
              for n, k in enumerate(keep)]
    return ParetoFront(axis, tuple(sorted(points, key=lambda q: (-q.score, q.cost))))


def score_draws(data: Comparisons, *, rounds: int = 200, seed: int = 0, ties: str = "half",
                resample: str = "voters", position_bias="fit"
                ) -> tuple[tuple[str, ...], np.ndarray]:
    """Bootstrap draws of Bradley-Terry scores: (models, array of shape (rounds, n_models)).

    ``resample="voters"`` (default) draws voters with replacement, with the small-sample
    correction of the leaderboard's intervals (:func:`scoring.resample.small_sample_draws`),
    when the votes name at least :data:`~scoring.leaderboard.MIN_CLUSTERS` voters; otherwise,
    or with ``resample="votes"``, votes are resampled. ``position_bias`` is ``"fit"`` or
    ``"none"``, as for :func:`scoring.leaderboard.rank`.
    """
    from .leaderboard import MIN_CLUSTERS, _voters_with_votes, position_bias_flag

    if resample not in RESAMPLE:
        raise ScoringError(f"unknown resample {resample!r}; expected voters or votes")
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        fit = fit_bradley_terry(data, ties=ties, position_bias=position_bias_flag(position_bias))
        clusters = _voters_with_votes(data)
        by_voter = resample == "voters" and clusters is not None and clusters >= MIN_CLUSTERS
        params = resample_params(data, fit, resample="voters" if by_voter else "votes",
                                 rounds=rounds, seed=seed)
        if by_voter:
            params, _ = small_sample_draws(data, fit, params)
    return fit.models, BASE_SCORE + SCALE * params[:, :len(fit.models)]
