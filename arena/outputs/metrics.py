"""Automatic metrics of outputs (see :func:`models.metrics.task_metrics`), stored in Output.metrics.

OCR runs only for text edits: it is the slow metric (0.2-1 s an image on a CPU) and the only
one that needs the words of the task.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from PIL import Image
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from arena.store.db import session, write_lock
from arena.store.media import MediaStore
from arena.store.schema import Item, Output
from models.metrics import task_metrics

#: Tasks whose outputs are read with OCR.
OCR_TASKS = frozenset({"text_edit"})

#: Metrics that only OCR gives.
OCR_METRICS = frozenset({"ocr_cer", "ocr_exact", "old_text_gone"})


@dataclass(frozen=True)
class ItemImages:
    """An item's images: the source (RGB), and the mask (L) and reference (RGB) when it has them."""

    source: Image.Image
    mask: Image.Image | None = None
    reference: Image.Image | None = None


def load_item_images(media: MediaStore, item: Item) -> ItemImages:
    """Open an item's stored images."""
    return ItemImages(
        media.open(item.source_path),
        media.open(item.mask_path, "L") if item.mask_path else None,
        media.open(item.reference_path) if item.reference_path else None,
    )


def output_metrics(task: str, images: ItemImages, output: Image.Image, *,
                   target_text: str | None = None, old_text: str | None = None,
                   ocr: bool = True) -> dict[str, float]:
    """Every metric that applies to one output; OCR only when ``ocr`` and the task is a text edit."""
    return task_metrics(task, images.source, output, images.mask, images.reference,
                        target_text, old_text, ocr=ocr and task in OCR_TASKS)


def item_metrics(item: Item, images: ItemImages, output: Image.Image, *, ocr: bool = True) -> dict[str, float]:
    """:func:`output_metrics` with the task, target text and old text of a stored item."""
    return output_metrics(item.task, images, output, target_text=item.target_text,
                          old_text=(item.params or {}).get("old_text"), ocr=ocr)


def _incomplete(item: Item, metrics: dict, ocr: bool) -> bool:
    if not metrics:
        return True
    wants_ocr = ocr and item.task in OCR_TASKS and (item.target_text or (item.params or {}).get("old_text"))
    return bool(wants_ocr) and not OCR_METRICS & set(metrics)


def refresh_metrics(engine: Engine, media: MediaStore, *, tasks: Iterable[str] | None = None,
                    ocr: bool = True, everything: bool = False,
                    progress: Callable[[Iterable], Iterable] = iter) -> int:
    """Compute the metrics of stored outputs that lack them (all of them with ``everything``).

    Returns the number of outputs updated. ``progress`` wraps the loop (e.g. ``tqdm``).
    """
    query = select(Output.id, Output.image_path, Output.metrics, Item).join(Item, Item.id == Output.item_id)
    if tasks is not None:
        query = query.where(Item.task.in_(list(tasks)))
    with session(engine) as s:
        rows = [r for r in s.exec(query.order_by(Item.id, Output.id)).all()
                if everything or _incomplete(r[3], r[2] or {}, ocr)]
    updated, cached = 0, (None, None)
    for output_id, image_path, _, item in progress(rows):
        if cached[0] != item.id:
            cached = (item.id, load_item_images(media, item))
        metrics = item_metrics(item, cached[1], media.open(image_path), ocr=ocr)
        with write_lock(engine), engine.begin() as conn:
            conn.execute(update(Output.__table__).where(Output.__table__.c.id == output_id)
                         .values(metrics=metrics))
        updated += 1
    return updated
