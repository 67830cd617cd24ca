"""Vote data for the rating models: the count cube of one task, and the ordered vote list.

Data preparation is kept apart from the models (as in LMArena's arena-rank ``PairDataset``):
:class:`Comparisons` holds one row per unique ``(voter, left model, right model)`` with the
counts of the four outcomes, which is all Bradley-Terry, its intervals and the bootstrap need.
:class:`Votes` keeps the votes in order, for the order-dependent Elo ticker.

Columns can be numpy arrays, sequences, or Arrow arrays (see :mod:`scoring.columns`); the
cube is built with one sort or ``np.bincount``, never a Python loop per vote.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .columns import (BATTLE_WINNERS, CHOICES, check_lengths, choice_codes, factorize,
                      model_codes, vote_weights)
from .errors import EmptyDataError, ScoringError

__all__ = ["BATTLE_WINNERS", "CHOICES", "Comparisons", "Votes"]
_DIGEST_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class Comparisons:
    """The count cube of one task: one row per unique ``(voter, left, right)``.

    Attributes
    ----------
    models : tuple of str
        Model names; ``left`` and ``right`` index into it.
    left, right : ndarray of int
        The model shown on the left and on the right.
    counts : ndarray of float, shape (n_rows, 4)
        Counts (or summed weights) of the outcomes :data:`CHOICES` = left, right, tie, both_bad.
    voter : ndarray of int or None
        Cluster index of each row (into ``voters``), or ``None`` without voter information.
    voters : tuple or None
        The voter labels, when known.
    """

    models: tuple[str, ...]
    left: np.ndarray
    right: np.ndarray
    counts: np.ndarray
    voter: np.ndarray | None = None
    voters: tuple | None = None

    def __post_init__(self):
        n = len(self.left)
        if self.right.shape != (n,) or self.counts.shape != (n, 4):
            raise ScoringError("left, right and counts (n, 4) must have matching rows")
        if self.voter is not None and self.voter.shape != (n,):
            raise ScoringError("voter must have one entry per row")
        if n and np.any(self.left == self.right):
            raise ScoringError(f"{int(np.sum(self.left == self.right))} row(s) compare a model "
                               "with itself")

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_counts(cls, models, left, right, choice, count=None, voter=None) -> "Comparisons":
        """Build from aggregated rows, e.g. ``GROUP BY voter, left, right, choice`` output.

        ``left``/``right`` are model names (or indices into ``models``); ``models`` may be
        ``None`` (then the sorted names seen) or list extra models that have no votes yet.
        ``choice`` is a code 0..3, a :data:`CHOICES` name or an arena ``winner`` label;
        ``count`` defaults to one vote per row. Repeated rows are summed.
        """
        models, lc, rc = model_codes(left, right, models)
        codes = choice_codes(choice, "choice")
        n = len(lc)
        check_lengths(left=lc, right=rc, choice=codes, voter=voter)
        w = None if count is None else vote_weights(count, n)
        return cls._aggregate(models, lc, rc, codes, voter, w)

    @classmethod
    def from_battles(cls, model_a, model_b, winner, voter=None, weight=None) -> "Comparisons":
        """Build from raw columns in the arena battle format.

        ``model_a`` was shown left, ``model_b`` right; ``winner`` is one of
        :data:`BATTLE_WINNERS` (``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``); an unknown
        label raises :class:`UnknownOutcomeError` naming it. ``voter`` (the ``judge`` column)
        gives the clusters of the sandwich intervals; ``weight`` optionally weighs each vote.
        """
        return Votes.from_battles(model_a, model_b, winner, voter, weight).comparisons()

    @classmethod
    def _aggregate(cls, models, lc, rc, codes, voter, w, voters=None) -> "Comparisons":
        m = len(models)
        pair = lc * m + rc
        if voter is not None and voters is None:
            voter, voters = factorize(voter, "voter")
        if voter is None:
            cells = np.bincount(pair * 4 + codes, weights=w, minlength=m * m * 4)
            cells = cells.reshape(m * m, 4)
            keys = np.flatnonzero(cells.any(axis=1))
            counts, vcol = cells[keys], None
        elif w is None:
            # one fast sort of (voter, pair, choice) keys; runs of equal keys are the counts
            n_voters = int(voter.max()) + 1 if len(voter) else 0
            wide = np.int32 if n_voters * m * m * 4 < 2 ** 31 else np.int64
            key = voter.astype(wide) * (m * m * 4)
            key += pair.astype(wide, copy=False) * 4
            key += codes
            key.sort()
            first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) \
                else np.zeros(0, np.intp)
            run = np.diff(np.append(first, len(key)))
            cell, choice = key[first] // 4, key[first] % 4
            new_row = np.concatenate([[True], cell[1:] != cell[:-1]]) if len(cell) else cell > 0
            row = np.cumsum(new_row) - 1
            keys = cell[new_row].astype(np.int64)
            counts = np.zeros((len(keys), 4))
            counts[row, choice] = run
            vcol = (keys // (m * m)).astype(np.intp)
            keys = keys % (m * m)
        else:
            key = voter.astype(np.int64) * (m * m) + pair
            keys, inverse = np.unique(key, return_inverse=True)
            counts = np.bincount(inverse * 4 + codes, weights=w,
                                 minlength=len(keys) * 4).reshape(len(keys), 4)
            vcol = (keys // (m * m)).astype(np.intp)
            keys = keys % (m * m)
        counts = counts.astype(float, copy=False)
        return cls(tuple(models), (keys // m).astype(np.intp), (keys % m).astype(np.intp),
                   counts, vcol, None if voters is None else tuple(voters))

    # -- summaries ----------------------------------------------------------------------------
    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_votes(self) -> int:
        """Total votes (summed weights, rounded)."""
        return int(round(float(self.pairs().counts.sum())))

    @cached_property
    def row_votes(self) -> np.ndarray:
        """Votes (summed weights) of each row: ``counts`` summed over the outcomes."""
        return self.counts @ np.ones(4)

    def model_counts(self) -> np.ndarray:
        """Per model, shape (n_models, 4): wins, losses, ties and both_bad votes."""
        return self._model_counts.copy()

    @cached_property
    def _model_counts(self) -> np.ndarray:
        p = self.pairs()
        m, c = self.n_models, p.counts
        out = np.empty((m, 4))
        out[:, 0] = np.bincount(p.left, c[:, 0], m) + np.bincount(p.right, c[:, 1], m)
        out[:, 1] = np.bincount(p.left, c[:, 1], m) + np.bincount(p.right, c[:, 0], m)
        for k in (2, 3):
            out[:, k] = np.bincount(p.left, c[:, k], m) + np.bincount(p.right, c[:, k], m)
        return out

    def votes_per_model(self) -> np.ndarray:
        """Votes in which each model appeared (either side)."""
        return self.model_counts().sum(axis=1)

    def pairs(self) -> "Comparisons":
        """The cube summed over voters: one row per unique ordered ``(left, right)`` pair."""
        return self if self.voter is None else self._pairs

    @cached_property
    def _pairs(self) -> "Comparisons":
        m = self.n_models
        cells = np.stack([np.bincount(self.left * m + self.right, self.counts[:, k], m * m)
                          for k in range(4)], 1) if m * m <= 4 * len(self.left) + 65536 else None
        if cells is not None:
            keys = np.flatnonzero(cells.any(axis=1))
            counts = cells[keys]
        else:
            keys, inverse = np.unique(self.left * m + self.right, return_inverse=True)
            counts = np.stack([np.bincount(inverse, self.counts[:, k], len(keys))
                               for k in range(4)], 1)
        return Comparisons(self.models, keys // m, keys % m, counts)

    def reweighted(self, voter_weight) -> "Comparisons":
        """Scale each voter's counts by ``voter_weight[voter]`` (0 drops a voter)."""
        if self.voter is None:
            raise ScoringError("these comparisons carry no voter information")
        w = np.asarray(voter_weight, dtype=float)
        if self.voter.size and (w.ndim != 1 or len(w) <= self.voter.max()):
            raise ScoringError("voter_weight needs one weight per voter")
        keep = w[self.voter] > 0
        return Comparisons(self.models, self.left[keep], self.right[keep],
                           self.counts[keep] * w[self.voter[keep], None],
                           self.voter[keep], self.voters)

    def digest(self) -> str:
        """SHA-256 of the cube (models, rows, counts, voter clusters): the snapshot hash.

        Hash format 2 (old hashes are not comparable): a header naming the models and, for each
        of ``left``, ``right``, ``voter`` and ``counts``, its length and the little-endian dtype
        it is hashed at, then the arrays' bytes. Indices are hashed at the smallest unsigned
        dtype that holds them and counts, when all are whole numbers below 2**32, at the
        smallest unsigned dtype that holds them (else as float64), so the hash identifies the
        cube's values exactly, is the same on every platform, and reads about a seventh of the
        bytes of float64/int64 arrays. Computed once per cube (the cube is immutable); another
        thread asking meanwhile waits for it rather than hashing again.
        """
        value = self.__dict__.get("_digest")
        if value is None:
            with _DIGEST_LOCK:
                value = self.__dict__.get("_digest")
                if value is None:
                    value = self.__dict__["_digest"] = self._sha256()
        return value

    def _sha256(self) -> str:
        parts = [("left", _compact_index(self.left)), ("right", _compact_index(self.right)),
                 ("voter", _compact_index(np.zeros(0, np.intp) if self.voter is None
                                          else self.voter)),
                 ("counts", _compact_counts(self.counts))]
        head = "\x1e".join(["cube/2", "\x1f".join(self.models)]
                           + [f"{name}:{a.dtype.str}:{a.shape}" for name, a in parts])
        h = hashlib.sha256(head.encode())
        for _, a in parts:
            h.update(np.ascontiguousarray(a))           # hashlib releases the GIL on big data
        return h.hexdigest()

    def require_votes(self) -> None:
        """Raise :class:`EmptyDataError` unless at least two models have votes."""
        if self.pairs().counts.sum() <= 0:
            raise EmptyDataError("no votes to rank")
        if np.count_nonzero(self.votes_per_model()) < 2:
            raise EmptyDataError("fewer than two models have votes")


