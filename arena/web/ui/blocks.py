"""The whole Gradio page: tabs, style, and the keyboard shortcuts."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from arena.context import Arena
from arena.web.ui.annotate_tab import build_annotate_tab, tab_from_url
from arena.web.ui.campaign_tab import build_campaign_tab
from arena.web.ui.leaderboard_tab import build_leaderboard_tab
from arena.web.ui.live_tab import build_live_tab
from arena.web.ui.pareto_tab import build_pareto_tab
from arena.web.ui.task_menus import TaskMenus
from arena.web.ui.vote_tab import build_vote_tab
from arena.web.ui.voters_tab import build_voters_tab
from arena.web.visitors import Visitors

HERE = Path(__file__).resolve().parent
#: The page's style (``arena.css``) and script (``arena.js``: keys 1-4 and Enter, the pause
#: before a pair takes a vote, looking closer), given to the mount call (Gradio drops them from
#: ``gr.Blocks`` when mounted).
CSS = (HERE / "arena.css").read_text(encoding="utf-8")
#: Rules about the page around Gradio's content, which Gradio's scoping of ``css`` cannot reach.
PAGE_STYLE = """
@media (max-width: 640px) { .gradio-container .main.app { padding: 8px 8px !important; } }
"""
HEAD = ("<style>" + PAGE_STYLE + "</style>\n<script>\n"
        + (HERE / "arena.js").read_text(encoding="utf-8") + "</script>\n")


def build_blocks(arena: Arena, visitors: Visitors) -> gr.Blocks:
    """The Vote, Live, Leaderboard, Pareto, Voters, Campaigns and Annotate tabs bound to ``arena``.

    Each tab after Vote is built by a function returning (inputs, show, outputs); ``show``
    refreshes the tab when it is selected. Annotate comes last so that on a phone the main tabs
    stay in view; a private ``?annotate=TOKEN`` link opens it directly.
    """
    menus = TaskMenus(arena)
    pages = (("Leaderboard", "leaderboard", lambda: build_leaderboard_tab(arena, menus)),
             ("Pareto", "pareto", lambda: build_pareto_tab(arena, menus)),
             ("Voters", "voters", lambda: build_voters_tab(arena, menus)),
             ("Campaigns", "campaigns", lambda: build_campaign_tab(arena)),
             ("Annotate", "annotate", lambda: build_annotate_tab(arena)))
    with gr.Blocks(title="Pareto Arena", analytics_enabled=False) as blocks:
        gr.Markdown("# Pareto Arena\nWhich edit follows the instruction better? "
                    "Two anonymous models edited the same source image.", elem_classes="pa-title")
        with gr.Tabs() as tabs:
            with gr.Tab("Vote", id="vote"):
                build_vote_tab(arena, visitors, blocks, menus)
            with gr.Tab("Live", id="live"):
                build_live_tab(arena, menus)
            for label, tab_id, build in pages:
                with gr.Tab(label, id=tab_id) as tab:
                    inputs, show, outputs = build()
                tab.select(show, inputs, outputs, api_name=False)
        blocks.load(show, inputs, outputs, api_name=False)  # the Annotate tab, for ?annotate= links
        blocks.load(tab_from_url, None, tabs, api_name=False)
        menus.bind(blocks)  # tasks added while the server runs appear on the next load
    return blocks
