"""Uncertainty for fitted Bradley-Terry models, and Wilson intervals for rates.

* :func:`sandwich_cov`: Huber-White sandwich ``B^-1 M B^-1`` with ``B`` the negative Hessian
  and ``M`` the outer products of score contributions summed within each voter (cluster-robust,
  with the ``G/(G-1)`` small-sample factor), or per vote without voter information. Robust to
  voters whose votes are correlated and to a mis-specified tie model (the ``half`` map is a
  quasi-likelihood). Huber (1967); White (1980); Cameron & Miller (2015), J. Human Resources 50.
* :func:`model_cov`: the inverse observed information, ``B^-1``.
* :func:`bootstrap_params`: seeded Poisson or multinomial resampling of the count cube (votes
  treated as independent), each round refitted by Newton from the full-data estimate.
  Hanley & MacGibbon (2006), "Creating non-parametric bootstrap samples using Poisson
  frequencies".
* :func:`wilson`: Wilson (1927) score interval for a binomial proportion.

Covariances are over ``BTResult.params`` (``[theta, h?, tau?]``) with ``theta`` centred, so the
direction ``1`` (a shift of every strength) has zero variance.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.stats import norm

from .bradley_terry import BTResult, assemble, newton
from .data import Comparisons
from .errors import ScoringError
from .ties import TIE_MODELS


def _centre(fit: BTResult, a: np.ndarray) -> np.ndarray:
    """Sandwich ``a`` between projections that remove the mean of theta."""
    m = len(fit.models)
    p = np.eye(len(fit.params))
    p[:m, :m] -= 1.0 / m
    return p @ a @ p.T


def _bread_inverse(fit: BTResult) -> np.ndarray:
    m = len(fit.models)
    b = fit.hessian.copy()
    b[:m, :m] += 1.0 / m
    return np.linalg.inv(b)


def model_cov(fit: BTResult) -> np.ndarray:
    """Inverse observed information (the model-based covariance) of ``fit.params``."""
    return _centre(fit, _bread_inverse(fit))


def _active_rows(data: Comparisons, fit: BTResult):
    remap = np.full(data.n_models, -1)
    remap[fit.index] = np.arange(len(fit.index))
    return remap[data.left], remap[data.right]


def sandwich_cov(data: Comparisons, fit: BTResult, *, cluster: bool = True) -> np.ndarray:
    """Huber-White covariance of ``fit.params``, clustered by voter when ``data.voter`` is set.

    ``cluster=False`` (or no voter column) treats every vote as independent (HC0).
    """
    m, tie = len(fit.models), TIE_MODELS[fit.ties]
    fit_h, tau = int(fit.position_bias), fit.params[m + fit.position_bias:]
    theta, h = fit.params[:m], fit.h
    i, j = _active_rows(data, fit)
    # one score per outcome for each possible (left, right) pair, then gathered per row
    keys = i * m + j
    table = tie.vote_scores(theta[np.arange(m * m) // m] - theta[np.arange(m * m) % m] + h, tau)
    if data.voter is None or not cluster:
        pairs = data.pairs()
        pi, pj = _active_rows(pairs, fit)
        pk = pi * m + pj
        s = table[pk]                                           # (n, 4, q)
        local = np.einsum("nk,nka,nkb->nab", pairs.counts, s, s)
        _, meat = assemble(pi, pj, m, np.zeros((len(pi), s.shape[2])), local, fit_h, len(tau))
    else:
        q = table.shape[2]
        g = np.zeros((len(keys), q))
        for k in range(4):
            g += data.counts[:, k, None] * table[keys, k, :]
        cols = [i, j] + ([np.full(len(i), m)] if fit_h else []) \
            + ([np.full(len(i), m + fit_h)] if q > 1 else [])
        vals = [g[:, 0], -g[:, 0]] + ([g[:, 0]] if fit_h else []) + ([g[:, 1]] if q > 1 else [])
        n_clusters = int(data.voter.max()) + 1
        scores = csr_matrix((np.concatenate(vals), (np.tile(data.voter, len(cols)),
                                                    np.concatenate(cols))),
                            shape=(n_clusters, len(fit.params)))
        used = np.count_nonzero(np.bincount(data.voter, minlength=n_clusters))
        meat = (scores.T @ scores).toarray() * (used / max(used - 1, 1))
    inv = _bread_inverse(fit)
    return _centre(fit, inv @ meat @ inv)


def bootstrap_params(data: Comparisons, fit: BTResult, *, rounds: int = 1000, seed: int = 0,
                     kind: str = "poisson") -> np.ndarray:
    """Refit on ``rounds`` resampled count cubes; returns shape ``(rounds, len(fit.params))``.

    ``kind="poisson"`` draws each cell count as Poisson(count); ``"multinomial"`` redraws the
    same total number of votes over the cells. Both resample votes, not voters. Rounds use the
    fit's ridge (at least 1e-6, so a round where a model happens never to lose stays finite).
    """
    if kind not in ("poisson", "multinomial"):
        raise ScoringError(f"unknown bootstrap kind {kind!r}; expected poisson or multinomial")
    if rounds < 2:
        raise ScoringError("rounds must be at least 2")
    m, tie = len(fit.models), TIE_MODELS[fit.ties]
    pairs = data.pairs()
    i, j = _active_rows(pairs, fit)
    c = pairs.counts
    cells = np.column_stack([c[:, 0], c[:, 1], c[:, 2] + c[:, 3]])   # tie and both_bad merge
    total = cells.sum()
    rng = np.random.default_rng(seed)
    out = np.empty((rounds, len(fit.params)))
    ridge = max(fit.ridge, 1e-6)
    for r in range(rounds):
        if kind == "poisson":
            drawn = rng.poisson(cells)
        else:
            drawn = rng.multinomial(int(round(total)), (cells / total).ravel()).reshape(cells.shape)
        counts = np.column_stack([drawn[:, 0], drawn[:, 1], drawn[:, 2], np.zeros(len(i))])
        x, *_ = newton(i, j, counts.astype(float), m, tie, fit.params, ridge=ridge,
                       fit_h=fit.position_bias, max_iter=50, tol=1e-8)
        x[:m] -= x[:m].mean()
        out[r] = x
    return out


def normal_interval(estimate, se, level: float = 0.95):
    z = norm.ppf(0.5 + level / 2)
    return estimate - z * se, estimate + z * se


def percentile_interval(draws: np.ndarray, level: float = 0.95):
    lo, hi = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
    return lo, hi


def wilson(k, n, level: float = 0.95):
    """Wilson score interval for ``k`` successes in ``n`` trials (NaN where ``n == 0``)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
