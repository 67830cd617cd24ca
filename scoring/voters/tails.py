"""Tail probabilities of per-voter sums of independent Bernoulli votes.

Most voter checks compare a count (left picks, wins of one model, agreements with the crowd's
favourite, ties) with what the consensus model expects, vote by vote. Under the null each vote
is an independent Bernoulli trial with its own probability, so the count is a Poisson-binomial
(or, with weights, a weighted Bernoulli) sum. Its Wald z is badly anti-conservative in the far
tails that a Bonferroni threshold over thousands of voters reaches when the probabilities are
skewed, so :func:`signed_root` returns the signed root of the exponential-tilting deviance,
``r = sign(t) * sqrt(2 * (t * s - K(t)))`` with ``K`` the cumulant generating function and
``K'(t) = s`` (Daniels 1954, "Saddlepoint approximations in statistics", Ann. Math. Statist.
25; Barndorff-Nielsen & Cox 1989, "Asymptotic techniques", ch. 4), with a half-unit continuity
correction for unweighted counts. ``Phi(-|r|)`` is then a one-sided p-value that stays close
to the exact tail far beyond ``|z| = 5``.

The tilt is solved only for groups whose Wald ``|z|`` reaches ``refine_above`` (default 3),
and where asked only for the groups a decision depends on: elsewhere the Wald z is kept, which
no decision needs refined, and 1M votes stay fast.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12


def moments(p, n, group, n_groups, weight=None):
    """Null mean and variance of each group's (weighted) Bernoulli sum."""
    w = 1.0 if weight is None else weight
    return (np.bincount(group, n * w * p, n_groups),
            np.bincount(group, n * w * w * p * (1 - p), n_groups))


def corrected(observed, mean, continuity: bool = True) -> np.ndarray:
    """The observed sum, moved half a unit towards its mean when ``continuity``."""
    s = np.asarray(observed, dtype=float).copy()
    if continuity:
        gap = s - mean
        s -= np.sign(gap) * np.minimum(0.5, np.abs(gap))
    return s


def wald(s, mean, var) -> np.ndarray:
    """``(s - mean) / sqrt(var)``, NaN where the variance is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, (s - mean) / np.sqrt(var), np.nan)


def signed_root(p, n, group, n_groups, observed, *, weight=None, continuity=True,
                where=None, refine_above: float = 3.0, max_iter: int = 40):
    """Signed-root statistic of observed per-group sums of independent Bernoulli votes.

    Parameters
    ----------
    p : ndarray (n_entries,)
        Success probability of each entry's votes under the null.
    n : ndarray (n_entries,)
        Number of votes in each entry (counts may be fractional weights).
    group : ndarray of int (n_entries,)
        Group (voter, or voter × model) of each entry.
    n_groups : int
    observed : ndarray (n_groups,)
        Observed sum of ``weight`` over successes in each group.
    weight : ndarray (n_entries,), optional
        Value a success adds (default 1: a count).
    continuity : bool
        Move the observed count half a unit towards its mean (counts only).
    where : ndarray of bool (n_groups,), optional
        Groups for which the exact-tail statistic is wanted (those a decision depends on);
        the others, and all groups with Wald ``|z| < refine_above``, keep the Wald z.

    Returns
    -------
    r : ndarray (n_groups,)
        Positive above the null mean, negative below; NaN for groups without votes.
    mean, var : ndarray (n_groups,)
        Null mean and variance of the sum.
    """
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    n = np.asarray(n, dtype=float)
    w = np.ones_like(p) if weight is None else np.asarray(weight, dtype=float)
    mean = np.bincount(group, n * w * p, n_groups)
    var = np.bincount(group, n * w * w * p * (1 - p), n_groups)
    s = corrected(observed, mean, continuity and weight is None)
    r = wald(s, mean, var)
    wanted = np.abs(np.nan_to_num(r)) >= refine_above
    if where is not None:
        wanted &= where
    todo = np.flatnonzero(wanted)
    if len(todo) == 0:
        return r, mean, var
    r[todo] = _tilted(p, n, w, group, n_groups, s, mean, var, todo, max_iter)
    return r, mean, var


def _tilted(p, n, w, group, n_groups, s, mean, var, todo, max_iter):
    """Solve ``K'(t) = s`` per group by safeguarded Newton; return the signed roots."""
    local = np.full(n_groups, -1)
    local[todo] = np.arange(len(todo))
    g = local[group]
    keep = g >= 0
    p, n, w, g = p[keep], n[keep], w[keep], g[keep]
    k = len(todo)
    target = s[todo]
    top = np.bincount(g, n * w, k)                       # the largest attainable sum
    bound = 40.0 / max(float(w.max()), _EPS)
    lo, hi = np.full(k, -bound), np.full(k, bound)
    t = np.clip((target - mean[todo]) / np.maximum(var[todo], _EPS), -bound, bound)
    logit_p = np.log(p) - np.log1p(-p)
    # A sum at its smallest or largest value has its tilt at infinity: start there, and do not
    # wait for those groups to converge.
    at_edge = (target <= 1e-12) | (target >= top - 1e-12)
    t = np.where(target <= 1e-12, -bound, np.where(target >= top - 1e-12, bound, t))
    for _ in range(max_iter):
        q = 1.0 / (1.0 + np.exp(-(logit_p + t[g] * w)))
        k1 = np.bincount(g, n * w * q, k)
        k2 = np.bincount(g, n * w * w * q * (1 - q), k)
        diff = k1 - target
        lo = np.where(diff < 0, t, lo)
        hi = np.where(diff > 0, t, hi)
        step = t - diff / np.maximum(k2, _EPS)
        bad = (step <= lo) | (step >= hi) | ~np.isfinite(step)
        new = np.where(bad, 0.5 * (lo + hi), step)
        t = new
        if np.all((np.abs(diff) <= 1e-6 * (1 + np.abs(target))) | at_edge):
            break
    # K(t) = sum n * log(1 - p + p e^{tw}) = sum n * (log(1 - p) + softplus(logit p + t w))
    z = logit_p + t[g] * w
    cgf = np.bincount(g, n * (np.log1p(-p) + np.logaddexp(0.0, z)), k)
    dev = np.maximum(2.0 * (t * target - cgf), 0.0)
    return np.sign(target - mean[todo]) * np.sqrt(dev)
