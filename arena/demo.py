"""The bundled demo set: rendered scenes, edited by the classical editors, latency measured.

Everything is made on this machine at build time: no downloaded data, no model weights.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from arena.catalog import add_item, add_output, count_items, ensure_model, ensure_task
from arena.context import Arena
from arena.demo_scenes import generate_scenes
from models.base import EditRequest, supports
from models.classical import classical_editors
from models.timing import measure

#: Price of the CPU time the classical editors use, per hour (a small cloud vCPU pair).
DEMO_CPU_PRICE_PER_HOUR = 0.10


@dataclass(frozen=True)
class DemoSummary:
    items: int
    models: int
    outputs: int
    seconds: float
    skipped: bool = False

    def describe(self) -> str:
        if self.skipped:
            return "the database already holds items; demo not built (use --force to add it anyway)"
        return (f"built the demo: {self.items} items, {self.models} models, {self.outputs} outputs "
                f"in {self.seconds:.1f} s")


def build_demo(arena: Arena, *, per_task: int = 12, seed: int = 0, size: int = 256,
               repeats: int = 2, force: bool = False) -> DemoSummary:
    """Render the demo scenes, run every classical editor on them and store all of it."""
    if count_items(arena.engine) and not force:
        return DemoSummary(0, 0, 0, 0.0, skipped=True)
    start = time.perf_counter()
    scenes = generate_scenes(seed=seed, per_task=per_task, size=size)
    editors = classical_editors()
    models = {}
    for editor in editors:
        models[editor.name] = ensure_model(
            arena.engine, editor.name, editor.kind, editor.version, provider="pareto-arena",
            settings=dict(editor.settings), price_per_gpu_hour=DEMO_CPU_PRICE_PER_HOUR,
            hardware="cpu")
    warmed: set[tuple[str, str]] = set()
    outputs = 0
    for scene in scenes:
        ensure_task(arena.engine, scene.task)
        item = add_item(arena.engine, arena.media, key=f"demo/{scene.key}", task=scene.task,
                        instruction=scene.instruction, source=scene.source, mask=scene.mask,
                        reference=scene.reference, target_text=scene.target_text,
                        params=dict(scene.params))
        request = EditRequest(task=scene.task, instruction=scene.instruction, source=scene.source,
                              mask=scene.mask, target_text=scene.target_text,
                              params=scene.params, seed=seed)
        for editor in editors:
            if not supports(editor, scene.task):
                continue
            warm = 0 if (editor.name, scene.task) in warmed else 1
            warmed.add((editor.name, scene.task))
            image, timing = measure(lambda e=editor: e.edit(request), warmup=warm, repeats=repeats)
            add_output(arena.engine, arena.media, item=item, model=models[editor.name], image=image,
                       seed=seed, settings=dict(editor.settings), latency_s=timing.median_s,
                       latency_p90_s=timing.p90_s, peak_memory_mb=timing.peak_memory_mb,
                       device=timing.device, threads=timing.threads,
                       cost_usd=timing.median_s / 3600 * DEMO_CPU_PRICE_PER_HOUR)
            outputs += 1
    arena.sampler.invalidate()
    return DemoSummary(len(scenes), len(models), outputs, time.perf_counter() - start)
