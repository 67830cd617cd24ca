"""One open held pair per voter, enforced by the database (SQLite and PostgreSQL)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from toy_catalog import make_toy_catalog

from arena.collect.identity import register
from arena.collect.voting import issue_pair, record_vote
from arena.context import Arena
from arena.store.db import make_engine, open_held_unique
from arena.store.schema import OPEN_HELD_INDEX, Impression, utcnow

IMP = Impression.__table__


def _row(engine, impression_id):
    with engine.connect() as conn:
        return conn.execute(select(IMP).where(IMP.c.id == impression_id)).one()


def _open_held(engine, voter):
    with engine.connect() as conn:
        return conn.execute(select(IMP.c.id).where(
            IMP.c.voter_id == voter, IMP.c.session_id.is_(None), IMP.c.expires_at.isnot(None),
            IMP.c.ended.is_(None)).order_by(IMP.c.id)).scalars().all()


def _copy(engine, impression_id, **changes):
    """Insert a copy of an impression (a new id) with ``changes``; its id."""
    row = dict(_row(engine, impression_id)._mapping)
    row.pop("id")
    row.update(changes)
    with engine.begin() as conn:
        return conn.execute(IMP.insert().values(**row).returning(IMP.c.id)).scalar_one()


def _drop_index(engine):
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {OPEN_HELD_INDEX}"))


def test_the_database_refuses_a_second_open_held_pair(arena):
    make_toy_catalog(arena)
    pair = issue_pair(arena, "recolor", "voter-held-01")
    assert open_held_unique(arena.engine)
    with pytest.raises(IntegrityError):
        _copy(arena.engine, pair["impression_id"])
    # unheld impressions (annotation queues), ended ones and anonymous ones are not limited
    _copy(arena.engine, pair["impression_id"], expires_at=None)
    _copy(arena.engine, pair["impression_id"], ended="skipped")
    anonymous = issue_pair(arena, "recolor")
    _copy(arena.engine, anonymous["impression_id"])
    assert _open_held(arena.engine, "voter-held-01") == [pair["impression_id"]]


def test_a_held_pair_behind_a_later_unheld_one_is_the_one_returned(arena):
    """The voter's latest impression is an annotation pair (no expiry); the open held pair
    before it is still theirs: a new request returns it instead of opening a second."""
    make_toy_catalog(arena)
    held = issue_pair(arena, "recolor", "voter-held-02")
    unheld = issue_pair(arena, "recolor", "voter-held-02", hold=False)
    assert unheld["impression_id"] > held["impression_id"]
    again = issue_pair(arena, "recolor", "voter-held-02")
    assert again["impression_id"] == held["impression_id"] and again["token"] == held["token"]
    assert _open_held(arena.engine, "voter-held-02") == [held["impression_id"]]


def test_an_expired_held_pair_behind_an_unheld_one_is_ended_and_replaced(arena):
    make_toy_catalog(arena)
    held = issue_pair(arena, "recolor", "voter-held-03")
    issue_pair(arena, "recolor", "voter-held-03", hold=False)
    with arena.engine.begin() as conn:
        conn.execute(IMP.update().where(IMP.c.id == held["impression_id"])
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    fresh = issue_pair(arena, "recolor", "voter-held-03")
    assert fresh["impression_id"] != held["impression_id"]
    assert _row(arena.engine, held["impression_id"]).ended == "expired"
    assert _open_held(arena.engine, "voter-held-03") == [fresh["impression_id"]]


def test_an_older_database_gets_the_index_and_keeps_each_voters_latest_pair(db_url, tmp_path):
    """A database made before the index: a voter holding two open pairs keeps the latest
    (the one the arena serves), the older is expired; other voters' pairs are untouched."""
    arena = Arena.open(db_url, media=str(tmp_path / "media"))
    make_toy_catalog(arena)
    first = issue_pair(arena, "recolor", "voter-old-0001")
    other = issue_pair(arena, "recolor", "voter-old-0002")
    anonymous = issue_pair(arena, "recolor")
    _drop_index(arena.engine)
    second = _copy(arena.engine, first["impression_id"])
    third = _copy(arena.engine, first["impression_id"])
    second_anonymous = _copy(arena.engine, anonymous["impression_id"])
    assert len(_open_held(arena.engine, "voter-old-0001")) == 3

    engine = make_engine(db_url)
    try:
        assert OPEN_HELD_INDEX in {i["name"] for i in inspect(engine).get_indexes("impression")}
        assert open_held_unique(engine)
        assert _open_held(engine, "voter-old-0001") == [third]
        assert _row(engine, first["impression_id"]).ended == "expired"
        assert _row(engine, second).ended == "expired"
        assert _open_held(engine, "voter-old-0002") == [other["impression_id"]]
        with engine.connect() as conn:
            anonymous_open = conn.execute(select(func.count()).select_from(IMP).where(
                IMP.c.id.in_([anonymous["impression_id"], second_anonymous]),
                IMP.c.ended.is_(None))).scalar_one()
        assert anonymous_open == 2
    finally:
        engine.dispose()