_UNSIGNED = ((1 << 8, "<u1"), (1 << 16, "<u2"), (1 << 32, "<u4"))


def _compact_index(a: np.ndarray) -> np.ndarray:
    """Integers at the smallest little-endian unsigned dtype holding them (int64 if negative)."""
    a = np.asarray(a)
    if not len(a):
        return np.zeros(0, "<u1")
    if int(a.min()) < 0:
        return a.astype("<i8")
    top = int(a.max())
    return a.astype(next((dt for limit, dt in _UNSIGNED if top < limit), "<u8"))


def _compact_counts(c: np.ndarray) -> np.ndarray:
    """Counts at the smallest unsigned dtype when all are whole numbers below 2**32, else
    little-endian float64 (the values exactly either way).

    A cast that changes no value is exact; a negative, fractional, NaN or too large count
    changes in the cast (to a value in the dtype's range), so it is never taken for another.
    """
    c = np.asarray(c, dtype=np.float64)
    if not c.size:
        return np.zeros(c.shape, "<u1")
    for dt in ("<u2", "<u4"):
        with np.errstate(invalid="ignore", over="ignore"):
            small = c.astype(dt)
        if np.array_equal(small, c):
            return small.astype("<u1") if int(small.max()) < 1 << 8 else \
                small.astype("<u2", copy=False) if int(small.max()) < 1 << 16 else small
    return c.astype("<f8", copy=False)


