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
from statistics import NormalDist

from .bradley_terry import BTResult, assemble, densify, warm_refit
from .clustered import CORRECTIONS, cluster_meat
from .data import Comparisons
from .errors import ScoringError
from .ties import TIE_MODELS


def _centre(fit: BTResult, a: np.ndarray) -> np.ndarray:
    """Sandwich ``a`` between projections that remove the mean of theta."""
    m = len(fit.models)
    p = np.eye(len(fit.params))
    p[:m, :m] -= 1.0 / m
    return p @ a @ p.T


def _bread(fit: BTResult) -> np.ndarray:
    """The negative Hessian with the gauge term ``11^T/m`` on theta (invertible)."""
    m = len(fit.models)
    b = fit.hessian.copy()
    b[:m, :m] += 1.0 / m
    return b


def _bread_inverse(fit: BTResult) -> np.ndarray:
    return np.linalg.inv(_bread(fit))


def model_cov(fit: BTResult) -> np.ndarray:
    """Inverse observed information (the model-based covariance) of ``fit.params``."""
    return _centre(fit, _bread_inverse(fit))


def _active_rows(data: Comparisons, fit: BTResult):
    if len(fit.index) == data.n_models:         # every model has votes: nothing to remap
        return data.left, data.right
    remap = np.full(data.n_models, -1)
    remap[fit.index] = np.arange(len(fit.index))
    return remap[data.left], remap[data.right]


def sandwich_cov(data: Comparisons, fit: BTResult, *, cluster: bool = True,
                 correction: str = "cr1") -> np.ndarray:
    """Huber-White covariance of ``fit.params``, clustered by voter when ``data.voter`` is set.

    ``cluster=False`` (or no voter column) treats every vote as independent (HC0).
    ``correction`` is the clustered small-sample correction: ``"cr1"`` (``G/(G-1)``), ``"cr2"``
    or ``"cr3"`` (see :mod:`scoring.clustered`).
    """
    return sandwich(data, fit, cluster=cluster, correction=correction)[0]


def sandwich(data: Comparisons, fit: BTResult, *, cluster: bool = True, correction: str = "cr2"):
    """``(covariance, ClusterMeat or None)``: :func:`sandwich_cov` with its effective clusters.

    The second item (per-parameter ``G*``, see :mod:`scoring.clustered`) is ``None`` when the
    votes are treated as independent.
    """
    if correction not in CORRECTIONS:
        raise ScoringError(f"unknown correction {correction!r}; expected one of "
                           + ", ".join(CORRECTIONS))
    m, tie = len(fit.models), TIE_MODELS[fit.ties]
    fit_h, tau = int(fit.position_bias), fit.params[m + fit.position_bias:]
    theta, h = fit.params[:m], fit.h
    inv = _bread_inverse(fit)
    if data.voter is None or not cluster:
        # the score of one vote of each outcome for every (left, right) pair, gathered per row
        cell = np.arange(m * m)
        table = tie.vote_scores(theta[cell // m] - theta[cell % m] + h, tau)     # (m*m, 4, q)
        pairs = data.pairs()
        i, j = _active_rows(pairs, fit)
        s = table[i * m + j]
        local = np.einsum("nk,nka,nkb->nab", pairs.counts, s, s)
        _, meat = assemble(i, j, m, np.zeros((len(i), s.shape[2])), local, fit_h, len(tau))
        return _centre(fit, inv @ meat @ inv), None
    i, j = _active_rows(data, fit)
    key = i * m + j
    g, neg = _row_scores(tie, theta, h, tau, i, j, key, data.counts, data.row_votes)
    result = cluster_meat(data.voter, i, j, g, neg, m, fit_h, len(fit.params), inv, correction,
                          bread=_bread(fit), key=key)
    return _centre(fit, inv @ result.meat @ inv), result


def _row_scores(tie, theta, h, tau, i, j, key, counts, n=None):
    """Each row's score ``(n, q)`` and information ``(n, q, q)`` at the fit.

    For ``half`` the sigmoid is taken once per ``(left, right)`` cell and gathered by ``key``:
    the same numbers as :meth:`~scoring.ties.Half.row_terms` on every row.
    """
    m = len(theta)
    if tie.name != "half" or m * m >= len(i):
        _, g, neg = tie.row_terms(theta[i] - theta[j] + h, tau, tie.prepare(counts), False)
        return g, neg
    from .ties import expit

    cell = np.arange(m * m)
    prob = expit(theta[cell // m] - theta[cell % m] + h)[key]
    if n is None:
        n = counts @ np.ones(4)
    g = counts @ _HALF_WINS                         # y = left + (tie + both_bad) / 2
    w = n * prob
    g -= w
    w *= 1 - prob
    return g[:, None], w[:, None, None]


#: ``counts @ _HALF_WINS`` gives the half model's wins ``y`` of each row.
_HALF_WINS = np.array([1.0, 0.0, 0.5, 0.5])


def _poisson_cdf(n: int, lam: float) -> np.ndarray:
    """``P(X <= k)`` for ``k = 0..n-1``, ``X ~ Poisson(lam)``, summed in log space."""
    k = np.arange(n)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n)))])
    log_pmf = k * np.log(lam) - lam - log_fact if lam > 0 else np.where(k == 0, 0.0, -np.inf)
    return np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)


