"""Leaderboards: one rating method and one interval method, chosen by parameter.

:func:`rank` fits Bradley-Terry (or replays Elo), attaches intervals, per-model vote counts,
both_bad rates with Wilson intervals, the position bias and a reproducibility snapshot, and
returns a frozen :class:`Leaderboard`. Rank follows Chatbot Arena: 1 + the number of models whose
lower bound is above this model's upper bound.

Empty input is an error, not an empty board: :class:`~scoring.errors.EmptyDataError` when there
are no votes or fewer than two models have votes (a caller ranking many tasks can catch it and
skip the task).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import numpy as np
from threadpoolctl import threadpool_limits

from . import __version__
from .bradley_terry import BASE_SCORE, SCALE, fit_bradley_terry
from .data import Comparisons, Votes
from .elo import bootstrap_elo, fit_elo
from .errors import ScoringError
from .clustered import CORRECTIONS, DEFAULT_CORRECTION, t_quantile
from .intervals import model_cov, percentile_interval, sandwich, wilson
from .resample import RESAMPLE, resample_params, small_sample_draws
from .ties import TIE_MODELS

METHODS = ("bt", "elo")
INTERVALS = {"bt": ("sandwich", "hessian", "bootstrap", "none"), "elo": ("bootstrap", "none")}
# Below this many voters the voter-clustered sandwich is unreliable (its meat has rank at most
# the number of voters; with one voter it is ~0 and intervals collapse), so votes are treated
# as independent instead. Cameron & Miller (2015), J. Human Resources 50, section VI.
MIN_CLUSTERS = 20
#: ``position_bias`` values: fit the left/right term ``h`` (default) or fix it at 0.
POSITION_BIAS = ("fit", "none")


def position_bias_flag(value) -> bool:
    """``"fit"``/``True`` -> True, ``"none"``/``False`` -> False; anything else is an error."""
    if isinstance(value, bool):
        return value
    if value in POSITION_BIAS:
        return value == "fit"
    raise ScoringError(f"unknown position_bias {value!r}; expected fit or none")


@dataclass(frozen=True)
class Row:
    """One model on a leaderboard (scores on the ``1000 + 400/ln(10) * theta`` scale)."""

    model: str
    score: float
    ci_low: float
    ci_high: float
    rank: int
    votes: int
    wins: float
    losses: float
    ties: float
    both_bad: float
    both_bad_rate: float
    both_bad_low: float
    both_bad_high: float
    provisional: bool


@dataclass(frozen=True)
class PositionBias:
    """Left/right advantage: ``h`` on the logit scale and as ``P(left)``, the expected score
    of the left model (win 1, tie 1/2) when both models are equally strong."""

    h: float
    h_low: float
    h_high: float
    p_left: float
    p_left_low: float
    p_left_high: float


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """A ranked board of one task. ``rows`` are sorted by score, best first."""

    rows: tuple[Row, ...]
    votes: int
    position_bias: PositionBias | None
    warnings: tuple[str, ...]
    snapshot: dict
    method: str
    intervals: str
    ties: str
    #: Effective number of voters (median over models of ``G*``, :mod:`scoring.clustered`)
    #: behind voter-clustered intervals; ``None`` when votes are treated as independent.
    effective_voters: float | None = None

    def row(self, model: str) -> Row:
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)

    def scores(self) -> dict[str, float]:
        return {r.model: r.score for r in self.rows}

    def to_dict(self) -> dict:
        """JSON-ready form (NaN becomes ``None``), the ``rank`` contract of DESIGN.md §3."""
        rows = [{k: _clean_scalar(getattr(r, k)) for k in _ROW_FIELDS} for r in self.rows]
        out = _clean({"votes": self.votes, "rows": None,
                       "position_bias": None if self.position_bias is None
                       else _shallow(self.position_bias),
                       "warnings": list(self.warnings), "snapshot": self.snapshot,
                       "method": self.method, "intervals": self.intervals, "ties": self.ties,
                       "effective_voters": self.effective_voters})
        out["rows"] = rows                      # cleaned above, field by field
        return out


def _shallow(obj) -> dict:
    """A flat dataclass as a dict (``dataclasses.asdict`` deep-copies every field)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


_ROW_FIELDS = tuple(f.name for f in fields(Row))


def _clean_scalar(obj):
    """A row field (str, int, bool or float) with NaN and infinities as ``None``."""
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


