"""The whole Gradio page: tabs, style, and the keyboard shortcuts."""
from __future__ import annotations

import gradio as gr

from arena.context import Arena
from arena.web.ui.annotate_tab import build_annotate_tab, tab_from_url
from arena.web.ui.leaderboard_tab import build_leaderboard_tab
from arena.web.ui.live_tab import build_live_tab
from arena.web.ui.pareto_tab import build_pareto_tab
from arena.web.ui.task_menus import TaskMenus
from arena.web.ui.vote_tab import build_vote_tab
from arena.web.ui.voters_tab import build_voters_tab
from arena.web.visitors import Visitors

CSS = """
.pa-instruction { font-size: 1.15rem; font-weight: 600; margin: 0.25rem 0 0.5rem; }
.pa-pair { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.5rem;
           max-width: 1100px; margin: 0 auto; }
.pa-fig { margin: 0; text-align: center; }
.pa-fig img { width: 100%; height: auto; border-radius: 6px; image-rendering: auto; }
.pa-fig figcaption { font-weight: 700; font-size: 1.1rem; }
.pa-source img { opacity: 0.95; }
@media (max-width: 640px) {
  .pa-pair { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .pa-source { grid-column: 1 / span 2; max-width: 60%; margin: 0 auto; }
}
.pa-buttons button { min-height: 3rem; font-size: 1.05rem; }
"""

HEAD = """
<script>
// Keys 1-4 vote on the visible pair (Vote or Annotate tab); typing in a field is left alone.
document.addEventListener('keydown', function (e) {
  var t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
  var ids = {'1': ['vote-a', 'ann-a'], '2': ['vote-b', 'ann-b'], '3': ['vote-tie', 'ann-tie'],
             '4': ['vote-bad', 'ann-bad']}[e.key] || [];
  for (var i = 0; i < ids.length; i++) {
    var el = document.getElementById(ids[i]);
    if (el && el.offsetParent !== null && !el.disabled) { e.preventDefault(); el.click(); return; }
  }
});
</script>
"""


def build_blocks(arena: Arena, visitors: Visitors) -> gr.Blocks:
    """The Vote, Live, Leaderboard, Pareto, Voters and Annotate tabs bound to ``arena``.

    Each tab after Vote is built by a function returning (inputs, show, outputs); ``show``
    refreshes the tab when it is selected. Annotate comes last so that on a phone the main tabs
    stay in view; a ``?annotator=ID`` link opens it directly.
    """
    menus = TaskMenus(arena)
    pages = (("Leaderboard", "leaderboard", lambda: build_leaderboard_tab(arena, menus)),
             ("Pareto", "pareto", lambda: build_pareto_tab(arena, menus)),
             ("Voters", "voters", lambda: build_voters_tab(arena, menus)),
             ("Annotate", "annotate", lambda: build_annotate_tab(arena)))
    with gr.Blocks(title="Pareto Arena", analytics_enabled=False) as blocks:
        gr.Markdown("# Pareto Arena\nWhich edit follows the instruction better? "
                    "Two anonymous models edited the same source image.")
        with gr.Tabs() as tabs:
            with gr.Tab("Vote", id="vote"):
                build_vote_tab(arena, visitors, blocks, menus)
            with gr.Tab("Live", id="live"):
                build_live_tab(arena, menus)
            for label, tab_id, build in pages:
                with gr.Tab(label, id=tab_id) as tab:
                    inputs, show, outputs = build()
                tab.select(show, inputs, outputs, api_name=False)
        blocks.load(show, inputs, outputs, api_name=False)  # the Annotate tab, for ?annotator= links
        blocks.load(tab_from_url, None, tabs, api_name=False)
        menus.bind(blocks)  # tasks added while the server runs appear on the next load
    return blocks
