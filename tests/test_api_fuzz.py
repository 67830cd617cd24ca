"""Schema-based fuzzing of the HTTP API (schemathesis on the app's own OpenAPI schema), on SQLite
and PostgreSQL: no request gets a 5xx, and a refused request writes nothing."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select
from toy_catalog import make_toy_catalog

from arena.store.schema import Impression, LiveMember, LiveSession, Vote, Voter

schemathesis = pytest.importorskip("schemathesis")
TABLES = (Vote, Impression, Voter, LiveSession, LiveMember)
EXAMPLES = 25           # per operation: about 19 operations, a few seconds per backend


def counts(arena) -> tuple[int, ...]:
    with arena.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one()
                     for t in TABLES)


@pytest.mark.slow
def test_fuzzed_requests_get_no_5xx_and_refusals_write_nothing(arena, monkeypatch):
    from arena.web.server import build_app

    monkeypatch.setenv("ARENA_RATE_PER_ADDRESS", "100000")      # fuzzing is not a flood test
    monkeypatch.setenv("ARENA_IDENTITIES_PER_ADDRESS", "1000000")
    make_toy_catalog(arena)
    app = build_app(arena)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("POST", "/api/votes"), ("GET", "/api/pair"), ("POST", "/api/live/{code}/votes"),
        ("GET", "/media/{token}")}
    failures: list[str] = []
    for op in operations:
        fuzz(arena, op, failures)
    assert not failures, failures[:5]


def fuzz(arena, op, failures: list[str]) -> None:
    """Up to ``EXAMPLES`` generated requests of one operation; problems go to ``failures``."""
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def probe(case):
        before = counts(arena)
        answer = case.call()
        if answer.status_code >= 500:
            failures.append(f"{op.method} {op.path}: {answer.status_code} {answer.text[:200]}")
        elif answer.status_code >= 400 and counts(arena) != before:
            failures.append(f"{op.method} {op.path}: {answer.status_code} wrote rows")

    probe()
