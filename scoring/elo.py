"""Online Elo, for a live ticker only (DESIGN.md §4).

Elo depends on the order of the votes and is far noisier than Bradley-Terry, so it needs the
ordered form :class:`scoring.data.Votes` (row order = the order votes were cast), not the count
cube. Outcome map as for Bradley-Terry: left win 1, right win 0, tie and both_bad 1/2.
Defaults are FastChat's ``compute_online_elo``: ``k=4``, base 10, scale 400, initial 1000.
Elo, A.E. (1978), *The Rating of Chessplayers, Past and Present*.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Votes
from .errors import EmptyDataError

_OUTCOME = (1.0, 0.0, 0.5, 0.5)


@dataclass(frozen=True, eq=False)
class EloResult:
    """Ratings after replaying the votes in order; ``ratings`` aligned with ``models``."""

    models: tuple[str, ...]
    ratings: np.ndarray
    k: float
    base: float
    scale: float
    init: float

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.models, self.ratings.tolist()))


def elo_ratings(left, right, choice, n_models: int, *, k: float = 4.0, base: float = 10.0,
                scale: float = 400.0, init: float = 1000.0) -> np.ndarray:
    """Replay votes (integer arrays, in order) and return the final ratings."""
    r = [float(init)] * n_models
    score = [_OUTCOME[c] for c in range(4)]
    for a, b, c in zip(np.asarray(left).tolist(), np.asarray(right).tolist(),
                       np.asarray(choice).tolist()):
        ra, rb = r[a], r[b]
        ea = 1.0 / (1.0 + base ** ((rb - ra) / scale))
        delta = k * (score[c] - ea)
        r[a] = ra + delta
        r[b] = rb - delta
    return np.array(r)


def fit_elo(votes: Votes, *, k: float = 4.0, base: float = 10.0, scale: float = 400.0,
            init: float = 1000.0) -> EloResult:
    """Elo ratings of ``votes`` replayed in row order (per-vote weights are ignored).

    Raises
    ------
    EmptyDataError
        No votes.
    """
    if len(votes) == 0:
        raise EmptyDataError("no votes to rank")
    ratings = elo_ratings(votes.left, votes.right, votes.choice, len(votes.models), k=k,
                          base=base, scale=scale, init=init)
    return EloResult(votes.models, ratings, k, base, scale, init)


def bootstrap_elo(votes: Votes, *, rounds: int = 100, seed: int = 0, order: str = "kept",
                  **params) -> np.ndarray:
    """Ratings over ``rounds`` resamples of the votes with replacement; ``(rounds, n_models)``.

    ``order="kept"`` (default) replays each resample in the votes' own order (every vote drawn
    ``k`` times is replayed ``k`` times where it stands), so the interval is about the ticker
    that was computed, the point from that same order. ``order="shuffled"`` replays each
    resample in random order (FastChat's ``get_bootstrap_result``): its interval is about the
    Elo of a random order, whose centre is the median of the shuffled orders, not the ticker.
    """
    if order not in ("kept", "shuffled"):
        raise ValueError(f"unknown order {order!r}; expected kept or shuffled")
    rng = np.random.default_rng(seed)
    n, out = len(votes), np.empty((rounds, len(votes.models)))
    for r in range(rounds):
        pick = rng.integers(0, n, n)
        if order == "kept":
            pick.sort()
        out[r] = elo_ratings(votes.left[pick], votes.right[pick], votes.choice[pick],
                             len(votes.models), **params)
    return out
