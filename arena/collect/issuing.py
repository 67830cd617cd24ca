"""Issuing a voter's next impression: the open pair they hold, or a new one, stored.

A voter of the public arena holds one open pair at a time (voted, skipped or expired ends it).
The database enforces it: a partial unique index on ``impression(voter_id)`` over held pairs
still open (:data:`arena.store.schema.OPEN_HELD_INDEX`). So a new pair is written with
``INSERT ... ON CONFLICT DO NOTHING``: when a racing request of the same voter (in any process)
opened one first, nothing is inserted and that pair is read and returned instead. On
PostgreSQL each statement then commits on its own (two round trips for a voter's next pair:
the latest impression, the insert), where a row lock on the voter and an explicit transaction
took five; on SQLite it all happens in one write transaction, which serialises writers anyway.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from arena.collect import tokens
from arena.collect.checks import plan_check
from arena.collect.sampling import same_pair
from arena.collect.vote_statements import LATEST, MARK, OPEN_HELD, insert_impression
from arena.context import Arena
from arena.store.schema import utcnow

TTL_ENV = "ARENA_PAIR_TTL_S"
DEFAULT_TTL_S = 600.0
#: Inserts tried before giving up when racing requests of one voter keep ending its pairs.
ATTEMPTS = 5


class IssueContended(Exception):
    """Every attempt to open or find the voter's pair met a pair ended meanwhile."""


def pair_ttl_s() -> float:
    """Seconds an unvoted pair keeps taking its vote (``$ARENA_PAIR_TTL_S``, default 600)."""
    try:
        return max(5.0, float(os.environ.get(TTL_ENV, DEFAULT_TTL_S)))
    except ValueError:
        return DEFAULT_TTL_S


def expired(imp: Any, now: datetime | None = None) -> bool:
    """Whether an impression is past its expiry (never, without one)."""
    if imp.expires_at is None:
        return False
    when = imp.expires_at if imp.expires_at.tzinfo else imp.expires_at.replace(tzinfo=timezone.utc)
    return when <= (now or utcnow())


def held_open(imp: Any) -> bool:
    """Whether an impression is a held pair (one with an expiry) that has not ended."""
    return imp is not None and imp.ended is None and imp.expires_at is not None


def open_or_new(arena: Arena, conn: Any, task: str | None, voter_id: str | None,
                session_id: int | None, hold: bool, checks: bytes) -> tuple[Any, bool]:
    """``(impression, made)`` on ``conn``: with ``hold``, the voter's open pair while it lasts
    (an expired one is marked so), else a new impression inserted (``made``). Raises
    :class:`IssueContended` when :data:`ATTEMPTS` inserts all met pairs ended meanwhile."""
    latest = None if voter_id is None else LATEST.first(conn, {"voter": voter_id})
    held = latest if hold and held_open(latest) else None
    insert, values = insert_impression(arena.engine), None
    for _ in range(ATTEMPTS):
        if held is not None:
            if not expired(held):
                return held, False
            MARK.rowcount(conn, {"impression": held.id, "ending": "expired"})
        if values is None:          # drawn once: a retry inserts the same row
            values = new_impression(arena, task, voter_id, session_id, latest, hold, checks)
        new_id = insert.scalar(conn, values)
        if new_id is not None:
            return SimpleNamespace(id=new_id, **values), True
        # the voter holds an open pair this request did not see: a racing request's, or an
        # older one behind a later unheld impression (an annotation queue's)
        held = OPEN_HELD.first(conn, {"voter": voter_id})
    raise IssueContended("this voter's pairs kept ending while a new one was issued: try again")


def new_impression(arena: Arena, task: str | None, voter_id: str | None,
                   session_id: int | None, latest: Any, hold: bool,
                   checks: bytes) -> dict[str, Any]:
    """The row of a new impression: the sampler's pair, or a planted check when one is due."""
    last = None if latest is None else (latest.item_id, latest.left_output_id, latest.right_output_id)
    choice = arena.sampler.choose(task, avoid=last)
    if voter_id is not None:
        check = plan_check(arena.engine, voter_id, task, secret=checks,
                           step=0 if latest is None else latest.id)
        if check is not None and not same_pair(check, last):   # a gold pair may be the last one
            choice = check
    now = utcnow()
    return dict(
        nonce=tokens.new_nonce(), task=choice.task, item_id=choice.item_id,
        left_output_id=choice.left_output_id, right_output_id=choice.right_output_id,
        left_model_id=choice.left_model_id, right_model_id=choice.right_model_id,
        voter_id=voter_id, session_id=session_id, sampler=choice.sampler,
        propensity=choice.propensity, check_kind=getattr(choice, "check_kind", "none"),
        repeat_of=getattr(choice, "repeat_of", None), issued_at=now,
        expires_at=now + timedelta(seconds=pair_ttl_s()) if hold else None, ended=None)
