"""Crowd-BT reliability of each voter, with a likelihood-ratio test against a reliable voter.

Crowd-BT (Chen, Bennett, Collins-Thompson & Horvitz 2013, "Pairwise ranking aggregation in a
crowdsourced setting", WSDM) gives each voter a reliability ``eta``: with probability ``eta``
the voter answers like the crowd's Bradley-Terry model, otherwise the reverse, so
``P(agrees with the favourite) = eta * p + (1 - eta) * (1 - p)``, with ``p >= 1/2`` the
model's probability of the favourite. ``eta = 1`` is a voter who follows the consensus,
``1/2`` one who answers at random, ``0`` one who inverts it.

Here the strengths are the consensus fit (not re-estimated per voter), so each voter's
log-likelihood is concave in ``eta`` and its maximum on ``[0, 1]`` is found by projected
Newton steps for all voters at once. The test of ``eta = 1`` is one-sided at the boundary:
``Lambda = 2 (l(eta_hat) - l(1))`` is distributed as ``1/2 chi2_0 + 1/2 chi2_1`` (Self & Liang
1987, JASA 82), so ``-sqrt(Lambda)`` is a standard normal lower-tail statistic.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-9


def reliability(p_fav, agree, n, voter, n_voters, *, max_iter: int = 30):
    """Maximum-likelihood reliability and its signed-root test against ``eta = 1``.

    Parameters
    ----------
    p_fav : ndarray (n_rows,)
        Consensus probability of the row's favourite, in ``[1/2, 1)``.
    agree, n : ndarray (n_rows,)
        Decisive votes for the favourite, and all decisive votes, of the row.
    voter : ndarray of int (n_rows,)

    Returns
    -------
    eta : ndarray (n_voters,)
        Reliability (NaN for voters without rows).
    z : ndarray (n_voters,)
        ``-sqrt(Lambda)``: 0 when ``eta_hat = 1``, negative below.
    """
    p = np.clip(p_fav, 0.5, 1 - _EPS)
    c = 2 * p - 1
    dis = n - agree
    tot = np.bincount(voter, n, n_voters)
    # The log-likelihood is concave in eta: where its slope at eta = 1 is not negative, the
    # maximum is eta = 1 and no iteration is needed.
    slope_at_1 = np.bincount(voter, agree * c / p - dis * c / (1 - p), n_voters)
    eta = np.ones(n_voters)
    active = slope_at_1 < 0
    rows = np.flatnonzero(active[voter])
    pr, cr, ar, dr, vr = p[rows], c[rows], agree[rows], dis[rows], voter[rows]
    share = np.bincount(vr, ar, n_voters) / np.maximum(tot, _EPS)
    base = np.bincount(vr, (ar + dr) * (1 - pr), n_voters) / np.maximum(tot, _EPS)
    span = np.bincount(vr, (ar + dr) * cr, n_voters) / np.maximum(tot, _EPS)
    eta[active] = np.clip((share - base) / np.maximum(span, _EPS), 0.0, 1.0)[active]
    for _ in range(max_iter):
        e = eta[vr]
        pa = np.maximum(1 - pr + e * cr, _EPS)
        pd = np.maximum(pr - e * cr, _EPS)
        ga, gd = cr / pa, cr / pd
        g = np.bincount(vr, ar * ga - dr * gd, n_voters)
        hess = np.bincount(vr, ar * ga * ga + dr * gd * gd, n_voters)
        new = np.where(active, np.clip(eta + g / np.maximum(hess, _EPS), 0.0, 1.0), eta)
        moved = np.abs(new - eta) >= 1e-7
        eta = new
        if not moved.any():
            break
        if moved.sum() < 0.5 * active.sum():        # keep iterating on the voters still moving
            active &= moved
            keep = active[vr]
            pr, cr, ar, dr, vr = pr[keep], cr[keep], ar[keep], dr[keep], vr[keep]

    below = np.flatnonzero(eta[voter] < 1)               # Lambda is 0 where eta_hat = 1
    pb, cb, ab, db, vb = p[below], c[below], agree[below], dis[below], voter[below]

    def loglik(e):
        pa = np.maximum(1 - pb + e * cb, _EPS)
        pd = np.maximum(pb - e * cb, _EPS)
        return np.bincount(vb, ab * np.log(pa) + db * np.log(pd), n_voters)

    lam = np.maximum(2 * (loglik(eta[vb]) - loglik(1.0)), 0.0)
    eta = np.where(tot > 0, eta, np.nan)
    return eta, np.where(tot > 0, -np.sqrt(lam), np.nan)


def reliability_without_model(eta, p_fav, agree, n, voter, left, right, n_voters, n_models,
                              *, min_votes: int = 10, margin: float = 3.0):
    """Each voter's reliability leaving out the votes that show one model, shape
    (n_voters, n_models): one Newton step from ``eta`` on the reduced log-likelihood, then
    moved ``margin`` standard errors towards 1 (the upper end of a confidence interval).

    The margin keeps a noisy estimate from a few remaining votes from making an honest
    voter's wins for a model look surprising; where fewer than ``min_votes`` decisive votes
    remain without the model, the result is 1 (the voter is compared with the consensus).
    """
    p = np.clip(p_fav, 0.5, 1 - _EPS)
    c = 2 * p - 1
    dis = n - agree
    e = np.nan_to_num(eta, nan=1.0)[voter]
    pa = np.maximum(1 - p + e * c, _EPS)
    pd = np.maximum(p - e * c, _EPS)
    ga, gd = c / pa, c / pd
    g = agree * ga - dis * gd
    h = agree * ga * ga + dis * gd * gd
    size = n_voters * n_models
    gl, gr = voter * n_models + left, voter * n_models + right

    def per_model(x):
        return (np.bincount(gl, x, size) + np.bincount(gr, x, size)).reshape(n_voters, n_models)

    g_all = np.bincount(voter, g, n_voters)[:, None]
    h_all = np.bincount(voter, h, n_voters)[:, None]
    n_all = np.bincount(voter, n, n_voters)[:, None]
    g_rest, h_rest, n_rest = g_all - per_model(g), h_all - per_model(h), n_all - per_model(n)
    base = np.nan_to_num(eta, nan=1.0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where(h_rest > _EPS, g_rest / h_rest, 0.0)
        se = np.where(h_rest > _EPS, 1.0 / np.sqrt(h_rest), np.inf)
    out = np.clip(base + step + margin * se, 0.0, 1.0)
    return np.where(n_rest >= min_votes, out, 1.0)
