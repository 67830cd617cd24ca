"""Benchmark: ``arena import`` of a large manifest, peak memory and wall time.

    python benchmarks/bench_import.py [--rows 40000] [--images 300] [--format jsonl|json|csv]
                                      [--db URL] [--cases good,bad]

Writes a manifest of ``--rows`` rows, each a new item (its own ``item`` key) whose source and
output are among ``--images`` small real PNG files reused across rows, then imports it in a fresh
child process per case into an empty database (a temporary SQLite file unless ``--db``):

* ``good``: every row good, so everything is checked and then written;
* ``bad``: the same manifest with its last row pointing at a missing image, so every row is
  checked and nothing is written.

Prints per case the child's peak resident memory (``resource.getrusage``), its wall time, the
rows per second and what it printed (the summary, or the start of the error). ``--rows 1500000``
is the large case of the issue. BLAS runs on one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_images(folder: Path, count: int, size: int = 16) -> None:
    """``count`` sources and as many outputs of the same size (random pixels, real PNGs)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        for name in (f"s{n}.png", f"o{n}.png"):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / name)


def row(n: int, images: int) -> dict:
    return {"task": "recolor", "item": f"bench-{n}", "source": f"img/s{n % images}.png",
            "instruction": f"recolor thing {n % 97}", "model": f"model-{n % 3}",
            "output": f"img/o{n % images}.png", "latency_s": 1.5, "cost_usd": 0.01}


def write_manifest(folder: Path, rows: int, images: int, fmt: str, bad: bool) -> Path:
    """A manifest of ``rows`` rows; with ``bad`` its last output is a missing file."""
    path = folder / f"manifest-{'bad' if bad else 'good'}.{fmt}"
    records = (row(n, images) for n in range(rows))

    def last(n: int, record: dict) -> dict:
        return {**record, "output": "img/missing.png"} if bad and n == rows - 1 else record

    with path.open("w", newline="") as fh:
        if fmt == "csv":
            import csv
            writer = csv.DictWriter(fh, list(row(0, images)))
            writer.writeheader()
            for n, record in enumerate(records):
                writer.writerow(last(n, record))
        else:
            if fmt == "json":
                fh.write("[\n")
            for n, record in enumerate(records):
                sep = ",\n" if fmt == "json" and n < rows - 1 else "\n"
                fh.write(json.dumps(last(n, record)) + sep)
            if fmt == "json":
                fh.write("]\n")
    return path


def child(manifest: str, url: str, media: str) -> None:
    """Import in this process and print one JSON line: outcome, wall time, peak RSS."""
    from arena.context import Arena
    from arena.files.manifest import ManifestError
    from arena.outputs.importing import import_manifest
    from arena.store.catalog import ensure_task

    arena = Arena.open(url, media=media)
    ensure_task(arena.engine, "recolor")
    start = time.perf_counter()
    try:
        outcome = import_manifest(arena, manifest, ocr=False).describe()
    except ManifestError as exc:
        outcome = "refused: " + str(exc).split(": ", 1)[-1][:160]
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": wall, "peak_mb": peak_kib / 1024, "outcome": outcome}))


def run_case(manifest: Path, url: str | None, work: Path, case: str) -> dict:
    """Import ``manifest`` in a fresh child process into an empty database."""
    url = url or f"sqlite:///{work / f'{case}.db'}"
    media = work / f"media-{case}"
    done = subprocess.run([sys.executable, __file__, "--child", str(manifest), url, str(media)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{case}: child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--format", choices=("jsonl", "json", "csv"), default="jsonl")
    parser.add_argument("--db", help="database URL (emptied tables are the caller's job); "
                                     "default a temporary SQLite file per case")
    parser.add_argument("--cases", default="good,bad")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        work = Path(tmp)
        write_images(work / "img", args.images)
        print(f"{args.rows} rows ({args.format}), {args.images} source/output PNGs reused")
        for case in args.cases.split(","):
            manifest = write_manifest(work, args.rows, args.images, args.format, case == "bad")
            got = run_case(manifest, args.db, work, case)
            print(f"{case:>5}: peak RSS {got['peak_mb']:7.0f} MB  wall {got['wall_s']:7.2f} s  "
                  f"{args.rows / got['wall_s']:8.0f} rows/s  {got['outcome']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
