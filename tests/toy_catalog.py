"""A small catalogue written through the real storage code: one task, three models, four items."""
from __future__ import annotations

import numpy as np
from PIL import Image

from arena.store.catalog import add_item, add_output, ensure_model, ensure_task


def solid(color, size=32) -> Image.Image:
    return Image.fromarray(np.full((size, size, 3), color, dtype=np.uint8))


def make_toy_catalog(arena, task: str = "recolor", models=("alpha", "beta", "gamma"), items: int = 4):
    """Store items with outputs from every model; returns {model name: Model}."""
    ensure_task(arena.engine, task)
    stored = {name: ensure_model(arena.engine, name, "classical") for name in models}
    for i in range(items):
        item = add_item(arena.engine, arena.media, key=f"{task}-{i}", task=task,
                        instruction=f"Make object {i} blue", source=solid((200, 10 * i, 0)))
        for k, (name, model) in enumerate(stored.items()):
            add_output(arena.engine, arena.media, item=item, model=model,
                       image=solid((0, 20 * k, 200)), latency_s=0.01 * (k + 1), cost_usd=0.001 * (k + 1))
    arena.sampler.invalidate()
    return stored


def gold_catalog(arena, items: int = 3) -> None:
    """object_removal items with a reference image, the no-edit baseline and two real edits."""
    ensure_task(arena.engine, "object_removal")
    base = ensure_model(arena.engine, "no-edit", "baseline")
    edits = [ensure_model(arena.engine, name, "classical") for name in ("alpha", "beta")]
    for i in range(items):
        source = solid((200, 20 * i, 0))
        item = add_item(arena.engine, arena.media, key=f"gold-{i}", task="object_removal",
                        instruction=f"Remove object {i}", source=source,
                        reference=solid((0, 20 * i, 200)))
        add_output(arena.engine, arena.media, item=item, model=base, image=source)
        for k, model in enumerate(edits):
            add_output(arena.engine, arena.media, item=item, model=model,
                       image=solid((10 * k, 20 * i, 200 - 10 * k)))
    arena.sampler.invalidate()