def _race(arena, voter, rounds=4, requests=4):
    """Rounds of concurrent pair requests of one voter: each round leaves one open pair."""
    register(arena.engine, voter)
    for _ in range(rounds):
        with ThreadPoolExecutor(requests) as pool:
            answers = list(pool.map(lambda _: issue_pair(arena, None, voter, registered=True),
                                    range(requests)))
        assert len({a["impression_id"] for a in answers}) == 1
        assert _open_held(arena.engine, voter) == [answers[0]["impression_id"]]
        record_vote_now(arena, answers[0])


def record_vote_now(arena, pair):
    """Vote a pair at once (its look time moved back)."""
    with arena.engine.begin() as conn:
        conn.execute(IMP.update().where(IMP.c.id == pair["impression_id"])
                     .values(issued_at=utcnow() - timedelta(seconds=5)))
    arena.hot.forget_issued(pair["impression_id"])
    _, created = record_vote(arena, pair["impression_id"], pair["token"], "left")
    assert created


def test_racing_requests_leave_one_open_pair_with_the_index(arena):
    make_toy_catalog(arena)
    assert open_held_unique(arena.engine)
    _race(arena, "voter-race-idx1")


def test_racing_requests_leave_one_open_pair_where_the_index_could_not_be_made(db_url, tmp_path):
    """Where the index is missing (it could not be made), issuing serialises the voter."""
    arena = Arena.open(db_url, media=str(tmp_path / "media"))
    make_toy_catalog(arena)
    _drop_index(arena.engine)
    from arena.store import db

    db._open_held_unique.discard(arena.engine)
    assert not open_held_unique(arena.engine)
    _race(arena, "voter-race-noidx")


def test_a_pair_that_keeps_ending_under_a_racing_request_is_a_409_not_a_loop(arena, monkeypatch):
    """Every insert meets an open pair that has ended by the time it is read: the request
    gives up after a few tries with a 409 (try again), and stores nothing."""
    import arena.collect.issuing as issuing
    from arena.collect.voting import Contended

    make_toy_catalog(arena)
    register(arena.engine, "voter-contend-1")

    class Refused:
        def scalar(self, conn, values):
            return None

    tries = []
    monkeypatch.setattr(issuing, "insert_impression", lambda engine: Refused())
    monkeypatch.setattr(issuing, "OPEN_HELD", type("Gone", (), {
        "first": staticmethod(lambda conn, values: tries.append(values) or None)}))
    with pytest.raises(Contended) as refused:
        issue_pair(arena, None, "voter-contend-1", registered=True)
    assert refused.value.status == 409 and len(tries) == issuing.ATTEMPTS
    assert _open_held(arena.engine, "voter-contend-1") == []


def test_the_vote_tab_shows_a_contended_pair_request_as_a_message(arena, monkeypatch):
    import arena.web.ui.vote_tab as vote_tab
    from arena.collect.voting import Contended

    def contended(*args, **kwargs):
        raise Contended("this voter's pairs kept ending while a new one was issued: try again")

    monkeypatch.setattr(vote_tab, "issue_pair", contended)
    state, page = vote_tab.next_pair(arena, "recolor", "voter-contend-2")
    assert state is None and "try again" in page and "pa-empty" in page
