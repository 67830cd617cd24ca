"""Edits that failed during a generation run: recorded per (item, model), cleared on success."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from arena.store.catalog import model_names
from arena.store.db import insert_ignore, write_lock
from arena.store.schema import GenerationFailure, Item, Output, utcnow

#: Longest error message kept, in characters.
MAX_ERROR_CHARS = 2000


def record_failure(engine: Engine, item_id: int, model_id: int, error: str) -> None:
    """Record (or update, counting the attempts) the failure of one model on one item; safe
    when two runs record the same pair at once."""
    error, f = error[:MAX_ERROR_CHARS], GenerationFailure.__table__.c
    with write_lock(engine), engine.begin() as conn:
        added = conn.execute(insert_ignore(engine, GenerationFailure.__table__, item_id=item_id,
                                           model_id=model_id, error=error, attempts=1,
                                           updated_at=utcnow()).returning(f.id)).first()
        if added is None:
            conn.execute(update(GenerationFailure.__table__)
                         .where(f.item_id == item_id, f.model_id == model_id)
                         .values(error=error, attempts=f.attempts + 1, updated_at=utcnow()))


def clear_failure(engine: Engine, item_id: int, model_id: int) -> None:
    """Forget a recorded failure (the pair now has an output)."""
    f = GenerationFailure.__table__.c
    with write_lock(engine), engine.begin() as conn:
        conn.execute(delete(GenerationFailure).where(f.item_id == item_id, f.model_id == model_id))


def failed_pairs(engine: Engine, model_ids: list[int]) -> set[tuple[int, int]]:
    """(item id, model id) of the recorded failures of these models."""
    f = GenerationFailure.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(f.item_id, f.model_id).where(f.model_id.in_(model_ids)))
        return {(i, m) for i, m in rows}


def list_failures(engine: Engine) -> list[dict[str, Any]]:
    """Recorded failures of pairs still without an output: item key, task, model, error, attempts."""
    names = model_names(engine)
    f, i, o = GenerationFailure.__table__.c, Item.__table__.c, Output.__table__.c
    done = select(o.id).where(o.item_id == f.item_id, o.model_id == f.model_id).exists()
    query = (select(i.key, i.task, f.model_id, f.error, f.attempts)
             .join_from(GenerationFailure, Item, i.id == f.item_id)
             .where(~done).order_by(f.model_id, i.id))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{"item": key, "task": task, "model": names.get(mid, str(mid)), "error": error,
             "attempts": attempts} for key, task, mid, error, attempts in rows]
