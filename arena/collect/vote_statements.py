"""The statements of the vote path, compiled once and run on the driver (:mod:`arena.store.prepared`).

On PostgreSQL every statement is a network round trip, and each costs the server process some
60-100 µs of driver work besides; so there a vote is claimed and stored by one statement in its
own transaction (:data:`CLAIM_AND_VOTE`: a data-modifying ``WITH``; PostgreSQL manual, 7.8.4),
where SQLite takes an insert and an update inside its write lock; a new pair is one insert
that a partial unique index may refuse (:mod:`arena.collect.issuing`). (Where that index is
missing, the voter's row lock and its latest impression stay two statements: in READ
COMMITTED a statement that waits for a row lock keeps the snapshot it started with, so a join
would miss the pair a racing request just opened.)
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, cast, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from arena.store.db import insert_ignore
from arena.store.prepared import Prepared
from arena.store.schema import Impression, Vote, Voter, open_held

_IMP = Impression.__table__
_I = _IMP.c
_V = Vote.__table__
#: The columns the vote path reads of an impression (a Core row with these attributes).
FIELDS = (_I.id, _I.nonce, _I.task, _I.item_id, _I.left_output_id, _I.right_output_id,
          _I.left_model_id, _I.right_model_id, _I.voter_id, _I.session_id, _I.check_kind,
          _I.issued_at, _I.expires_at, _I.ended)
#: Every column of a new impression but its id.
NEW = tuple(c.name for c in _IMP.columns if c.name != "id")
#: The columns a vote is stored with.
VOTE = ("impression_id", "voter_id", "task", "left_model_id", "right_model_id", "item_id",
        "choice", "check_kind", "duration_ms", "created_at")

LATEST = Prepared(select(*FIELDS).where(_I.voter_id == bindparam("voter"), _I.session_id.is_(None))
                  .order_by(_I.id.desc()).limit(1))
BY_ID = Prepared(select(*FIELDS).where(_I.id == bindparam("impression")))
#: The voter's open held pair, the one the partial unique index allows (:mod:`.issuing`).
OPEN_HELD = Prepared(select(*FIELDS).where(_I.voter_id == bindparam("voter"), open_held(_I))
                     .order_by(_I.id.desc()).limit(1))
LOCK_VOTER = Prepared(select(Voter.__table__.c.id).where(Voter.__table__.c.id == bindparam("voter"))
                      .with_for_update())
MARK = Prepared(update(_IMP).where(_I.id == bindparam("impression"), _I.ended.is_(None))
                .values(ended=bindparam("ending")))
#: The vote's claim on its pair: open, and not past its expiry, as the database has it.
_OPEN = (_I.id == bindparam("impression"), _I.ended.is_(None),
         or_(_I.expires_at.is_(None), _I.expires_at > bindparam("now")))
MARK_VOTED = Prepared(update(_IMP).where(*_OPEN).values(ended="voted"))


def _claim_and_vote() -> Prepared:
    """PostgreSQL: ``WITH claim AS (UPDATE impression SET ended = 'voted' WHERE <open> RETURNING
    id) INSERT INTO vote SELECT ... FROM claim ON CONFLICT DO NOTHING RETURNING id``: the vote's
    id, or no row when the pair was not open (voted, skipped or expired) as the database has
    it. Each value is cast to its column's type (a bare parameter in a select list is text)."""
    claim = update(_IMP).where(*_OPEN).values(ended="voted").returning(_I.id).cte("claim")
    values = [claim.c.id] + [cast(bindparam(name), _V.c[name].type) for name in VOTE[1:]]
    statement = pg_insert(_V).from_select(list(VOTE), select(*values)).on_conflict_do_nothing()
    return Prepared(statement.returning(_V.c.id))


CLAIM_AND_VOTE = _claim_and_vote()


@lru_cache(maxsize=4)
def insert_impression(engine: Any) -> Prepared:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` into impressions (no row: the voter
    holds an open pair already), built once per engine."""
    return Prepared(insert_ignore(engine, _IMP).returning(_I.id), keys=NEW)


@lru_cache(maxsize=4)
def insert_vote(engine: Any) -> Prepared:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` into votes, built once per engine."""
    return Prepared(insert_ignore(engine, _V).returning(_V.c.id), keys=VOTE)
