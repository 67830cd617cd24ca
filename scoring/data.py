"""Vote data for the rating models: the count cube of one task, and the ordered vote list.

Data preparation is kept apart from the models (as in LMArena's arena-rank ``PairDataset``):
:class:`Comparisons` holds one row per unique ``(voter, left model, right model)`` with the
counts of the four outcomes, which is all Bradley-Terry, its intervals and the bootstrap need.
:class:`Votes` keeps the votes in order, for the order-dependent Elo ticker.

Columns can be numpy arrays, sequences, or Arrow arrays (``pyarrow.Array``/``ChunkedArray``,
duck-typed through ``dictionary_encode``; pyarrow is never imported here). Labels are
factorised without a Python loop per vote: a set of the distinct labels, then one C-level
``map`` over a small dictionary (or Arrow's hash kernel), then ``np.bincount``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import EmptyDataError, ScoringError, UnknownOutcomeError

#: Outcome names; a vote's code is its position here.
CHOICES = ("left", "right", "tie", "both_bad")
#: The arena battle format's ``winner`` labels, in :data:`CHOICES` order.
BATTLE_WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
#: Per-vote code arrays are int32: half the memory traffic of intp on millions of votes.
_CODE = np.int32
_CHOICE_CODE = {**{c: i for i, c in enumerate(CHOICES)},
                **{w: i for i, w in enumerate(BATTLE_WINNERS)}}


def _encode(values, what: str) -> tuple[np.ndarray, list]:
    """Integer codes and their labels; Arrow dictionaries may list labels that do not occur."""
    if hasattr(values, "dictionary_encode"):            # Arrow Array or ChunkedArray
        return _encode_arrow(values, what)
    arr = np.asarray(values) if not isinstance(values, (list, tuple)) else np.array(values, dtype=object)
    if arr.ndim != 1:
        raise ScoringError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iubf":
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ScoringError(f"{what} has missing values")
        labels, codes = np.unique(arr, return_inverse=True)
        return codes.astype(np.intp, copy=False), labels.tolist()
    distinct = set(arr.tolist() if arr.dtype.kind != "O" else arr)
    if None in distinct:
        raise ScoringError(f"{what} has missing values")
    labels = _sorted(distinct)
    lookup = {label: i for i, label in enumerate(labels)}
    codes = np.fromiter(map(lookup.__getitem__, arr), dtype=_CODE, count=len(arr))
    return codes, labels


def _encode_arrow(values, what: str) -> tuple[np.ndarray, list]:
    if getattr(values.type, "index_type", None) is not None:   # already dictionary-encoded
        encoded = values
    else:
        encoded = values.dictionary_encode()
    if hasattr(encoded, "unify_dictionaries"):           # ChunkedArray: one shared dictionary
        encoded = encoded.unify_dictionaries()
    chunks = list(getattr(encoded, "chunks", [encoded]))
    if not chunks:
        return np.zeros(0, np.intp), []
    if any(c.null_count for c in chunks):
        raise ScoringError(f"{what} has missing values")
    labels = chunks[0].dictionary.to_pylist()
    parts = [_arrow_ints(c.indices) for c in chunks]
    codes = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if None in labels and None in _present(codes, labels):
        raise ScoringError(f"{what} has missing values")
    return codes, labels


def _arrow_ints(arr) -> np.ndarray:
    """A null-free Arrow integer array as numpy, zero-copy (``Array.to_numpy`` imports pandas)."""
    dtype = np.dtype(f"int{arr.type.bit_width}")
    if len(arr) == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _sorted(labels) -> list:
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def _present(codes: np.ndarray, labels: list) -> list:
    """The labels that occur in ``codes``."""
    used = np.bincount(codes, minlength=len(labels)) > 0 if len(codes) else np.zeros(len(labels), bool)
    return [x for x, u in zip(labels, used.tolist()) if u]


def _relabel(codes: np.ndarray, raw: list, labels: list) -> np.ndarray:
    """Codes into ``raw`` as codes into ``labels`` (one gather; none if already equal)."""
    if raw == labels:
        return codes
    lookup = {x: i for i, x in enumerate(labels)}
    return np.array([lookup.get(x, -1) for x in raw], dtype=_CODE)[codes]


def _factorize(values, what: str) -> tuple[np.ndarray, list]:
    """Codes into the sorted labels that occur in a column."""
    codes, raw = _encode(values, what)
    labels = _sorted(_present(codes, raw))
    return _relabel(codes, raw, labels), labels


def _choice_codes(values, what: str) -> np.ndarray:
    """Outcome codes 0..3 from codes, :data:`CHOICES` names or :data:`BATTLE_WINNERS` labels."""
    arr = values if hasattr(values, "dictionary_encode") else np.asarray(values)
    if getattr(arr, "dtype", None) is not None and arr.dtype.kind in "iu":
        bad = np.unique(arr[(arr < 0) | (arr > 3)])
        if len(bad):
            raise UnknownOutcomeError(bad.tolist(), range(4))
        return arr.astype(np.intp, copy=False)
    codes, raw = _encode(values, what)
    unknown = [x for x in _present(codes, raw) if x not in _CHOICE_CODE]
    if unknown:
        raise UnknownOutcomeError(unknown, BATTLE_WINNERS + CHOICES)
    return np.array([_CHOICE_CODE.get(x, 0) for x in raw], dtype=np.int8)[codes]


def _models_codes(left, right, models) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Shared model indices for two columns of names (or of indices into ``models``)."""
    la = left if hasattr(left, "dictionary_encode") else np.asarray(left)
    ra = right if hasattr(right, "dictionary_encode") else np.asarray(right)
    if models is not None and getattr(la, "dtype", None) is not None and la.dtype.kind in "iu" \
            and ra.dtype.kind in "iu":
        models = tuple(str(x) for x in models)
        for col in (la, ra):
            if len(col) and (col.min() < 0 or col.max() >= len(models)):
                raise ScoringError(f"model index out of range 0..{len(models) - 1}")
        return models, la.astype(np.intp, copy=False), ra.astype(np.intp, copy=False)
    lc, ll = _encode(left, "left model")
    rc, rl = _encode(right, "right model")
    seen = set(map(str, _present(lc, ll))) | set(map(str, _present(rc, rl)))
    names = sorted(seen) if models is None else [str(x) for x in models]
    if len(set(names)) != len(names):
        raise ScoringError("models has duplicate names")
    missing = sorted(seen - set(names))
    if missing:
        raise ScoringError(f"votes name models not in models: {', '.join(missing[:10])}")
    return (tuple(names), _relabel(lc, [str(x) for x in ll], names),
            _relabel(rc, [str(x) for x in rl], names))


