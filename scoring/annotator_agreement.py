"""Agreement between annotators who label the same pairs (an annotation campaign).

Each label is one of :data:`~scoring.columns.CHOICES` (codes 0-3: left better, right better,
tie, both bad). :func:`label_table` turns parallel columns (unit, annotator, answer) into a
units x coders table (``-1`` = missing); :func:`reliability` then gives, with bootstrap intervals,

* Krippendorff's alpha, nominal over the four answers and ordinal on the scale
  left < tie < right, from the coincidence matrix (Krippendorff 2011; Hayes & Krippendorff 2007).
  In the ordinal alpha a ``both_bad`` label is treated as missing: it is not on the scale, so it
  is dropped before the coincidences are counted (a unit left with one label is unpairable);
* Fleiss' kappa (Fleiss 1971) over units with at least two labels, in the generalisation to
  unequal numbers of raters per unit of Gwet (2014, ch. 2, "Fleiss' generalized kappa"): mean
  per-unit pairwise agreement against the squared mean per-unit category shares. With the same
  number of raters on every unit it is exactly Fleiss (1971). Gwet also averages the shares over
  units with a single label; here those units are left out of both terms;

and :func:`annotator_scores` gives each annotator's agreement with the majority of the *other*
annotators on the same units, their 4x4 confusion matrix against that majority, and their
accuracy on gold units.

Undefined figures are NaN (``None`` in ``to_dict()``): alpha when fewer than two pairable labels
exist or every pairable label has the same value (expected disagreement 0); kappa when no unit
has two labels or one category takes every label (chance agreement 1); an interval bound when
fewer than two bootstrap rounds give a finite value; an annotator's rate when they have no unit
to compare (no majority among the others, or no gold unit answered).

Bootstrap intervals resample units (pairs) with replacement, ``rounds`` times, seeded, and take
percentiles (Efron & Tibshirani 1993, ch. 13). Every statistic above is a function of per-unit
sums, so a round is one product of the resampling counts with a per-unit feature table: no
Python loop over units or rounds. (Hayes & Krippendorff 2007 bootstrap pairable values instead;
resampling units keeps labels of one pair together, as the arena's intervals do.)

References: Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological
Bulletin 76, 378-382; Hayes & Krippendorff (2007), "Answering the call for a standard
reliability measure for coding data", Communication Methods and Measures 1, 77-89; Krippendorff
(2011), "Computing Krippendorff's Alpha-Reliability", Annenberg School for Communication
Departmental Papers 43; Gwet (2014), *Handbook of Inter-Rater Reliability*, 4th ed., Advanced
Analytics; Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, Chapman & Hall.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .columns import CHOICES, check_lengths, choice_codes, factorize
from .errors import ScoringError

#: Position of each answer code on the ordinal scale left < tie < right; ``both_bad`` is off it.
ORDINAL_RANK = np.array([0, 2, 1, -1])
#: Most resampling counts held at once by :func:`_bootstrap` (rounds x units).
_BLOCK = 1 << 22


@dataclass(frozen=True, eq=False)
class LabelTable:
    """Units x coders answer codes 0-3, ``-1`` where a coder did not label a unit."""

    units: tuple
    coders: tuple
    codes: np.ndarray


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap interval (NaN where undefined)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return {k: _clean(getattr(self, k)) for k in ("value", "low", "high")}


@dataclass(frozen=True)
class ReliabilityResult:
    """Chance-corrected agreement of a campaign; ``units`` = units with two or more labels."""

    alpha_nominal: Estimate
    alpha_ordinal: Estimate
    fleiss_kappa: Estimate
    units: int
    labels: int
    level: float
    rounds: int
    seed: int | None

    def to_dict(self) -> dict:
        return {"alpha_nominal": self.alpha_nominal.to_dict(),
                "alpha_ordinal": self.alpha_ordinal.to_dict(),
                "fleiss_kappa": self.fleiss_kappa.to_dict(), "units": self.units,
                "labels": self.labels, "level": self.level, "rounds": self.rounds,
                "seed": self.seed}


@dataclass(frozen=True, eq=False)
class AnnotatorScores:
    """Per annotator (``coders`` order): leave-one-out majority agreement and gold accuracy.

    ``compared[i]`` units where the others had a strict majority, ``majority_agreement[i]`` the
    share of those where annotator ``i`` gave the majority answer, ``confusion[i, a, b]`` how
    often ``i`` answered ``a`` when the others' majority was ``b`` (codes of :data:`CHOICES`),
    ``gold_answered[i]`` gold units ``i`` labelled, ``gold_accuracy[i]`` the share correct.
    """

    coders: tuple
    compared: np.ndarray
    majority_agreement: np.ndarray
    confusion: np.ndarray
    gold_answered: np.ndarray
    gold_accuracy: np.ndarray

    def to_dict(self) -> dict:
        return {str(c): {"compared": int(self.compared[i]),
                         "majority_agreement": _clean(self.majority_agreement[i]),
                         "confusion": self.confusion[i].tolist(),
                         "gold_answered": int(self.gold_answered[i]),
                         "gold_accuracy": _clean(self.gold_accuracy[i])}
                for i, c in enumerate(self.coders)}


def _clean(x):
    x = float(x)
    return x if np.isfinite(x) else None


def label_table(unit, annotator, answer) -> LabelTable:
    """Units x coders table from parallel columns of unit ids, annotator ids and answers.

    ``answer`` holds codes 0-3 or the names ``left``/``right``/``tie``/``both_bad``. Units and
    coders are sorted; a coder who labels a unit twice raises :class:`ScoringError`.
    """
    check_lengths(unit=unit, annotator=annotator, answer=answer)
    u, units = factorize(unit, "unit")
    c, coders = factorize(annotator, "annotator")
    a = answer_codes(answer)
    flat = u * len(coders) + c
    if len(np.unique(flat)) != len(flat):
        raise ScoringError("an annotator labelled the same unit more than once")
    codes = np.full((len(units), len(coders)), -1, dtype=np.int8)
    codes.reshape(-1)[flat] = a
    return LabelTable(tuple(units), tuple(coders), codes)


def answer_codes(values, what: str = "answer") -> np.ndarray:
    """Codes 0-3 from answer codes, :data:`CHOICES` names, or a list mixing the two."""
    if isinstance(values, (list, tuple)) or getattr(values, "dtype", None) == object:
        values = [CHOICES[x] if isinstance(x, (int, np.integer)) and 0 <= x <= 3 else x
                  for x in values]
    return choice_codes(values, what)


def _as_codes(table) -> np.ndarray:
    codes = np.asarray(table.codes if isinstance(table, LabelTable) else table)
    if codes.ndim != 2 or codes.dtype.kind not in "iu" or np.any((codes < -1) | (codes > 3)):
        raise ScoringError("table must be a 2-D integer array of codes 0-3, -1 for missing")
    return codes


def value_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """Per unit, how many coders gave each value ``0..k-1`` (negatives are missing).

    One ``np.bincount`` over ``unit * k + value``: shape ``(units, k)``.
    """
    rows = np.broadcast_to(np.arange(codes.shape[0])[:, None], codes.shape)
    keep = codes >= 0
    flat = rows[keep].astype(np.intp) * k + codes[keep]
    return np.bincount(flat, minlength=codes.shape[0] * k).reshape(codes.shape[0], k)


def unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """Each unit's contribution to the coincidence matrix, shape ``(units, k, k)``.

    ``o_u[c, k] = (n_uc n_uk - [c = k] n_uc) / (m_u - 1)`` for units with ``m_u >= 2`` labels,
    zero for the others (Krippendorff 2011, the coincidence matrix).
    """
    m = counts.sum(axis=1)
    scale = np.where(m >= 2, 1.0 / np.maximum(m - 1, 1), 0.0)
    pair = counts[:, :, None] * counts[:, None, :] - np.einsum("uc,ck->uck", counts,
                                                                np.eye(counts.shape[1]))
    return pair * scale[:, None, None]


def alpha_from_coincidences(o: np.ndarray, level: str = "nominal") -> np.ndarray:
    """Krippendorff's alpha from coincidence matrices ``o`` of shape ``(..., k, k)``.

    ``alpha = 1 - (n - 1) sum_ck o_ck d_ck / sum_ck n_c n_k d_ck`` with ``n_c`` the marginals;
    ``d_ck = [c != k]`` (nominal) or ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2`` (ordinal, values
    in scale order) (Krippendorff 2011). NaN where the expected disagreement is 0.
    """
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    if level == "nominal":
        d = 1.0 - np.eye(o.shape[-1])
    elif level == "ordinal":
        cum = np.cumsum(n_c, axis=-1)
        d = (cum[..., None, :] - cum[..., :, None]
             + (n_c[..., :, None] - n_c[..., None, :]) / 2.0) ** 2
    else:
        raise ScoringError(f"level must be 'nominal' or 'ordinal', got {level!r}")
    observed = (o * d).sum(axis=(-2, -1))
    expected = (n_c[..., :, None] * n_c[..., None, :] * d).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = 1.0 - (n - 1.0) * observed / expected
    return np.where(expected > 0, alpha, np.nan)


def unit_fleiss_terms(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: pairwise agreement ``P_u`` and category shares ``n_uk / m_u`` (zero if m_u < 2).

    ``P_u = sum_k n_uk (n_uk - 1) / (m_u (m_u - 1))`` (Fleiss 1971, eq. 2; Gwet 2014, ch. 2).
    """
    m = counts.sum(axis=1).astype(float)
    ok = m >= 2
    denom = np.where(ok, m * (m - 1), 1.0)
    agree = np.where(ok, (counts * (counts - 1.0)).sum(axis=1) / denom, 0.0)
    shares = np.where(ok[:, None], counts / np.where(ok, m, 1.0)[:, None], 0.0)
    return agree, shares


