"""The per-voter checks: each returns one :class:`Check` with a statistic per voter.

Every check compares a voter's answers with what the crowd's model expects for the very pairs
that voter was shown (see :mod:`.consensus`), so a voter who happened to see strong models on
the left is not mistaken for one with a left bias. A check reports

* ``z``: a signed-root statistic (see :mod:`.tails`; exact-tail where the effect is beyond
  the floor, the normal z elsewhere), negative when the voter is below the expectation;
* ``p``: its p-value (one-sided in the suspicious direction, or two-sided);
* ``effect``: how large the departure is, in units a person can read (a share of votes, or
  the reliability), so that a tiny but "significant" quirk of a voter with thousands of votes
  is not flagged;
* ``tests``: how many hypotheses the check tested for the voter (the favouritism check tests
  one per model), for the Bonferroni correction;
* ``detail``: the numbers a reason quotes.

Checks on decisive votes follow the item-response literature on person fit (Drasgow, Levine
& Williams 1985, "Appropriateness measurement with polychotomous item response models and
standardized indices", Brit. J. Math. Stat. Psych. 38: the log-likelihood ``l_0`` of a
voter's answers, here with its exact-tail signed root instead of the normal ``l_z``), on
Crowd-BT (:mod:`.crowd_bt`), and on binomial tests of left picks, per-model wins, ties and
fast votes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import betaincinv, ndtr

from .consensus import Consensus
from .crowd_bt import reliability, reliability_without_model
from .data import VoterData
from .tails import moments, signed_root


@dataclass(frozen=True, eq=False)
class Check:
    """One check's result for every voter (NaN where the voter was not tested)."""

    name: str
    z: np.ndarray
    p: np.ndarray
    effect: np.ndarray
    large: np.ndarray            # effect beyond the check's floor
    tests: np.ndarray
    detail: dict = field(default_factory=dict)

    @property
    def tested(self) -> np.ndarray:
        return np.isfinite(self.p)


def _lower(z):
    return ndtr(z)


def _two_sided(z):
    return np.minimum(1.0, 2 * ndtr(-np.abs(z)))


@dataclass(frozen=True, eq=False)
class DecisiveRows:
    """The decisive votes a model-based check can use, and which voters it gates in."""

    rows: np.ndarray          # row indices into VoterData
    voter: np.ndarray
    p_left: np.ndarray
    n: np.ndarray
    left_wins: np.ndarray
    gate: np.ndarray          # (n_voters,) bool: enough decisive votes to be tested

    @classmethod
    def build(cls, data: VoterData, cons: Consensus, min_decisive: int) -> "DecisiveRows":
        n = data.row_decisive
        rows = np.flatnonzero((n > 0) & np.isfinite(cons.p_left))
        voter = data.voter[rows]
        total = np.bincount(voter, n[rows], data.n_voters)
        gate = total >= min_decisive
        rows = rows[gate[voter]]
        return cls(rows, data.voter[rows], cons.p_left[rows], n[rows], data.counts[rows, 0],
                   gate)


def _mask(values, gate):
    out = np.asarray(values, dtype=float).copy()
    out[~gate] = np.nan
    return out


def person_fit(data: VoterData, d: DecisiveRows, floor: float) -> Check:
    """Agreement with the crowd's favourite, weighted by the log-odds of each pair: the
    voter's log-likelihood under the consensus (person fit), tested in its lower tail.

    The effect is on the reliability scale (1 follows the consensus, 0.5 random, 0 inverts),
    so ``floor`` is a reliability, like the Crowd-BT check's."""
    v = data.n_voters
    fav_left = d.p_left >= 0.5
    p_fav = np.where(fav_left, d.p_left, 1 - d.p_left)
    agree = np.where(fav_left, d.left_wins, d.n - d.left_wins)
    weight = np.abs(np.log(p_fav) - np.log1p(-p_fav))
    observed = np.bincount(d.voter, weight * agree, v)
    n = np.bincount(d.voter, d.n, v)
    against = n - np.bincount(d.voter, agree, v)
    expected = np.bincount(d.voter, d.n * (1 - p_fav), v)
    # Effect on the reliability scale: extra votes against the favourite over the most a
    # voter who inverts the consensus would add (the moment estimate of Crowd-BT's eta).
    span = np.bincount(d.voter, d.n * (2 * p_fav - 1), v)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = 1.0 - (against - expected) / span
    z, _, _ = signed_root(p_fav, d.n, d.voter, v, observed, weight=weight, continuity=False,
                          where=effect <= floor)
    z = _mask(z, d.gate)
    return Check("person_fit", z, _lower(z), _mask(effect, d.gate), effect <= floor,
                 d.gate.astype(float), {"n": n, "against": against, "expected": expected})


