"""Writers at the same moment, on SQLite and PostgreSQL: synchronised get-or-create calls, two
generation runs, two demo builds at once, and a demo build completed after it was killed."""
from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from live_server import ROOT, app_env
from PIL import Image
from sqlalchemy import func, select

from arena.context import Arena
from arena.demo.build import DEMO_MODELS, build_demo
from arena.demo.scenes import generate_scenes
from arena.outputs.generate import RunOptions, generate
from arena.store.catalog import (add_item, add_output, demo_incomplete, ensure_model, ensure_task,
                                 count_items)
from arena.store.schema import Item, Model, Output, Task
from models.config import load_models

CALLS = 60


def at_once(n, call):
    """Run ``call(k)`` for k < n on n threads released together; the results in order."""
    barrier = threading.Barrier(n)

    def run(k):
        barrier.wait()
        return call(k)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def count(arena, table):
    with arena.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def referenced(arena) -> set[str]:
    """Media files that rows refer to."""
    with arena.engine.connect() as conn:
        names = set(conn.execute(select(Output.image_path)).scalars())
        for column in (Item.source_path, Item.mask_path, Item.reference_path):
            names |= set(conn.execute(select(column)).scalars())
    return names - {None}


def files(arena) -> set[str]:
    return set(os.listdir(arena.media.root))


def test_synchronised_get_or_create_calls_all_succeed(arena):
    tasks = at_once(CALLS, lambda k: ensure_task(arena.engine, "recolor"))
    models = at_once(CALLS, lambda k: ensure_model(arena.engine, "m", "classical", version="2"))
    assert {t.name for t in tasks} == {"recolor"} and len({m.id for m in models}) == 1
    assert (count(arena, Task), count(arena, Model)) == (1, 1)


def test_an_item_and_an_output_stored_once_with_no_stray_file(arena):
    ensure_task(arena.engine, "recolor")
    model = ensure_model(arena.engine, "m", "classical")
    source = Image.new("RGB", (16, 16), "red")
    items = at_once(8, lambda k: add_item(arena.engine, arena.media, key="same", task="recolor",
                                          instruction="x", source=source))
    assert len({i.id for i in items}) == 1 and count(arena, Item) == 1
    outputs = at_once(8, lambda k: add_output(arena.engine, arena.media, item=items[0], model=model,
                                              image=Image.new("RGB", (16, 16), "blue")))
    assert sum(o is not None for o in outputs) == 1 and count(arena, Output) == 1
    assert files(arena) == referenced(arena) and len(files(arena)) == 2


def store_demo_items(arena, scenes):
    return [add_item(arena.engine, arena.media, key=f"demo/{s.key}", task=s.task,
                     instruction=s.instruction, source=s.source, mask=s.mask,
                     reference=s.reference, target_text=s.target_text, params=dict(s.params))
            for s in scenes if ensure_task(arena.engine, s.task)]


def test_two_generation_runs_at_once_share_the_work(arena):
    items = store_demo_items(arena, generate_scenes(seed=3, per_task=2, size=64))
    specs = load_models(DEMO_MODELS)
    options = RunOptions(repeats=1, warmup=0, ocr=False, track_memory=False)
    runs = at_once(2, lambda k: generate(arena, specs, options=options))
    made = sum(sum(r.made.values()) for r in runs)
    with arena.engine.connect() as conn:
        pairs = conn.execute(select(Output.item_id, Output.model_id)).all()
    assert made == len(pairs) == len(set(pairs)) > len(items)
    assert not any(r.failed for r in runs)
    assert files(arena) == referenced(arena)  # no image file without its row


def test_a_killed_demo_build_is_completed_by_the_next(arena, tmp_path):
    """The state a build killed half-way leaves: half the items, one model's outputs."""
    fresh = Arena.open(f"sqlite:///{tmp_path / 'fresh.db'}", media=str(tmp_path / "fresh"))
    whole = build_demo(fresh, per_task=2, size=64, repeats=1)
    scenes = generate_scenes(seed=0, per_task=2, size=64)
    half = store_demo_items(arena, scenes[::2])
    generate(arena, load_models(DEMO_MODELS)[:1], item_ids=[i.id for i in half],
             options=RunOptions(repeats=1, ocr=False))
    assert demo_incomplete(arena.engine)
    resumed = build_demo(arena, per_task=2, size=64, repeats=1)
    assert resumed.resumed and "finished an interrupted demo build" in resumed.describe()
    assert not demo_incomplete(arena.engine) and build_demo(arena).skipped
    assert (count(arena, Item), count(arena, Output)) == (count(fresh, Item), count(fresh, Output))
    assert whole.outputs == count(fresh, Output) and files(arena) == referenced(arena)


def test_a_database_of_other_items_gets_no_demo(arena):
    ensure_task(arena.engine, "recolor")
    assert demo_incomplete(arena.engine)
    add_item(arena.engine, arena.media, key="mine", task="recolor", instruction="x",
             source=Image.new("RGB", (8, 8)))
    assert not demo_incomplete(arena.engine)


def test_two_cold_starts_at_once_both_build_one_demo(db_url, tmp_path):
    """Two processes building the demo on one empty database: both succeed, one copy stored."""
    import subprocess
    import sys

    env = app_env(tmp_path, db_url)
    procs = [subprocess.Popen([sys.executable, "-m", "arena", "demo", "--per-task", "2"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    done = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in done]
    arena = Arena.open(db_url, media=env["ARENA_MEDIA"])
    assert count_items(arena.engine) == 8 and not demo_incomplete(arena.engine)
    with arena.engine.connect() as conn:
        pairs = conn.execute(select(Output.item_id, Output.model_id)).all()
        tasks = Counter(conn.execute(select(Item.task).join(Output, Output.item_id == Item.id)).scalars())
    assert len(pairs) == len(set(pairs)) and len(tasks) == 4 and min(tasks.values()) >= 4
    assert files(arena) == referenced(arena)
