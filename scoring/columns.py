"""Turning vote columns into integer codes, fast: no Python loop per vote.

Columns can be numpy arrays, sequences, or Arrow arrays (``pyarrow.Array``/``ChunkedArray``,
duck-typed through ``dictionary_encode``; pyarrow is never imported here). Labels are
factorised with a set of the distinct labels and one C-level ``map`` over a small dictionary, or
taken from the Arrow dictionary; per-vote codes are int32 (outcomes int8).
"""
from __future__ import annotations

import numpy as np

from .errors import ScoringError, UnknownOutcomeError

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


def optional_codes(values) -> tuple[np.ndarray, list]:
    """Codes into a column's labels with ``-1`` where a value is missing (null or ``None``).

    Labels are as they occur (Arrow: the unified dictionary; otherwise sorted), not narrowed to
    those present. For optional columns such as the task.
    """
    if hasattr(values, "dictionary_encode"):
        encoded = values if getattr(values.type, "index_type", None) is not None \
            else values.dictionary_encode()
        if hasattr(encoded, "unify_dictionaries"):
            encoded = encoded.unify_dictionaries()
        chunks = list(getattr(encoded, "chunks", [encoded]))
        if not chunks:
            return np.zeros(0, np.intp), []
        parts = []
        for c in chunks:
            codes = _arrow_ints(c.indices).astype(_CODE, copy=not c.null_count and len(chunks) < 2)
            if c.null_count:
                codes = codes.copy()
                codes[~_arrow_valid(c.indices)] = -1
            parts.append(codes)
        return np.concatenate(parts) if len(parts) > 1 else parts[0], chunks[0].dictionary.to_pylist()
    arr = np.asarray(values) if not isinstance(values, (list, tuple)) else np.array(values, dtype=object)
    missing = np.array([x is None for x in arr.tolist()], dtype=bool) if arr.dtype.kind == "O" \
        else np.zeros(len(arr), bool)
    if missing.any():
        arr = arr.copy()
        arr[missing] = ""
    codes, labels = _encode(arr, "column")
    codes = np.asarray(codes, dtype=_CODE)
    codes[missing] = -1
    return codes, labels


def _arrow_valid(arr) -> np.ndarray:
    """The validity bitmap of an Arrow array as a boolean mask."""
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[arr.offset:arr.offset + len(arr)].astype(bool)


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


def factorize(values, what: str) -> tuple[np.ndarray, list]:
    """Codes into the sorted labels that occur in a column.

    The labels' positions are sorted by label (one sort of the distinct labels, not a
    dictionary lookup per label) and the codes renumbered by one gather.
    """
    codes, lookup, labels = factorize_lookup(values, what)
    return (codes, labels) if lookup is None else (lookup[codes], labels)


def factorize_lookup(values, what: str) -> tuple[np.ndarray, np.ndarray | None, list]:
    """:func:`factorize` before its gather: ``(raw codes, lookup, labels)``, the codes into
    the sorted labels being ``lookup[raw codes]`` (``lookup`` is ``None`` when they are the raw
    codes already), for a caller that folds the gather into work of its own."""
    codes, raw = _encode(values, what)
    used = np.bincount(codes, minlength=len(raw)) > 0 if len(codes) else np.zeros(len(raw), bool)
    at = np.flatnonzero(used).tolist()
    try:
        at.sort(key=raw.__getitem__)
    except TypeError:
        at.sort(key=lambda k: str(raw[k]))
    labels = [raw[k] for k in at]
    if len(labels) == len(raw) and labels == raw:
        return codes, None, labels
    lookup = np.full(len(raw), -1, dtype=_CODE)
    lookup[at] = np.arange(len(at), dtype=_CODE)
    return codes, lookup, labels


def choice_codes(values, what: str) -> np.ndarray:
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


def choice_lookup(values, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(raw codes, lookup)`` with the outcome codes of :func:`choice_codes` being
    ``lookup[raw codes]``; the labels' presence is counted only when one is unknown."""
    arr = values if hasattr(values, "dictionary_encode") else np.asarray(values)
    if getattr(arr, "dtype", None) is not None and arr.dtype.kind in "iu":
        return choice_codes(arr, what), np.arange(4, dtype=np.int8)
    codes, raw = _encode(values, what)
    if any(x not in _CHOICE_CODE for x in raw):
        unknown = [x for x in _present(codes, raw) if x not in _CHOICE_CODE]
        if unknown:
            raise UnknownOutcomeError(unknown, BATTLE_WINNERS + CHOICES)
    return codes, np.array([_CHOICE_CODE.get(x, 0) for x in raw], dtype=np.int8)


def model_lookup(left, right) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray,
                                       np.ndarray]:
    """``(names, left codes, left lookup, right codes, right lookup)``: the model indices of
    :func:`model_codes` (``models=None``) are ``lookup[codes]``, here into the sorted names of
    every label either column lists (an Arrow dictionary may list models with no vote: the
    caller drops those), without counting which occur."""
    lc, ll = _encode(left, "left model")
    rc, rl = _encode(right, "right model")
    names = sorted({str(x) for x in ll if x is not None} | {str(x) for x in rl if x is not None})
    index = {x: k for k, x in enumerate(names)}
    return (tuple(names), lc, np.array([index.get(str(x), -1) for x in ll], dtype=np.int64), rc,
            np.array([index.get(str(x), -1) for x in rl], dtype=np.int64))


def model_codes(left, right, models) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
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


def check_lengths(**cols):
    sizes = {k: len(v) for k, v in cols.items() if v is not None}
    if len(set(sizes.values())) > 1:
        raise ScoringError("columns differ in length: "
                           + ", ".join(f"{k}={n}" for k, n in sizes.items()))


def vote_weights(weight, n: int) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(weight, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ScoringError("weight must be finite, non-negative, one per vote")
    return w
