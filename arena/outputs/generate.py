"""Run declared models over the stored items: outputs, latency, cost and metrics in the database.

One loop serves ``arena generate`` and the demo build; :mod:`arena.outputs.ray_run` spreads the
same work over a Ray cluster. Here models run one after the other (a GPU holds one model at a
time). Each model is warmed up once, then every pending item is measured
(:mod:`arena.outputs.measure`); hosted APIs are called ``concurrency`` items at a time. An
(item, model) pair that already has an output is skipped, so an interrupted run resumes where it
stopped; each pair is claimed in the database before it is edited
(:mod:`arena.outputs.claims`), so two runs at once never edit the same pair; an edit that fails
is recorded (:mod:`arena.outputs.failures`) and the run goes on.
"""
from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import select

from arena.context import Arena
from arena.outputs.claims import DEFAULT_LEASE_S, ClaimKeeper
from arena.outputs.failures import clear_failure, failed_pairs, record_failure
from arena.outputs.measure import edit_and_measure as measure_edit
from arena.outputs.measure import edit_request, is_hosted, is_imported
from arena.outputs.metrics import item_metrics, load_item_images
from arena.store.catalog import add_output, ensure_model
from arena.store.db import session
from arena.store.schema import Item, Model, Output
from models.base import Editor, EditRequest, supports
from models.config import ModelSpec


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
        return is_imported(self.editor)


@dataclass(frozen=True)
class RunOptions:
    """How each edit is measured (warm-up calls per model, timed repeats per item, seed, ...)
    and how long a claim on a pair lasts without renewal."""

    warmup: int = 1
    repeats: int = 2
    track_memory: bool = True
    seed: int = 0
    ocr: bool = True
    lease_s: float = DEFAULT_LEASE_S


@dataclass
class GenerationSummary:
    """What a run did, per model: outputs made, pairs skipped (already done, or claimed by
    another run), failures."""

    made: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def rows(self, models: Iterable[str]) -> list[dict[str, Any]]:
        return [{"model": m, "made": self.made[m], "skipped": self.skipped[m],
                 "failed": self.failed[m]} for m in models]

    def describe(self) -> str:
        return (f"{sum(self.made.values())} outputs made, {sum(self.skipped.values())} already "
                f"there or claimed by another run, {sum(self.failed.values())} failed, "
                f"in {self.seconds:.1f} s")


def plain(settings: Any) -> dict:
    """Settings as JSON-ready values."""
    return json.loads(json.dumps(dict(settings), default=str))


def register(arena: Arena, spec: ModelSpec, editor: Editor) -> Entrant:
    """Store (or find) the model row of a spec; refuse a stored version with other settings."""
    version = spec.version or editor.version
    settings = plain(editor.settings)
    model = ensure_model(arena.engine, spec.name, spec.kind, version, provider=spec.provider,
                         settings=settings, price_per_image=spec.price_per_image,
                         price_per_gpu_hour=spec.price_per_gpu_hour, hardware=spec.hardware)
    if plain(model.settings) != settings:
        raise GenerateError(
            f"model {spec.name!r} version {version!r} is stored with settings {model.settings}, "
            f"not {settings}: give the new settings a new version")
    return Entrant(spec, editor, model)


def select_items(arena: Arena, tasks: Sequence[str] | None = None, limit: int | None = None,
                 item_ids: Iterable[int] | None = None, offset: int = 0) -> list[Item]:
    """Items of the chosen tasks (all by default): of each task by id, ``offset`` skipped, then
    at most ``limit`` (a slice, so several runs can split a benchmark)."""
    query = select(Item).order_by(Item.id)
    if tasks is not None:
        query = query.where(Item.task.in_(list(tasks)))
    if item_ids is not None:
        query = query.where(Item.id.in_(list(item_ids)))
    with session(arena.engine) as s:
        items = list(s.scalars(query).all())
    seen: Counter = Counter()
    kept = []
    for item in items:
        seen[item.task] += 1
        if seen[item.task] > offset and (limit is None or seen[item.task] <= offset + limit):
            kept.append(item)
    return kept


