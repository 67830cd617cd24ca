"""Outcome models for one comparison, as functions of the linear predictor.

For a row with left model ``i`` and right model ``j``, ``d = theta_i - theta_j + h``. Each
model gives the log-likelihood of the four outcome counts (left, right, tie, both_bad) with its
derivatives in the local coordinates ``(d,)`` or ``(d, tau)``, where ``tau`` is the tie
parameter. :mod:`scoring.bradley_terry` assembles these into the full gradient and Hessian.

* ``half``: Bradley-Terry with a tie or both_bad scored as half a win for each side (FastChat /
  LMArena arena-rank): ``y = left + (tie + both_bad) / 2`` out of ``n`` trials of ``sigmoid(d)``.
  Bradley, R.A., Terry, M.E. (1952), Biometrika 39, 324-345.
* ``davidson``: ``P(left) ∝ e^{d/2}``, ``P(right) ∝ e^{-d/2}``, ``P(tie) ∝ nu`` with
  ``tau = log nu``. Davidson, R.R. (1970), JASA 65, 317-328.
* ``rao-kupper``: ``P(left) = sigmoid(d - tau)``, ``P(right) = sigmoid(-d - tau)``, tie the rest,
  ``tau = log theta > 0``. Rao, P.V., Kupper, L.L. (1967), JASA 62, 194-204.

both_bad counts as a tie in all three. Every log-likelihood here is concave in its local
coordinates, so Newton's method with a backtracking line search converges.
"""
from __future__ import annotations

import numpy as np


