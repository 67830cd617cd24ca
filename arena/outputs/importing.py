"""``arena import MANIFEST``: outputs made elsewhere, with their items, models and metrics.

All or nothing: every row is checked first (:mod:`arena.outputs.import_check`: columns, numbers,
paths inside the manifest's folder, images readable, not oversized and of their source's size,
tasks known, items and pairs consistent), and the bad rows are reported with their labels (the
first :data:`~arena.outputs.import_check.STOP_AFTER` of them). Only then are the images stored
and the rows written in one transaction; if anything fails on the way, the stored image files
are removed again. Tasks and models are inserted with ``ON CONFLICT DO NOTHING``, so two imports
that create the same ones both succeed; an item or output stored by someone else meanwhile makes
the import fail whole, with a :class:`~arena.files.manifest.ManifestError`.

Rows without an ``item`` key describe their item by its images and words; the item gets a key
derived from them (``import/<hash>``), so importing the same manifest twice finds the same items. Rows that name a stored item add
outputs to it; their source, mask and reference columns are not read.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from arena.context import Arena
from arena.files.manifest import ManifestError, ManifestRow, iter_manifest
from arena.outputs.import_check import Plan, derived_key, plan_import  # noqa: F401 (re-exported)
from arena.outputs.metrics import ItemImages, load_item_images, output_metrics
from arena.store.catalog import TASK_DESCRIPTIONS
from arena.store.db import insert_ignore, session, write_lock
from arena.store.media import load_user_image
from arena.store.schema import Item, Model, Output, Task, utcnow


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


class ImportConflict(ManifestError):
    """Another writer stored one of an import's new items or outputs between check and write."""

    def __init__(self, detail: str):
        ValueError.__init__(self, "nothing imported: the database changed while importing "
                                  f"({detail}); run the import again")
        self.problems, self.stopped = [("database", detail)], None


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


def write_import(arena: Arena, plan: Plan, *, ocr: bool = True, progress: bool = False) -> ImportSummary:
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


def _item_images(arena: Arena, plan: Plan, key: str) -> ItemImages:
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


def _write(arena: Arena, plan: Plan, items: dict[str, Item], outputs: list) -> int:
    """One transaction: new tasks, models, items and every output. Returns new models.

    Raises
    ------
    ImportConflict
        If another writer stored one of the new items or outputs meanwhile.
    """
    engine = arena.engine
    with write_lock(engine), session(engine) as s:
        try:
            for task in sorted(plan.new_tasks):
                s.execute(insert_ignore(engine, Task.__table__, name=task,
                                        description=TASK_DESCRIPTIONS.get(task, "")))
            s.add_all(items.values())
            s.flush()
            ids = {key: item.id for key, item in items.items()} | {k: i.id for k, i in plan.existing.items()}
            models, created = _models(s, engine, [row for row, _ in outputs])
            for row, output in outputs:
                output.item_id, output.model_id = ids[row.item], models[(row.model, row.version)]
                s.add(output)
            s.commit()
        except IntegrityError as exc:
            s.rollback()
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise ImportConflict(first) from None
    return created


def _models(s, engine, rows: list[ManifestRow]) -> tuple[dict[tuple[str, str], int], int]:
    """Ids of the rows' models, inserting new ones (``ON CONFLICT DO NOTHING``); and how many
    this import created."""
    ids, created = {}, 0
    for row in rows:
        ident = (row.model, row.version)
        if ident in ids:
            continue
        added = s.execute(insert_ignore(engine, Model.__table__, name=row.model, version=row.version,
                                        kind=row.kind, provider=row.provider, settings={},
                                        hardware="", created_at=utcnow())
                          .returning(Model.__table__.c.id)).first()
        created += added is not None
        ids[ident] = added[0] if added is not None else s.exec(
            select(Model.id).where(Model.name == row.model, Model.version == row.version)).one()
    return ids, created


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
    plan = plan_import(arena, iter_manifest(manifest), manifest, create_tasks=create_tasks,
                       skip_existing=skip_existing)
    return write_import(arena, plan, ocr=ocr, progress=progress)
