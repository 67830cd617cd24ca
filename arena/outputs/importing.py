"""``arena import MANIFEST``: outputs made elsewhere, with their items, models and metrics.

All or nothing: every row is checked first (columns, numbers, paths inside the manifest's
folder, images readable and not oversized, tasks known, items and pairs consistent), and every
problem is reported with its row. Only then are the images stored and the rows written in one
transaction; if anything fails on the way, the stored image files are removed again.

Rows without an ``item`` key describe their item by its images and words; the item gets a key
derived from them (``import/<hash>``), so importing the same manifest twice finds the same items. Rows that name a stored item add
outputs to it; their source, mask and reference columns are not read.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image
from sqlmodel import select

from arena.context import Arena
from arena.files.manifest import ManifestError, ManifestRow, parse_manifest
from arena.outputs.metrics import ItemImages, load_item_images, output_metrics
from arena.store.catalog import TASK_DESCRIPTIONS, items_by_key, task_names
from arena.store.db import session, write_lock
from arena.store.media import ImageInputError, load_user_image
from arena.store.schema import Item, Model, Output, Task


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote (``skipped``: rows whose output was already stored)."""

    outputs: int
    items: int
    models: int
    tasks: int
    skipped: int = 0

    def describe(self) -> str:
        return (f"imported {self.outputs} outputs ({self.items} new items, {self.models} new "
                f"models, {self.tasks} new tasks; {self.skipped} already stored)")


@dataclass
class _Plan:
    rows: list[ManifestRow] = field(default_factory=list)   # rows to write, item key resolved
    new_items: dict[str, ManifestRow] = field(default_factory=dict)
    existing: dict[str, Item] = field(default_factory=dict)
    new_tasks: set[str] = field(default_factory=set)
    skipped: int = 0


def _digest(path: Path | None) -> str:
    return "" if path is None else hashlib.sha256(path.read_bytes()).hexdigest()


def derived_key(row: ManifestRow) -> str:
    """Key of the item a row describes by content: task, words and the images' bytes."""
    parts = [row.task, row.instruction, row.target_text, row.old_text,
             _digest(row.source), _digest(row.mask), _digest(row.reference)]
    return "import/" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


class _Images:
    """Opens each image file once to check it; remembers its size or its error."""

    def __init__(self, root: Path):
        self.root, self.seen = root, {}

    def check(self, path: Path, column: str, mode: str = "RGB") -> tuple[int, int]:
        """The image's size; raises ImageInputError naming the column and the file."""
        if path not in self.seen:
            try:
                self.seen[path] = load_user_image(path, mode=mode).size
            except ImageInputError as exc:
                self.seen[path] = str(exc).replace(str(path), self._name(path))
        result = self.seen[path]
        if isinstance(result, str):
            raise ImageInputError(f"{column}: {result}")
        return result

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


def _check_new_item(row: ManifestRow, images: _Images) -> None:
    size = images.check(row.source, "source")
    if row.reference is not None:
        images.check(row.reference, "reference")
    if row.mask is not None and images.check(row.mask, "mask", "L") != size:
        raise ValueError(f"mask is {images.check(row.mask, 'mask', 'L')}, source is {size}")


def _row_key(row: ManifestRow, images: _Images) -> str:
    """The row's item key: its ``item``, or one derived from a new item's checked images."""
    if row.item is not None:
        return row.item
    _check_new_item(row, images)
    return derived_key(row)


def _resolve_item(row: ManifestRow, key: str, plan: _Plan, stored: dict[str, Item],
                  images: _Images) -> None:
    """Sort the row's item into stored or new; check a new item and that rows agree on it."""
    if key in stored:
        if stored[key].task != row.task:
            raise ValueError(f"item {key!r} belongs to task {stored[key].task!r}, not {row.task!r}")
        plan.existing[key] = stored[key]
        return
    if row.source is None:
        raise ValueError(f"item {key!r} is not in the database; give its 'source' and "
                         "'instruction' to create it")
    if row.item is not None:
        _check_new_item(row, images)
    first = plan.new_items.setdefault(key, row)
    same = ("task", "source", "instruction", "mask", "reference", "target_text", "old_text")
    if any(getattr(first, f) != getattr(row, f) for f in same):
        raise ValueError(f"item {key!r} is described differently on {first.where}")


def _stored_pairs(engine, keys: list[str]) -> set[tuple[str, str, str]]:
    with session(engine) as s:
        rows = s.exec(select(Item.key, Model.name, Model.version)
                      .join(Output, Output.item_id == Item.id).join(Model, Model.id == Output.model_id)
                      .where(Item.key.in_(keys))).all()
    return set(rows)


def plan_import(arena: Arena, rows: list[ManifestRow], manifest: Path, *,
                create_tasks: bool = False, skip_existing: bool = False,
                problems: list[tuple[str, str]] | None = None) -> _Plan:
    """Check rows against the files and the database; raises :class:`ManifestError` listing
    these problems and those already found (``problems``, e.g. malformed rows)."""
    images = _Images(manifest.resolve().parent)
    known_tasks = set(task_names(arena.engine))
    plan, problems, keyed = _Plan(), list(problems or []), []
    for row in rows:
        try:
            if row.task not in known_tasks:
                if not create_tasks:
                    raise ValueError(f"task {row.task!r} is not in the database "
                                     "(--create-tasks creates it)")
                plan.new_tasks.add(row.task)
            images.check(row.output, "output")
            keyed.append((row, _row_key(row, images)))
        except (ValueError, OSError) as exc:
            problems.append((row.where, str(exc)))
    stored = items_by_key(arena.engine, {key for _, key in keyed})
    seen: dict[tuple[str, str, str], str] = {}
    for row, key in keyed:
        try:
            _resolve_item(row, key, plan, stored, images)
            pair = (key, row.model, row.version)
            if pair in seen:
                raise ValueError(f"model {row.model!r} has an output for item {key!r} "
                                 f"on {seen[pair]} already")
            seen[pair] = row.where
            plan.rows.append(replace(row, item=key))
        except (ValueError, OSError) as exc:
            problems.append((row.where, str(exc)))
    done = _stored_pairs(arena.engine, list(plan.existing))
    kept = []
    for row in plan.rows:
        if (row.item, row.model, row.version) not in done:
            kept.append(row)
        elif skip_existing:
            plan.skipped += 1
        else:
            problems.append((row.where, f"model {row.model!r} already has an output for item "
                                        f"{row.item!r} in the database (--skip-existing skips it)"))
    if problems:
        raise ManifestError(manifest, sorted(problems, key=lambda p: _order(p[0])))
    plan.rows = kept
    return plan


