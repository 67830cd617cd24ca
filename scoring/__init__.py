"""Scoring engine: pure numerical code (numpy/scipy in, numbers out).

Public API::

    from scoring import Comparisons, Votes, rank, fit_bradley_terry, agreement
    data = Comparisons.from_battles(model_a, model_b, winner, voter=judge)
    board = rank(data)                      # Bradley-Terry, voter-clustered sandwich intervals
    board.to_dict()                         # the `rank` JSON of DESIGN.md §3

Never imports arena, gradio, torch or sqlalchemy.
"""
__version__ = "0.1.0"

from .data import BATTLE_WINNERS, CHOICES, Comparisons, Votes  # noqa: E402
from .errors import (ConvergenceError, EmptyDataError, ScoringError,  # noqa: E402
                     UnknownOutcomeError)
from .bradley_terry import BTResult, ScoringWarning, fit_bradley_terry  # noqa: E402
from .elo import EloResult, fit_elo  # noqa: E402
from .leaderboard import Leaderboard, PositionBias, Row, rank  # noqa: E402

__all__ = ["BATTLE_WINNERS", "CHOICES", "Comparisons", "Votes", "ConvergenceError",
           "EmptyDataError", "ScoringError", "UnknownOutcomeError", "BTResult", "ScoringWarning",
           "fit_bradley_terry", "EloResult", "fit_elo", "Leaderboard", "PositionBias", "Row",
           "rank"]
