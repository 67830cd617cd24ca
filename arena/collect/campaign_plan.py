"""Who labels which campaign pair, on which side, in which order (pure: no database).

:func:`plan` deals ``pairs`` to ``members`` annotators so that each pair goes to exactly
``overlap`` distinct annotators and every annotator gets as many pairs as the others, give or
take one: pair by pair, the ``overlap`` least-loaded annotators, ties broken at random (so
annotators are paired with varied partners, unlike a fixed round-robin block). Among the
annotators of one pair the sides alternate from a random start, so each pair is seen about as
often each way round and a left/right habit cancels out of the pair's labels.

Each annotator then gets every gold pair (sides at random), their items in a shuffled order,
and planted repeats: a share of their own pairs shown again with the sides swapped, at least
:data:`MIN_GAP` items after the original (test-retest; Cohen 1960, as in
:mod:`arena.collect.checks`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Items between an original and its repeat, where the queue is long enough.
MIN_GAP = 3


@dataclass(frozen=True)
class Slot:
    """One entry of an annotator's queue: ``pair`` (an id from the caller), ``flipped`` (b on
    the left), ``kind`` (``none``, ``gold`` or ``repeat``) and, for a repeat, the index in the
    same queue of the item it repeats (always earlier)."""

    pair: int
    flipped: bool
    kind: str = "none"
    repeat_of: int | None = None


def deal(n_pairs: int, members: int, overlap: int, rng: np.random.Generator) -> list[list[tuple[int, bool]]]:
    """Per annotator, (pair index, flipped) for ``overlap`` annotators of each pair."""
    if not 1 <= overlap <= members:
        raise ValueError("overlap must be between 1 and the number of annotators")
    load = np.zeros(members, np.int64)
    out: list[list[tuple[int, bool]]] = [[] for _ in range(members)]
    for p in range(n_pairs):
        order = rng.permutation(members)
        chosen = order[np.argsort(load[order], kind="stable")[:overlap]]
        start = bool(rng.integers(2))
        for j, m in enumerate(rng.permutation(chosen)):
            out[int(m)].append((p, start ^ bool(j % 2)))
        load[chosen] += 1
    return out


def repeats_for(n_items: int, share: float) -> int:
    """Planted repeats in a queue of ``n_items`` pairs: ``share`` of them, at least one when
    ``share`` > 0 and there are four pairs or more."""
    if share <= 0 or n_items < 2:
        return 0
    return min(n_items, max(int(round(share * n_items)), 1 if n_items >= 4 else 0))


def plan(pairs: Sequence[int], golds: Sequence[int], members: int, overlap: int, *,
         repeat_share: float = 0.1, rng: np.random.Generator) -> list[list[Slot]]:
    """Each annotator's queue, in the order it is shown (see the module docstring)."""
    dealt = deal(len(pairs), members, overlap, rng)
    queues = []
    for own in dealt:
        base = [Slot(pairs[p], flipped) for p, flipped in own]
        base += [Slot(g, bool(rng.integers(2)), "gold") for g in golds]
        base = [base[k] for k in rng.permutation(len(base))]
        queues.append(_with_repeats(base, repeats_for(len(own), repeat_share), rng))
    return queues


def _with_repeats(base: list[Slot], n: int, rng: np.random.Generator) -> list[Slot]:
    """``base`` with ``n`` of its ordinary pairs repeated, sides swapped, after their original."""
    ordinary = [i for i, s in enumerate(base) if s.kind == "none"]
    if n == 0 or not ordinary:
        return base
    last = len(base) - 1
    # originals early enough for a gap where possible
    early = [i for i in ordinary if i + MIN_GAP <= last] or ordinary
    originals = sorted(rng.choice(early, size=min(n, len(early)), replace=False).tolist())
    after: dict[int, list[int]] = {}
    for i in originals:
        low = min(i + MIN_GAP, last)
        after.setdefault(int(rng.integers(low, last + 1)), []).append(i)
    out: list[Slot] = []
    index: dict[int, int] = {}
    for i, slot in enumerate(base):
        index[i] = len(out)
        out.append(slot)
        for orig in after.get(i, []):
            first = base[orig]
            out.append(Slot(first.pair, not first.flipped, "repeat", index[orig]))
    return out