def done_pairs(arena: Arena, model_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(item id, model id) of the outputs the models already have."""
    o = Output.__table__.c
    with arena.engine.connect() as conn:
        rows = conn.execute(select(o.item_id, o.model_id).where(o.model_id.in_(list(model_ids))))
        return {(i, m) for i, m in rows}


def edit_and_measure(entrant: Entrant, request: EditRequest, options: RunOptions,
                     warmup: int) -> tuple[Any, dict[str, Any]]:
    """Run one edit; return the image and the Output fields of its measurement."""
    return measure_edit(entrant.spec, entrant.editor, request, warmup=warmup,
                        repeats=options.repeats, track_memory=options.track_memory)


def release_editor(editor: Editor) -> None:
    """Drop a model's weights before the next one loads."""
    if hasattr(editor, "unload"):
        editor.unload()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def plan_run(arena: Arena, entrants: Sequence[Entrant], items: Sequence[Item],
             summary: GenerationSummary) -> list[tuple[Entrant, list[Item]]]:
    """Each entrant with the items of its tasks that have no output yet (the rest counted as
    skipped in ``summary``)."""
    done = done_pairs(arena, [e.model.id for e in entrants])
    plan = []
    for entrant in entrants:
        todo = [i for i in items if supports(entrant.editor, i.task)]
        pending = [i for i in todo if (i.id, entrant.model.id) not in done]
        if len(todo) > len(pending):
            summary.skipped[entrant.spec.name] += len(todo) - len(pending)
        plan.append((entrant, pending))
    return plan


def run_models(arena: Arena, entrants: Sequence[Entrant], items: Sequence[Item],
               options: RunOptions = RunOptions(), *, progress: bool = False) -> GenerationSummary:
    """Run every entrant on every item of a task it does, skipping pairs already done.

    A failing edit (any exception) is recorded with its message and the run goes on; a later
    success clears it. Each output is committed on its own, so an interrupted run loses at most
    the edits in progress.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    summary = GenerationSummary()
    failed = failed_pairs(arena.engine, [e.model.id for e in entrants])
    plan = plan_run(arena, entrants, items, summary)
    with ClaimKeeper(arena.engine, options.lease_s) as keeper, tqdm(
            total=sum(len(p) for _, p in plan), unit="edit", disable=not progress,
            file=sys.stderr) as bar:
        for entrant, pending in plan:
            bar.set_postfix_str(entrant.spec.name)
            run = _run_hosted if is_hosted(entrant.editor) else _run_local
            run(arena, entrant, pending, options, summary, bar, failed, keeper)
            release_editor(entrant.editor)
    summary.seconds = time.perf_counter() - start
    return summary


def _run_local(arena, entrant, pending, options, summary, bar, failed, keeper) -> None:
    """Run one model over its pending items, in an order of this run's own: two runs at once
    then rarely reach for the same pair at the same moment."""
    warm = options.warmup
    for item in random.Random().sample(pending, len(pending)):
        outcome = _run_pair(arena, entrant, item, options, warm, failed, keeper)
        getattr(summary, outcome)[entrant.spec.name] += 1
        warm = 0 if outcome == "made" else warm
        bar.update()


def _run_hosted(arena, entrant, pending, options, summary, bar, failed, keeper) -> None:
    """Call a hosted API on its pending items, ``concurrency`` calls at once."""
    workers = max(int(getattr(entrant.editor, "concurrency", 1)), 1)
    order = random.Random().sample(pending, len(pending))
    with ThreadPoolExecutor(workers, thread_name_prefix=f"api-{entrant.spec.name}") as pool:
        run = lambda item: _run_pair(arena, entrant, item, options, 0, failed, keeper)  # noqa: E731
        for outcome in pool.map(run, order):
            getattr(summary, outcome)[entrant.spec.name] += 1
            bar.update()


def stored(arena: Arena, item_id: int, model_id: int) -> bool:
    """Whether the pair has an output."""
    o = Output.__table__.c
    with arena.engine.connect() as conn:
        query = select(o.id).where(o.item_id == item_id, o.model_id == model_id)
        return conn.execute(query).first() is not None


def _run_pair(arena, entrant, item, options, warmup, failed, keeper) -> str:
    """Claim, edit, measure, score and store one pair: ``"made"``, ``"skipped"`` (stored or
    claimed by another run) or ``"failed"``."""
    pair = (item.id, entrant.model.id)
    if stored(arena, *pair) or not keeper.claim(*pair):
        return "skipped"
    try:
        if stored(arena, *pair):  # made by a run whose claim ended just before ours
            return "skipped"
        try:
            images = load_item_images(arena.media, item)
            request = edit_request(item, images, options.seed)
            image, fields = edit_and_measure(entrant, request, options, warmup)
            metrics = item_metrics(item, images, image, ocr=options.ocr)
        except Exception as exc:  # noqa: BLE001 - any failure of a model on an item is recorded
            record_failure(arena.engine, *pair, f"{type(exc).__name__}: {exc}")
            return "failed"
        return store_result(arena, entrant, item, image, fields, metrics, options.seed,
                            pair in failed)
    finally:
        keeper.release(*pair)


def store_result(arena: Arena, entrant: Entrant, item: Item, image: Any, fields: dict[str, Any],
                 metrics: dict[str, Any], seed: int, failed_before: bool) -> str:
    """Write one output through the catalogue: ``"made"``, or ``"skipped"`` when another run
    stored the pair meanwhile (its file is removed again)."""
    output = add_output(arena.engine, arena.media, item=item, model=entrant.model, image=image,
                        seed=seed, settings=plain(entrant.editor.settings), metrics=metrics,
                        **fields)
    if output is None:
        return "skipped"
    if failed_before:
        clear_failure(arena.engine, item.id, entrant.model.id)
    return "made"


def prepare(arena: Arena, specs: Sequence[ModelSpec], tasks: Sequence[str] | None,
            limit: int | None, item_ids: Iterable[int] | None,
            offset: int = 0) -> tuple[list[Entrant], list[Item]]:
    """Check the tasks, build and register the editors, and choose the items.

    Raises GenerateError for an unknown task or a stored model version with other settings,
    and models.config.ConfigError when an editor cannot be built from its spec.
    """
    from arena.store.catalog import task_names
    from models.config import build_editor

    if tasks is not None:
        unknown = sorted(set(tasks) - set(task_names(arena.engine)))
        if unknown:
            raise GenerateError(f"unknown task(s) {unknown}; the database holds "
                                f"{task_names(arena.engine)}")
    entrants = [register(arena, spec, build_editor(spec)) for spec in specs]
    return entrants, select_items(arena, tasks, limit, item_ids, offset)


def generate(arena: Arena, specs: Sequence[ModelSpec], *, tasks: Sequence[str] | None = None,
             limit: int | None = None, offset: int = 0, options: RunOptions = RunOptions(),
             item_ids: Iterable[int] | None = None, progress: bool = False) -> GenerationSummary:
    """Build the editors of ``specs``, register them, and run them over the chosen items
    (see :func:`prepare` for the errors)."""
    entrants, items = prepare(arena, specs, tasks, limit, item_ids, offset)
    summary = run_models(arena, entrants, items, options, progress=progress)
    arena.sampler.invalidate()
    return summary
