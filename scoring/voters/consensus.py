"""The consensus a voter is judged against: per task, a Bradley-Terry fit of the decisive votes.

Ties and both_bad answers are left out of this fit on purpose: the checks that use it look at
decisive votes only, and ``P(left | decisive) = sigmoid(theta_i - theta_j + h)`` is exactly the
decisive-vote Bradley-Terry model (and also Davidson's model conditioned on a decision), while
counting a tie as half a win would pull every probability towards one half and make honest
voters with many votes look "too consistent" for strong models. Per-pair tie rates for the
tie check come from the same voters.

Each voter is judged against the consensus without that voter's own votes (DESIGN.md §4), so a
heavy rigger cannot mask itself by bending the model it pushes. One fit per voter is far too
slow for 20k voters; instead the full fit moves by one Newton step on the log-likelihood
without the voter, ``theta_(-v) = theta - (I - I_v)^{-1} g_v`` with ``g_v`` and ``I_v`` the
voter's score and information at the full fit and ``I`` the fit's information (the one-step
case-deletion estimate of Pregibon 1981, "Logistic regression diagnostics", Ann. Statist. 9,
§5, grouped by voter as in Cook & Weisberg 1982, *Residuals and Influence in Regression*,
§5.4). ``(I - I_v)^{-1} g_v`` is solved by a few fixed-point sweeps from ``I^{-1} g_v`` (a
Neumann series in the voter's share of the information), so the cost is one (m+1)-square
inverse per task and a few passes over the rows.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..bradley_terry import fit_bradley_terry
from ..data import Comparisons
from ..errors import EmptyDataError
from .data import VoterData

#: Votes of prior weight that pull a pair's tie share towards its task's share.
TIE_PRIOR = 20.0


@dataclass(frozen=True, eq=False)
class Consensus:
    """Per-row expectations under the crowd's model.

    ``p_left`` is the probability of a left answer given a decisive vote (NaN where the task's
    fit does not cover both models); ``p_tie`` the share of tie or both_bad answers that the
    crowd gives on the row's ``(task, left, right)`` pair; ``theta`` (n_tasks, n_models, NaN
    where unfitted) and ``h`` (n_tasks,) are the fitted strengths and position bias.
    """

    p_left: np.ndarray
    p_tie: np.ndarray
    theta: np.ndarray
    h: np.ndarray
    p_left_full: np.ndarray | None = None       # before leaving each row's voter out


def fit_consensus(data: VoterData, voter_weight: np.ndarray | None = None,
                  leave_out: bool = True) -> Consensus:
    """Fit the consensus from the voters with positive ``voter_weight`` (default: everyone);
    with ``leave_out``, each row's ``p_left`` is that of the fit without the row's voter."""
    keep = np.ones(len(data.voter), bool) if voter_weight is None else voter_weight[data.voter] > 0
    m, n_tasks = data.n_models, len(data.tasks)
    theta = np.full((n_tasks, m), np.nan)
    h = np.zeros(n_tasks)
    pair = (data.task * m + data.left) * m + data.right
    size = n_tasks * m * m
    cells = np.zeros((size, 4))
    for k in range(4):
        cells[:, k] = np.bincount(pair[keep], data.counts[keep, k], size)
    for t in range(n_tasks):
        block = cells[t * m * m:(t + 1) * m * m]
        dec = block[:, :2].sum(axis=1) > 0
        idx = np.flatnonzero(dec)
        if len(idx) == 0:
            continue
        counts = np.zeros((len(idx), 4))
        counts[:, :2] = block[idx, :2]
        cube = Comparisons(tuple(data.models), idx // m, idx % m, counts)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_bradley_terry(cube, ties="half", position_bias=True)
        except EmptyDataError:
            continue
        theta[t, fit.index] = fit.theta
        h[t] = fit.h
    d = theta[data.task, data.left] - theta[data.task, data.right] + h[data.task]
    with np.errstate(invalid="ignore"):
        p_left = 1.0 / (1.0 + np.exp(-d))
    p_full = p_left
    if leave_out:
        with np.errstate(invalid="ignore"):
            p_left = 1.0 / (1.0 + np.exp(-(d - _leave_voter_out(data, keep, p_left, theta))))
    # Tie or both_bad share per pair, shrunk towards the task's share with TIE_PRIOR votes.
    totals = cells.sum(axis=1).reshape(n_tasks, m * m)
    undecided = (cells[:, 2] + cells[:, 3]).reshape(n_tasks, m * m)
    task_rate = undecided.sum(axis=1) / np.maximum(totals.sum(axis=1), 1.0)
    rate = (undecided + TIE_PRIOR * task_rate[:, None]) / (totals + TIE_PRIOR)
    p_tie = rate.ravel()[pair]
    return Consensus(p_left, np.clip(p_tie, 0.01, 0.99), theta, h, p_full)


def _leave_voter_out(data: VoterData, keep, p_left, theta, sweeps: int = 2):
    """Per row: how much the logit of a left win drops once the row's voter is left out of
    its task's fit (0 for voters not in the fit); see the module docstring. All tasks at
    once: parameters ``(task, model)`` then ``(task, h)``, one (m+1)-square block per task."""
    n_tasks, m = theta.shape
    k = m + 1
    out = np.zeros(len(p_left))
    rows = np.flatnonzero(np.isfinite(p_left))
    if len(rows) == 0:
        return out
    t = data.task[rows]
    cols = np.stack([data.left[rows], data.right[rows], np.full(len(rows), m)], axis=1)
    sign = np.array([1.0, -1.0, 1.0])
    group = data.voter[rows] * n_tasks + t                    # (voter, task)
    n = data.row_decisive[rows] * keep[rows]
    p = p_left[rows]
    w = n * p * (1 - p)
    s = data.counts[rows, 0] * keep[rows] - n * p           # score of the logit, per row
    size = data.n_voters * n_tasks

    def per_group(values):                                   # sum of values * x per group
        return np.bincount(flat.ravel(), (values[:, None] * sign).ravel(),
                           size * k).reshape(size, k)

    info = np.zeros(n_tasks * k * k)
    for a in range(3):
        for b in range(3):
            info += np.bincount((t * k + cols[:, a]) * k + cols[:, b], w * sign[a] * sign[b],
                                n_tasks * k * k)
    info = info.reshape(n_tasks, k, k)
    fitted = np.isfinite(theta)
    info[:, :m, :m] += fitted[:, :, None] & fitted[:, None, :]  # fixes the strengths' level
    info[:, np.arange(m), np.arange(m)] += ~fitted               # unfitted: inert
    inv = np.linalg.inv(info + 1e-9 * np.eye(k))
    flat = group[:, None] * k + cols

    def solve(x):                                            # x @ inv of each group's task
        return np.matmul(x.reshape(-1, n_tasks, 1, k), inv).reshape(size, k)

    def project(u):
        return u.ravel()[flat] @ sign

    grad = per_group(s)
    u = solve(grad)
    for _ in range(sweeps):                                  # (I - I_v) u = g_v
        u = solve(grad + per_group(project(u) * w))
    out[rows] = project(u)
    return out
