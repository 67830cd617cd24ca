"""Leaderboards of many tasks: the same numbers whether boards are fitted on one thread or two."""
from __future__ import annotations

import warnings

import arena.views.leaderboard as board_module
from arena.views.leaderboard import battle_cubes, leaderboards
from scoring.simulate import CrowdConfig, simulate_crowd


def test_threaded_fits_equal_sequential_fits_and_leave_warning_filters_alone(monkeypatch):
    cols = simulate_crowd(CrowdConfig(voters=60, votes=4000, models=6, tasks=("recolor", "style", "text_edit"), seed=4)).columns()
    cubes = battle_cubes(cols)
    assert len(cubes) == 4
    filters = list(warnings.filters)
    monkeypatch.setattr(board_module, "FIT_THREADS", 2)
    threaded = leaderboards(cubes)
    monkeypatch.setattr(board_module, "FIT_THREADS", 1)
    assert leaderboards(cubes) == threaded
    assert warnings.filters == filters
    assert [b["task"] for b in threaded["leaderboards"]][0] == "overall"


def test_boards_ranked_as_their_cubes_are_built_equal_the_boards_of_all_cubes(monkeypatch):
    """battle_leaderboards ranks each cube as it is built: the same JSON as ranking them after."""
    from arena.views.leaderboard import battle_leaderboards

    cols = simulate_crowd(CrowdConfig(voters=80, votes=5000, models=6,
                                      tasks=("recolor", "style"), seed=7)).columns()
    for threads in (1, 2):
        monkeypatch.setattr(board_module, "FIT_THREADS", threads)
        for tasks in (None, ["style", "absent"], ["overall"]):
            assert battle_leaderboards(cols, tasks) == leaderboards(battle_cubes(cols, tasks))
    one = {k: (v if k != "task" else ["recolor"] * len(v)) for k, v in cols.items()}
    boards = battle_leaderboards(one)["leaderboards"]
    assert [b["task"] for b in boards] == ["overall", "recolor"]
    assert {**boards[1], "task": "overall"} == boards[0]
