"""Writing and reading the catalogue: tasks, items, models and their outputs."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
from PIL import Image
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from arena.store.db import insert_ignore, session, write_lock
from arena.store.media import MediaStore
from arena.store.schema import Item, Model, Output, Setting, Task, Vote, utcnow

TASK_DESCRIPTIONS = {
    "object_removal": "Remove an object and fill in what was behind it.",
    "background_change": "Replace the background, keep the subject.",
    "text_edit": "Change the words written in the image.",
    "recolor": "Change the colour of one object.",
    "style": "Restyle the whole image.",
}


class UnknownError(LookupError):
    """A task, model or item that the database does not hold."""


def _insert_ignore(s, engine: Engine, row: Any) -> int | None:
    """Insert ``row`` with ``ON CONFLICT DO NOTHING``: its new id, or None if a row with the same
    key was there (inserted by another writer, perhaps at the same moment)."""
    table = type(row).__table__
    key = list(table.primary_key.columns)[0]
    values = row.model_dump(exclude={"id"} if getattr(row, "id", 0) is None else set())
    added = s.execute(insert_ignore(engine, table, **values).returning(key)).first()
    return None if added is None else added[0]


def _remove(media: MediaStore, *names: str | None) -> None:
    """Delete stored image files that no row refers to."""
    for name in names:
        if name:
            (media.root / name).unlink(missing_ok=True)


def ensure_task(engine: Engine, name: str, description: str | None = None) -> Task:
    """Get or create a task; safe when several writers create it at once."""
    task = Task(name=name, description=description or TASK_DESCRIPTIONS.get(name, ""))
    with write_lock(engine), session(engine) as s:
        _insert_ignore(s, engine, task)
        s.commit()
        return s.get(Task, name)


def ensure_model(engine: Engine, name: str, kind: str, version: str = "1", **fields: Any) -> Model:
    """Get the model ``name``/``version``, creating it with ``fields`` if it is new; safe when
    several writers create it at once (the first one's fields are kept)."""
    query = select(Model).where(Model.name == name, Model.version == version)
    with write_lock(engine), session(engine) as s:
        model = s.exec(query).first()
        if model is None:
            _insert_ignore(s, engine, Model(name=name, version=version, kind=kind, **fields))
            s.commit()
            model = s.exec(query).one()
        return model


def _item(engine: Engine, key: str) -> Item | None:
    with session(engine) as s:
        return s.exec(select(Item).where(Item.key == key)).first()


def add_item(engine: Engine, media: MediaStore, *, key: str, task: str, instruction: str,
             source: Image.Image, mask: Image.Image | None = None,
             reference: Image.Image | None = None, target_text: str | None = None,
             params: dict | None = None) -> Item:
    """Store an item and its images, or return the item already stored under ``key``.

    Idempotent and atomic per item: the images are written first and the row inserted with
    ``ON CONFLICT DO NOTHING``; when another writer stored the key meanwhile, the images just
    written are removed and that writer's item is returned.
    """
    found = _item(engine, key)
    if found is not None:
        return found
    saved = [media.save(image)[0] if image is not None else None for image in (source, mask, reference)]
    item = Item(key=key, task=task, instruction=instruction, source_path=saved[0],
                mask_path=saved[1], reference_path=saved[2], target_text=target_text,
                params=params or {})
    with write_lock(engine), session(engine) as s:
        item_id = _insert_ignore(s, engine, item)
        s.commit()
    if item_id is None:
        _remove(media, *saved)
        return _item(engine, key)
    item.id = item_id
    return item


def add_output(engine: Engine, media: MediaStore, *, item: Item, model: Model,
               image: Image.Image, **fields: Any) -> Output | None:
    """Store one model's output for one item with its measurements.

    Returns None, writing nothing, when the pair already has an output (stored by another run,
    perhaps at the same moment: the image file written for this one is removed again).
    """
    query = select(Output.id).where(Output.item_id == item.id, Output.model_id == model.id)
    with session(engine) as s:
        if s.exec(query).first() is not None:
            return None
    name, digest = media.save(image)
    output = Output(item_id=item.id, model_id=model.id, image_path=name, content_hash=digest,
                    **fields)
    with write_lock(engine), session(engine) as s:
        output_id = _insert_ignore(s, engine, output)
        s.commit()
    if output_id is None:
        _remove(media, name)
        return None
    output.id = output_id
    return output


#: Keys of the bundled demo's items start with this.
DEMO_PREFIX = "demo/"
#: Setting stored once a demo build has finished.
DEMO_BUILT = "demo_built"


def demo_incomplete(engine: Engine) -> bool:
    """Whether the demo should be built at start: the database holds no items, or holds demo
    items from a build that did not finish (killed, or still running in another process)."""
    with session(engine) as s:
        if s.get(Setting, DEMO_BUILT) is not None:
            return False
        if s.exec(select(Item.id).limit(1)).first() is None:
            return True
        return s.exec(select(Item.id).where(Item.key.like(f"{DEMO_PREFIX}%")).limit(1)).first() is not None


def mark_demo_built(engine: Engine) -> None:
    """Record that the demo build has finished (every item and output stored)."""
    with write_lock(engine), session(engine) as s:
        _insert_ignore(s, engine, Setting(key=DEMO_BUILT, value=utcnow().isoformat()))
        s.commit()


def count_items(engine: Engine) -> int:
    """How many items the database holds."""
    with session(engine) as s:
        return s.exec(select(func.count()).select_from(Item)).one()


@dataclass(frozen=True)
class TaskSummary:
    name: str
    description: str
    items: int
    models: int


def task_summaries(engine: Engine) -> list[TaskSummary]:
    """Every task with its number of items and of models that have outputs."""
    with session(engine) as s:
        tasks = s.exec(select(Task).order_by(Task.name)).all()
        items = dict(s.exec(select(Item.task, func.count()).group_by(Item.task)).all())
        models = dict(s.exec(
            select(Item.task, func.count(func.distinct(Output.model_id)))
            .join(Output, Output.item_id == Item.id).group_by(Item.task)).all())
    return [TaskSummary(t.name, t.description, items.get(t.name, 0), models.get(t.name, 0))
            for t in tasks]


def task_names(engine: Engine) -> list[str]:
    """Names of all tasks."""
    with session(engine) as s:
        return list(s.exec(select(Task.name).order_by(Task.name)).all())


def model_names(engine: Engine) -> dict[int, str]:
    """Model id → display name (``name`` or ``name@version`` when versions clash)."""
    with session(engine) as s:
        rows = s.exec(select(Model.id, Model.name, Model.version)).all()
    seen: dict[str, int] = {}
    for _, name, _ in rows:
        seen[name] = seen.get(name, 0) + 1
    return {mid: (name if seen[name] == 1 else f"{name}@{version}") for mid, name, version in rows}


#: Output columns summarised per model and task by :func:`model_stats`.
_STAT_COLUMNS = ("latency_s", "cost_usd", "energy_wh", "peak_memory_mb", "calls", "warmup_calls")
#: What a latency was measured with: the most common value per model.
_CONTEXT_COLUMNS = ("device", "threads", "dtype", "steps", "resolution", "energy_source")


def model_stats(engine: Engine) -> list[dict[str, Any]]:
    """Per model: kind, outputs, votes; per task the median and p90 latency, mean cost, median
    energy (Wh per image) and peak memory; what the latencies were measured with (the device,
    threads, dtype, steps and resolution most outputs had); whether the energy was
    ``"measured"`` or ``"estimated"`` (estimated if any output's was); and the projected time,
    cost and energy of running it on every item of its tasks as ``arena generate`` did, with
    its repeats and warm-up (:func:`_projection`)."""
    names = model_names(engine)
    o = Output.__table__.c
    with session(engine) as s:
        models = {m.id: m for m in s.exec(select(Model)).all()}
        rows = s.exec(select(o.model_id, Item.task, *(o[c] for c in _STAT_COLUMNS + _CONTEXT_COLUMNS))
                      .join(Item, Item.id == o.item_id)).all()
        votes = dict(s.exec(select(Vote.left_model_id, func.count()).group_by(Vote.left_model_id)).all())
        votes_r = dict(s.exec(select(Vote.right_model_id, func.count()).group_by(Vote.right_model_id)).all())
        items = dict(s.exec(select(Item.task, func.count()).group_by(Item.task)).all())
    n_outputs = Counter(row[0] for row in rows)
    values: dict[int, dict[str, dict[str, list]]] = {}
    context: dict[int, dict[str, Counter]] = {mid: {c: Counter() for c in _CONTEXT_COLUMNS} for mid in models}
    for model_id, task, *cells in rows:
        per_task = values.setdefault(model_id, {}).setdefault(task, {c: [] for c in _STAT_COLUMNS})
        for column, value in zip(_STAT_COLUMNS, cells):
            if value is not None:
                per_task[column].append(value)
        for column, value in zip(_CONTEXT_COLUMNS, cells[len(_STAT_COLUMNS):]):
            if value:
                context[model_id][column][value] += 1
    out = []
    for mid, model in sorted(models.items(), key=lambda kv: names[kv[0]]):
        tasks = dict(sorted(values.get(mid, {}).items()))
        common = {c: (n.most_common(1)[0][0] if n else None) for c, n in context[mid].items()}
        if "estimated" in context[mid]["energy_source"]:
            common["energy_source"] = "estimated"
        out.append({
            "model": names[mid], "version": model.version, "kind": model.kind,
            "provider": model.provider, "hardware": model.hardware,
            "latency_s": _per_task(tasks, "latency_s", np.median),
            "latency_p90_s": _per_task(tasks, "latency_s", lambda v: np.percentile(v, 90)),
            "cost_usd": _per_task(tasks, "cost_usd", np.mean),
            "energy_wh": _per_task(tasks, "energy_wh", np.median),
            "peak_memory_mb": _per_task(tasks, "peak_memory_mb", np.median),
            **common,
            "outputs": n_outputs[mid],
            "votes": votes.get(mid, 0) + votes_r.get(mid, 0),
            "price_per_image": model.price_per_image,
            "price_per_gpu_hour": model.price_per_gpu_hour,
            "projected": _projection(model, tasks, items),
        })
    return out


def _per_task(tasks: dict[str, dict[str, list]], column: str, stat) -> dict[str, float]:
    return {t: float(stat(v[column])) for t, v in tasks.items() if v[column]}


def _calls_per_item(values: dict[str, list]) -> tuple[float, int]:
    """Edit calls a run made per item beyond the warm-up (1 where unknown, as for imported
    outputs), and the warm-up calls it made once."""
    calls = [c - w for c, w in zip(values["calls"], values["warmup_calls"]) if c]
    return (float(np.median(calls)) if calls else 1.0), int(max(values["warmup_calls"], default=0))


def _projection(model: Model, tasks: dict[str, dict[str, list]], items: dict[str, int]) -> dict[str, Any]:
    """Time, cost and energy of running ``model`` on every item of the tasks it has outputs
    for, with the calls per item and the warm-up its outputs took
    (:func:`models.timing.projected_benchmark`, :func:`models.energy.projected_energy`);
    ``edit_s`` is the time of one edit per image."""
    from models.energy import projected_energy
    from models.timing import projected_benchmark

    total = {"items": 0, "edit_s": 0.0, "total_s": 0.0, "gpu_hours": 0.0, "gpu_days": 0.0,
             "cost_usd": None, "energy_kwh": None, "energy": None}
    for task, values in tasks.items():
        n, latencies, costs = items.get(task, 0), values["latency_s"], values["cost_usd"]
        calls, warmup = _calls_per_item(values)
        if latencies:
            part = projected_benchmark(n, float(np.median(latencies)), model.price_per_gpu_hour,
                                       calls_per_item=calls, warmup_calls=warmup)
            for key in ("edit_s", "total_s", "gpu_hours", "gpu_days"):
                total[key] += part[key]
        cost = (n * model.price_per_image if model.price_per_image is not None
                else part["cost_usd"] if latencies and model.price_per_gpu_hour is not None
                else n * float(np.mean(costs)) if costs else None)
        if cost is not None:
            total["cost_usd"] = (total["cost_usd"] or 0.0) + cost
        if values["energy_wh"]:
            energy = projected_energy(n, float(np.median(values["energy_wh"])) * calls)
            total["energy_kwh"] = (total["energy_kwh"] or 0.0) + energy["kwh"]
        total["items"] += n
    if total["energy_kwh"] is not None:
        total["energy"] = projected_energy(1, total["energy_kwh"] * 1000.0)["comparison"]
    return total


def items_by_key(engine: Engine, keys: Iterable[str]) -> dict[str, Item]:
    """Items with the given keys."""
    keys = list(keys)
    with session(engine) as s:
        return {i.key: i for i in s.exec(select(Item).where(Item.key.in_(keys))).all()}
