"""Favouritism: a voter who pushes (or buries) one model, told apart from honest taste.

Per voter and model, the model's wins when shown are compared with the consensus expectation
for the very pairs the voter saw (left out of the consensus, :mod:`.consensus`), with the
exact-tail signed root of :mod:`.tails`. Two things make the check hold for strong models and
for honest minorities:

* **A scale that does not saturate.** The effect is the share of the wins that were still
  possible, ``(wins - expected) / (shown - expected)`` (for a grudge, the share of the
  expected wins lost, ``(wins - expected) / expected``). A rigger who picks its model on a
  share ``w`` of the pairs that show it and is honest on the rest has effect ``w`` whatever
  the model's strength, where a fixed floor of extra wins cannot be reached by a model that
  already wins 80% of its battles. It is the attributable fraction of epidemiology (the
  "forced" share of a two-component mixture; Rothman, Greenland & Lash 2008, *Modern
  Epidemiology*, ch. 4).
* **Taste is not a flag.** An honest voter who likes a model family shows the same departure
  for the family's other models on the pairs that do not show the favourite, and is
  consensus-like elsewhere; a rigger's favour is for one model, often with seeking it out.
  A departure is a flag when it is *forced* (effect at least ``forced``), when the voter
  *sought* the model (its pairs showed it more often than the crowd's pairs do, z at least
  ``seek_z``: the over-exposure test of :func:`seeking_z`), or when it is *alone* (no other
  model departs the same way with z at least ``family_z`` once the favourite's pairs are set
  aside). A family taste is therefore never flagged as rigging unless the voter also seeks
  or forces it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .data import VoterData
from .detectors import Check, DecisiveRows, _mask, _two_sided
from .tails import corrected, signed_root, wald


def seeking_z(data: VoterData, keep: np.ndarray) -> "Seeking":
    """Over-exposure, shape (n_voters, n_models): votes on pairs that show each model against
    the share of such pairs among the crowd's votes of the same task (voters with ``keep``),
    a binomial z with continuity correction. An honest voter sees the pairs the sampler
    draws, so only a voter who picks its pairs (skipping the rest) departs."""
    v, m, n_tasks = data.n_voters, data.n_models, len(data.tasks)
    n = data.row_votes
    kept = n * keep[data.voter]
    task_votes = np.bincount(data.task, kept, n_tasks)
    shown_t = (np.bincount(data.task * m + data.left, kept, n_tasks * m)
               + np.bincount(data.task * m + data.right, kept, n_tasks * m)).reshape(n_tasks, m)
    q = shown_t / np.maximum(task_votes, 1)[:, None]
    per_task = np.bincount(data.voter * n_tasks + data.task, n, v * n_tasks).reshape(v, n_tasks)
    mean = per_task @ q
    var = per_task @ (q * (1 - q))
    shown = (np.bincount(data.voter * m + data.left, n, v * m)
             + np.bincount(data.voter * m + data.right, n, v * m)).reshape(v, m)
    return Seeking(wald(corrected(shown, mean), mean, var), shown, mean, per_task.sum(axis=1))


@dataclass(frozen=True, eq=False)
class Seeking:
    """:func:`seeking_z`: per voter and model the z, the votes on pairs showing the model and
    their expectation; per voter all its votes."""

    z: np.ndarray
    shown: np.ndarray
    expected: np.ndarray
    votes: np.ndarray


def _win_probabilities(data, d, eta, shift):
    """Each row's probability that its left and its right model win, for that voter."""
    li, ri = data.left[d.rows], data.right[d.rows]
    p_win_l, p_win_r = d.p_left, 1 - d.p_left
    if eta is not None:
        el, er = eta[d.voter, li], eta[d.voter, ri]
        p_win_l = el * d.p_left + (1 - el) * (1 - d.p_left)
        p_win_r = er * (1 - d.p_left) + (1 - er) * d.p_left
    if shift is not None and np.any(shift):
        def moved(p_left):
            p_left = np.clip(p_left, 1e-9, 1 - 1e-9)
            return 1 / (1 + np.exp(-(np.log(p_left) - np.log1p(-p_left) + shift[d.voter])))

        p_win_l, p_win_r = moved(p_win_l), 1 - moved(1 - p_win_r)
    return p_win_l, p_win_r