@dataclass(frozen=True, eq=False)
class Votes:
    """Votes in the order they were cast (row order), for order-dependent ratings (Elo).

    ``left``/``right`` index ``models``; ``choice`` holds codes into :data:`CHOICES`;
    ``voter`` indexes ``voters`` (or is ``None``); ``weight`` is optional per-vote weight.
    """

    models: tuple[str, ...]
    left: np.ndarray
    right: np.ndarray
    choice: np.ndarray
    voter: np.ndarray | None = None
    voters: tuple | None = None
    weight: np.ndarray | None = None

    @classmethod
    def from_battles(cls, model_a, model_b, winner, voter=None, weight=None) -> "Votes":
        """Same columns as :meth:`Comparisons.from_battles`, kept in row order."""
        models, lc, rc = model_codes(model_a, model_b, None)
        codes = choice_codes(winner, "winner")
        check_lengths(model_a=lc, model_b=rc, winner=codes, voter=voter)
        vc, vl = (None, None) if voter is None else factorize(voter, "voter")
        same = lc == rc
        if np.any(same):
            raise ScoringError(f"{int(same.sum())} vote(s) compare a model with itself")
        return cls(models, lc, rc, codes, vc, None if vl is None else tuple(vl),
                   vote_weights(weight, len(lc)))

    def __len__(self) -> int:
        return len(self.left)

    @property
    def n_votes(self) -> int:
        return len(self.left)

    def digest(self) -> str:
        """SHA-256 of the ordered votes (Elo depends on the order, so the hash does too)."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.models).encode())
        for a in (self.left, self.right, self.choice, self.voter, self.weight):
            h.update(b"-" if a is None else np.ascontiguousarray(a, dtype=np.float64))
        return h.hexdigest()

    def comparisons(self) -> Comparisons:
        """Aggregate into the count cube."""
        return Comparisons._aggregate(self.models, self.left, self.right, self.choice,
                                      self.voter, self.weight, self.voters)
