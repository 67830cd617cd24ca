"""Small-sample corrections of the voter-clustered sandwich, for when a few voters dominate.

The plain cluster-robust sandwich ``B^-1 (sum_g s_g s_g^T) B^-1`` is biased down when some
clusters carry much of the information: the residuals of a heavy voter are pulled toward that
voter's own votes by the fit (high leverage), and the variance estimate rests on a few
clusters, so normal quantiles are too narrow. Two standard remedies, combined here:

* **CR2** (bias-reduced linearisation; Bell & McCaffrey 2002, Survey Methodology 28(2),
  169-181; Pustejovsky & Tipton 2018, J. Business & Economic Statistics 36(4), 672-683):
  each cluster's residuals are multiplied by ``(I - H_gg)^{-1/2}``, ``H_gg`` the cluster's
  block of the (working-weighted) hat matrix. **CR3** uses ``(I - H_gg)^{-1}``, the jackknife
  (MacKinnon & White 1985, J. Econometrics 29). In score form, with ``B_g`` the cluster's share
  of the information and ``M = B_g^{1/2}``, the adjusted score is
  ``M (I - M B^-1 M)^{-1/2} M^+ s_g`` (exponent ``-1`` for CR3): only ``B_g``, ``s_g`` and
  ``B^-1`` are needed, so the aggregated count cube suffices. A singleton cluster has
  ``M (I - M B^-1 M)^{-1/2} M^+ = (1 - h_ii)^{-1/2}``: CR2 is then HC2 (MacKinnon & White 1985).
* **t quantiles on the effective number of clusters** (Carter, Schnepel & Steigerwald 2017,
  Rev. Economics and Statistics 99(4), 698-709): per parameter ``k``,
  ``G*_k = (sum_g gamma_gk)^2 / sum_g gamma_gk^2`` with ``gamma_gk = (B^-1 B_g B^-1)_kk`` the
  cluster's share of the variance under working independence; intervals use Student t with
  ``G*_k - 1`` degrees of freedom. Equal clusters give ``G* = G``; one voter with most of the
  information gives ``G*`` near 1. With equal cluster shapes this is the familiar
  ``(sum n_g)^2 / sum n_g^2``.

The exact adjustment costs an eigen-decomposition per cluster, so it is made for the clusters
whose leverage ``tr(B^-1 B_g)`` is at least :data:`LEVERAGE_FLOOR` (heaviest first, within a
budget of work); the others keep their plain score, which changes their contribution by a
factor of at most about ``1 + LEVERAGE_FLOOR``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .bradley_terry import assemble

CORRECTIONS = ("cr1", "cr2", "cr3")
#: The leaderboards' default: CR3 (the jackknife-like correction) held 0.94-0.96 coverage when
#: the ten busiest voters cast 75% of the votes, where CR2 fell to about 0.93
#: (benchmarks/bench_coverage.py).
DEFAULT_CORRECTION = "cr3"
#: Clusters with a leverage trace below this keep their unadjusted score.
LEVERAGE_FLOOR = 2e-3
#: Work (about the sum of cubed supports) allowed for the exact per-cluster adjustments.
WORK_BUDGET = 3e8
#: Largest eigenvalue of ``H_gg`` used (a voter who alone determines a parameter has 1).
MAX_LEVERAGE = 0.98


@dataclass(frozen=True, eq=False)
class ClusterMeat:
    """The (corrected) meat ``sum_g s~_g s~_g^T``, per-parameter effective clusters and notes.

    ``plain`` is the uncorrected sum ``sum_g s_g s_g^T`` (CR0, what a voter bootstrap
    estimates); ``effective`` has one ``G*`` per parameter (NaN for a parameter no cluster
    informs); ``clusters`` is the number of voters with votes; ``adjusted`` how many got the
    exact CR2/CR3 adjustment; ``capped`` how many hit :data:`MAX_LEVERAGE`.
    """

    meat: np.ndarray
    plain: np.ndarray
    effective: np.ndarray
    clusters: int
    adjusted: int
    capped: int


def _row_leverage(inv, i, j, neg, m, fit_h):
    """``tr(N_r X_r B^-1 X_r^T)`` of each row: its share of the hat matrix's trace."""
    k = inv[i, i] + inv[j, j] - 2 * inv[i, j]
    if fit_h:
        k = k + 2 * (inv[i, m] - inv[j, m]) + inv[m, m]
    out = neg[:, 0, 0] * k
    if neg.shape[1] > 1:
        t = m + fit_h
        kt = inv[i, t] - inv[j, t] + (inv[m, t] if fit_h else 0.0)
        out += 2 * neg[:, 0, 1] * kt + neg[:, 1, 1] * inv[t, t]
    return out


