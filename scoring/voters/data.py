"""What voter quality is computed from: the count cube per (task, voter, left, right), plus
per-voter summaries of vote durations and of the planted checks.

:class:`VoterData` keeps one row per unique ``(task, voter, left model, right model)`` with the
counts of the four outcomes (left, right, tie, both_bad), like :class:`scoring.data.Comparisons`
but for every task at once and with one voter index shared by all tasks. It is built from
per-vote columns (:meth:`VoterData.from_votes`) or from rows already aggregated by a database
``GROUP BY`` (:meth:`VoterData.from_rows`), in both cases with ``numpy.bincount`` and no
Python loop per vote.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ..data import BATTLE_WINNERS, CHOICES
from ..errors import ScoringError, UnknownOutcomeError

_CHOICE_CODE = {**{c: i for i, c in enumerate(CHOICES)},
                **{w: i for i, w in enumerate(BATTLE_WINNERS)}}
#: Retest categories: preferred the model shown left the first time, the other one, neither.
RETEST_CATEGORIES = ("first_left_model", "first_right_model", "tie_or_both_bad")


def factorize(values, what: str) -> tuple[np.ndarray, tuple]:
    """Integer codes and the sorted distinct labels of a column (a set, then one C-level map)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=object)
    if arr.ndim != 1:
        raise ScoringError(f"{what} must be one-dimensional")
    if arr.dtype.kind in "iub":
        labels, codes = np.unique(arr, return_inverse=True)
        return codes.astype(np.intp), tuple(labels.tolist())
    distinct = set(arr.tolist())
    if None in distinct:
        raise ScoringError(f"{what} has missing values")
    labels = sorted(distinct, key=str)
    lookup = {label: i for i, label in enumerate(labels)}
    return np.fromiter(map(lookup.__getitem__, arr), np.intp, len(arr)), tuple(labels)


def choice_codes(values) -> np.ndarray:
    """Outcome codes 0..3 from codes, ``CHOICES`` names or battle ``winner`` labels."""
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind in "iu":
        if len(arr) and (arr.min() < 0 or arr.max() > 3):
            raise UnknownOutcomeError(np.unique(arr[(arr < 0) | (arr > 3)]).tolist(), range(4))
        return arr.astype(np.intp)
    codes, labels = factorize(arr, "choice")
    unknown = [x for x in labels if x not in _CHOICE_CODE]
    if unknown:
        raise UnknownOutcomeError(unknown, BATTLE_WINNERS + CHOICES)
    return np.array([_CHOICE_CODE[x] for x in labels], dtype=np.intp)[codes]


def _shared_models(left, right, models):
    la, ra = np.asarray(left), np.asarray(right)
    if models is not None and la.dtype.kind in "iu" and ra.dtype.kind in "iu":
        names = tuple(map(str, models))
        for col in (la, ra):
            if len(col) and (col.min() < 0 or col.max() >= len(names)):
                raise ScoringError(f"model index out of range 0..{len(names) - 1}")
        return names, la.astype(np.intp), ra.astype(np.intp)
    lc, ll = factorize(left, "left model")
    rc, rl = factorize(right, "right model")
    names = tuple(sorted(set(map(str, ll)) | set(map(str, rl)))) if models is None \
        else tuple(map(str, models))
    lookup = {n: k for k, n in enumerate(names)}
    missing = sorted(str(x) for x in set(ll) | set(rl) if str(x) not in lookup)
    if missing:
        raise ScoringError(f"votes name models not in models: {', '.join(missing[:10])}")
    lmap = np.array([lookup[str(x)] for x in ll], dtype=np.intp)
    rmap = np.array([lookup[str(x)] for x in rl], dtype=np.intp)
    return names, (lmap[lc] if len(lc) else lc), (rmap[rc] if len(rc) else rc)


