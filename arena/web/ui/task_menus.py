"""Task dropdowns that follow the database: a task imported or generated while the server runs
shows up in every tab's menu at the next page load, without a restart."""
from __future__ import annotations

from typing import Any

import gradio as gr

from arena.context import Arena
from arena.store.catalog import task_names


class TaskMenus:
    """Makes the tabs' task dropdowns and refreshes their choices when a page loads.

    ``head`` is what comes before the task names (``["overall"]``, ``[("Any task", "any")]``);
    ``with_pairs`` lists only tasks that have a pair to show (for voting), else every task.
    """

    def __init__(self, arena: Arena):
        self.arena = arena
        self._menus: list[tuple[gr.Dropdown, list[Any], bool]] = []

    def tasks(self, with_pairs: bool = False) -> list[str]:
        return self.arena.sampler.tasks() if with_pairs else task_names(self.arena.engine)

    def dropdown(self, head: list[Any], *, with_pairs: bool = False, **kwargs: Any) -> gr.Dropdown:
        """A task dropdown inside the current layout, registered for refreshing."""
        menu = gr.Dropdown(choices=head + self.tasks(with_pairs), **kwargs)
        self._menus.append((menu, list(head), with_pairs))
        return menu

    def choices(self) -> list[Any]:
        """Fresh choices for every registered dropdown, in registration order (values kept)."""
        cache = {flag: self.tasks(flag) for flag in {w for _, _, w in self._menus}}
        return [gr.update(choices=head + cache[w]) for _, head, w in self._menus]

    def bind(self, blocks: gr.Blocks) -> None:
        """Refresh the choices each time ``blocks`` loads in a browser."""
        if self._menus:
            blocks.load(self.choices, None, [m for m, _, _ in self._menus], api_name=False,
                        queue=False, show_progress="hidden")
