"""The voter (cluster) bootstrap of a Bradley-Terry fit.

Votes of one voter are not independent (a voter has a taste, a habit, a side they favour), so
the bootstrap that matches the voter-clustered sandwich resamples voters, not votes: each round
draws ``G`` voters with replacement (multinomial weights over the ``G`` voters who voted) and
refits on the weighted sum of their per-voter count cubes. Field, C.A. & Welsh, A.H. (2007),
"Bootstrapping clustered data", JRSS B 69(3), 369-390; Cameron, Gelbach & Miller (2008),
"Bootstrap-based improvements for inference with clustered errors", REStat 90(3), 414-427.

The resampled cube is one ``np.bincount`` per outcome over the (voter, pair) rows; every
round is refitted by Newton from the full-data estimate, as in
:func:`scoring.intervals.bootstrap_params`.
"""
from __future__ import annotations

import numpy as np

from .bradley_terry import BTResult, warm_refit
from .clustered import DEFAULT_CORRECTION
from .data import Comparisons
from .errors import ScoringError
from .ties import TIE_MODELS

RESAMPLE = ("voters", "votes")


def voter_bootstrap_params(data: Comparisons, fit: BTResult, *, rounds: int = 1000,
                           seed: int = 0) -> np.ndarray:
    """Refit on ``rounds`` voter resamples; returns shape ``(rounds, len(fit.params))``.

    Without voter information every vote is its own voter (the multinomial vote bootstrap).
    """
    from .intervals import _active_rows, bootstrap_params

    if rounds < 2:
        raise ScoringError("rounds must be at least 2")
    if data.voter is None:
        return bootstrap_params(data, fit, rounds=rounds, seed=seed, kind="multinomial")
    m, tie = len(fit.models), TIE_MODELS[fit.ties]
    keep = data.counts.sum(axis=1) > 0
    i, j = _active_rows(data, fit)
    i, j, c, voter = i[keep], j[keep], data.counts[keep], data.voter[keep]
    rows = np.column_stack([c[:, 0], c[:, 1], c[:, 2] + c[:, 3]])   # tie and both_bad merge
    if not rows[:, 2].any():
        rows = rows[:, :2]
    key = i * m + j
    cells, cell = np.unique(key, return_inverse=True)
    dense = m * m <= max(4 * len(cells), 40000)
    if dense:
        ci, cj = np.arange(m * m) // m, np.arange(m * m) % m
        cell, n_cells = key, m * m
    else:
        ci, cj, n_cells = cells // m, cells % m, len(cells)
    _, who = np.unique(voter, return_inverse=True)
    n_voters = int(who.max()) + 1
    rng = np.random.default_rng(seed)
    out = np.empty((rounds, len(fit.params)))
    ridge = max(fit.ridge, 1e-6)
    counts = np.zeros((n_cells, 4))
    even = np.full(n_voters, 1.0 / n_voters)
    for r in range(rounds):
        w = rng.multinomial(n_voters, even).astype(float)[who]
        for k in range(rows.shape[1]):
            counts[:, k] = np.bincount(cell, w * rows[:, k], n_cells)
        out[r] = warm_refit(ci, cj, counts, m, tie, fit, ridge=ridge, dense=dense)
    return out


def small_sample_draws(data: Comparisons, fit: BTResult, draws: np.ndarray, *,
                       level: float = 0.95, correction: str = DEFAULT_CORRECTION):
    """Voter-bootstrap draws with the small-sample correction of the clustered sandwich.

    A voter bootstrap estimates the plain (CR0) clustered variance: it misses the leverage of
    busy voters and treats the spread as known. Each parameter's deviations from the point are
    scaled by ``sqrt(V_CR2 / V_CR0)`` (the bias reduction of :mod:`scoring.clustered`) times
    ``t_{G*-1} / z`` at ``level`` (Student t on the effective number of voters), which keeps
    the bootstrap's own shape and width relative to CR0. Returns ``(draws, ClusterMeat)``;
    without voter information the draws come back unchanged with ``None``.
    """
    from .clustered import t_quantile
    from .intervals import _bread_inverse, _centre, sandwich

    cov, info = sandwich(data, fit, correction=correction)
    if info is None:
        return draws, None
    inv = _bread_inverse(fit)
    plain = np.diag(_centre(fit, inv @ info.plain @ inv))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.sqrt(np.diag(cov) / plain)
    prob = 0.5 + level / 2
    scale = ratio * t_quantile(prob, info.effective - 1) / t_quantile(prob, np.inf)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return fit.params + (draws - fit.params) * scale, info


def resample_params(data: Comparisons, fit: BTResult, *, resample: str = "voters",
                    rounds: int = 1000, seed: int = 0, kind: str = "poisson") -> np.ndarray:
    """Bootstrap draws of ``fit.params``: voters resampled (default) or votes (``kind``)."""
    from .intervals import bootstrap_params

    if resample not in RESAMPLE:
        raise ScoringError(f"unknown resample {resample!r}; expected voters or votes")
    if resample == "votes":
        return bootstrap_params(data, fit, rounds=rounds, seed=seed, kind=kind)
    return voter_bootstrap_params(data, fit, rounds=rounds, seed=seed)