def _clean(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def interval_ranks(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """1 + the number of models whose lower bound exceeds this model's upper bound."""
    return 1 + (low[None, :] > high[:, None]).sum(axis=1)


def _nanmedian(values: np.ndarray) -> float:
    """``np.nanmedian`` of a vector, the same number (without importing ``numpy.ma``)."""
    v = np.sort(values[~np.isnan(values)])
    if not len(v):
        return float("nan")
    mid = len(v) // 2
    return float(v[mid]) if len(v) % 2 else float(np.mean(v[mid - 1:mid + 1]))


def _voters_with_votes(data: Comparisons) -> int | None:
    """How many voters cast the votes of ``data`` (``None`` without voter information)."""
    if data.voter is None:
        return None
    cast = data.row_votes > 0
    return int(np.count_nonzero(np.bincount(data.voter if cast.all() else data.voter[cast])))


def _fit_bt(data, ties, intervals, rounds, seed, level, position_bias, ridge, bootstrap,
            correction, resample, min_clusters=MIN_CLUSTERS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bradley_terry(data, ties=ties, position_bias=position_bias, ridge=ridge)
    notes = list(fit.warnings)
    m = len(fit.models)
    theta, h = fit.theta, fit.h
    clusters = _voters_with_votes(data)
    cluster = clusters is None or clusters >= min_clusters
    few = f"only {clusters} voter(s): intervals treat votes as independent " \
          f"(clustering by voter needs {min_clusters} or more)"
    info = None
    if intervals == "bootstrap":
        by_voter = resample == "voters" and clusters is not None
        if by_voter and not cluster:
            notes.append(few.replace("intervals treat", "the bootstrap resamples"))
        draws = resample_params(data, fit, resample="voters" if by_voter and cluster else "votes",
                                rounds=rounds, seed=seed, kind=bootstrap)
        if by_voter and cluster:
            draws, info = small_sample_draws(data, fit, draws, level=level, correction=correction)
        lo, hi = percentile_interval(draws, level)
    elif intervals == "none":
        lo, hi = fit.params.copy(), fit.params.copy()
    elif intervals == "sandwich":
        if not cluster:
            notes.append(few)
        cov, info = sandwich(data, fit, cluster=cluster, correction=correction)
        q = t_quantile(0.5 + level / 2, np.inf if info is None else info.effective - 1)
        half = q * np.sqrt(np.clip(np.diag(cov), 0, None))
        lo, hi = fit.params - half, fit.params + half
    else:
        q = t_quantile(0.5 + level / 2, np.inf)
        half = q * np.sqrt(np.clip(np.diag(model_cov(fit)), 0, None))
        lo, hi = fit.params - half, fit.params + half
    effective = None
    if info is not None:
        effective = _nanmedian(info.effective[:m])
        kind = "voter bootstrap scaled by" if intervals == "bootstrap" else "sandwich"
        notes.append(f"{info.clusters} voters, effective number {effective:.1f} (median over "
                     f"models): {kind} {correction.upper()} standard errors and t quantiles on "
                     "the effective number of voters")
    bias = None
    if fit.position_bias:
        tau = fit.params[m + 1:]
        share = TIE_MODELS[ties].left_share
        hl, hh = float(lo[m]), float(hi[m])
        bias = PositionBias(h, hl, hh, *(float(np.ravel(share(np.array([v]), tau))[0])
                                         for v in (h, hl, hh)))
    elif not position_bias:
        notes.append("position bias not fitted (h fixed at 0)")
    scores = BASE_SCORE + SCALE * theta
    return fit.index, scores, BASE_SCORE + SCALE * lo[:m], BASE_SCORE + SCALE * hi[:m], bias, \
        notes, {"ridge": fit.ridge, "position_bias": fit.position_bias,
                "tie_param": fit.tie_param, "iterations": fit.iterations,
                "effective_voters": effective}


def _fit_elo(votes, intervals, rounds, seed, level):
    fit = fit_elo(votes)
    scores = fit.ratings
    if intervals == "bootstrap":
        lo, hi = percentile_interval(bootstrap_elo(votes, rounds=rounds, seed=seed), level)
    else:
        lo, hi = scores, scores
    active = np.flatnonzero(votes.comparisons().votes_per_model() > 0)
    notes = ["Elo depends on vote order and is far noisier than Bradley-Terry: a live ticker"]
    if intervals == "bootstrap":
        notes.append("Elo intervals: votes resampled with replacement and replayed in their "
                     "own order, about this ticker")
    return active, scores[active], lo[active], hi[active], None, notes, {"k": fit.k}


def rank(data: Comparisons | Votes, *, method: str = "bt", intervals: str | None = None,
         ties: str = "half", rounds: int = 1000, seed: int = 0, min_votes: int = 20,
         max_ci_width: float | None = None, level: float = 0.95,
         position_bias: bool | str = "fit", ridge: float | None = None,
         bootstrap: str = "poisson", correction: str = DEFAULT_CORRECTION,
         resample: str = "voters", min_clusters: int = MIN_CLUSTERS) -> Leaderboard:
    """Rank the models of one task.

    Parameters
    ----------
    data : Comparisons or Votes
        The count cube, or the ordered votes (required for ``method="elo"``).
    method : {"bt", "elo"}
        Bradley-Terry (:func:`~scoring.bradley_terry.fit_bradley_terry`) or online Elo.
    intervals : {"sandwich", "hessian", "bootstrap", "none"} or None
        ``None`` picks ``"sandwich"`` for BT (clustered by voter when at least
        ``MIN_CLUSTERS`` voters cast the votes, else per vote, with a note) and ``"none"``
        for Elo. Clustered intervals use ``correction`` standard errors and Student t
        quantiles on each parameter's effective number of voters (:mod:`scoring.clustered`).
    ties : {"half", "davidson", "rao-kupper"}
        Tie model of the BT fit.
    rounds, seed, bootstrap, resample
        Bootstrap rounds and seed; ``resample="voters"`` (default) draws voters with
        replacement (:mod:`scoring.resample`, with the small-sample correction of the
        sandwich), ``"votes"`` draws votes, as ``bootstrap`` says (``"poisson"`` or
        ``"multinomial"``). Elo always resamples votes.
    correction : {"cr2", "cr3", "cr1"}
        Small-sample correction of the voter-clustered variance (CR2, Bell & McCaffrey 2002,
        by default).
    min_votes, max_ci_width
        A row is provisional with fewer than ``min_votes`` votes or, when ``max_ci_width`` is
        set, an interval wider than that many score points.
    level : float
        Coverage of the intervals (0.95).
    position_bias : {"fit", "none"} or bool
        Fit the left/right advantage ``h`` (default, reported as ``position_bias``) or fix it
        at 0 (the conventional Bradley-Terry fit of choix, evalica and FastChat).
    ridge
        Passed to the BT fit.
    min_clusters
        Fewest voters for voter-clustered intervals (default ``MIN_CLUSTERS``). A panel of a
        few annotators whose judgements should generalise to other annotators passes 2: the
        CR-corrected variance with t quantiles on the effective number of clusters then gives
        wide, honest intervals (Cameron & Miller 2015, "A Practitioner's Guide to
        Cluster-Robust Inference", section VI).

    Raises
    ------
    EmptyDataError
        No votes, or fewer than two models with votes.
    ScoringError
        Unknown method, interval method or tie model; Elo on a count cube.
    """
    if method not in METHODS:
        raise ScoringError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    intervals = intervals or ("sandwich" if method == "bt" else "none")
    if intervals not in INTERVALS[method]:
        raise ScoringError(f"intervals={intervals!r} is not available for method={method!r}; "
                           f"expected one of {', '.join(INTERVALS[method])}")
    if not 0 < level < 1:
        raise ScoringError("level must be between 0 and 1")
    if correction not in CORRECTIONS:
        raise ScoringError(f"unknown correction {correction!r}; expected one of "
                           + ", ".join(CORRECTIONS))
    if resample not in RESAMPLE:
        raise ScoringError(f"unknown resample {resample!r}; expected voters or votes")
    position_bias = position_bias_flag(position_bias)
    if method == "elo" and not isinstance(data, Votes):
        raise ScoringError("method='elo' needs the votes in order: pass scoring.Votes "
                           "(Votes.from_battles(...)), not a count cube")
    cube = data.comparisons() if isinstance(data, Votes) else data
    cube.require_votes()
    with threadpool_limits(1):
        if method == "bt":
            out = _fit_bt(cube, ties, intervals, rounds, seed, level, position_bias, ridge,
                          bootstrap, correction, resample, max(2, min_clusters))
        else:
            out = _fit_elo(data, intervals, rounds, seed, level)
    index, scores, lo, hi, bias, notes, fitted = out
    effective = fitted.pop("effective_voters", None)
    per_model = cube.model_counts()[index]
    n_votes = per_model.sum(axis=1)
    bb_low, bb_high = wilson(per_model[:, 3], n_votes, level)
    ranks = interval_ranks(lo, hi)
    wide = (hi - lo > max_ci_width) if max_ci_width is not None else np.zeros(len(index), bool)
    provisional = (n_votes < min_votes) | wide
    order = sorted(range(len(index)), key=lambda k: (-scores[k], cube.models[index[k]]))
    rows = tuple(Row(cube.models[index[k]], float(scores[k]), float(lo[k]), float(hi[k]),
                     int(ranks[k]), int(round(n_votes[k])), *map(float, per_model[k]),
                     float(per_model[k, 3] / n_votes[k]), float(bb_low[k]), float(bb_high[k]),
                     bool(provisional[k])) for k in order)
    if provisional.any():
        notes.append(f"{int(provisional.sum())} provisional model(s): fewer than {min_votes} "
                     "votes" + (f" or interval wider than {max_ci_width:g}" if max_ci_width
                                else ""))
    params = {"method": method, "intervals": intervals, "ties": ties, "level": level,
              "min_votes": min_votes, "max_ci_width": max_ci_width, **fitted}
    if method == "bt" and intervals in ("sandwich", "bootstrap"):
        params.update(correction=correction)
    if intervals == "bootstrap":
        params.update(rounds=rounds, bootstrap=bootstrap,
                      resample=resample if method == "bt" else "votes")
    snapshot = {"cube_sha256": data.digest(), "estimator":
                f"bradley_terry/{ties}" if method == "bt" else "elo",
                "version": __version__, "seed": seed, "params": params}
    return Leaderboard(rows, cube.n_votes, bias, tuple(notes), snapshot, method, intervals,
                       ties if method == "bt" else "half", effective)
