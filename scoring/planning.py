"""The vote budget: how many votes a task needs before its leaderboard can be trusted.

:func:`plan_votes` answers by simulation with the arena's own estimator. Votes are drawn from a
Bradley-Terry model with the given true scores (ties at ``tie_rate``), pairs chosen either
uniformly or by the arena's sampler (:func:`scoring.active_sampling.pair_weights`, refitted as
votes arrive), and at each budget the votes so far are ranked by :func:`scoring.rank` (sandwich
intervals, votes treated as independent: the plan assumes many honest voters). Over ``runs``
repetitions it reports, per budget, the median 95% interval half-width in score points, the
share of rank-adjacent models whose intervals separate, Kendall's tau against the truth and how
often the true best model comes first. A planner for a new arena passes a guessed spread of
scores; an arena that already has votes passes its current scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .active_sampling import pair_weights, win_matrix
from .agreement import agreement
from .bradley_terry import SCALE
from .data import Comparisons
from .errors import ScoringError
from .leaderboard import rank

SAMPLERS = ("variance", "uniform")
DEFAULT_BUDGETS = (250, 500, 1000, 2000, 4000, 8000, 16000)


@dataclass(frozen=True)
class BudgetRow:
    """What ``votes`` votes give, summarised over the runs (medians and shares)."""

    votes: int
    ci_half_width: float        # median over runs of the median half-width, score points
    adjacent_separated: float   # share of rank-adjacent pairs with disjoint intervals
    kendall_tau: float          # median over runs, against the true order
    top_correct: float          # share of runs whose first model is the true best


@dataclass(frozen=True)
class VotePlan:
    """Budgets and their outcomes; ``votes_needed`` is the first budget whose interval
    half-width is at most ``target_half_width`` (``None`` if none reaches it)."""

    scores: tuple[float, ...]
    sampler: str
    runs: int
    target_half_width: float | None
    rows: tuple[BudgetRow, ...]
    votes_needed: int | None

    def to_dict(self) -> dict:
        return {"scores": list(self.scores), "sampler": self.sampler, "runs": self.runs,
                "target_half_width": self.target_half_width, "votes_needed": self.votes_needed,
                "budgets": [vars(r) for r in self.rows]}


def spread_scores(models: int, spread: float) -> np.ndarray:
    """``models`` true scores evenly spaced over ``spread`` points around 1000."""
    if models < 2:
        raise ScoringError("a plan needs at least 2 models")
    if not spread > 0:
        raise ScoringError("spread must be a positive number of score points")
    return 1000 + np.linspace(spread / 2, -spread / 2, models)


def plan_votes(scores, *, budgets=DEFAULT_BUDGETS, sampler: str = "variance",
               target_half_width: float | None = None, tie_rate: float = 0.1, runs: int = 5,
               seed: int = 0, batch_share: float = 0.05) -> VotePlan:
    """Simulate collecting votes for models with true ``scores`` (Elo-like points).

    Parameters
    ----------
    scores : array of float
        True score of each model on the ``1000 + 400/ln(10) * theta`` scale.
    budgets : increasing ints
        Vote counts at which the leaderboard is fitted and summarised.
    sampler : {"variance", "uniform"}
        How pairs are chosen: the arena's gap-variance rule (with its 10% uniform share), its
        weights refreshed each time the votes grow by ``batch_share``; or uniformly.
    target_half_width : float, optional
        Interval half-width (score points) the plan should reach; sets ``votes_needed``.
    tie_rate : float
        Share of votes answered tie or both bad (counted as half a win each way).
    runs, seed
        Repetitions, and the seed of the one generator they share.

    Raises
    ------
    ScoringError
        Fewer than two models, non-finite scores, budgets not positive and increasing, an
        unknown sampler, or a rate out of range.
    """
    truth = np.asarray(scores, dtype=float)
    if truth.ndim != 1 or len(truth) < 2 or not np.all(np.isfinite(truth)):
        raise ScoringError("scores must be at least two finite numbers")
    budgets = [int(b) for b in budgets]
    if not budgets or budgets[0] < 1 or any(b <= a for a, b in zip(budgets, budgets[1:])):
        raise ScoringError("budgets must be positive and increasing")
    if sampler not in SAMPLERS:
        raise ScoringError(f"unknown sampler {sampler!r}; expected one of {', '.join(SAMPLERS)}")
    if not 0 <= tie_rate < 1 or runs < 1 or not 0 < batch_share <= 1:
        raise ScoringError("tie_rate must be in [0, 1), runs at least 1, batch_share in (0, 1]")
    rng = np.random.default_rng(seed)
    theta = (truth - truth.mean()) / SCALE
    per_run = [_one_run(theta, budgets, sampler, tie_rate, batch_share, rng) for _ in range(runs)]
    rows = []
    for k, votes in enumerate(budgets):
        stats = np.array([run[k] for run in per_run])
        rows.append(BudgetRow(votes, float(np.median(stats[:, 0])), float(np.mean(stats[:, 1])),
                              float(np.median(stats[:, 2])), float(np.mean(stats[:, 3]))))
    needed = None
    if target_half_width is not None:
        needed = next((r.votes for r in rows if r.ci_half_width <= target_half_width), None)
    return VotePlan(tuple(map(float, truth)), sampler, runs, target_half_width, tuple(rows), needed)


def _one_run(theta, budgets, sampler, tie_rate, batch_share, rng) -> list[tuple]:
    m = len(theta)
    i, j = np.triu_indices(m, k=1)
    pairs = np.stack([i, j], axis=1)
    left = np.empty(0, np.int64)
    right = np.empty(0, np.int64)
    choice = np.empty(0, np.int64)
    out = []
    for budget in budgets:
        while len(left) < budget:
            n = min(budget - len(left), max(1, int(batch_share * max(len(left), 100))))
            if sampler == "uniform":
                p = None
            else:
                score = np.array([1.0, 0.0, 0.5, 0.5])[choice]
                wins = win_matrix(m, left, right, score)
                p = pair_weights(m, pairs, wins)
            k = rng.choice(len(pairs), size=n, p=p)
            flip = rng.random(n) < 0.5
            a = np.where(flip, pairs[k, 1], pairs[k, 0])
            b = np.where(flip, pairs[k, 0], pairs[k, 1])
            won = rng.random(n) < 1 / (1 + np.exp(theta[b] - theta[a]))
            tie = rng.random(n) < tie_rate
            c = np.where(tie, 2, np.where(won, 0, 1))
            left, right, choice = (np.concatenate(x) for x in ((left, a), (right, b), (choice, c)))
        out.append(_summary(theta, left, right, choice))
    return out


def _summary(theta, left, right, choice) -> tuple[float, float, float, float]:
    m = len(theta)
    names = [str(k) for k in range(m)]
    data = Comparisons.from_counts(names, left, right, choice)
    board = rank(data, position_bias=False, min_votes=0)
    index = {r.model: r for r in board.rows}
    order = np.argsort(-theta)
    rows = [index.get(names[k]) for k in order]
    if any(r is None for r in rows):                    # a model without votes yet
        return float("inf"), 0.0, float("nan"), 0.0
    half = np.median([(r.ci_high - r.ci_low) / 2 for r in rows])
    separated = np.mean([a.ci_low > b.ci_high for a, b in zip(rows, rows[1:])])
    tau = agreement({r.model: r.score for r in rows}, dict(zip(names, theta))).kendall_tau_b
    return float(half), float(separated), tau, float(board.rows[0].model == names[order[0]])