def _sums(gl, gr, n, wins_l, p_l, p_r, size, use=None):
    u = np.ones(len(n)) if use is None else use.astype(float)
    nu = n * u
    observed = np.bincount(gl, wins_l * u, size) + np.bincount(gr, (n - wins_l) * u, size)
    shown = np.bincount(gl, nu, size) + np.bincount(gr, nu, size)
    mean = np.bincount(gl, nu * p_l, size) + np.bincount(gr, nu * p_r, size)
    var = (np.bincount(gl, nu * p_l * (1 - p_l), size)
           + np.bincount(gr, nu * p_r * (1 - p_r), size))
    return observed, shown, mean, var


def possible_share(observed, shown, mean) -> np.ndarray:
    """Extra wins over the wins still possible (losses: lost wins over expected wins)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        up = (observed - mean) / np.maximum(shown - mean, 1e-9)
        down = (observed - mean) / np.maximum(mean, 1e-9)
    return np.clip(np.where(observed >= mean, up, down), -1.0, 1.0)


def favouritism(data: VoterData, d: DecisiveRows, floor: float, min_votes: int, *,
                eta: np.ndarray | None = None, shift: np.ndarray | None = None,
                seek: np.ndarray | None = None, forced: float = 0.8, seek_z: float = 3.0,
                family_z: float = 2.0) -> Check:
    """Per voter: the model with the strongest departure of its wins (two-sided; one test per
    model shown), with the effect on the share-of-possible-wins scale and the taste rule of
    the module docstring.

    ``eta`` (each voter's Crowd-BT reliability without the votes showing each model, shape
    (n_voters, n_models)) makes the expectation that of a voter with that reliability, so a
    voter who answers at random does not "favour" the weakest models (the person-fit and
    reliability checks say what it did); ``shift`` (each voter's own left/right habit) keeps a
    left clicker's picks from reading as favour; ``seek`` is :func:`seeking_z`."""
    v, m = data.n_voters, data.n_models
    size = v * m
    li, ri = data.left[d.rows], data.right[d.rows]
    gl, gr = d.voter * m + li, d.voter * m + ri
    p_l, p_r = _win_probabilities(data, d, eta, shift)
    observed, shown, mean, var = _sums(gl, gr, d.n, d.left_wins, p_l, p_r, size)
    ok = shown >= min_votes
    effect = possible_share(observed, shown, mean)
    large = (np.abs(effect) >= floor) & ok
    z = wald(corrected(observed, mean), mean, var)
    todo = large & (np.abs(np.nan_to_num(z)) >= 3.0)
    if todo.any():                       # exact tails only where a flag is possible
        kl, kr = todo[gl], todo[gr]
        z_exact, _, _ = signed_root(np.concatenate([p_l[kl], p_r[kr]]),
                                    np.concatenate([d.n[kl], d.n[kr]]),
                                    np.concatenate([gl[kl], gr[kr]]), size, observed,
                                    where=todo)
        z = np.where(todo, z_exact, z)
    z = np.where(ok, z, np.nan).reshape(v, m)
    effect, large = effect.reshape(v, m), large.reshape(v, m)
    score = np.where(large, np.abs(z) + 1000.0, np.abs(z))      # prefer departures that matter
    score = np.where(np.isfinite(score), score, -1.0)
    best = np.argmax(score, axis=1)
    pick = np.arange(v), best
    direction = np.sign(np.nan_to_num(effect[pick]))
    family = _family_z(d, gl, gr, p_l, p_r, best, direction, size, v, m, min_votes)
    sought = np.zeros(v) if seek is None else np.nan_to_num(seek.z[pick])
    is_forced = np.abs(np.nan_to_num(effect[pick])) >= forced
    is_sought = (direction > 0) & (sought >= seek_z)
    taste = family >= family_z
    qualified = is_forced | is_sought | ~taste
    tests = ok.reshape(v, m).sum(axis=1)
    gate = d.gate & (tests > 0)
    zb = _mask(z[pick], gate)
    detail = {"model": best, "shown": shown.reshape(v, m)[pick],
              "wins": observed.reshape(v, m)[pick], "expected": mean.reshape(v, m)[pick],
              "family_z": family, "seek_z": sought, "taste": taste & ~qualified}
    return Check("favouritism", zb, _two_sided(zb), _mask(effect[pick], gate),
                 large[pick] & qualified, tests.astype(float), detail)


def _family_z(d, gl, gr, p_l, p_r, best, direction, size, v, m, min_votes):
    """The largest z of another model departing in ``direction`` on the voter's pairs that do
    not show its ``best`` model (NaN-free; 0 where none was shown enough)."""
    bv = best[d.voter]
    away = (gl % m != bv) & (gr % m != bv)
    observed, shown, mean, var = _sums(gl, gr, d.n, d.left_wins, p_l, p_r, size, away)
    z = wald(corrected(observed, mean), mean, var)
    z = np.where(shown >= min_votes, z, np.nan).reshape(v, m) * direction[:, None]
    z[np.arange(v), best] = np.nan
    z = np.nan_to_num(z, nan=-np.inf).max(axis=1)
    return np.where(np.isfinite(z), z, 0.0)


def sought_favour(fav: Check, seek: Seeking, floor: float, min_z: float = 3.0,
                  seek_z: float = 3.0) -> Check:
    """Seeking and favouring the same model: Stouffer's sum ``(z_favour + z_seek) / sqrt(2)``
    for the voter's favourite (Stouffer et al. 1949, *The American Soldier*; independent under
    the null, since which pairs an honest voter is shown does not depend on its answers), one
    test per model shown. It needs the favour alone at ``z >= min_z`` and beyond ``floor`` and
    the seeking alone at ``z >= seek_z``, so neither a voter who merely saw one model often
    (the sampler boosting a new model) nor an honest voter who likes one model and saw it a
    little more often than average by chance is flagged; this lends the power of both signals to a subtle rigger whose favour
    alone misses a Bonferroni threshold over thousands of voters."""
    v = len(fav.z)
    pick = np.arange(v), fav.detail["model"]
    zf, zs = fav.z, seek.z[pick]
    with np.errstate(invalid="ignore"):
        z = np.where(np.isfinite(zf) & np.isfinite(zs), (zf + zs) / np.sqrt(2), np.nan)
        large = ((np.nan_to_num(fav.effect) >= floor) & (np.nan_to_num(zf) >= min_z)
                 & (np.nan_to_num(zs) >= seek_z))
    detail = {**fav.detail, "votes": seek.votes, "seek_shown": seek.shown[pick],
              "seek_expected": seek.expected[pick]}
    return Check("sought", z, ndtr(-z), fav.effect, large, fav.tests, detail)


def sought_reason(check: Check, k: int, data: VoterData, fmt_z) -> str:
    """What a person reads about a voter who sought its favourite out."""
    d = check.detail
    model = data.models[int(d["model"][k])]
    return (f"sought out {model}: {int(round(d['seek_shown'][k]))} of {int(round(d['votes'][k]))} "
            f"votes were on pairs that showed it, where about {d['seek_expected'][k]:.0f} were "
            f"expected, and it won {int(round(d['wins'][k]))} of {int(round(d['shown'][k]))} "
            f"decisive votes where about {d['expected'][k]:.0f} were expected (combined "
            f"{fmt_z(float(check.z[k]))})")
