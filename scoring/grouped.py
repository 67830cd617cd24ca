"""The count cubes of many groups (tasks) and of all votes together, from one sort.

:func:`comparisons_by_group` gives, for the votes of each group and for all of them, exactly
the :class:`~scoring.data.Comparisons` that :meth:`Comparisons.from_battles` builds from those
votes alone (the same models, voters, rows, counts and digest), but sorts the votes once: the
key ``(voter, left, right, outcome, group)`` orders every group's votes as its own cube needs
them, so a group's rows are a stable selection of the sorted keys, and its models and voters
are renumbered by a monotone map (sorted labels stay sorted). A group holding every vote is
the overall cube itself (the same object), so a caller fits it once.
"""
from __future__ import annotations

import os
import threading
from itertools import compress

import numpy as np

from .columns import check_lengths, choice_lookup, factorize_lookup, model_lookup
from .data import Comparisons
from .errors import ScoringError

__all__ = ["comparisons_by_group"]


def comparisons_by_group(model_a, model_b, winner, *, voter=None, group=None, n_groups=0,
                         keep=None, overall=True, on_cube=None):
    """``(overall cube or None, [cube of group 0, ..., cube of group n_groups - 1])``.

    ``group`` holds each vote's group code (``0..n_groups-1``, or ``-1`` for none: such votes
    count only overall); ``keep`` optionally selects the votes to use (a boolean mask).
    Columns are as for :meth:`Comparisons.from_battles`; labels that occur only in dropped votes
    are not models or voters of any cube. ``on_cube(k, cube)`` is called as soon as each cube is
    built (``k`` is -1 overall, else the group), to start work on it while the others are built.
    The sort key is assembled from each column's codes by one gather of a pre-shifted table
    (the models', outcomes' and voters' renumbering folded in).
    """
    models, lc, left_at, rc, right_at = model_lookup(model_a, model_b)
    wc, choice_at = choice_lookup(winner, "winner")
    check_lengths(model_a=lc, model_b=rc, winner=wc, voter=voter, group=group, keep=keep)
    voters = {}

    def factorize_voters():                         # sorting the labels holds the GIL
        vc, voter_at, vl = factorize_lookup(voter, "voter")
        voters.update(vc=vc, at=voter_at, labels=np.array(vl, dtype=object))

    # many votes on two cores: the voters are numbered on a thread while the key's other
    # fields are gathered here (numpy's gathers release the GIL)
    beside = _Beside(factorize_voters, "voters") if voter is not None and _two_cores(len(lc)) \
        else None
    gc = None if group is None else np.asarray(group)
    if not overall:
        tagged_rows = np.zeros(len(lc), bool) if gc is None else gc >= 0
        keep = tagged_rows if keep is None else (np.asarray(keep, dtype=bool) & tagged_rows)
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
    m = len(models)
    used = gc if keep is None or gc is None else gc[keep]
    n = len(lc) if keep is None else int(np.count_nonzero(keep))
    # one group holding every vote: its cube is the overall cube, built once
    single = n_groups >= 1 and n > 0 and used is not None and used[0] >= 0 \
        and bool(np.all(used == used[0]))
    tagged = n_groups >= 1 and not single
    del used
    model_bits = max(m - 1, 1).bit_length()
    pair_bits = 2 * model_bits                       # (left, right) as bit fields: same order
    group_bits = n_groups.bit_length() if tagged else 0         # tags 0..n_groups (none)
    low = 2 + group_bits                            # bits under the right model
    key = np.take(left_at << (model_bits + low), lc)
    part = np.empty_like(key)
    key += np.take(right_at << low, rc, out=part)
    key += np.take(choice_at.astype(np.int64) << group_bits, wc, out=part)
    if tagged and gc is not None:                   # votes of no group (-1) tagged n_groups
        key += np.take(np.arange(n_groups + 1, dtype=np.int64), gc, out=part, mode="wrap")
    elif tagged:
        key += n_groups
    if beside is not None:
        beside.result()
    elif voter is not None:
        factorize_voters()
    vc, labels = voters.get("vc"), voters.get("labels")
    n_voters = 0 if vc is None else len(labels)
    voter_bits = max(n_voters - 1, 0).bit_length() if n else 0
    if voter_bits + pair_bits + 2 + group_bits > 62:
        raise ScoringError("too many voters and models to pack into one sort key")
    if vc is not None:
        at = np.arange(n_voters, dtype=np.int64) if voters["at"] is None \
            else voters["at"].astype(np.int64)
        key += np.take(at << (pair_bits + low), vc, out=part)
    del part
    only = int(gc[0] if keep is None else gc[np.argmax(keep)]) if single else -1
    del lc, rc, wc, vc, gc                          # the sorted keys hold everything now
    voters.pop("vc", None)
    if keep is not None:
        key = key[keep]
    if not overall:
        _no_self_pairs(key >> low, model_bits)
    _sort_in_place(key)
    cubes = [None] * n_groups
    whole_out = threading.Event()                   # the overall cube is handed on first
    failed = []                                     # ... and none if it could not be built

    def build_groups():
        tags = (key & ((1 << group_bits) - 1)).astype(np.int16 if n_groups < 32767 else np.int32)
        order = np.argsort(tags, kind="stable")            # radix sort: each group stays sorted
        bounds = np.concatenate([[0], np.cumsum(np.bincount(tags, minlength=n_groups + 1))])
        for k in range(n_groups):
            cubes[k] = _cube(key[order[bounds[k]:bounds[k + 1]]] >> group_bits, models, labels,
                             m, model_bits)
            if on_cube is not None:
                whole_out.wait()
                if failed:
                    return
                on_cube(k, cubes[k])

    # many votes on two cores: the groups' cubes are built on a thread while this one builds
    # the overall cube (the sorted keys are only read; numpy releases the GIL)
    beside = _Beside(build_groups, "cubes") if tagged and overall and _two_cores(len(key)) else None
    try:
        whole = _cube(key >> group_bits if tagged else key, models, labels, m, model_bits,
                      check=True) if overall or single else None
        if overall and on_cube is not None:
            on_cube(-1, whole)
    except BaseException:
        failed.append(True)
        raise
    finally:
        whole_out.set()
        if beside is not None:
            beside.join()
    if beside is not None:
        beside.result()
    elif tagged:
        build_groups()
    if single:
        cubes[only] = whole
        if on_cube is not None:
            on_cube(only, whole)
    for k in range(n_groups):
        if cubes[k] is None:
            cubes[k] = _cube(np.zeros(0, np.int64), models, labels, m, model_bits)
    return (whole if overall else None), cubes