def _adjust(s, bg, inv, power):
    """``M (I - M inv M)^power M^+ s`` with ``M = bg^{1/2}``; returns (adjusted s, capped?)."""
    lam, vec = np.linalg.eigh(bg)
    keep = lam > 1e-12 * max(lam.max(), 1e-300)
    lam, vec = lam[keep], vec[:, keep]
    root = np.sqrt(lam)
    a = (vec.T @ inv @ vec) * root[:, None] * root[None, :]
    mu, u = np.linalg.eigh(a)
    capped = bool(mu.max(initial=0.0) > MAX_LEVERAGE)
    mu = np.clip(mu, 0.0, MAX_LEVERAGE)
    core = (u * (1 - mu) ** power) @ u.T
    return vec @ (root * (core @ ((vec.T @ s) / root))), capped


def cluster_meat(voter, i, j, g, neg, m, fit_h, p, inv, correction="cr2") -> ClusterMeat:
    """The voter-clustered meat with a small-sample correction, and ``G*`` per parameter.

    ``g`` (rows, q) and ``neg`` (rows, q, q) are each row's summed score and information in
    the local coordinates ``(d, tau?)``; ``inv`` the inverse bread (with the gauge).
    ``correction`` is ``"cr1"`` (the plain sum times ``G/(G-1)``), ``"cr2"`` or ``"cr3"``.
    """
    from .intervals import _cluster_meat

    n_tau = g.shape[1] - 1
    order = np.argsort(voter, kind="stable")
    voter, i, j, g, neg = voter[order], i[order], j[order], g[order], neg[order]
    n_voters = int(voter.max()) + 1 if len(voter) else 0
    size = np.bincount(voter, minlength=n_voters)
    used = np.flatnonzero(size)
    base = _cluster_meat(voter, i, j, g, m, fit_h, p)          # includes G / (G - 1)
    n_used = len(used)
    factor = n_used / max(n_used - 1, 1)
    lev = np.bincount(voter, _row_leverage(inv, i, j, neg, m, fit_h), n_voters)
    start = np.concatenate([[0], np.cumsum(size)])
    heavy = used[np.argsort(-lev[used], kind="stable")]
    heavy = heavy[lev[heavy] >= LEVERAGE_FLOOR]
    work = np.cumsum(np.full(len(heavy), float(p) ** 3))
    heavy = heavy[work <= max(WORK_BUDGET, float(p) ** 3)]
    meat = base if correction == "cr1" else base / factor
    power = -0.5 if correction == "cr2" else -1.0
    cinv = inv.copy()
    cinv[:m] -= inv[:m].mean(axis=0)              # rows of the centred theta
    gamma_heavy = np.zeros((len(heavy), p))
    b_heavy = np.zeros((p, p))
    capped = 0
    for n, c in enumerate(heavy):
        r = slice(start[c], start[c + 1])
        s, bg = assemble(i[r], j[r], m, g[r], neg[r], fit_h, n_tau)
        b_heavy += bg
        gamma_heavy[n] = np.einsum("ka,ab,kb->k", cinv, bg, cinv)
        if correction != "cr1":
            adj, cap = _adjust(s, bg, inv, power)
            capped += cap
            meat = meat + np.outer(adj, adj) - np.outer(s, s)
    # effective clusters: the heavy ones exactly, the light ones sharing by leverage
    _, b_all = assemble(i, j, m, g, neg, fit_h, n_tau)
    light = np.setdiff1d(used, heavy, assume_unique=True)
    gamma_light = np.einsum("ka,ab,kb->k", cinv, b_all - b_heavy, cinv).clip(0)
    lev_light = lev[light]
    share2 = float((lev_light ** 2).sum() / lev_light.sum() ** 2) if lev_light.sum() > 0 else 0.0
    total = gamma_heavy.sum(axis=0) + gamma_light
    squares = (gamma_heavy ** 2).sum(axis=0) + gamma_light ** 2 * share2
    with np.errstate(invalid="ignore", divide="ignore"):
        effective = np.where(squares > 0, total ** 2 / squares, np.nan)
    return ClusterMeat(meat, base / factor, np.minimum(effective, n_used), n_used, len(heavy),
                       capped)


def t_quantile(prob: float, df) -> np.ndarray:
    """Student t quantile at ``prob`` for each ``df`` (NaN or infinite df: the normal one).

    Cornish-Fisher expansion in ``1/df`` to the fourth order (Abramowitz & Stegun 26.7.5),
    within 1e-3 of the exact value for ``df >= 4``; the exact closed forms for ``df`` 1 and 2,
    and ``scipy.special.stdtrit`` (imported only then) for other ``df < 4``.
    """
    z = NormalDist().inv_cdf(prob)
    df = np.atleast_1d(np.asarray(df, dtype=float))
    out = np.full(df.shape, z)
    ok = np.isfinite(df)
    v = df[ok]
    series = (z + (z ** 3 + z) / 4 / v + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96 / v ** 2
              + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384 / v ** 3
              + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z)
              / 92160 / v ** 4)
    small = v < 4
    if small.any():
        vs = np.maximum(v[small], 1.0)
        exact = np.where(vs == 1, math.tan(math.pi * (prob - 0.5)),
                         (2 * prob - 1) / np.sqrt(2 * prob * (1 - prob)))
        other = (vs != 1) & (vs != 2)
        if other.any():
            from scipy.special import stdtrit

            exact[other] = stdtrit(vs[other], prob)
        series[small] = exact
    out[ok] = series
    return out