def crowd_reliability(data: VoterData, d: DecisiveRows, floor: float) -> Check:
    """Crowd-BT reliability and its likelihood-ratio test against a reliable voter.

    ``detail["without_model"]`` holds each voter's reliability without the votes that show
    each model (for the favouritism check)."""
    v = data.n_voters
    fav_left = d.p_left >= 0.5
    p_fav = np.where(fav_left, d.p_left, 1 - d.p_left)
    agree = np.where(fav_left, d.left_wins, d.n - d.left_wins)
    eta, z = reliability(p_fav, agree, d.n, d.voter, v)
    without = reliability_without_model(eta, p_fav, agree, d.n, d.voter, data.left[d.rows],
                                        data.right[d.rows], v, data.n_models)
    eta, z = _mask(eta, d.gate), _mask(z, d.gate)
    return Check("reliability", z, _lower(z), eta, eta <= floor, d.gate.astype(float),
                 {"n": np.bincount(d.voter, d.n, v), "without_model": without})


def side_bias(data: VoterData, d: DecisiveRows, floor: float) -> Check:
    """Left picks among decisive votes against the consensus expectation (two-sided)."""
    v = data.n_voters
    left = np.bincount(d.voter, d.left_wins, v)
    mean, _ = moments(d.p_left, d.n, d.voter, v)
    n = np.bincount(d.voter, d.n, v)
    effect = (left - mean) / np.maximum(n, 1)
    z, _, _ = signed_root(d.p_left, d.n, d.voter, v, left, where=np.abs(effect) >= floor)
    z = _mask(z, d.gate)
    return Check("side", z, _two_sided(z), _mask(effect, d.gate), np.abs(effect) >= floor,
                 d.gate.astype(float), {"n": n, "left": left, "expected": mean})


def side_shift(d: DecisiveRows, n_voters: int, candidates: np.ndarray,
               max_iter: int = 30) -> np.ndarray:
    """Each candidate voter's own left/right habit: the shift ``delta`` on the logit scale with
    ``sum n * sigmoid(logit(p_left) + delta) = left picks`` (0 for the other voters)."""
    delta = np.zeros(n_voters)
    rows = np.flatnonzero(candidates[d.voter])
    if len(rows) == 0:
        return delta
    voter, n, left = d.voter[rows], d.n[rows], d.left_wins[rows]
    p = np.clip(d.p_left[rows], 1e-9, 1 - 1e-9)
    logit = np.log(p) - np.log1p(-p)
    target = np.bincount(voter, left, n_voters)
    for _ in range(max_iter):
        q = 1 / (1 + np.exp(-(logit + delta[voter])))
        k1 = np.bincount(voter, n * q, n_voters)
        k2 = np.bincount(voter, n * q * (1 - q), n_voters)
        step = np.where(candidates, (target - k1) / np.maximum(k2, 1e-9), 0.0)
        delta = np.clip(delta + np.clip(step, -2, 2), -10, 10)
        if np.max(np.abs(step)) < 1e-6:
            break
    return delta


