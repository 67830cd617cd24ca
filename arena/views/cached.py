"""What the pages and the HTTP API read from the database, computed once per set of votes and
outputs (:class:`arena.views.cache.BoardCache`): leaderboards, Pareto fronts, model stats and
the voter overview. One key per computation, so a page and the API share the result."""
from __future__ import annotations

from typing import Any

from arena.context import Arena
from arena.store.catalog import TaskSummary, model_stats, task_summaries
from arena.views.cubes import db_cubes
from arena.views.leaderboard import leaderboards
from arena.views.pareto import db_costs, pareto_json
from arena.views.voters import NoVotersError, voter_leaderboards, voters_overview
from scoring.errors import ScoringError
from scoring.leaderboard import position_bias_flag


def tasks_of(arena: Arena) -> list[TaskSummary]:
    """:func:`arena.store.catalog.task_summaries`, computed again when the catalogue changes."""
    return arena.catalogue.get(("tasks",), lambda: task_summaries(arena.engine))


def stats_of(arena: Arena) -> list[dict[str, Any]]:
    """:func:`arena.store.catalog.model_stats` (latency, cost, outputs per model)."""
    return arena.boards.get(("model_stats",), lambda: model_stats(arena.engine))


def boards_of(arena: Arena, tasks: list[str] | None = None, mode: str = "all",
              position_bias: str = "fit") -> tuple[dict[str, Any], str]:
    """The rank JSON of ``tasks`` (``None``: every task and overall) with voters taken as
    ``mode`` says, and a note; when flagged voters cannot be set aside (no voter ids, or no
    fit), all votes, with the note saying why. ``position_bias`` is ``"fit"`` (default) or
    ``"none"`` (no left/right term, the conventional fit)."""
    position_bias_flag(position_bias)
    key = ("rank", mode, tuple(tasks) if tasks else None) \
        + ((position_bias,) if position_bias != "fit" else ())
    return arena.boards.get(key, lambda: _fit_boards(arena, tasks, mode, position_bias))


def _fit_boards(arena: Arena, tasks: list[str] | None, mode: str,
                position_bias: str = "fit") -> tuple[dict[str, Any], str]:
    options = {} if position_bias == "fit" else {"position_bias": position_bias}
    if mode != "all":
        try:
            return voter_leaderboards(mode, engine=arena.engine, tasks=tasks, **options), ""
        except (NoVotersError, ScoringError) as exc:
            return (leaderboards(db_cubes(arena.engine, tasks), **options),
                    f"Showing all votes: {exc}.")
    return leaderboards(db_cubes(arena.engine, tasks), **options), ""


def pareto_of(arena: Arena, task: str | None = None, position_bias: str = "fit"
              ) -> dict[str, Any]:
    """The ``pareto`` JSON of ``task`` (``None``: every task and overall); ``position_bias``
    as for :func:`boards_of`."""
    position_bias_flag(position_bias)
    key = ("pareto", task) + ((position_bias,) if position_bias != "fit" else ())
    return arena.boards.get(key, lambda: pareto_json(
        db_cubes(arena.engine, [task] if task else None), db_costs(stats_of(arena)),
        position_bias=position_bias))


def voters_of(arena: Arena, mode: str, task: str) -> dict[str, Any]:
    """:func:`arena.views.voters.voters_overview` (for the organiser's Voters tab)."""
    return arena.boards.get(("voters", mode, task), lambda: voters_overview(arena.engine, mode, task))
