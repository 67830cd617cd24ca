"""A database made by an older version gains the columns and indexes a newer schema declares."""
from __future__ import annotations

from sqlalchemy import inspect, text

from arena.store.db import get_engine, make_engine


def test_missing_index_and_column_are_added_on_open(db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:            # what an older version left: no index, no column
        conn.execute(text("DROP INDEX ix_impression_repeat_of"))
        conn.execute(text('ALTER TABLE "vote" DROP COLUMN "duration_ms"'))
    engine.dispose()
    engine = make_engine(db_url)
    try:
        have = inspect(engine)
        assert "ix_impression_repeat_of" in {i["name"] for i in have.get_indexes("impression")}
        assert "duration_ms" in {c["name"] for c in have.get_columns("vote")}
        if engine.dialect.name == "sqlite":     # and the planted-repeat check uses it
            with engine.connect() as conn:
                plan = " ".join(str(r) for r in conn.execute(text(
                    "EXPLAIN QUERY PLAN SELECT id FROM impression WHERE repeat_of = 1")).all())
            assert "ix_impression_repeat_of" in plan
    finally:
        engine.dispose()
        get_engine.cache_clear()