#: Keys from which the sort (:func:`_sort_in_place`) and the cubes are split over two threads.
PARALLEL_SORT_MIN = 1 << 20


def _two_cores(n: int) -> bool:
    """Whether work on ``n`` keys is split over two threads: a large array, two cores."""
    return n >= PARALLEL_SORT_MIN and (os.cpu_count() or 1) >= 2


class _Beside(threading.Thread):
    """``fn()`` on a daemon thread; :meth:`result` waits for it and raises what it raised."""

    def __init__(self, fn, name: str):
        super().__init__(name=name, daemon=True)
        self.fn, self.error = fn, None
        self.start()

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as exc:        # noqa: BLE001 - raised again by result()
            self.error = exc

    def result(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def _sort_in_place(key):
    """Sort ``key`` in place; a large array on two threads when the machine has two cores.

    One in-place selection (``ndarray.partition``, introselect: linear) puts the lower half of
    the keys before the upper half, then each half is sorted on a thread of its own (numpy's
    sort releases the GIL): the same sorted array as ``key.sort()``.
    """
    if not _two_cores(len(key)):
        key.sort()
        return
    half = len(key) // 2
    key.partition(half)
    upper = _Beside(key[half:].sort, "sort")
    key[:half].sort()
    upper.result()


def _no_self_pairs(cell, model_bits):
    """Raise unless every ``(voter, left, right)`` key compares two different models."""
    mask = (1 << model_bits) - 1
    same = np.count_nonzero((cell >> model_bits & mask) == (cell & mask))
    if same:
        raise ScoringError(f"{same} vote(s) compare a model with itself")


def _cube(key, models, voters, m, model_bits, check=False):
    """One cube from sorted ``(voter, left, right, outcome)`` keys: runs of equal keys are
    counts; models and voters (an object array of labels) renumbered among those that occur
    (label order kept). With ``check``, a vote comparing a model with itself is an error."""
    n = len(key)
    edge = np.empty(n, bool)
    if n:
        edge[0] = True
        np.not_equal(key[1:], key[:-1], out=edge[1:])
    first = np.flatnonzero(edge)
    del edge
    unique = key[first]
    run = np.diff(first, append=n).astype(float)    # votes behind each distinct key
    del first
    cell = unique >> 2
    new_row = np.empty(len(cell), bool)
    if len(cell):
        new_row[0] = True
        np.not_equal(cell[1:], cell[:-1], out=new_row[1:])
    at = np.cumsum(new_row)
    at -= 1
    at *= 4
    at += unique & 3
    cell = cell[new_row]
    del new_row
    counts = np.bincount(at, run, 4 * len(cell)).reshape(len(cell), 4)
    del at
    mask = (1 << model_bits) - 1
    # the cube summed over voters, from the runs: what Comparisons.pairs() would sum
    pair = unique >> (2 + model_bits)
    pair &= mask
    pair *= m
    right_part = unique >> 2
    right_part &= mask
    pair += right_part
    del right_part
    pair <<= 2
    unique &= 3
    pair += unique
    del unique
    cells = np.bincount(pair, run, 4 * m * m).reshape(m * m, 4)
    del pair, run
    keys = np.flatnonzero(cells.any(axis=1))
    pair_left, pair_right, pair_counts = keys // m, keys % m, cells[keys]
    if check and np.any(pair_left == pair_right):
        votes = int(pair_counts[pair_left == pair_right].sum())
        raise ScoringError(f"{votes} vote(s) compare a model with itself")
    left, right = (cell >> model_bits) & mask, cell & mask
    voter = None if voters is None else cell >> (2 * model_bits)
    del cell
    seen = np.zeros(m, bool)
    seen[pair_left] = seen[pair_right] = True
    if not seen.all():
        remap = np.cumsum(seen) - 1
        left, right = remap[left], remap[right]
        pair_left, pair_right = remap[pair_left], remap[pair_right]
        models = list(compress(models, seen.tolist()))
    if voters is not None:
        present = np.zeros(len(voters), bool)
        present[voter] = True
        if not present.all():
            voter = (np.cumsum(present) - 1)[voter]
            voters = voters[present]
    cube = Comparisons(tuple(models), left.astype(np.intp, copy=False),
                       right.astype(np.intp, copy=False), counts,
                       None if voter is None else voter.astype(np.intp, copy=False),
                       None if voters is None else tuple(voters.tolist()))
    if voters is not None:
        cube.__dict__["_pairs"] = Comparisons(cube.models, pair_left, pair_right, pair_counts)
    return cube
