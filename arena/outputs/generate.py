"""Run declared models over the stored items: outputs, latency, cost and metrics in the database.

One loop serves ``arena generate`` and the demo build. Models run one after the other (a GPU
holds one model at a time). Each model is warmed up once, then every pending item is timed per
DESIGN.md §5 (median and p90 of the repeats, peak memory, device, threads); the cost is the
price per image, or the median latency × the price per GPU-hour. An (item, model) pair that
already has an output is skipped, so an interrupted run resumes where it stopped, and two runs
at once share the work (each in its own order, an output stored once, no file left without its
row); an edit that fails is recorded (:mod:`arena.outputs.failures`) and the run goes on.
"""
from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import select

from arena.context import Arena
from arena.outputs.failures import clear_failure, failed_pairs, record_failure
from arena.outputs.metrics import item_metrics, load_item_images
from arena.store.catalog import add_output, ensure_model
from arena.store.db import session
from arena.store.schema import Item, Model, Output
from models.base import Editor, EditRequest, supports
from models.config import ModelSpec
from models.imported import ITEM_PARAM
from models.timing import measure


class GenerateError(ValueError):
    """A run cannot start: unknown task, or a stored model version with other settings."""


@dataclass(frozen=True)
class Entrant:
    """A model ready to run: its spec (prices), its editor and its database row."""

    spec: ModelSpec
    editor: Editor
    model: Model

    @property
    def imported(self) -> bool:
        """Whether outputs come from elsewhere with their reported latency (not timed here)."""
        return hasattr(self.editor, "output_for")


@dataclass(frozen=True)
class RunOptions:
    """How each edit is measured: warm-up calls per model, timed repeats per item, seed, etc."""

    warmup: int = 1
    repeats: int = 2
    track_memory: bool = True
    seed: int = 0
    ocr: bool = True


@dataclass
class GenerationSummary:
    """What a run did, per model: outputs made, pairs skipped (already done), failures."""

    made: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def rows(self, models: Iterable[str]) -> list[dict[str, Any]]:
        return [{"model": m, "made": self.made[m], "skipped": self.skipped[m],
                 "failed": self.failed[m]} for m in models]

    def describe(self) -> str:
        return (f"{sum(self.made.values())} outputs made, {sum(self.skipped.values())} already "
                f"there, {sum(self.failed.values())} failed, in {self.seconds:.1f} s")


def _plain(settings: Any) -> dict:
    return json.loads(json.dumps(dict(settings), default=str))


def register(arena: Arena, spec: ModelSpec, editor: Editor) -> Entrant:
    """Store (or find) the model row of a spec; refuse a stored version with other settings."""
    version = spec.version or editor.version
    settings = _plain(editor.settings)
    model = ensure_model(arena.engine, spec.name, spec.kind, version, provider=spec.provider,
                         settings=settings, price_per_image=spec.price_per_image,
                         price_per_gpu_hour=spec.price_per_gpu_hour, hardware=spec.hardware)
    if _plain(model.settings) != settings:
        raise GenerateError(
            f"model {spec.name!r} version {version!r} is stored with settings {model.settings}, "
            f"not {settings}: give the new settings a new version")
    return Entrant(spec, editor, model)


def select_items(arena: Arena, tasks: Sequence[str] | None = None, limit: int | None = None,
                 item_ids: Iterable[int] | None = None) -> list[Item]:
    """Items of the chosen tasks (all by default), the first ``limit`` of each task by id."""
    query = select(Item).order_by(Item.id)
    if tasks is not None:
        query = query.where(Item.task.in_(list(tasks)))
    if item_ids is not None:
        query = query.where(Item.id.in_(list(item_ids)))
    with session(arena.engine) as s:
        items = list(s.scalars(query).all())
    if limit is None:
        return items
    taken: Counter = Counter()
    kept = []
    for item in items:
        if taken[item.task] < limit:
            taken[item.task] += 1
            kept.append(item)
    return kept