class PoissonSampler:
    """Draws ``Poisson(lam)`` for a fixed vector of rates, by table inversion.

    Integer rates up to ``table_max`` (the usual vote counts) share one concatenated table of
    CDFs; a uniform ``u`` is first looked up in a grid of ``buckets`` cells per rate, which
    settles the draw unless a CDF step falls inside its bucket (then one ``searchsorted``).
    About 10x faster than ``Generator.poisson`` for the small counts of a cube, and exact.
    Other rates use ``Generator.poisson``.
    """

    def __init__(self, lam: np.ndarray, table_max: int = 2000, buckets: int = 1024):
        lam = np.asarray(lam, dtype=float)
        self.lam, self.n, self.q = lam, len(lam), buckets
        self.table = np.flatnonzero((lam == np.round(lam)) & (lam <= table_max))
        self.other = np.setdiff1d(np.arange(self.n), self.table)
        values, self.group = np.unique(lam[self.table].astype(int), return_inverse=True)
        edges = np.arange(buckets + 1) / buckets
        cdfs, lows, exact = [], [], []
        for g, v in enumerate(values):
            cdf = _poisson_cdf(int(v + 12 * np.sqrt(v) + 12), v)
            cdf[-1] = 1.0
            cdfs.append(g + cdf)
            lo = np.searchsorted(cdf, edges[:-1], side="right")
            lows.append(lo)
            exact.append(lo == np.searchsorted(cdf, edges[1:], side="left"))
        self.flat = np.concatenate(cdfs) if cdfs else np.zeros(0)
        self.offset = np.cumsum([0] + [len(c) for c in cdfs])[:-1]
        self.low = np.concatenate(lows).astype(np.int32) if lows else np.zeros(0, np.int32)
        self.exact = np.concatenate(exact) if exact else np.zeros(0, bool)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(self.n)
        if len(self.table):
            u = rng.random(len(self.table))
            cell = self.group * self.q + (u * self.q).astype(np.intp)
            k = self.low[cell]
            slow = np.flatnonzero(~self.exact[cell])
            if len(slow):
                g = self.group[slow]
                k[slow] = np.searchsorted(self.flat, g + u[slow], side="right") - self.offset[g]
            out[self.table] = k
        if len(self.other):
            out[self.other] = rng.poisson(self.lam[self.other])
        return out


def _cluster_meat(voter, i, j, g, m, fit_h, p, size=None):
    """``sum_c s_c s_c^T`` over voters ``c``, ``s_c`` the summed score of the voter's rows.

    Sums the scores per (voter, parameter) first, so the cost is at most ``p^2`` per voter
    however many votes a voter cast; includes the ``G/(G-1)`` small-sample factor. Rows in
    voter order (as cubes keep them): a voter with a single row adds ``g^2 x x^T``, summed per
    cell like the information; the other voters' sums fill a small ``voters x p`` table block by
    block, each block's ``S^T S`` by BLAS. Otherwise one dense table when that is small enough,
    else :func:`grouped_gram` from the nonzero entries.
    """
    if size is None:
        size = np.bincount(voter, minlength=int(voter.max()) + 1)
    used = np.count_nonzero(size)
    return _score_gram(voter, i, j, g, m, fit_h, p, size) * (used / max(used - 1, 1))


