"""Benchmark: ``arena generate --ray`` throughput with 1 and 2 replicas against the local loop.

    python benchmarks/bench_ray.py [--per-task 12] [--size 384] [--model skimage-biharmonic]

Renders the demo scenes into a temporary SQLite arena, then runs one classical editor over the
items of its task three ways, each into a fresh database: the local loop
(:func:`arena.outputs.generate.generate`), and a local Ray cluster of 2 CPUs with ``replicas =
1`` and ``replicas = 2`` (:func:`arena.outputs.ray_run.generate_on_ray`). Prints items per
second for each, excluding Ray's start, with the replicas' start-up included (each replica
imports the arena and builds its editor once). One timed run per item, no memory run, no OCR.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def fresh_arena(folder: Path, per_task: int, size: int):
    from arena.context import Arena
    from test_generate import store_scenes

    arena = Arena.open(f"sqlite:///{folder / 'arena.db'}", media=str(folder / "media"))
    store_scenes(arena, per_task=per_task, size=size)
    return arena


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-task", type=int, default=12)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--model", default="skimage-biharmonic")
    args = parser.parse_args()

    from arena.outputs.generate import RunOptions, generate
    from arena.outputs.ray_run import connect, generate_on_ray
    from models.config import parse_models

    options = RunOptions(repeats=1, warmup=1, track_memory=False, ocr=False)
    connect("local", num_cpus=2)
    runs = {"local loop": None, "ray, 1 replica": 1, "ray, 2 replicas": 2}
    for label, replicas in runs.items():
        spec = {"name": args.model, "kind": "classical", "replicas": replicas or 1}
        specs = parse_models({"model": [spec]})
        with tempfile.TemporaryDirectory() as tmp:
            arena = fresh_arena(Path(tmp), args.per_task, args.size)
            start = time.perf_counter()
            if replicas is None:
                summary = generate(arena, specs, options=options)
            else:
                summary = generate_on_ray(arena, specs, options=options)
            seconds = time.perf_counter() - start
        made = sum(summary.made.values())
        print(f"{label:16s} {made:3d} items in {seconds:6.2f} s: {made / seconds:6.2f} items/s "
              f"({summary.describe()})")


if __name__ == "__main__":
    main()
