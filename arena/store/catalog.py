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

from arena.store.db import session, write_lock
from arena.store.media import MediaStore
from arena.store.schema import Item, Model, Output, Task, Vote

TASK_DESCRIPTIONS = {
    "object_removal": "Remove an object and fill in what was behind it.",
    "background_change": "Replace the background, keep the subject.",
    "text_edit": "Change the words written in the image.",
    "recolor": "Change the colour of one object.",
    "style": "Restyle the whole image.",
}


class UnknownError(LookupError):
    """A task, model or item that the database does not hold."""


def ensure_task(engine: Engine, name: str, description: str | None = None) -> Task:
    """Get or create a task."""
    with write_lock(engine), session(engine) as s:
        task = s.get(Task, name)
        if task is None:
            task = Task(name=name, description=description or TASK_DESCRIPTIONS.get(name, ""))
            s.add(task)
            s.commit()
        return task


def ensure_model(engine: Engine, name: str, kind: str, version: str = "1", **fields: Any) -> Model:
    """Get the model ``name``/``version``, creating it with ``fields`` if it is new."""
    with write_lock(engine), session(engine) as s:
        model = s.exec(select(Model).where(Model.name == name, Model.version == version)).first()
        if model is None:
            model = Model(name=name, version=version, kind=kind, **fields)
            s.add(model)
            s.commit()
        return model


def add_item(engine: Engine, media: MediaStore, *, key: str, task: str, instruction: str,
             source: Image.Image, mask: Image.Image | None = None,
             reference: Image.Image | None = None, target_text: str | None = None,
             params: dict | None = None) -> Item:
    """Store an item and its images."""
    source_path, _ = media.save(source)
    mask_path = media.save(mask)[0] if mask is not None else None
    reference_path = media.save(reference)[0] if reference is not None else None
    item = Item(key=key, task=task, instruction=instruction, source_path=source_path,
                mask_path=mask_path, reference_path=reference_path, target_text=target_text,
                params=params or {})
    with write_lock(engine), session(engine) as s:
        s.add(item)
        s.commit()
        return item


def add_output(engine: Engine, media: MediaStore, *, item: Item, model: Model,
               image: Image.Image, **fields: Any) -> Output:
    """Store one model's output for one item with its measurements."""
    name, digest = media.save(image)
    output = Output(item_id=item.id, model_id=model.id, image_path=name, content_hash=digest,
                    **fields)
    with write_lock(engine), session(engine) as s:
        s.add(output)
        s.commit()
        return output


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


def model_stats(engine: Engine) -> list[dict[str, Any]]:
    """Per model: kind, outputs, median and p90 latency and mean cost per task, the device and
    threads most outputs were measured with, and the projected time and cost of running it on
    every item of its tasks (:func:`models.timing.projected_benchmark`)."""
    names = model_names(engine)
    with session(engine) as s:
        models = {m.id: m for m in s.exec(select(Model)).all()}
        rows = s.exec(select(Output.model_id, Item.task, Output.latency_s, Output.cost_usd,
                             Output.device, Output.threads)
                      .join(Item, Item.id == Output.item_id)).all()
        votes = dict(s.exec(select(Vote.left_model_id, func.count()).group_by(Vote.left_model_id)).all())
        votes_r = dict(s.exec(select(Vote.right_model_id, func.count()).group_by(Vote.right_model_id)).all())
        items = dict(s.exec(select(Item.task, func.count()).group_by(Item.task)).all())
    n_outputs = Counter(row[0] for row in rows)
    devices = {mid: Counter() for mid in models}
    threads = {mid: Counter() for mid in models}
    by: dict[int, dict[str, tuple[list, list]]] = {}
    for model_id, task, latency, cost, device, n_threads in rows:
        lat, cst = by.setdefault(model_id, {}).setdefault(task, ([], []))
        if latency is not None:
            lat.append(latency)
        if cost is not None:
            cst.append(cost)
        if device:
            devices[model_id][device] += 1
        if n_threads:
            threads[model_id][n_threads] += 1
    out = []
    for mid, model in sorted(models.items(), key=lambda kv: names[kv[0]]):
        tasks = by.get(mid, {})
        out.append({
            "model": names[mid], "version": model.version, "kind": model.kind,
            "provider": model.provider, "hardware": model.hardware,
            "latency_s": {t: float(np.median(l)) for t, (l, _) in sorted(tasks.items()) if l},
            "latency_p90_s": {t: float(np.percentile(l, 90)) for t, (l, _) in sorted(tasks.items()) if l},
            "cost_usd": {t: float(np.mean(c)) for t, (_, c) in sorted(tasks.items()) if c},
            "device": devices[mid].most_common(1)[0][0] if devices[mid] else None,
            "threads": threads[mid].most_common(1)[0][0] if threads[mid] else None,
            "outputs": n_outputs[mid],
            "votes": votes.get(mid, 0) + votes_r.get(mid, 0),
            "price_per_image": model.price_per_image,
            "price_per_gpu_hour": model.price_per_gpu_hour,
            "projected": _projection(model, tasks, items),
        })
    return out


def _projection(model: Model, tasks: dict[str, tuple[list, list]], items: dict[str, int]) -> dict[str, Any]:
    """Time and cost of running ``model`` on every item of the tasks it has outputs for."""
    from models.timing import projected_benchmark

    total = {"items": 0, "total_s": 0.0, "gpu_hours": 0.0, "gpu_days": 0.0, "cost_usd": None}
    for task, (latencies, costs) in tasks.items():
        n = items.get(task, 0)
        if latencies:
            part = projected_benchmark(n, float(np.median(latencies)), model.price_per_gpu_hour)
            for key in ("total_s", "gpu_hours", "gpu_days"):
                total[key] += part[key]
        cost = (n * model.price_per_image if model.price_per_image is not None
                else part["cost_usd"] if latencies and model.price_per_gpu_hour is not None
                else n * float(np.mean(costs)) if costs else None)
        if cost is not None:
            total["cost_usd"] = (total["cost_usd"] or 0.0) + cost
        total["items"] += n
    return total


def items_by_key(engine: Engine, keys: Iterable[str]) -> dict[str, Item]:
    """Items with the given keys."""
    keys = list(keys)
    with session(engine) as s:
        return {i.key: i for i in s.exec(select(Item).where(Item.key.in_(keys))).all()}