# numpy versions of scipy.special's expit/log_expit/logsumexp: importing scipy.special costs
# a few hundred milliseconds, a large share of `arena rank --votes FILE`.
def expit(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, without overflow warnings."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_expit(x):
    """``log(sigmoid(x))``, accurate in both tails."""
    return -np.logaddexp(0, -x)


def logsumexp(a, axis):
    top = np.max(a, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)


def _tie_share(counts: np.ndarray) -> float:
    total = counts.sum()
    return float((counts[:, 2] + counts[:, 3]).sum() / total) if total > 0 else 0.0


class Half:
    """Ties and both_bad as half a win (the default outcome map of DESIGN.md §4)."""

    name = "half"
    n_tau = 0
    #: outcome scores y_k of left, right, tie, both_bad
    Y = np.array([1.0, 0.0, 0.5, 0.5])

    @staticmethod
    def init_tau(counts):
        return np.zeros(0)

    @staticmethod
    def prepare(counts):
        """Sufficient statistics of the (n, 4) counts for :meth:`row_terms`: ``(y, n)``."""
        n = counts[:, 0] + counts[:, 1] + counts[:, 2] + counts[:, 3]
        return counts[:, 0] + 0.5 * (n - counts[:, 0] - counts[:, 1]), n

    @staticmethod
    def row_terms(d, tau, stats, with_ll=True):
        """Log-likelihood, gradient (n, 1) and negative Hessian (n, 1, 1) of each row."""
        y, n = stats
        p = expit(d)
        ll = y * d - n * np.logaddexp(0, d) if with_ll else None
        return ll, (y - n * p)[:, None], (n * p * (1 - p))[:, None, None]

    @staticmethod
    def vote_scores(d, tau):
        """Score of one vote of each outcome, shape (n, 4, 1)."""
        return (Half.Y[None, :] - expit(d)[:, None])[:, :, None]

    @staticmethod
    def left_share(d, tau):
        """Expected left score (win 1, tie 1/2) at predictor ``d``."""
        return expit(d)


class Davidson:
    """Davidson (1970) ties: ``P(tie) = nu sqrt(pi_i pi_j) / (pi_i + pi_j + nu sqrt(pi_i pi_j))``."""

    name = "davidson"
    n_tau = 1

    @staticmethod
    def init_tau(counts):
        t = min(max(_tie_share(counts), 1e-3), 0.999)
        return np.array([np.log(2 * t / (1 - t))])

    @staticmethod
    def prepare(counts):
        """``(left, right, tie + both_bad, total)`` counts of each row."""
        ct = counts[:, 2] + counts[:, 3]
        return counts[:, 0], counts[:, 1], ct, counts[:, 0] + counts[:, 1] + ct

    @staticmethod
    def _probs(d, tau):
        logits = np.stack([d / 2, -d / 2, np.full_like(d, tau[0])], axis=1)
        logz = logsumexp(logits, axis=1)
        return logits, logz, np.exp(logits - logz[:, None])

    @staticmethod
    def row_terms(d, tau, stats, with_ll=True):
        logits, logz, p = Davidson._probs(d, tau)
        c0, c1, ct, n = stats
        c = np.column_stack([c0, c1, ct])
        ll = (c * logits).sum(axis=1) - n * logz
        a, b, t = p[:, 0], p[:, 1], p[:, 2]
        g = np.column_stack([(c[:, 0] - c[:, 1]) / 2 - n * (a - b) / 2, c[:, 2] - n * t])
        neg = np.empty((len(d), 2, 2))
        neg[:, 0, 0] = n * ((a + b) / 4 - ((a - b) / 2) ** 2)
        neg[:, 0, 1] = neg[:, 1, 0] = -n * (a - b) * t / 2
        neg[:, 1, 1] = n * t * (1 - t)
        return ll, g, neg

    @staticmethod
    def vote_scores(d, tau):
        _, _, p = Davidson._probs(d, tau)
        md, mt = (p[:, 0] - p[:, 1]) / 2, p[:, 2]
        out = np.empty((len(d), 4, 2))
        out[:, 0, 0], out[:, 1, 0] = 0.5 - md, -0.5 - md
        out[:, 2, 0] = out[:, 3, 0] = -md
        out[:, 0, 1] = out[:, 1, 1] = -mt
        out[:, 2, 1] = out[:, 3, 1] = 1 - mt
        return out

    @staticmethod
    def left_share(d, tau):
        _, _, p = Davidson._probs(np.atleast_1d(d), tau)
        return p[:, 0] + p[:, 2] / 2


class RaoKupper:
    """Rao-Kupper (1967) ties: ``P(left) = pi_i / (pi_i + theta pi_j)``, ``theta = e^tau > 1``."""

    name = "rao-kupper"
    n_tau = 1

    @staticmethod
    def init_tau(counts):
        t = min(max(_tie_share(counts), 1e-3), 0.999)
        return np.array([np.log((1 + t) / (1 - t))])

    @staticmethod
    def prepare(counts):
        """``(left, right, tie + both_bad, total)`` counts of each row."""
        ct = counts[:, 2] + counts[:, 3]
        return counts[:, 0], counts[:, 1], ct, counts[:, 0] + counts[:, 1] + ct

    @staticmethod
    def _logp(d, k):
        lt = 2 * k + np.log(-np.expm1(-2 * k)) + log_expit(d - k) + log_expit(-d - k)
        return log_expit(d - k), log_expit(-d - k), lt

    @staticmethod
    def row_terms(d, tau, stats, with_ll=True):
        k = tau[0]
        ll_l, ll_r, ll_t = RaoKupper._logp(d, k)
        c0, c1, ct, _ = stats
        sl, sr = expit(k - d), expit(k + d)      # 1 - P(left), 1 - P(right)
        vl, vr = sl * (1 - sl), sr * (1 - sr)
        q = np.exp(-2 * k)
        bk, ck = 2 / (1 - q), 4 * q / (1 - q) ** 2
        ll = c0 * ll_l + c1 * ll_r + ct * ll_t
        g = np.column_stack([c0 * sl - c1 * sr + ct * (sl - sr),
                             -c0 * sl - c1 * sr + ct * (bk - sl - sr)])
        neg = np.empty((len(d), 2, 2))
        neg[:, 0, 0] = (c0 + ct) * vl + (c1 + ct) * vr
        neg[:, 0, 1] = neg[:, 1, 0] = -(c0 + ct) * vl + (c1 + ct) * vr
        neg[:, 1, 1] = (c0 + ct) * vl + (c1 + ct) * vr + ct * ck
        return ll, g, neg

    @staticmethod
    def vote_scores(d, tau):
        k = tau[0]
        sl, sr = expit(k - d), expit(k + d)
        bk = 2 / (1 - np.exp(-2 * k))
        out = np.empty((len(d), 4, 2))
        out[:, 0, 0], out[:, 0, 1] = sl, -sl
        out[:, 1, 0], out[:, 1, 1] = -sr, -sr
        out[:, 2, 0] = out[:, 3, 0] = sl - sr
        out[:, 2, 1] = out[:, 3, 1] = bk - sl - sr
        return out

    @staticmethod
    def left_share(d, tau):
        ll_l, _, ll_t = RaoKupper._logp(np.atleast_1d(d), tau[0])
        return np.exp(ll_l) + np.exp(ll_t) / 2


TIE_MODELS = {m.name: m for m in (Half, Davidson, RaoKupper)}
