"""Agreement between two rankings of the same models.

Boards can be :class:`~scoring.leaderboard.Leaderboard` objects, their ``to_dict()`` form, or
plain ``{model: score}`` mappings (higher is better); :func:`from_ranks` turns ``{model: rank}``
(lower is better) into scores. Only models on both boards are compared.

* Kendall's tau-b, which corrects for ties (Kendall 1945, Biometrika 33, 239-251), with
  ``scipy.stats.kendalltau``'s p-value;
* Spearman's rank correlation (average ranks for ties) with ``scipy.stats.spearmanr``;
* top-k overlap: ``|top_k(A) ∩ top_k(B)| / k``; a model tied at the cut is in its top-k, and
  the divisor is then the larger of the two top sets;
* each model's shift in position (1 = best; tied scores share the best position).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import ScoringError


@dataclass(frozen=True)
class Shift:
    """One model's positions on board A and board B; ``shift = position_b - position_a``."""

    model: str
    position_a: int
    position_b: int
    shift: int


@dataclass(frozen=True)
class Agreement:
    """How far two boards agree on their common models."""

    models: tuple[str, ...]
    kendall_tau_b: float
    kendall_p: float
    spearman: float
    spearman_p: float
    k: int
    top_k_overlap: float
    shifts: tuple[Shift, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]

    def to_dict(self) -> dict:
        clean = lambda x: None if isinstance(x, float) and not np.isfinite(x) else x  # noqa: E731
        return {"models": len(self.models), "kendall_tau_b": clean(self.kendall_tau_b),
                "kendall_p": clean(self.kendall_p), "spearman": clean(self.spearman),
                "spearman_p": clean(self.spearman_p), "k": self.k,
                "top_k_overlap": clean(self.top_k_overlap),
                "shifts": [vars(s).copy() for s in self.shifts],
                "only_in_a": list(self.only_in_a), "only_in_b": list(self.only_in_b)}


def as_scores(board) -> dict[str, float]:
    """``{model: score}`` from a Leaderboard, its ``to_dict()``, or a mapping of scores."""
    if hasattr(board, "scores") and callable(board.scores):
        return board.scores()
    if isinstance(board, Mapping) and "rows" in board:
        return {str(r["model"]): float(r["score"]) for r in board["rows"]}
    if isinstance(board, Mapping):
        return {str(k): float(v) for k, v in board.items()}
    raise ScoringError(f"not a board: {type(board).__name__}")


def from_ranks(ranks: Mapping[str, float]) -> dict[str, float]:
    """Scores from ranks (1 = best): the negated rank."""
    return {str(k): -float(v) for k, v in ranks.items()}


def positions(scores: Mapping[str, float]) -> dict[str, int]:
    """1 + the number of models with a strictly higher score (competition ranking)."""
    values = np.array(list(scores.values()), dtype=float)
    return {m: int(1 + np.sum(values > v)) for m, v in scores.items()}


def agreement(a, b, *, k: int = 10) -> Agreement:
    """Kendall tau-b, Spearman, top-k overlap and rank shifts between boards ``a`` and ``b``.

    Raises
    ------
    ScoringError
        Fewer than two models in common, a non-finite score, or ``k < 1``.
    """
    from scipy.stats import kendalltau, spearmanr    # imported here: scipy.stats is slow to load

    sa, sb = as_scores(a), as_scores(b)
    common = sorted(set(sa) & set(sb))
    if len(common) < 2:
        raise ScoringError(f"the boards share {len(common)} model(s); need at least 2")
    if k < 1:
        raise ScoringError("k must be at least 1")
    x = np.array([sa[m] for m in common])
    y = np.array([sb[m] for m in common])
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ScoringError("scores must be finite numbers")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        tau = tau_p = rho = rho_p = float("nan")        # a constant board has no order
    else:
        tau, tau_p = kendalltau(x, y, variant="b")
        rho, rho_p = spearmanr(x, y)
    pa = positions(dict(zip(common, x)))
    pb = positions(dict(zip(common, y)))
    kk = min(k, len(common))
    top_a = {m for m in common if pa[m] <= kk}
    top_b = {m for m in common if pb[m] <= kk}
    shifts = tuple(sorted((Shift(m, pa[m], pb[m], pb[m] - pa[m]) for m in common),
                          key=lambda s: (s.position_a, s.model)))
    return Agreement(tuple(common), float(tau), float(tau_p), float(rho), float(rho_p), kk,
                     len(top_a & top_b) / max(len(top_a), len(top_b)), shifts,
                     tuple(sorted(set(sa) - set(sb))), tuple(sorted(set(sb) - set(sa))))
