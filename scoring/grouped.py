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

from itertools import compress

import numpy as np

from .columns import check_lengths, choice_codes, factorize, model_codes
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
    """
    models, lc, rc = model_codes(model_a, model_b, None)
    codes = choice_codes(winner, "winner")
    check_lengths(model_a=lc, model_b=rc, winner=codes, voter=voter, group=group, keep=keep)
    vc, vl = (None, None) if voter is None else factorize(voter, "voter")
    gc = np.full(len(lc), -1, np.int16) if group is None else np.asarray(group)
    if not overall:
        keep = (gc >= 0) if keep is None else (np.asarray(keep, dtype=bool) & (gc >= 0))
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        lc, rc, codes, gc = lc[keep], rc[keep], codes[keep], gc[keep]
        vc = None if vc is None else vc[keep]
    same = lc == rc
    if np.any(same):
        raise ScoringError(f"{int(same.sum())} vote(s) compare a model with itself")
    m, n = len(models), len(lc)
    # one group holding every vote: its cube is the overall cube, built once
    single = n_groups >= 1 and n > 0 and gc[0] >= 0 and bool(np.all(gc == gc[0]))
    tagged = n_groups >= 1 and not single
    model_bits = max(m - 1, 1).bit_length()
    pair_bits = 2 * model_bits                       # (left, right) as bit fields: same order
    group_bits = n_groups.bit_length() if tagged else 0         # tags 0..n_groups (none)
    voter_bits = int(vc.max()).bit_length() if vc is not None and n else 0
    if voter_bits + pair_bits + 2 + group_bits > 62:
        raise ScoringError("too many voters and models to pack into one sort key")
    key = lc.astype(np.int64) << model_bits
    key += rc
    if vc is not None:
        key += vc.astype(np.int64) << pair_bits
    key <<= 2
    key += codes
    if tagged:
        key <<= group_bits
        gc = np.where(gc >= 0, gc, n_groups)
        key += gc
    only = int(gc[0]) if single else -1
    del lc, rc, codes, vc, gc                       # the sorted keys hold everything now
    key.sort()
    whole = _cube(key >> group_bits if tagged else key, models, vl, m, model_bits) \
        if overall or single else None
    if overall and on_cube is not None:
        on_cube(-1, whole)
    cubes = [None] * n_groups
    if single:
        cubes[only] = whole
        if on_cube is not None:
            on_cube(only, whole)
    elif tagged:
        tags = (key & ((1 << group_bits) - 1)).astype(np.int16 if n_groups < 32767 else np.int32)
        order = np.argsort(tags, kind="stable")            # radix sort: each group stays sorted
        bounds = np.concatenate([[0], np.cumsum(np.bincount(tags, minlength=n_groups + 1))])
        for k in range(n_groups):
            cubes[k] = _cube(key[order[bounds[k]:bounds[k + 1]]] >> group_bits, models, vl, m,
                             model_bits)
            if on_cube is not None:
                on_cube(k, cubes[k])
    for k in range(n_groups):
        if cubes[k] is None:
            cubes[k] = _cube(np.zeros(0, np.int64), models, vl, m, model_bits)
    return (whole if overall else None), cubes


def _cube(key, models, voters, m, model_bits):
    """One cube from sorted ``(voter, left, right, outcome)`` keys: runs of equal keys are
    counts; models and voters renumbered among those that occur (label order kept)."""
    n = len(key)
    edge = np.empty(n, bool)
    if n:
        edge[0] = True
        np.not_equal(key[1:], key[:-1], out=edge[1:])
    first = np.flatnonzero(edge)
    del edge
    unique = key[first]
    run = np.diff(first, append=n)                  # votes behind each distinct key
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
    counts = np.zeros((len(cell), 4))
    counts.ravel()[at] = run
    del at
    mask = (1 << model_bits) - 1
    left, right = (cell >> model_bits) & mask, cell & mask
    voter = None if voters is None else cell >> (2 * model_bits)
    del cell
    seen = np.zeros(m, bool)
    seen[left] = seen[right] = True
    pairs = None
    if seen.all():
        # the cube summed over voters, from the runs: what Comparisons.pairs() would sum
        cells = unique >> (2 + model_bits)
        cells &= mask
        cells *= m
        right_part = unique >> 2
        right_part &= mask
        cells += right_part
        del right_part
        cells <<= 2
        unique &= 3
        cells += unique
        del unique
        cells = np.bincount(cells, run, 4 * m * m).reshape(m * m, 4)
        keys = np.flatnonzero(cells.any(axis=1))
        pairs = (keys, cells[keys])
    else:
        remap = np.cumsum(seen) - 1
        left, right = remap[left], remap[right]
        models = list(compress(models, seen.tolist()))
    if voters is not None:
        present = np.zeros(len(voters), bool)
        present[voter] = True
        if not present.all():
            voter = (np.cumsum(present) - 1)[voter]
            voters = list(compress(voters, present.tolist()))
    cube = Comparisons(tuple(models), left.astype(np.intp, copy=False),
                       right.astype(np.intp, copy=False), counts,
                       None if voter is None else voter.astype(np.intp, copy=False),
                       None if voters is None else tuple(voters))
    if pairs is not None and voters is not None:
        cube.__dict__["_pairs"] = Comparisons(cube.models, pairs[0] // m, pairs[0] % m, pairs[1])
    return cube
