"""The bundled demo set: rendered scenes, edited by the classical editors, latency measured.

Everything is made on this machine at build time: no downloaded data, no model weights. The
editors are those of ``models/demo_models.toml``, run by the loop of ``arena generate``
(metrics without OCR, to keep the build under a minute; ``arena metrics --compute`` adds it).

The build is resumable and atomic per item: items are stored under fixed keys (``demo/...``)
with ``ON CONFLICT DO NOTHING``, outputs once per (item, model), and a setting marks the build
finished (:func:`arena.store.catalog.demo_incomplete`). A build that was killed is completed by
the next one, and two processes building at once both finish with one copy of the demo.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import models
from arena.context import Arena
from arena.demo.scenes import generate_scenes
from arena.outputs.generate import RunOptions, generate
from arena.store.catalog import (DEMO_PREFIX, add_item, count_items, demo_incomplete, ensure_task,
                                 mark_demo_built)
from models.config import load_models

#: The demo's models file: every classical editor and the no-edit baseline.
DEMO_MODELS = Path(models.__file__).resolve().parent / "demo_models.toml"


@dataclass(frozen=True)
class DemoSummary:
    items: int
    models: int
    outputs: int
    seconds: float
    skipped: bool = False
    resumed: bool = False

    def describe(self) -> str:
        if self.skipped:
            return "the database already holds items; demo not built (use --force to add it anyway)"
        done = "finished an interrupted demo build" if self.resumed else "built the demo"
        return (f"{done}: {self.items} items, {self.models} models, {self.outputs} outputs "
                f"made in {self.seconds:.1f} s")


def build_demo(arena: Arena, *, per_task: int = 12, seed: int = 0, size: int = 256,
               repeats: int = 2, force: bool = False) -> DemoSummary:
    """Render the demo scenes, run every classical editor on them and store all of it; or
    complete a build that was interrupted (``resumed`` in the summary)."""
    if not force and not demo_incomplete(arena.engine):
        return DemoSummary(0, 0, 0, 0.0, skipped=True)
    start = time.perf_counter()
    resumed = count_items(arena.engine) > 0 and not force
    scenes = generate_scenes(seed=seed, per_task=per_task, size=size)
    item_ids = []
    for scene in scenes:
        ensure_task(arena.engine, scene.task)
        item = add_item(arena.engine, arena.media, key=f"{DEMO_PREFIX}{scene.key}", task=scene.task,
                        instruction=scene.instruction, source=scene.source, mask=scene.mask,
                        reference=scene.reference, target_text=scene.target_text,
                        params=dict(scene.params))
        item_ids.append(item.id)
    specs = load_models(DEMO_MODELS)
    summary = generate(arena, specs, item_ids=item_ids,
                       options=RunOptions(repeats=repeats, seed=seed, ocr=False))
    mark_demo_built(arena.engine)
    outputs = sum(summary.made.values())
    return DemoSummary(len(scenes), len(specs), outputs, time.perf_counter() - start,
                       resumed=resumed)