def done_pairs(arena: Arena, model_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(item id, model id) of the outputs the models already have."""
    o = Output.__table__.c
    with arena.engine.connect() as conn:
        rows = conn.execute(select(o.item_id, o.model_id).where(o.model_id.in_(list(model_ids))))
        return {(i, m) for i, m in rows}


def _request(item: Item, images, seed: int) -> EditRequest:
    return EditRequest(task=item.task, instruction=item.instruction, source=images.source,
                       mask=images.mask, target_text=item.target_text,
                       params={**(item.params or {}), ITEM_PARAM: item.key}, seed=seed)


def edit_and_measure(entrant: Entrant, request: EditRequest, options: RunOptions,
                     warmup: int) -> tuple[Any, dict[str, Any]]:
    """Run one edit; return the image and the Output fields of its measurement."""
    editor = entrant.editor
    if entrant.imported:
        image = editor.edit(request)
        reported = editor.output_for(request)
        cost = reported.cost_usd if reported.cost_usd is not None else entrant.spec.cost_usd(reported.latency_s)
        return image, {"latency_s": reported.latency_s, "cost_usd": cost}
    device = str(getattr(editor, "device", "cpu"))
    # tracemalloc does not see torch's own allocations: no CPU peak for torch models.
    memory = options.track_memory and editor.kind != "diffusers"
    image, timing = measure(lambda: editor.edit(request), warmup=warmup, repeats=options.repeats,
                            device=device, track_memory=memory)
    return image, {"latency_s": timing.median_s, "latency_p90_s": timing.p90_s,
                   "peak_memory_mb": timing.peak_memory_mb, "device": timing.device,
                   "threads": timing.threads, "cost_usd": entrant.spec.cost_usd(timing.median_s)}


def _release(editor: Editor) -> None:
    """Drop a model's weights before the next one loads."""
    if hasattr(editor, "unload"):
        editor.unload()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def run_models(arena: Arena, entrants: Sequence[Entrant], items: Sequence[Item],
               options: RunOptions = RunOptions(), *, progress: bool = False) -> GenerationSummary:
    """Run every entrant on every item of a task it does, skipping pairs already done.

    A failing edit (any exception) is recorded with its message and the run goes on; a later
    success clears it. Each output is committed on its own, so an interrupted run loses at most
    the edit in progress.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    summary = GenerationSummary()
    done = done_pairs(arena, [e.model.id for e in entrants])
    failed = failed_pairs(arena.engine, [e.model.id for e in entrants])
    plan = []
    for entrant in entrants:
        todo = [i for i in items if supports(entrant.editor, i.task)]
        pending = [i for i in todo if (i.id, entrant.model.id) not in done]
        summary.skipped[entrant.spec.name] = len(todo) - len(pending)
        plan.append((entrant, pending))
    with tqdm(total=sum(len(p) for _, p in plan), unit="edit", disable=not progress,
              file=sys.stderr) as bar:
        for entrant, pending in plan:
            bar.set_postfix_str(entrant.spec.name)
            _run_one_model(arena, entrant, pending, options, summary, bar, failed)
            _release(entrant.editor)
    summary.seconds = time.perf_counter() - start
    return summary


def _run_one_model(arena, entrant, pending, options, summary, bar, failed) -> None:
    """Run one model over its pending items, in an order of this run's own: two runs at once
    then rarely edit the same pair at the same moment, and each skips what the other made."""
    warm = options.warmup
    for item in random.Random().sample(pending, len(pending)):
        outcome = _run_pair(arena, entrant, item, options, warm, (item.id, entrant.model.id) in failed)
        getattr(summary, outcome)[entrant.spec.name] += 1
        warm = 0 if outcome == "made" else warm
        bar.update()


def _stored(arena: Arena, item_id: int, model_id: int) -> bool:
    o = Output.__table__.c
    with arena.engine.connect() as conn:
        query = select(o.id).where(o.item_id == item_id, o.model_id == model_id)
        return conn.execute(query).first() is not None


def _run_pair(arena, entrant, item, options, warmup, failed_before) -> str:
    """Edit, measure, score and store one pair: ``"made"``, ``"skipped"`` (stored by another
    run, before or while this one edited it) or ``"failed"``."""
    if _stored(arena, item.id, entrant.model.id):
        return "skipped"
    try:
        images = load_item_images(arena.media, item)
        image, fields = edit_and_measure(entrant, _request(item, images, options.seed), options, warmup)
        metrics = item_metrics(item, images, image, ocr=options.ocr)
    except Exception as exc:  # noqa: BLE001 - any failure of a model on an item is recorded
        record_failure(arena.engine, item.id, entrant.model.id, f"{type(exc).__name__}: {exc}")
        return "failed"
    stored = add_output(arena.engine, arena.media, item=item, model=entrant.model, image=image,
                        seed=options.seed, settings=_plain(entrant.editor.settings),
                        metrics=metrics, **fields)
    if stored is None:  # another run stored this pair meanwhile; its file is removed
        return "skipped"
    if failed_before:
        clear_failure(arena.engine, item.id, entrant.model.id)
    return "made"


def generate(arena: Arena, specs: Sequence[ModelSpec], *, tasks: Sequence[str] | None = None,
             limit: int | None = None, options: RunOptions = RunOptions(),
             item_ids: Iterable[int] | None = None, progress: bool = False) -> GenerationSummary:
    """Build the editors of ``specs``, register them, and run them over the chosen items.

    Raises
    ------
    GenerateError
        If a task is not in the database, or a stored model version has other settings.
    models.config.ConfigError
        If an editor cannot be built from its spec.
    """
    from arena.store.catalog import task_names
    from models.config import build_editor

    if tasks is not None:
        unknown = sorted(set(tasks) - set(task_names(arena.engine)))
        if unknown:
            raise GenerateError(f"unknown task(s) {unknown}; the database holds "
                                f"{task_names(arena.engine)}")
    entrants = [register(arena, spec, build_editor(spec)) for spec in specs]
    items = select_items(arena, tasks, limit, item_ids)
    summary = run_models(arena, entrants, items, options, progress=progress)
    arena.sampler.invalidate()
    return summary
