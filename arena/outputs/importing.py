"""``arena import MANIFEST``: outputs made elsewhere, with their items, models and metrics.

Two passes over the manifest, each streaming it in chunks of
:data:`~arena.outputs.import_check.CHUNK` rows, so memory stays bounded whatever its length:

1. **check** (:mod:`arena.outputs.import_check`): every row, against its files and the
   database (columns, numbers, paths inside the manifest's folder, images readable, not oversized
   and of their source's size, tasks known, items and pairs consistent); the bad rows are
   reported with their labels (the first :data:`~arena.outputs.import_check.STOP_AFTER` of them)
   and nothing at all is written.
2. **stage**: the manifest is read again; each chunk's images are decoded, their metrics
   computed and the image files stored, and the chunk's item and output records go to the
   import's scratch file (:class:`~arena.outputs.import_index.ImportIndex`), not to the database.

Then **one transaction** writes the staged records chunk by chunk (new tasks, items, models,
outputs) and commits: the import is all or nothing on SQLite and PostgreSQL alike, and on SQLite
it holds the write lock only for these inserts, not while images are decoded. If anything fails
on the way (a row whose image only breaks when decoded, a manifest changed between the passes,
an item or output stored by someone else meanwhile: :class:`ImportConflict`), the transaction is
rolled back and the stored image files are removed again. Tasks and models are inserted with
``ON CONFLICT DO NOTHING``, so two imports that create the same ones both succeed.

Rows without an ``item`` key describe their item by its images and words; the item gets a key
derived from them (``import/<hash>``), so importing the same manifest twice finds the same items.
Rows that name a stored item add outputs to it; their source, mask and reference columns are not
read.
"""
from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from arena.context import Arena
from arena.files.manifest import ManifestError, ManifestRow, iter_manifest
from arena.outputs.import_check import (CHUNK, Plan, chunks, derived_key,  # noqa: F401 (re-exported)
                                        manifest_stamp, plan_import, stored_pairs)
from arena.outputs.import_index import ImportIndex
from arena.outputs.metrics import ItemImages, load_item_images, output_metrics
from arena.store.catalog import TASK_DESCRIPTIONS, items_by_key
from arena.store.db import insert_ignore, session, write_lock
from arena.store.media import ImageInputError, load_user_image
from arena.store.schema import Item, Model, Output, Task, utcnow

#: Model ids remembered while writing, at most (the cache is emptied when full).
MODEL_CACHE = 10_000


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
    """Image files written during an import: this chunk's in memory, earlier ones in the index;
    all removed again if the import fails."""

    def __init__(self, media, index: ImportIndex):
        self.media, self.index, self.names = media, index, []

    def save(self, image: Image.Image) -> tuple[str, str]:
        name, digest = self.media.save(image)
        self.names.append(name)
        return name, digest

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names

    def remove(self) -> None:
        for name in [*self.take(), *self.index.files()]:
            (self.media.root / name).unlink(missing_ok=True)


class _Pictures:
    """The images of the last few items, so rows of one item do not decode them again."""

    def __init__(self, most: int = 8):
        self.most, self.held = most, {}

    def get(self, key: str, load) -> ItemImages:
        if key not in self.held:
            if len(self.held) >= self.most:
                self.held.pop(next(iter(self.held)))
            self.held[key] = load()
        return self.held[key]


def _row_images(row: ManifestRow) -> ItemImages:
    return ItemImages(load_user_image(row.source),
                      load_user_image(row.mask, mode="L") if row.mask else None,
                      load_user_image(row.reference) if row.reference else None)


def _new_item(key: str, row: ManifestRow, saved: _Saved) -> dict:
    def store(path, mode="RGB"):
        return saved.save(load_user_image(path, mode=mode))[0] if path is not None else None

    return {"key": key, "task": row.task, "instruction": row.instruction,
            "source_path": store(row.source), "mask_path": store(row.mask, "L"),
            "reference_path": store(row.reference), "target_text": row.target_text,
            "params": {"old_text": row.old_text} if row.old_text else {}}


def _output(row: ManifestRow, key: str, images: ItemImages, words: tuple, saved: _Saved,
            ocr: bool) -> dict:
    image = load_user_image(row.output)
    metrics = output_metrics(row.task, images, image, target_text=words[0], old_text=words[1], ocr=ocr)
    name, digest = saved.save(image)
    return {"item": key, "model": row.model, "version": row.version, "kind": row.kind,
            "provider": row.provider, "image_path": name, "content_hash": digest,
            "latency_s": row.latency_s, "cost_usd": row.cost_usd, "metrics": metrics}


def _changed(plan: Plan, where: str) -> ManifestError:
    return ManifestError(plan.manifest, [(where, "the manifest changed while importing; "
                                                 "run the import again")])


