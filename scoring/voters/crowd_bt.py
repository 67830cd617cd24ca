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
    share = np.bincount(voter, agree, n_voters) / np.maximum(tot, _EPS)
    base = np.bincount(voter, n * (1 - p), n_voters) / np.maximum(tot, _EPS)
    slope = np.bincount(voter, n * c, n_voters) / np.maximum(tot, _EPS)
    eta = np.clip((share - base) / np.maximum(slope, _EPS), 0.0, 1.0)
    for _ in range(max_iter):
        e = eta[voter]
        pa = np.maximum(1 - p + e * c, _EPS)
        pd = np.maximum(p - e * c, _EPS)
        g = np.bincount(voter, agree * c / pa - dis * c / pd, n_voters)
        hess = np.bincount(voter, agree * (c / pa) ** 2 + dis * (c / pd) ** 2, n_voters)
        new = np.clip(eta + g / np.maximum(hess, _EPS), 0.0, 1.0)
        if np.max(np.abs(new - eta), initial=0.0) < 1e-7:
            eta = new
            break
        eta = new

    def loglik(e):
        pa = np.maximum(1 - p + e * c, _EPS)
        pd = np.maximum(p - e * c, _EPS)
        return np.bincount(voter, agree * np.log(pa) + dis * np.log(pd), n_voters)

    lam = np.maximum(2 * (loglik(eta[voter]) - loglik(np.ones_like(p))), 0.0)
    eta = np.where(tot > 0, eta, np.nan)
    return eta, np.where(tot > 0, -np.sqrt(lam), np.nan)
