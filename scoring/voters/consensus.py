"""The consensus a voter is judged against: per task, a Bradley-Terry fit of the decisive votes.

Ties and both_bad answers are left out of this fit on purpose: the checks that use it look at
decisive votes only, and ``P(left | decisive) = sigmoid(theta_i - theta_j + h)`` is exactly the
decisive-vote Bradley-Terry model (and also Davidson's model conditioned on a decision), while
counting a tie as half a win would pull every probability towards one half and make honest
voters with many votes look "too consistent" for strong models. Per-pair tie rates for the
tie check come from the same voters.
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


def fit_consensus(data: VoterData, voter_weight: np.ndarray | None = None) -> Consensus:
    """Fit the consensus from the voters with positive ``voter_weight`` (default: everyone)."""
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
    # Tie or both_bad share per pair, shrunk towards the task's share with TIE_PRIOR votes.
    totals = cells.sum(axis=1).reshape(n_tasks, m * m)
    undecided = (cells[:, 2] + cells[:, 3]).reshape(n_tasks, m * m)
    task_rate = undecided.sum(axis=1) / np.maximum(totals.sum(axis=1), 1.0)
    rate = (undecided + TIE_PRIOR * task_rate[:, None]) / (totals + TIE_PRIOR)
    p_tie = rate.ravel()[pair]
    return Consensus(p_left, np.clip(p_tie, 0.01, 0.99), theta, h)