def kappa_from_terms(agree_sum, share_sum, n_units) -> np.ndarray:
    """Fleiss' kappa from summed ``P_u``, summed shares ``(..., k)`` and the unit count.

    ``kappa = (P - P_e) / (1 - P_e)``, ``P`` the mean ``P_u``, ``P_e = sum_k p_k^2`` with
    ``p_k`` the mean share (Fleiss 1971, eqs. 5-7). NaN without units or where ``P_e = 1``.
    """
    n_units = np.asarray(n_units, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bar = agree_sum / n_units
        p_e = ((share_sum / n_units[..., None]) ** 2).sum(axis=-1)
        kappa = (p_bar - p_e) / (1.0 - p_e)
    return np.where((n_units > 0) & (p_e < 1 - 1e-12), kappa, np.nan)


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa from a units x categories table of counts (any number of categories).

    Units with fewer than two ratings are left out; ratings per unit may differ.
    """
    counts = np.asarray(counts, dtype=float)
    agree, shares = unit_fleiss_terms(counts)
    n = int((counts.sum(axis=1) >= 2).sum())
    return float(kappa_from_terms(agree.sum(), shares.sum(axis=0), n))


def _features(codes: np.ndarray) -> np.ndarray:
    """Per-unit sums behind all three statistics, one row per unit (see :func:`_statistics`)."""
    nominal = value_counts(codes, 4)
    ordinal = value_counts(np.where(codes >= 0, ORDINAL_RANK[codes], -1), 3)
    agree, shares = unit_fleiss_terms(nominal)
    two = (nominal.sum(axis=1) >= 2).astype(float)
    return np.column_stack([unit_coincidences(nominal).reshape(len(codes), 16),
                            unit_coincidences(ordinal).reshape(len(codes), 9),
                            agree, shares, two])


def _statistics(sums: np.ndarray) -> np.ndarray:
    """Nominal alpha, ordinal alpha and kappa from summed :func:`_features`, shape (..., 3)."""
    alpha_n = alpha_from_coincidences(sums[..., :16].reshape(*sums.shape[:-1], 4, 4))
    alpha_o = alpha_from_coincidences(sums[..., 16:25].reshape(*sums.shape[:-1], 3, 3),
                                      "ordinal")
    kappa = kappa_from_terms(sums[..., 25], sums[..., 26:30], sums[..., 30])
    return np.stack([alpha_n, alpha_o, kappa], axis=-1)


def _bootstrap(features: np.ndarray, rounds: int, rng) -> np.ndarray:
    """Statistics of ``rounds`` resamples of the units, shape ``(rounds, 3)``."""
    n = len(features)
    out = np.empty((rounds, 3))
    step = max(1, _BLOCK // max(n, 1))
    for start in range(0, rounds, step):
        r = min(step, rounds - start)
        draws = rng.integers(0, n, size=(r, n)) + n * np.arange(r)[:, None]
        weights = np.bincount(draws.ravel(), minlength=r * n).reshape(r, n).astype(float)
        out[start:start + r] = _statistics(weights @ features)
    return out


def _interval(point: float, draws: np.ndarray, level: float) -> Estimate:
    finite = draws[np.isfinite(draws)]
    if not np.isfinite(point) or len(finite) < 2:
        return Estimate(float(point), np.nan, np.nan)
    low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return Estimate(float(point), float(low), float(high))


def reliability(table, *, rounds: int = 1000, level: float = 0.95,
              seed: int | None = 0) -> ReliabilityResult:
    """Krippendorff's alpha (nominal, ordinal) and Fleiss' kappa with bootstrap intervals.

    Parameters
    ----------
    table : LabelTable or array of shape (units, coders)
        Answer codes 0-3, ``-1`` for missing (see :func:`label_table`).
    rounds : int
        Bootstrap resamples of the units; 0 gives NaN intervals.
    level : float
        Coverage of the percentile intervals.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same intervals.
    """
    if not 0 < level < 1:
        raise ScoringError(f"level must be in (0, 1), got {level}")
    if rounds < 0:
        raise ScoringError(f"rounds must be >= 0, got {rounds}")
    codes = _as_codes(table)
    features = _features(codes)
    point = _statistics(features.sum(axis=0))
    draws = _bootstrap(features, rounds, np.random.default_rng(seed)) if len(codes) \
        else np.empty((rounds, 3))
    est = [_interval(point[i], draws[:, i], level) for i in range(3)]
    return ReliabilityResult(*est, units=int(features[:, 30].sum()),
                           labels=int((codes >= 0).sum()), level=level, rounds=rounds,
                           seed=seed)


def _gold_codes(gold: Mapping, units: tuple, n_units: int) -> np.ndarray:
    """Correct code per unit row (``-1`` where none); ``units`` map ids to rows."""
    out = np.full(n_units, -1, dtype=np.int8)
    if not gold:
        return out
    row = {u: i for i, u in enumerate(units)} if units else {i: i for i in range(n_units)}
    known = [(row[u], a) for u, a in gold.items() if u in row]
    if known:
        rows, answers = zip(*known)
        out[list(rows)] = answer_codes(list(answers), "gold")
    return out


def annotator_scores(table, gold: Mapping | None = None) -> AnnotatorScores:
    """Each annotator against the majority of the other annotators, and against gold answers.

    For annotator ``i`` on unit ``u`` the others' counts are the unit's counts less ``i``'s own
    label; their majority is the answer with the strictly largest count (a tie for the largest
    count, or no other label, is no majority and the unit is not compared).

    Parameters
    ----------
    table : LabelTable or array of shape (units, coders)
        Answer codes 0-3, ``-1`` for missing.
    gold : mapping, optional
        Unit id (row index for a plain array) -> correct answer (code or name). Units not in
        the table are ignored.
    """
    codes = _as_codes(table)
    n_units, n_coders = codes.shape
    coders = table.coders if isinstance(table, LabelTable) else tuple(range(n_coders))
    units = table.units if isinstance(table, LabelTable) else ()
    counts = value_counts(codes, 4)
    u, c = np.nonzero(codes >= 0)
    own = codes[u, c].astype(np.intp)
    others = counts[u].copy()
    others[np.arange(len(u)), own] -= 1
    top = others.max(axis=1)
    majority = np.where((top > 0) & ((others == top[:, None]).sum(axis=1) == 1),
                        others.argmax(axis=1), -1)
    has = majority >= 0
    confusion = np.bincount(c[has] * 16 + own[has] * 4 + majority[has],
                            minlength=n_coders * 16).reshape(n_coders, 4, 4)
    compared = confusion.sum(axis=(1, 2))
    agreed = np.trace(confusion, axis1=1, axis2=2)
    truth = _gold_codes(gold or {}, units, n_units)[u]
    on_gold = truth >= 0
    answered = np.bincount(c[on_gold], minlength=n_coders)
    correct = np.bincount(c[on_gold], weights=(own == truth)[on_gold], minlength=n_coders)
    with np.errstate(invalid="ignore", divide="ignore"):
        return AnnotatorScores(tuple(coders), compared, agreed / compared, confusion,
                               answered, correct / answered)


__all__ = ["CHOICES", "ORDINAL_RANK", "LabelTable", "Estimate", "ReliabilityResult",
           "AnnotatorScores", "label_table", "answer_codes", "value_counts", "unit_coincidences",
           "alpha_from_coincidences", "unit_fleiss_terms", "kappa_from_terms", "fleiss_kappa",
           "reliability", "annotator_scores"]
