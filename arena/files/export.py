"""Votes out of the database in the battle format, streamed in batches."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from arena.files.battles import CHOICE_TO_WINNER, write_battles
from arena.store.catalog import model_names
from arena.store.schema import Item, Vote


def export_votes(engine: Engine, path: str | Path, fmt: str | None = None,
                 tasks: list[str] | None = None) -> int:
    """Write every vote (optionally of some tasks) to ``path``; returns the count."""
    names = model_names(engine)
    v = Vote.__table__.c
    item = aliased(Item)
    query = (select(v.left_model_id, v.right_model_id, v.choice, v.voter_id, v.task, v.created_at,
                    item.key, v.duration_ms, v.check_kind)
             .select_from(Vote.__table__).outerjoin(item, item.id == v.item_id).order_by(v.id))
    if tasks:
        query = query.where(v.task.in_(tasks))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    table = pa.table({
        "model_a": [names[r[0]] for r in rows],
        "model_b": [names[r[1]] for r in rows],
        "winner": [CHOICE_TO_WINNER[r[2]] for r in rows],
        "judge": [r[3] or "" for r in rows],
        "task": [r[4] for r in rows],
        "tstamp": [r[5].timestamp() for r in rows],
        "item": [r[6] or "" for r in rows],
        "duration_ms": pa.array([r[7] for r in rows], type=pa.int64()),
        "check": [r[8] for r in rows],
    })
    return write_battles(table, path, fmt)