def _order(where: str) -> tuple[int, str]:
    number = where.rsplit(" ", 1)[-1]
    return (int(number), where) if number.isdigit() else (0, where)


class _Saved:
    """Image files written during an import, removed again if the import fails."""

    def __init__(self, media):
        self.media, self.names = media, []

    def save(self, image: Image.Image) -> tuple[str, str]:
        name, digest = self.media.save(image)
        self.names.append(name)
        return name, digest

    def remove(self) -> None:
        for name in self.names:
            (self.media.root / name).unlink(missing_ok=True)


def write_import(arena: Arena, plan: _Plan, *, ocr: bool = True, progress: bool = False) -> ImportSummary:
    """Store the images, compute the metrics, and write every row in one transaction."""
    from tqdm import tqdm

    saved = _Saved(arena.media)
    try:
        items = {key: _new_item(key, row, saved) for key, row in plan.new_items.items()}
        outputs = []
        pictures: dict[str, ItemImages] = {}
        for row in tqdm(sorted(plan.rows, key=lambda r: r.item), unit="output",
                        disable=not progress, file=sys.stderr):
            if row.item not in pictures:
                pictures = {row.item: _item_images(arena, plan, row.item)}
            image = load_user_image(row.output)
            item_row = plan.new_items.get(row.item) or plan.existing[row.item]
            metrics = output_metrics(row.task, pictures[row.item], image,
                                     target_text=item_row.target_text,
                                     old_text=_old_text(item_row), ocr=ocr)
            name, digest = saved.save(image)
            outputs.append((row, Output(item_id=0, model_id=0, image_path=name, content_hash=digest,
                                        latency_s=row.latency_s, cost_usd=row.cost_usd,
                                        metrics=metrics)))
        new_models = _write(arena, plan, items, outputs)
    except BaseException:
        saved.remove()
        raise
    arena.sampler.invalidate()
    return ImportSummary(len(outputs), len(items), new_models, len(plan.new_tasks), plan.skipped)


def _old_text(item: Item | ManifestRow) -> str | None:
    return item.old_text if isinstance(item, ManifestRow) else (item.params or {}).get("old_text")


def _item_images(arena: Arena, plan: _Plan, key: str) -> ItemImages:
    if key in plan.existing:
        return load_item_images(arena.media, plan.existing[key])
    row = plan.new_items[key]
    return ItemImages(load_user_image(row.source),
                      load_user_image(row.mask, mode="L") if row.mask else None,
                      load_user_image(row.reference) if row.reference else None)


def _new_item(key: str, row: ManifestRow, saved: _Saved) -> Item:
    def store(path, mode="RGB"):
        return saved.save(load_user_image(path, mode=mode))[0] if path is not None else None

    return Item(key=key, task=row.task, instruction=row.instruction, source_path=store(row.source),
                mask_path=store(row.mask, "L"), reference_path=store(row.reference),
                target_text=row.target_text,
                params={"old_text": row.old_text} if row.old_text else {})


def _write(arena: Arena, plan: _Plan, items: dict[str, Item], outputs: list) -> int:
    """One transaction: new tasks, models, items and every output. Returns new models."""
    created = 0
    with write_lock(arena.engine), session(arena.engine) as s:
        for task in sorted(plan.new_tasks):
            s.add(Task(name=task, description=TASK_DESCRIPTIONS.get(task, "")))
        s.flush()  # tasks before the items that refer to them
        s.add_all(items.values())
        s.flush()
        ids = {key: item.id for key, item in items.items()} | {k: i.id for k, i in plan.existing.items()}
        models: dict[tuple[str, str], Model] = {}
        for row, output in outputs:
            ident = (row.model, row.version)
            if ident not in models:
                found = s.exec(select(Model).where(Model.name == row.model, Model.version == row.version)).first()
                if found is None:
                    found = Model(name=row.model, version=row.version, kind=row.kind, provider=row.provider)
                    s.add(found)
                    s.flush()
                    created += 1
                models[ident] = found
            output.item_id, output.model_id = ids[row.item], models[ident].id
            s.add(output)
        s.commit()
    return created


def import_manifest(arena: Arena, manifest: str | Path, *, create_tasks: bool = False,
                    skip_existing: bool = False, ocr: bool = True,
                    progress: bool = False) -> ImportSummary:
    """Import every row of a manifest, or nothing.

    Raises
    ------
    ManifestError
        Naming every bad row: malformed fields, missing, unreadable or oversized images, paths
        outside the manifest's folder, unknown tasks (unless ``create_tasks``), items or outputs
        that clash.
    """
    manifest = Path(manifest)
    rows, problems = parse_manifest(manifest)
    plan = plan_import(arena, rows, manifest, create_tasks=create_tasks,
                       skip_existing=skip_existing, problems=problems)
    return write_import(arena, plan, ocr=ocr, progress=progress)