def _check_lengths(**cols):
    sizes = {k: len(v) for k, v in cols.items() if v is not None}
    if len(set(sizes.values())) > 1:
        raise ScoringError("columns differ in length: "
                           + ", ".join(f"{k}={n}" for k, n in sizes.items()))


def _weights(weight, n: int) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ScoringError("weight must be finite, non-negative, one per vote")
    return w


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
        models, lc, rc = _models_codes(left, right, models)
        codes = _choice_codes(choice, "choice")
        n = len(lc)
        _check_lengths(left=lc, right=rc, choice=codes, voter=voter)
        w = None if count is None else _weights(count, n)
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
            voter, voters = _factorize(voter, "voter")
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
        return int(round(float(self.counts.sum())))

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
        """SHA-256 of the cube (models, rows, counts, voter clusters): the snapshot hash."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.models).encode())
        for a in (self.left, self.right, self.voter if self.voter is not None else np.zeros(0)):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.counts, dtype=np.float64).tobytes())
        return h.hexdigest()

    def require_votes(self) -> None:
        """Raise :class:`EmptyDataError` unless at least two models have votes."""
        if self.counts.sum() <= 0:
            raise EmptyDataError("no votes to rank")
        if np.count_nonzero(self.votes_per_model()) < 2:
            raise EmptyDataError("fewer than two models have votes")


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
        models, lc, rc = _models_codes(model_a, model_b, None)
        codes = _choice_codes(winner, "winner")
        _check_lengths(model_a=lc, model_b=rc, winner=codes, voter=voter)
        vc, vl = (None, None) if voter is None else _factorize(voter, "voter")
        same = lc == rc
        if np.any(same):
            raise ScoringError(f"{int(same.sum())} vote(s) compare a model with itself")
        return cls(models, lc, rc, codes, vc, None if vl is None else tuple(vl),
                   _weights(weight, len(lc)))

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
            h.update(b"-" if a is None else np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()

    def comparisons(self) -> Comparisons:
        """Aggregate into the count cube."""
        return Comparisons._aggregate(self.models, self.left, self.right, self.choice,
                                      self.voter, self.weight, self.voters)