class _Stager:
    """The second pass: decode, measure and store each chunk's images; stage its records."""

    def __init__(self, arena: Arena, plan: Plan, ocr: bool):
        self.arena, self.plan, self.ocr = arena, plan, ocr
        self.saved, self.pictures = _Saved(arena.media, plan.index), _Pictures()

    def chunk(self, entries: list) -> int:
        """Stage one chunk; returns the outputs staged."""
        keyed = []
        for entry in entries:
            if not isinstance(entry, ManifestRow):
                raise _changed(self.plan, entry[0])
            keyed.append((entry, entry.item or derived_key(entry)))
        keys = {key for _, key in keyed}
        stored = items_by_key(self.arena.engine, keys)
        new = self.plan.index.items(keys)
        done = stored_pairs(self.arena.engine, sorted(keys & set(stored)))
        items, outputs = [], []
        for row, key in keyed:
            if (key, row.model, row.version) in done and self.plan.skip_existing:
                continue
            try:
                outputs.append(self._row(row, key, stored, new, done, items))
            except ImageInputError as exc:
                raise ManifestError(self.plan.manifest, [(row.where, str(exc))]) from None
        self.plan.index.stage(items, outputs, self.saved.take())
        return len(outputs)

    def _row(self, row: ManifestRow, key: str, stored: dict[str, Item], new: dict, done: set,
             items: list[dict]) -> dict:
        if (key, row.model, row.version) in done:
            raise ImportConflict(f"model {row.model!r} has an output for item {key!r} now")
        if key in new:
            if key in stored:
                raise ImportConflict(f"item {key!r} was stored meanwhile")
            if new[key][0] == row.where:
                items.append(_new_item(key, row, self.saved))
            images = self.pictures.get(key, lambda: _row_images(row))
            return _output(row, key, images, (row.target_text, row.old_text), self.saved, self.ocr)
        if key not in stored:
            raise ImportConflict(f"item {key!r} is gone")
        item = stored[key]
        images = self.pictures.get(key, lambda: load_item_images(self.arena.media, item))
        words = (item.target_text, (item.params or {}).get("old_text"))
        return _output(row, key, images, words, self.saved, self.ocr)


def write_import(arena: Arena, plan: Plan, *, ocr: bool = True, progress: bool = False) -> ImportSummary:
    """Stage a checked manifest's images and records, then write them in one transaction."""
    from tqdm import tqdm

    stager = _Stager(arena, plan, ocr)
    try:
        with tqdm(total=plan.rows, unit="output", disable=not progress, file=sys.stderr) as bar:
            for entries in chunks(iter_manifest(plan.manifest)):
                bar.update(stager.chunk(entries))
        if manifest_stamp(plan.manifest) != plan.stamp:
            raise _changed(plan, "file")
        new_models = _write(arena, plan)
    except BaseException:
        stager.saved.remove()
        raise
    arena.sampler.invalidate()
    return ImportSummary(plan.rows, plan.new_items, new_models, len(plan.new_tasks), plan.skipped)


def _write(arena: Arena, plan: Plan) -> int:
    """One transaction: new tasks, then the staged items and outputs chunk by chunk (the
    session emptied after each). Returns how many models it created.

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
            for batch in plan.index.staged("item", CHUNK):
                _flush(s, [Item(**record) for record in batch])
            models = _Models(s, engine)
            for batch in plan.index.staged("output", CHUNK):
                ids = dict(s.exec(select(Item.key, Item.id)
                                  .where(Item.key.in_({r["item"] for r in batch}))).all())
                _flush(s, [_output_row(r, ids[r["item"]], models.id(r)) for r in batch])
            s.commit()
        except IntegrityError as exc:
            s.rollback()
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise ImportConflict(first) from None
    return models.created


def _flush(s, rows: list) -> None:
    """Send rows to the database and forget them, so the session does not grow."""
    s.add_all(rows)
    s.flush()
    s.expunge_all()


def _output_row(record: dict, item_id: int, model_id: int) -> Output:
    fields = {k: record[k] for k in ("image_path", "content_hash", "latency_s", "cost_usd", "metrics")}
    return Output(item_id=item_id, model_id=model_id, **fields)


class _Models:
    """Ids of the staged outputs' models, inserting new ones (``ON CONFLICT DO NOTHING``);
    ``created`` counts the ones this import inserted."""

    def __init__(self, s, engine):
        self.s, self.engine, self.ids, self.created = s, engine, {}, 0

    def id(self, record: dict) -> int:
        ident = (record["model"], record["version"])
        if ident not in self.ids:
            if len(self.ids) >= MODEL_CACHE:
                self.ids.clear()
            self.ids[ident] = self._insert(record)
        return self.ids[ident]

    def _insert(self, record: dict) -> int:
        name, version = record["model"], record["version"]
        added = self.s.execute(insert_ignore(self.engine, Model.__table__, name=name, version=version,
                                             kind=record["kind"], provider=record["provider"],
                                             settings={}, hardware="", created_at=utcnow())
                               .returning(Model.__table__.c.id)).first()
        if added is not None:
            self.created += 1
            return added[0]
        return self.s.exec(select(Model.id).where(Model.name == name, Model.version == version)).one()


def _scratch(arena: Arena) -> ImportIndex:
    """The import's scratch file, beside the media folder (or in the temporary folder)."""
    try:
        return ImportIndex(arena.media.root.parent)
    except OSError:
        return ImportIndex(tempfile.gettempdir())


def import_manifest(arena: Arena, manifest: str | Path, *, create_tasks: bool = False,
                    skip_existing: bool = False, ocr: bool = True,
                    progress: bool = False) -> ImportSummary:
    """Import every row of a manifest, or nothing: check all rows, then stage and write them.

    Raises
    ------
    ManifestError
        Naming the bad rows: malformed fields, missing, unreadable or oversized images, paths
        outside the manifest's folder, unknown tasks (unless ``create_tasks``), items or outputs
        that clash (:class:`ImportConflict` when the database changed meanwhile).
    """
    manifest = Path(manifest)
    with _scratch(arena) as index:
        plan = plan_import(arena, manifest, index, create_tasks=create_tasks,
                           skip_existing=skip_existing)
        return write_import(arena, plan, ocr=ocr, progress=progress)