def tie_spam(data: VoterData, cons: Consensus, floor: float, min_votes: int) -> Check:
    """Tie or both_bad answers against the crowd's share on the same pairs (upper tail)."""
    v = data.n_voters
    n_row = data.row_votes
    undecided = data.counts[:, 2] + data.counts[:, 3]
    observed = np.bincount(data.voter, undecided, v)
    mean, _ = moments(cons.p_tie, n_row, data.voter, v)
    n = np.bincount(data.voter, n_row, v)
    gate = n >= min_votes
    effect = (observed - mean) / np.maximum(n, 1)
    z, _, _ = signed_root(cons.p_tie, n_row, data.voter, v, observed, where=effect >= floor)
    z = _mask(z, gate)
    return Check("ties", z, ndtr(-z), _mask(effect, gate), effect >= floor, gate.astype(float),
                 {"n": n, "ties": observed, "expected": mean})


def speed(data: VoterData, p0: float, floor: float, min_votes: int) -> Check | None:
    """Votes faster than ``data.fast_ms`` against a tolerated share ``p0`` (upper tail)."""
    if data.timed is None:
        return None
    v = data.n_voters
    timed, fast = data.timed.astype(float), data.fast.astype(float)
    z, _, _ = signed_root(np.full(v, p0), timed, np.arange(v), v, fast)
    gate = timed >= min_votes
    share = fast / np.maximum(timed, 1)
    z = _mask(z, gate)
    return Check("speed", z, ndtr(-z), _mask(share, gate), share >= floor, gate.astype(float),
                 {"n": timed, "fast": fast})


def _binomial_lower(k, n, p0):
    z, _, _ = signed_root(np.full(len(n), p0), n, np.arange(len(n)), len(n), k)
    return z


def retest(data: VoterData, p0: float, floor: float, min_pairs: int) -> Check | None:
    """Planted repeats: agreement with one's own earlier answer, and Cohen's kappa."""
    if data.retest is None:
        return None
    t = data.retest
    n = t.sum(axis=(1, 2))
    agree = np.trace(t, axis1=1, axis2=2)
    share = agree / np.maximum(n, 1)
    kappa = cohen_kappa(t)
    gate = n >= min_pairs
    z = _mask(_binomial_lower(agree, n, p0), gate)
    return Check("retest", z, _lower(z), _mask(share, gate), share <= floor,
                 gate.astype(float), {"n": n, "agree": agree, "kappa": kappa})


def gold(data: VoterData, p0: float, floor: float, min_pairs: int, level: float = 0.95) \
        -> Check | None:
    """Gold pairs (a clean edit against the unedited baseline): accuracy among decisive
    answers, with a Jeffreys (Beta-binomial) interval, tested below ``p0``."""
    if data.gold is None:
        return None
    correct, wrong = data.gold[:, 0], data.gold[:, 1]
    n = correct + wrong
    acc = correct / np.maximum(n, 1)
    low, high = jeffreys(correct, n, level)
    gate = n >= min_pairs
    z = _mask(_binomial_lower(correct, n, p0), gate)
    return Check("gold", z, _lower(z), _mask(acc, gate), acc <= floor, gate.astype(float),
                 {"n": n, "correct": correct, "low": low, "high": high,
                  "undecided": data.gold[:, 2]})


def cohen_kappa(table: np.ndarray) -> np.ndarray:
    """Cohen's kappa of square agreement tables, shape (..., k, k); NaN where undefined.

    Cohen (1960), "A coefficient of agreement for nominal scales", Educ. Psychol. Meas. 20.
    """
    n = table.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        po = np.trace(table, axis1=-2, axis2=-1) / n
        pe = (table.sum(axis=-1) * table.sum(axis=-2)).sum(axis=-1) / n ** 2
        return np.where((n > 0) & (pe < 1), (po - pe) / (1 - pe), np.nan)


def jeffreys(k, n, level: float = 0.95):
    """Jeffreys interval: quantiles of the Beta(k + 1/2, n - k + 1/2) posterior.

    Brown, Cai & DasGupta (2001), "Interval estimation for a binomial proportion", Statist.
    Sci. 16. The bounds are 0 and 1 at ``k = 0`` and ``k = n``.
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, betaincinv(k + 0.5, n - k + 0.5, a), 0.0)
        high = np.where(k < n, betaincinv(k + 0.5, n - k + 0.5, 1 - a), 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)
