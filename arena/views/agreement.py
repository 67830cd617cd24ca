"""How far leaderboards agree: between the tasks of this arena, and with boards from elsewhere.

The seed finding behind the arena is that public boards disagree; this puts numbers on it for
the user's own tasks (Kendall tau-b, Spearman, top-k overlap, rank shifts from
:func:`scoring.agreement.agreement`).
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping

from arena.files.boards import read_board
from arena.views.leaderboard import OVERALL
from scoring.agreement import agreement
from scoring.errors import ScoringError


def board_scores(board: Mapping[str, Any]) -> dict[str, float]:
    """``{model: score}`` of one board of the ``rank`` JSON."""
    return {r["model"]: r["score"] for r in board["rows"]}


def between_tasks(boards: list[Mapping[str, Any]], k: int = 3) -> list[dict[str, Any]]:
    """Agreement of every pair of task boards (not ``overall``) that share two or more models."""
    tasks = [b for b in boards if b["task"] != OVERALL and b["rows"]]
    out = []
    for a, b in combinations(tasks, 2):
        try:
            result = agreement(board_scores(a), board_scores(b), k=k)
        except ScoringError:
            continue  # fewer than two models in common
        out.append({"task_a": a["task"], "task_b": b["task"], "models": len(result.models),
                    "kendall_tau_b": result.kendall_tau_b, "spearman": result.spearman,
                    "top_k_overlap": result.top_k_overlap, "k": result.k})
    return out


def against_file(board: Mapping[str, Any], path: str, k: int = 10) -> dict[str, Any]:
    """Agreement of one of our boards with a board file (rank JSON or model,score/rank CSV)."""
    theirs = read_board(path, board["task"])
    return agreement(board_scores(board), theirs, k=k).to_dict()
