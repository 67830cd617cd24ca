"""Task dropdowns follow the database: a task added while the server runs shows on the next load."""
from __future__ import annotations

import gradio as gr
from toy_catalog import make_toy_catalog

from arena.store.catalog import ensure_task
from arena.views.leaderboard import OVERALL
from arena.web.ui.task_menus import TaskMenus


def test_menus_pick_up_tasks_added_after_the_page_was_built(arena):
    make_toy_catalog(arena, task="recolor")
    menus = TaskMenus(arena)
    with gr.Blocks():
        board = menus.dropdown([OVERALL], value=OVERALL, label="Task")
        vote = menus.dropdown([("Any task", "any")], with_pairs=True, value="any", label="Task")
    assert [c[1] for c in board.choices] == [OVERALL, "recolor"]
    assert [c[1] for c in vote.choices] == ["any", "recolor"]

    ensure_task(arena.engine, "style")                   # no outputs yet: nothing to vote on
    make_toy_catalog(arena, task="text_edit", models=("delta", "eps"), items=2)
    board_update, vote_update = menus.choices()
    assert board_update["choices"] == [OVERALL, "recolor", "style", "text_edit"]
    assert vote_update["choices"] == [("Any task", "any"), "recolor", "text_edit"]
    assert "value" not in board_update                     # what a user picked stays picked
