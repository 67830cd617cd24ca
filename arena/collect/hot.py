"""What the vote path reads about the catalogue, kept in memory: items, outputs and model names,
and the impressions this process has just issued.

Catalogue rows do not change once written (a new model version or a re-run is a new row), so
each is read from the database once, on first use, and kept for the process; a pair and its
reveal are then built without a query. The store is bounded (cleared when it passes
:data:`MAX_ENTRIES` rows).

An impression's fields are fixed when it is issued, except how it ended; the vote path reads
the fixed ones from :meth:`HotCatalog.issued` when this process issued it, and decides the end
in its write (``UPDATE ... WHERE ended IS NULL``), so a vote that reaches another process, or
a pair skipped elsewhere meanwhile, is still handled from the database.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Engine

from arena.store.schema import Item, Model, Output, Task

MAX_ENTRIES = 500_000
#: Impressions kept for their vote (the oldest are dropped first).
MAX_ISSUED = 100_000


class ItemRow(NamedTuple):
    instruction: str
    source_path: str


class OutputRow(NamedTuple):
    image_path: str
    model_id: int
    latency_s: float | None
    cost_usd: float | None


class HotCatalog:
    """Rows by id, read through on a miss."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._items: dict[int, ItemRow] = {}
        self._outputs: dict[int, OutputRow] = {}
        self._models: dict[int, str] = {}
        self._issued: OrderedDict[int, Any] = OrderedDict()
        self._tasks: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def task_known(self, name: str) -> bool:
        """Whether task ``name`` exists; the names are read again on a miss, so a task made
        since the last read is found at once."""
        if name in self._tasks:
            return True
        with self.engine.connect() as conn:
            names = frozenset(conn.execute(select(Task.__table__.c.name)).scalars())
        self._tasks = names
        return name in names

    def keep_issued(self, impression: Any) -> None:
        """Remember an impression this process issued (a row with the vote path's fields)."""
        with self._lock:
            self._issued[impression.id] = impression
            while len(self._issued) > MAX_ISSUED:
                self._issued.popitem(last=False)

    def issued(self, impression_id: int) -> Any:
        """The impression as issued here (``ended`` as it was then), or ``None``."""
        return self._issued.get(impression_id)

    def forget_issued(self, impression_id: int) -> None:
        with self._lock:
            self._issued.pop(impression_id, None)

    def _keep(self, table: dict, key: int, value) -> None:
        with self._lock:
            if len(table) >= MAX_ENTRIES:
                table.clear()
            table[key] = value

    def item(self, item_id: int) -> ItemRow:
        row = self._items.get(item_id)
        if row is None:
            i = Item.__table__.c
            with self.engine.connect() as conn:
                found = conn.execute(select(i.instruction, i.source_path).where(i.id == item_id)).one()
            row = ItemRow(*found)
            self._keep(self._items, item_id, row)
        return row

    def outputs(self, *output_ids: int) -> list[OutputRow]:
        missing = [k for k in output_ids if k not in self._outputs]
        if missing:
            o = Output.__table__.c
            with self.engine.connect() as conn:
                rows = conn.execute(select(o.id, o.image_path, o.model_id, o.latency_s, o.cost_usd)
                                    .where(o.id.in_(missing))).all()
            for r in rows:
                self._keep(self._outputs, r[0], OutputRow(*r[1:]))
        return [self._outputs[k] for k in output_ids]

    def model_name(self, model_id: int) -> str:
        name = self._models.get(model_id)
        if name is None:
            with self.engine.connect() as conn:
                name = conn.execute(select(Model.__table__.c.name)
                                    .where(Model.__table__.c.id == model_id)).scalar_one()
            self._keep(self._models, model_id, name)
        return name