def _score_gram(voter, i, j, g, m, fit_h, p, size):
    """``sum_c s_c s_c^T`` without the small-sample factor (see :func:`_cluster_meat`)."""
    q = g.shape[1]
    per_row = 2 + fit_h + (q > 1)
    n_voters = len(size)
    if len(voter) > 1 and not np.any(voter[1:] < voter[:-1]):
        out = np.zeros((p, p))
        single = size[voter] == 1
        if single.any():
            r = np.flatnonzero(single)
            gg = g[r]
            out += assemble(i[r], j[r], m, gg, gg[:, :, None] * gg[:, None, :], fit_h, q - 1,
                            i[r] * m + j[r])[1]
            g = np.where(single[:, None], 0.0, g)       # a single row now adds exactly nothing
        many = int(np.count_nonzero(size > 1))
        if not many:
            return out
        # voters with several rows numbered 0..many-1 (a single row joins the voter before it)
        voter = np.maximum(np.cumsum(size > 1) - 1, 0)[voter]
        if many * p * p > 1024 * len(i) * per_row + (1 << 26):
            return out + _sparse_gram(voter, i, j, g, m, fit_h, p, many)
        step = max(1, (1 << 17) // p)
        cuts = np.searchsorted(voter, np.arange(0, many + step, step))
        for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
            if hi > lo:
                s = _score_sums(voter[lo:hi] - k * step, i[lo:hi], j[lo:hi], g[lo:hi], m, fit_h,
                                p, min(step, many - k * step))
                out += s.T @ s
        return out
    entries = len(i) * per_row
    if n_voters * p <= 4 * entries + (1 << 22) and n_voters * p * p <= 512 * entries + (1 << 26):
        # dense (voter x parameter) score sums and one S^T S by BLAS: cheaper than the sparse
        # route unless most voters touch only a few of the p parameters
        s = _score_sums(voter, i, j, g, m, fit_h, p, n_voters)
        return s.T @ s
    return _sparse_gram(voter, i, j, g, m, fit_h, p, n_voters)


def _sparse_gram(voter, i, j, g, m, fit_h, p, n_voters):
    """``sum_c s_c s_c^T`` from the nonzero (voter, parameter) sums (:func:`grouped_gram`)."""
    cols = [i, j] + ([np.full(len(i), m)] if fit_h else []) \
        + ([np.full(len(i), m + fit_h)] if g.shape[1] > 1 else [])
    vals = [g[:, 0], -g[:, 0]] + ([g[:, 0]] if fit_h else []) + ([g[:, 1]] if g.shape[1] > 1 else [])
    key = (voter.astype(np.int64)[:, None] * p + np.column_stack(cols)).ravel()
    weights = np.column_stack(vals).ravel()
    if n_voters * p <= 4 * len(key) + (1 << 22):
        summed = np.bincount(key, weights, n_voters * p)
        key = np.flatnonzero(summed)
        summed = summed[key]
    else:
        key, inverse = np.unique(key, return_inverse=True)
        summed = np.bincount(inverse, weights, len(key))
    return grouped_gram(key // p, key % p, summed, p)


def _score_sums(voter, i, j, g, m, fit_h, p, n_voters):
    """The ``(n_voters, p)`` table of each voter's summed score."""
    base = voter.astype(np.int64) * p
    s = np.bincount(base + i, g[:, 0], n_voters * p)
    s -= np.bincount(base + j, g[:, 0], n_voters * p)
    s = s.reshape(n_voters, p)
    if fit_h:
        s[:, m] = np.bincount(voter, g[:, 0], n_voters)
    if g.shape[1] > 1:
        s[:, m + fit_h] = np.bincount(voter, g[:, 1], n_voters)
    return s


def grouped_gram(group, col, val, p, *, max_pairs=1 << 22):
    """``sum_g a_g a_g^T`` for sparse vectors ``a_g`` given as entries sorted by ``group``.

    Groups with more than ``max(4, p / 16)`` entries go through dense blocks and BLAS; the rest expand
    their within-group entry pairs (at most ``max_pairs`` at a time) into one ``bincount``.
    Either way the cost is of the order of ``sum_g nnz_g^2``, like a sparse ``S^T S``.
    """
    out = np.zeros((p, p))
    if len(group) == 0:
        return out
    first = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    size = np.diff(np.append(first, len(group)))
    index = np.repeat(np.arange(len(first)), size)           # each entry's group number
    heavy = size > max(4, p // 16)
    # heavy groups: rows of dense blocks, S^T S by BLAS
    entries = np.flatnonzero(heavy[index])
    row = (np.cumsum(heavy) - 1)[index[entries]]
    bounds = np.searchsorted(row, np.arange(0, int(heavy.sum()) + 4096, 4096))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            at, r = entries[lo:hi], row[lo:hi] - row[lo]
            dense = np.zeros((r[-1] + 1, p))
            dense[r, col[at]] = val[at]
            out += dense.T @ dense
    # light groups: every within-group pair of entries, max_pairs at a time
    light = np.flatnonzero(~heavy[index])
    if len(light):
        reps = size[index[light]]
        ends = np.cumsum(reps)
        cuts = np.searchsorted(ends, np.arange(max_pairs, int(ends[-1]), max_pairs))
        for part in np.split(light, cuts):
            r = size[index[part]]
            a = np.repeat(part, r)
            b = np.repeat(first[index[part]], r) + np.arange(len(a)) - np.repeat(np.cumsum(r) - r, r)
            out += np.bincount(col[a] * p + col[b], val[a] * val[b], p * p).reshape(p, p)
    return out


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
    dense = m * m <= max(4 * len(i), 40000)
    if dense:
        i, j, c = densify(i, j, c, m)
    cells = np.column_stack([c[:, 0], c[:, 1], c[:, 2] + c[:, 3]])   # tie and both_bad merge
    if not cells[:, 2].any():
        cells = cells[:, :2]
    flat = cells.ravel()
    nonzero = np.flatnonzero(flat)
    total = int(round(flat.sum()))
    rng = np.random.default_rng(seed)
    out = np.empty((rounds, len(fit.params)))
    ridge = max(fit.ridge, 1e-6)
    counts = np.zeros((len(i), 4))
    view = counts[:, :cells.shape[1]]
    drawn = np.zeros(flat.shape)
    sampler = PoissonSampler(flat[nonzero])
    cdf = np.cumsum(flat[nonzero]) / flat.sum()
    for r in range(rounds):
        drawn[nonzero] = sampler.draw(rng)
        if kind == "multinomial":
            drawn[nonzero] = _condition_on_total(drawn[nonzero], total, cdf, rng)
        view[:] = drawn.reshape(cells.shape)
        out[r] = warm_refit(i, j, counts, m, tie, fit, ridge=ridge, dense=dense)
    return out


def _condition_on_total(x: np.ndarray, total: int, cdf: np.ndarray, rng) -> np.ndarray:
    """Turn a Poisson draw into a Multinomial(total, p) draw, exactly.

    Given its sum ``T``, a Poisson vector is Multinomial(T, p). If ``T > total``, drop
    ``T - total`` of its votes chosen uniformly without replacement; if ``T < total``, add
    ``total - T`` votes drawn from ``p`` (``cdf`` is its cumulative sum). Either way the result
    is a Multinomial(total, p) sample, at a cost of about ``sqrt(total)`` draws.
    """
    drawn_total = int(x.sum())
    if drawn_total > total:
        gone = rng.choice(drawn_total, drawn_total - total, replace=False)
        cells = np.searchsorted(np.cumsum(x), gone, side="right")
        return x - np.bincount(cells, minlength=len(x))
    if drawn_total < total:
        cells = np.minimum(np.searchsorted(cdf, rng.random(total - drawn_total), side="right"),
                           len(x) - 1)
        return x + np.bincount(cells, minlength=len(x))
    return x


def normal_interval(estimate, se, level: float = 0.95):
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return estimate - z * se, estimate + z * se


def percentile_interval(draws: np.ndarray, level: float = 0.95):
    lo, hi = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
    return lo, hi


def wilson(k, n, level: float = 0.95):
    """Wilson score interval for ``k`` successes in ``n`` trials (NaN where ``n == 0``)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
