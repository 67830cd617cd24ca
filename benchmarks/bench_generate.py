"""Benchmark: generation throughput, latency spread, and what the measurement itself costs.

    python benchmarks/bench_generate.py [--per-task 6] [--size 256] [--repeats 2] [--no-tiny]

Renders the demo scenes into a temporary SQLite arena, then for every classical editor of
``models/demo_models.toml`` and a tiny random-weight InstructPix2Pix pipeline (64 px, 2 steps,
saved to a temporary folder and loaded as a models file declares it) times four loops over the
same items:

* ``bare``: ``editor.edit(request)`` once per item, requests prepared in memory;
* ``timed``: :func:`models.timing.measure` per item (warm-up once per model, ``--repeats`` timed
  runs), without the peak-memory run: the protocol's own overhead per edit call;
* ``timed+mem``: the same with the extra tracemalloc run that measures peak memory;
* ``generate``: :func:`arena.outputs.generate.run_models`, the whole ``arena generate`` path (images
  read from the media folder, measured edits, metrics without OCR, PNG written, rows committed).

Prints per model: bare ms per edit, the timed loops' ms per edit call and their ratio to bare,
the metrics' ms per output (no OCR; the largest share of generate's fixed cost per item),
generate's ms per item and its ratio to one bare edit, items per second, and the spread of the
stored latencies across items (median, p90, p90/median). torch and BLAS run on one thread.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def store_items(arena, per_task: int, size: int):
    from arena.demo.scenes import generate_scenes
    from arena.store.catalog import add_item, ensure_task

    items = []
    for scene in generate_scenes(seed=0, per_task=per_task, size=size):
        ensure_task(arena.engine, scene.task)
        items.append(add_item(arena.engine, arena.media, key=scene.key, task=scene.task,
                              instruction=scene.instruction, source=scene.source, mask=scene.mask,
                              reference=scene.reference, target_text=scene.target_text,
                              params=dict(scene.params)))
    return items


def tiny_spec(folder: Path):
    import tiny_pipelines

    from models.config import parse_models

    tiny_pipelines.tiny_instruct_pix2pix().save_pretrained(folder)
    return parse_models({"model": [{
        "name": "tiny-pix2pix", "kind": "diffusers", "path": str(folder), "device": "cpu",
        "settings": {"steps": 2, "size": 64}, "price_per_gpu_hour": 2.0}]})[0]


def time_loops(arena, entrant, items, repeats: int) -> dict:
    from sqlalchemy import select

    from arena.outputs.generate import RunOptions, run_models
    from arena.outputs.measure import edit_request
    from arena.outputs.metrics import item_metrics, load_item_images
    from arena.store.schema import Output
    from models.base import supports
    from models.timing import measure

    mine = [i for i in items if supports(entrant.editor, i.task)]
    pictures = [load_item_images(arena.media, i) for i in mine]
    requests = [edit_request(i, p, 0) for i, p in zip(mine, pictures)]
    edit = entrant.editor.edit
    edit(requests[0])  # weights loaded, caches warm: every loop starts alike
    start = time.perf_counter()
    for request in requests:
        edit(request)
    bare = (time.perf_counter() - start) / len(requests)
    out = {"model": entrant.spec.name, "items": len(mine), "bare_ms": 1e3 * bare}
    for label, memory in (("timed", False), ("timed+mem", True)):
        start = time.perf_counter()
        for k, request in enumerate(requests):
            measure(lambda r=request: edit(r), warmup=int(k == 0), repeats=repeats, track_memory=memory)
        calls = len(requests) * (repeats + memory) + 1
        out[f"{label}_ms"] = 1e3 * (time.perf_counter() - start) / calls
    outputs = [edit(r) for r in requests]
    start = time.perf_counter()
    for item, images, output in zip(mine, pictures, outputs):
        item_metrics(item, images, output, ocr=False)
    out["metrics_ms"] = 1e3 * (time.perf_counter() - start) / len(mine)
    options = RunOptions(repeats=repeats, ocr=False)
    start = time.perf_counter()
    run_models(arena, [entrant], mine, options)
    out["generate_ms"] = 1e3 * (time.perf_counter() - start) / len(mine)
    with arena.engine.connect() as conn:
        latencies = sorted(conn.execute(select(Output.latency_s).where(
            Output.model_id == entrant.model.id)).scalars())
    out["median_ms"] = 1e3 * statistics.median(latencies)
    out["p90_ms"] = 1e3 * latencies[min(len(latencies) - 1, int(0.9 * (len(latencies) - 1) + 0.5))]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-task", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-tiny", action="store_true", help="skip the tiny diffusers pipeline")
    args = parser.parse_args()

    from arena.context import Arena
    from arena.outputs.generate import register
    from models.config import build_editor, load_models

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        arena = Arena.open(f"sqlite:///{tmp / 'bench.db'}", media=str(tmp / "media"))
        items = store_items(arena, args.per_task, args.size)
        specs = list(load_models(ROOT / "models" / "demo_models.toml"))
        if not args.no_tiny:
            import torch

            torch.set_num_threads(1)
            specs.append(tiny_spec(tmp / "tiny"))
        print(f"{len(items)} items of {args.size} px, {args.repeats} timed repeats, one thread; "
              "ms per edit call (ratio to bare)")
        header = ("model", "items", "bare", "timed", "x", "timed+mem", "x", "metrics",
                  "generate", "x", "items/s", "median", "p90", "p90/med")
        line = "{:<19}{:>6}{:>8}{:>8}{:>6}{:>10}{:>6}{:>9}{:>10}{:>8}{:>8}{:>8}{:>8}{:>8}"
        print(line.format(*header))
        for spec in specs:
            r = time_loops(arena, register(arena, spec, build_editor(spec)), items, args.repeats)
            bare = r["bare_ms"]
            print(line.format(
                r["model"], r["items"], f"{bare:.2f}", f"{r['timed_ms']:.2f}",
                f"{r['timed_ms'] / bare:.2f}", f"{r['timed+mem_ms']:.2f}",
                f"{r['timed+mem_ms'] / bare:.2f}", f"{r['metrics_ms']:.1f}",
                f"{r['generate_ms']:.1f}", f"{r['generate_ms'] / bare:.0f}",
                f"{1e3 / r['generate_ms']:.1f}", f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}",
                f"{r['p90_ms'] / r['median_ms']:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