@dataclass(frozen=True, eq=False)
class VoterData:
    """Votes of every task, aggregated per ``(task, voter, left, right)``.

    Attributes
    ----------
    voters, models, tasks : tuple
        Labels; ``voter``, ``left``/``right`` and ``task`` index into them.
    counts : ndarray, shape (n_rows, 4)
        Counts of left, right, tie and both_bad answers.
    timed, fast : ndarray of int, shape (n_voters,), or None
        Votes with a recorded duration, and of those the ones faster than ``fast_ms``.
    retest : ndarray, shape (n_voters, 3, 3), or None
        Planted repeats: first answer × repeated answer, in :data:`RETEST_CATEGORIES` (the
        repeated answer mapped back to the first showing's sides).
    gold : ndarray, shape (n_voters, 3), or None
        Gold pairs: correct answers, wrong answers, and tie or both_bad answers.
    exposure : ndarray, shape (n_voters, n_models, 2), or None
        Pairs shown to each voter that showed each model, and of those the ones voted on
        (the rest were skipped or left to expire); ``exposure_totals`` (n_voters, 2) counts
        each pair once.
    """

    voters: tuple
    models: tuple[str, ...]
    tasks: tuple[str, ...]
    task: np.ndarray
    voter: np.ndarray
    left: np.ndarray
    right: np.ndarray
    counts: np.ndarray
    timed: np.ndarray | None = None
    fast: np.ndarray | None = None
    fast_ms: float = 1500.0
    retest: np.ndarray | None = None
    gold: np.ndarray | None = None
    exposure: np.ndarray | None = None
    exposure_totals: np.ndarray | None = None
    #: Identities whose votes are assessed under another label (e.g. a pool of identities
    #: too new to be tested one by one, from one client address): original -> label.
    aliases: dict | None = None

    def __post_init__(self):
        n = len(self.voter)
        for name in ("task", "left", "right"):
            if getattr(self, name).shape != (n,):
                raise ScoringError(f"{name} must have one entry per row")
        if self.counts.shape != (n, 4):
            raise ScoringError("counts must have shape (n_rows, 4)")
        if n and np.any(self.left == self.right):
            raise ScoringError("a vote compares a model with itself")
        v = len(self.voters)
        for name, shape in (("timed", (v,)), ("fast", (v,)), ("retest", (v, 3, 3)),
                            ("gold", (v, 3))):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ScoringError(f"{name} must have shape {shape}")

    @property
    def n_voters(self) -> int:
        return len(self.voters)

    @property
    def n_models(self) -> int:
        return len(self.models)

    @cached_property
    def row_votes(self) -> np.ndarray:
        """All answers per row."""
        return self.counts.sum(axis=1)

    @cached_property
    def row_decisive(self) -> np.ndarray:
        """Left or right answers per row."""
        return self.counts[:, 0] + self.counts[:, 1]

    def votes(self) -> np.ndarray:
        """All answers per voter."""
        return np.bincount(self.voter, self.row_votes, self.n_voters)

    def decisive(self) -> np.ndarray:
        """Left or right answers per voter."""
        return np.bincount(self.voter, self.row_decisive, self.n_voters)

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_votes(cls, voter, left, right, choice, *, task=None, duration_ms=None,
                   fast_ms: float = 1500.0, models=None) -> "VoterData":
        """Aggregate per-vote columns (battle format or database rows).

        ``voter`` labels each vote's voter (the battle ``judge``); ``left``/``right`` are model
        names (``model_a`` shown left); ``choice`` is a code, a choice name or a battle
        ``winner`` label; ``task`` (optional) names the task; ``duration_ms`` (optional, NaN
        where unknown) feeds the speed check.
        """
        n = len(voter)
        vc, voters = factorize(voter, "voter")
        names, lc, rc = _shared_models(left, right, models)
        codes = choice_codes(choice)
        tc, tasks = (np.zeros(n, np.intp), ("",)) if task is None else factorize(task, "task")
        if not (len(lc) == len(rc) == len(codes) == len(tc) == n):
            raise ScoringError("vote columns differ in length")
        data = cls._aggregate(voters, names, tuple(map(str, tasks)), tc, vc, lc, rc, codes, None)
        if duration_ms is None:
            return data
        d = np.asarray(duration_ms, dtype=float)
        if d.shape != (n,):
            raise ScoringError("duration_ms must have one entry per vote")
        known = np.isfinite(d)
        timed = np.bincount(vc[known], minlength=len(voters)).astype(np.int64)
        fast = np.bincount(vc[known & (d < fast_ms)], minlength=len(voters)).astype(np.int64)
        return replace(data, timed=timed, fast=fast, fast_ms=float(fast_ms))

    @classmethod
    def from_rows(cls, voter, left, right, choice, count, *, task=None, models=None,
                  voters=None) -> "VoterData":
        """Aggregate rows already grouped by ``(task, voter, left, right, choice)`` with counts.

        ``voters`` optionally fixes the voter labels (and their order); every ``voter`` must
        be among them.
        """
        n = len(count)
        if voters is None:
            vc, voters = factorize(voter, "voter")
        else:
            voters = tuple(voters)
            lookup = {v: k for k, v in enumerate(voters)}
            try:
                vc = np.fromiter(map(lookup.__getitem__, voter), np.intp, n)
            except KeyError as exc:
                raise ScoringError(f"voter {exc.args[0]!r} is not among voters") from None
        names, lc, rc = _shared_models(left, right, models)
        codes = choice_codes(choice)
        tc, tasks = (np.zeros(n, np.intp), ("",)) if task is None else factorize(task, "task")
        w = np.asarray(count, dtype=float)
        return cls._aggregate(tuple(voters), names, tuple(map(str, tasks)), tc, vc, lc, rc,
                              codes, w)

    @classmethod
    def _aggregate(cls, voters, models, tasks, tc, vc, lc, rc, codes, w) -> "VoterData":
        m, v = len(models), len(voters)
        key = ((tc.astype(np.int64) * v + vc) * m + lc) * m + rc
        if len(key) and int(key.max()) + 1 <= 4 * len(key) + 65536:
            occupied = np.bincount(key)
            keys = np.flatnonzero(occupied)
            inverse = (np.cumsum(occupied > 0) - 1)[key]
        else:
            keys, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse * 4 + codes, weights=w, minlength=len(keys) * 4)
        counts = counts.reshape(len(keys), 4).astype(float)
        right = (keys % m).astype(np.intp)
        left = (keys // m % m).astype(np.intp)
        voter = (keys // (m * m) % v).astype(np.intp)
        task = (keys // (m * m * v)).astype(np.intp)
        if len(keys) and np.any(left == right):
            raise ScoringError(f"{int(np.sum(counts[left == right]))} vote(s) compare a model "
                               "with itself")
        return cls(tuple(voters), tuple(models), tuple(tasks), task, voter, left, right, counts)

    # -- planted checks -----------------------------------------------------------------------
    def with_retests(self, voter, first, repeat, swapped=True, count=None) -> "VoterData":
        """Attach planted repeats: per pair, the first and the repeated answer (choice codes or
        names), whether the repeat showed the sides swapped, and an optional count."""
        vc = self._voter_codes(voter)
        first, repeat = choice_codes(first), choice_codes(repeat)
        swapped = np.broadcast_to(np.asarray(swapped, dtype=bool), first.shape)
        cat1 = np.minimum(first, 2)
        cat2 = np.minimum(repeat, 2)
        flip = swapped & (cat2 < 2)
        cat2 = np.where(flip, 1 - cat2, cat2)
        w = None if count is None else np.asarray(count, dtype=float)
        table = np.bincount((vc * 3 + cat1) * 3 + cat2, weights=w, minlength=self.n_voters * 9)
        return replace(self, retest=table.reshape(self.n_voters, 3, 3))

    def with_gold(self, voter, choice, baseline_left, count=None) -> "VoterData":
        """Attach gold pairs: each answer and whether the baseline (the known wrong answer)
        was shown on the left."""
        vc = self._voter_codes(voter)
        codes = choice_codes(choice)
        base_left = np.broadcast_to(np.asarray(baseline_left, dtype=bool), codes.shape)
        outcome = np.where(codes >= 2, 2, np.where((codes == 1) == base_left, 0, 1))
        w = None if count is None else np.asarray(count, dtype=float)
        table = np.bincount(vc * 3 + outcome, weights=w, minlength=self.n_voters * 3)
        return replace(self, gold=table.reshape(self.n_voters, 3))

    def with_exposure(self, voter, left, right, voted, count=None) -> "VoterData":
        """Attach the pairs each voter was shown: per row the voter, both models (indices into
        ``models``), whether the pair was voted on, and an optional count. Rows of voters with
        no vote at all are left out (there is nothing of theirs to weigh)."""
        known = {v: k for k, v in enumerate(self.voters)}
        keep = np.fromiter((x in known for x in voter), bool, len(voter))
        vc = np.fromiter((known[x] for x, k in zip(voter, keep) if k), np.intp, int(keep.sum()))
        li, ri = np.asarray(left)[keep], np.asarray(right)[keep]
        done = np.asarray(voted, dtype=bool)[keep]
        w = np.ones(len(vc)) if count is None else np.asarray(count, dtype=float)[keep]
        v, m = self.n_voters, self.n_models
        shown = np.bincount(vc * m + li, w, v * m) + np.bincount(vc * m + ri, w, v * m)
        hit = np.bincount(vc * m + li, w * done, v * m) + np.bincount(vc * m + ri, w * done, v * m)
        totals = np.stack([np.bincount(vc, w, v), np.bincount(vc, w * done, v)], axis=1)
        exposure = np.stack([shown.reshape(v, m), hit.reshape(v, m)], axis=2)
        return replace(self, exposure=exposure, exposure_totals=totals)

    def with_durations(self, timed, fast, fast_ms: float) -> "VoterData":
        """Attach per-voter duration counts already aggregated (e.g. by SQL)."""
        return replace(self, timed=np.asarray(timed, dtype=np.int64),
                       fast=np.asarray(fast, dtype=np.int64), fast_ms=float(fast_ms))

    def _voter_codes(self, voter) -> np.ndarray:
        lookup = {v: k for k, v in enumerate(self.voters)}
        arr = np.asarray(voter, dtype=object) if not isinstance(voter, np.ndarray) else voter
        try:
            return np.fromiter(map(lookup.__getitem__, arr), np.intp, len(arr))
        except KeyError as exc:
            raise ScoringError(f"voter {exc.args[0]!r} has no votes") from None
