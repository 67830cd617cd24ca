"""Active pair sampling: show the pair that most reduces the variance of rank-adjacent gaps.

What a leaderboard has to get right is the order of neighbours: whether model ``r_k`` is really
above ``r_{k+1}``. With Bradley-Terry strengths ``theta`` and their posterior covariance ``C``,
the uncertainty of that order is the variance of the gaps ``g_k^T theta`` with
``g_k = e_{r_k} - e_{r_{k+1}}`` for the models sorted by ``theta``. One more comparison of
``i`` and ``j`` adds ``w d d^T`` to the Fisher information (``d = e_i - e_j``,
``w = p_ij (1 - p_ij)``), so by the Sherman-Morrison formula it lowers ``sum_k Var(g_k^T theta)``
by

    ``w * sum_k (g_k^T C d)^2 / (1 + w d^T C d)``.

Drawing pairs in proportion to this reduction is the greedy step of an L-optimal design for the
contrasts ``g_k`` (A-optimality for the gaps instead of for ``theta`` itself; Pukelsheim 1993,
ch. 9); Chatbot Arena samples pairs by the expected shrinkage of their interval in the same
spirit (Chiang et al. 2024), and Jamieson & Nowak (2011) show that adaptive choice of
comparisons needs far fewer of them than a uniform design to recover a ranking. A share of
uniform draws keeps every pair's probability away from zero, so inverse-propensity estimators
stay usable (DESIGN.md §4).

Models with few or no votes have a large posterior variance (up to the prior's ``1/prior``), so
every gap next to them is uncertain and pairs that include them get a large reduction: this is
how the rule boosts models with few votes, without a separate term.

The strengths are a MAP fit with a Gaussian prior ``N(0, 1/prior)`` on each ``theta_i``, by
Newton's method on the dense ``m x m`` win matrix, so they and ``C`` are always finite, even for a
model that never lost or never played. Cost: one ``m x m`` inverse and ``O(m * k)`` for ``k``
candidate pairs, for ``m`` up to a few hundred models.

References: Bradley & Terry (1952), Biometrika 39; Pukelsheim (1993), *Optimal Design of
Experiments*, Wiley; Jamieson & Nowak (2011), "Active ranking using pairwise comparisons",
NeurIPS; Chiang et al. (2024), "Chatbot Arena: an open platform for evaluating LLMs by human
preference", ICML.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ScoringError

#: Precision of the Gaussian prior on each strength (log-odds units): a prior standard deviation
#: of about 3, weak next to a few dozen votes, yet enough to keep unbeaten models finite.
PRIOR = 0.1
#: Most Newton iterations of :func:`fit_strengths`; 5-8 are typical.
MAX_ITER = 50
#: Pair columns handled at once by :func:`gap_variance_reduction` (bounds its memory).
_BLOCK = 1 << 22


@dataclass(frozen=True, eq=False)
class StrengthFit:
    """Bradley-Terry MAP strengths with a Gaussian prior.

    ``theta`` (log-odds, shape ``(m,)``), ``covariance`` = inverse of (Fisher information +
    ``prior * I``) at ``theta``, ``order`` = model indices sorted strongest first (exact ties by
    index), ``iterations`` = Newton steps taken.
    """

    theta: np.ndarray
    covariance: np.ndarray
    order: np.ndarray
    prior: float
    iterations: int

    def gap_variances(self) -> np.ndarray:
        """``Var(theta_{r_k} - theta_{r_{k+1}})`` for the ``m - 1`` rank-adjacent gaps."""
        a, b = self.order[:-1], self.order[1:]
        c = self.covariance
        return c[a, a] + c[b, b] - 2 * c[a, b]


def win_matrix(n_models: int, left, right, score, counts=None) -> np.ndarray:
    """Accumulate outcomes into an ``m x m`` matrix of wins of row over column.

    Parameters
    ----------
    n_models : int
        Number of models ``m``; ``left`` and ``right`` index into ``range(m)``.
    left, right : array_like of int
        The two models of each row of outcomes (the side is ignored).
    score : array_like of float
        Score of ``left`` in ``[0, 1]``: 1 for a left win, 0 for a right win, 1/2 for a tie or
        both_bad (the FastChat / LMArena arena-rank outcome map).
    counts : array_like of float, optional
        How many votes each row stands for (default 1 each).

    Returns
    -------
    numpy.ndarray
        ``W`` with ``W[i, j]`` = wins of ``i`` over ``j``, ties counted half to each side.
    """
    m = _check_n_models(n_models)
    left = np.asarray(left)
    right = np.asarray(right)
    score = np.asarray(score, dtype=float)
    counts = np.ones(len(score)) if counts is None else np.asarray(counts, dtype=float)
    if not (left.ndim == right.ndim == score.ndim == counts.ndim == 1
            and len(left) == len(right) == len(score) == len(counts)):
        raise ScoringError("left, right, score and counts must be 1-d arrays of one length")
    if len(left) and not (np.issubdtype(left.dtype, np.integer)
                          and np.issubdtype(right.dtype, np.integer)):
        raise ScoringError("left and right must be integer model indices")
    if len(left) and (min(left.min(), right.min()) < 0 or max(left.max(), right.max()) >= m):
        raise ScoringError(f"model index out of range for {m} models")
    if np.any(left == right):
        raise ScoringError("a model cannot be compared with itself")
    if not (np.all(np.isfinite(score)) and np.all((score >= 0) & (score <= 1))):
        raise ScoringError("score must be in [0, 1]")
    if not (np.all(np.isfinite(counts)) and np.all(counts >= 0)):
        raise ScoringError("counts must be finite and non-negative")
    wins = np.zeros((m, m))
    np.add.at(wins, (left, right), score * counts)
    np.add.at(wins, (right, left), (1 - score) * counts)
    return wins


def fit_strengths(wins, *, prior: float = PRIOR, max_iter: int = MAX_ITER,
                  tol: float = 1e-9) -> StrengthFit:
    """MAP Bradley-Terry strengths and their covariance from a win matrix.

    Maximises ``sum_ij W_ij log sigmoid(theta_i - theta_j) - prior/2 |theta|^2`` by Newton's
    method with step halving (the objective is strictly concave, so it converges from 0). The
    negative Hessian is the graph Laplacian of ``N_ij p_ij (1 - p_ij)`` (``N = W + W^T``) plus
    ``prior * I``; its inverse is the Laplace-approximation covariance.

    Parameters
    ----------
    wins : array_like, shape (m, m)
        Wins of row over column (see :func:`win_matrix`); the diagonal must be zero.
    prior : float
        Precision of the Gaussian prior on each strength (> 0).

    Returns
    -------
    StrengthFit
    """
    w = _check_wins(wins)
    prior = _check_prior(prior)
    m = len(w)
    n = w + w.T

    def objective(theta):
        d = theta[:, None] - theta[None, :]
        return -(w * np.logaddexp(0.0, -d)).sum() - 0.5 * prior * theta @ theta

    theta = np.zeros(m)
    f = objective(theta)
    it = 0
    for it in range(1, max_iter + 1):
        p = _sigmoid(theta[:, None] - theta[None, :])
        grad = (w - n * p).sum(axis=1) - prior * theta
        info = _information(n * p * (1 - p), prior)
        step = np.linalg.solve(info, grad)
        t = 1.0
        for _ in range(30):
            f_new = objective(theta + t * step)
            if f_new >= f - 1e-12 * abs(f):
                break
            t /= 2
        theta, f = theta + t * step, f_new
        if np.max(np.abs(t * step)) < tol:
            break
    p = _sigmoid(theta[:, None] - theta[None, :])
    cov = np.linalg.inv(_information(n * p * (1 - p), prior))
    cov = 0.5 * (cov + cov.T)
    order = np.argsort(-theta, kind="stable")
    return StrengthFit(theta, cov, order, prior, it)


def gap_variance_reduction(fit: StrengthFit, pairs) -> np.ndarray:
    """How much one more comparison of each pair lowers the summed variance of adjacent gaps.

    For pair ``(i, j)``, ``d = e_i - e_j`` and ``w = p_ij (1 - p_ij)`` at ``fit.theta``, the
    Sherman-Morrison update of ``fit.covariance`` gives the reduction
    ``w * sum_k (g_k^T C d)^2 / (1 + w d^T C d)``, with ``g_k`` the rank-adjacent gap vectors.
    Vectorised: the rows of ``A = G C`` are differences of rows of ``C``, and ``A d`` for all
    pairs is a difference of two column selections of ``A``.

    Parameters
    ----------
    fit : StrengthFit
    pairs : array_like of int, shape (k, 2)
        Candidate pairs of model indices.

    Returns
    -------
    numpy.ndarray, shape (k,)
        Non-negative reductions, in squared log-odds units.
    """
    c, theta = fit.covariance, fit.theta
    pairs = _check_pairs(pairs, len(theta))
    i, j = pairs[:, 0], pairs[:, 1]
    a = c[fit.order[:-1]] - c[fit.order[1:]]  # (m - 1, m): row k is g_k^T C
    spread = np.empty(len(pairs))
    step = max(1, _BLOCK // max(1, len(a)))
    for start in range(0, len(pairs), step):
        s = slice(start, start + step)
        b = a[:, i[s]] - a[:, j[s]]
        spread[s] = np.einsum("kp,kp->p", b, b)
    d_c_d = c[i, i] + c[j, j] - 2 * c[i, j]
    p = _sigmoid(theta[i] - theta[j])
    w = p * (1 - p)
    return np.maximum(w * spread / (1 + w * d_c_d), 0.0)


def pair_weights(n_models: int, pairs, wins, *, uniform_share: float = 0.1,
                 prior: float = PRIOR) -> np.ndarray:
    """Sampling probabilities of candidate pairs: uniform mixed with gap-variance reduction.

    ``uniform_share / k + (1 - uniform_share) * r / sum(r)`` where ``r`` is
    :func:`gap_variance_reduction` of the MAP fit of ``wins``. Models with few or no votes have
    large variance, so pairs with them are boosted. With no votes at all there is no ranking to
    refine (every order of the models is equally likely), and when every reduction is negligible
    next to the gaps' variance, the probabilities are uniform.

    Parameters
    ----------
    n_models : int
        Number of models ``m``.
    pairs : array_like of int, shape (k, 2)
        Candidate (unordered) pairs of model indices in ``range(m)``, ``k >= 1``.
    wins : array_like, shape (m, m)
        Wins of row over column, ties counted half to each (see :func:`win_matrix`).
    uniform_share : float
        Share of the draws that is uniform over the pairs, in ``[0, 1]``.
    prior : float
        Precision of the Gaussian prior on each strength (see :func:`fit_strengths`).

    Returns
    -------
    numpy.ndarray, shape (k,)
        Probabilities summing to 1, each at least ``uniform_share / k``.

    Raises
    ------
    ScoringError
        Bad shapes, indices out of range, a pair of a model with itself, negative wins, or
        ``uniform_share`` / ``prior`` out of range.
    """
    m = _check_n_models(n_models)
    pairs = _check_pairs(pairs, m)
    w = _check_wins(wins)
    if w.shape != (m, m):
        raise ScoringError(f"wins must have shape ({m}, {m}), not {w.shape}")
    if not (0.0 <= float(uniform_share) <= 1.0):
        raise ScoringError(f"uniform_share must be in [0, 1], not {uniform_share!r}")
    k = len(pairs)
    uniform = np.full(k, 1.0 / k)
    if uniform_share == 1.0 or not w.any():
        return uniform
    fit = fit_strengths(w, prior=prior)
    reduction = gap_variance_reduction(fit, pairs)
    total = reduction.sum()
    if not np.isfinite(total) or total <= 1e-12 * fit.gap_variances().sum():
        return uniform
    probs = uniform_share / k + (1 - uniform_share) * reduction / total
    return probs / probs.sum()


# -- helpers -----------------------------------------------------------------------------------
def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _information(weights, prior):
    """Graph Laplacian of symmetric ``weights`` plus ``prior * I``."""
    info = -weights
    np.fill_diagonal(info, weights.sum(axis=1) - np.diag(weights) + prior)
    return info


def _check_n_models(n_models) -> int:
    if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or n_models < 2:
        raise ScoringError(f"n_models must be an integer >= 2, not {n_models!r}")
    return int(n_models)


def _check_prior(prior) -> float:
    prior = float(prior)
    if not (np.isfinite(prior) and prior > 0):
        raise ScoringError(f"prior must be a positive precision, not {prior!r}")
    return prior


def _check_wins(wins) -> np.ndarray:
    w = np.asarray(wins, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or len(w) < 2:
        raise ScoringError(f"wins must be a square m x m matrix with m >= 2, not shape {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ScoringError("wins must be finite and non-negative")
    if np.any(np.diag(w)):
        raise ScoringError("wins must have a zero diagonal (a model never plays itself)")
    return w


def _check_pairs(pairs, m: int) -> np.ndarray:
    p = np.asarray(pairs)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise ScoringError(f"pairs must be a non-empty k x 2 array, not shape {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        raise ScoringError("pairs must hold integer model indices")
    if p.min() < 0 or p.max() >= m:
        raise ScoringError(f"pair index out of range for {m} models")
    if np.any(p[:, 0] == p[:, 1]):
        raise ScoringError("a pair must be two different models")
    return p.astype(np.int64, copy=False)
