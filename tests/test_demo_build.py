"""The bundled demo set: four tasks, twelve items each, three real editors per task plus a baseline."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import select

from arena.context import Arena
from arena.store.db import session
from arena.demo.build import build_demo
from arena.store.schema import Item, Model, Output


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    arena = Arena.open(f"sqlite:///{root / 'arena.db'}", media=str(root / "media"))
    return arena, build_demo(arena)


def test_demo_has_four_tasks_of_twelve_items(built):
    arena, summary = built
    assert summary.items == 48 and not summary.skipped
    with session(arena.engine) as s:
        items = s.exec(select(Item)).all()
    assert Counter(i.task for i in items) == {
        "object_removal": 12, "background_change": 12, "text_edit": 12, "recolor": 12}
    for item in items:
        assert item.instruction and item.mask_path
        assert (item.target_text is not None) == (item.task == "text_edit")
        assert arena.media.path(item.source_path).stat().st_size > 0


def test_every_task_has_three_editors_and_the_baseline_with_latency(built):
    arena, summary = built
    with session(arena.engine) as s:
        rows = s.exec(select(Item.task, Model.name, Model.kind, Output.latency_s, Output.image_path)
                      .join(Output, Output.item_id == Item.id).join(Model, Model.id == Output.model_id)).all()
    per_task: dict[str, set[str]] = {}
    for task, name, kind, latency, path in rows:
        assert latency is not None and latency >= 0
        assert name not in path  # file names reveal nothing
        if kind != "baseline":
            per_task.setdefault(task, set()).add(name)
    assert all(len(names) >= 3 for names in per_task.values()) and len(per_task) == 4
    assert {name for _, name, kind, _, _ in rows if kind == "baseline"} == {"no-edit"}
    assert summary.outputs == len(rows)


def test_building_again_is_skipped(built):
    arena, _ = built
    assert build_demo(arena).skipped
