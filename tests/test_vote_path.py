"""The vote path on SQLite and PostgreSQL: impressions, signed tokens, one vote per impression."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, text
from sqlmodel import select
from toy_catalog import make_toy_catalog

from arena.collect.voting import (ForgedToken, InvalidVote, UnknownImpression, issue_pair,
                                  record_vote)
from arena.store.db import session
from arena.store.schema import Impression, Vote


def count_votes(arena) -> int:
    with session(arena.engine) as s:
        return s.exec(select(func.count()).select_from(Vote)).one()


def test_sqlite_runs_in_wal_mode(tmp_path):
    from arena.context import Arena

    arena = Arena.open(f"sqlite:///{tmp_path / 'wal.db'}", media=str(tmp_path / "m"))
    with arena.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_pair_reveals_no_model_before_the_vote(arena):
    models = make_toy_catalog(arena)
    pair = issue_pair(arena, "recolor", "voter-0001")
    assert set(pair) == {"impression_id", "token", "task", "instruction", "source_url", "left_url", "right_url"}
    blob = repr(pair).lower()
    assert not any(name in blob for name in models)
    assert pair["left_url"] != pair["right_url"]


def test_vote_is_stored_once_and_replays_the_same_receipt(arena):
    make_toy_catalog(arena)
    pair = issue_pair(arena, "recolor", "voter-0001")
    first, created = record_vote(arena, pair["impression_id"], pair["token"], "left", 1200)
    again, created_again = record_vote(arena, pair["impression_id"], pair["token"], "right", 50)
    assert created and not created_again
    assert again == first and first["choice"] == "left"
    assert count_votes(arena) == 1
    with session(arena.engine) as s:
        imp = s.get(Impression, pair["impression_id"])
        vote = s.exec(select(Vote)).one()
    assert {first["left_model"], first["right_model"]} <= {"alpha", "beta", "gamma"}
    assert vote.left_model_id == imp.left_model_id and vote.voter_id == "voter-0001"
    assert vote.duration_ms == 1200


def test_database_refuses_a_second_vote_for_one_impression(arena):
    make_toy_catalog(arena)
    pair = issue_pair(arena, "recolor")
    record_vote(arena, pair["impression_id"], pair["token"], "tie")
    with session(arena.engine) as s:
        imp = s.get(Impression, pair["impression_id"])
        s.add(Vote(impression_id=imp.id, task=imp.task, left_model_id=imp.left_model_id,
                   right_model_id=imp.right_model_id, choice="left"))
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            s.commit()


def test_bad_votes_are_refused_with_the_right_error(arena):
    make_toy_catalog(arena)
    pair = issue_pair(arena, "recolor")
    with pytest.raises(ForgedToken):
        record_vote(arena, pair["impression_id"], "0" * 40, "left")
    with pytest.raises(UnknownImpression):
        record_vote(arena, pair["impression_id"] + 1000, pair["token"], "left")
    for bad in ("A", "", None, 1):
        with pytest.raises(InvalidVote):
            record_vote(arena, pair["impression_id"], pair["token"], bad)
    with pytest.raises(InvalidVote):
        record_vote(arena, "1", pair["token"], "left")
    with pytest.raises(InvalidVote):
        record_vote(arena, pair["impression_id"], pair["token"], "left", -5)
    assert count_votes(arena) == 0


def test_token_of_one_impression_does_not_open_another(arena):
    make_toy_catalog(arena)
    a, b = issue_pair(arena, "recolor"), issue_pair(arena, "recolor")
    with pytest.raises(ForgedToken):
        record_vote(arena, b["impression_id"], a["token"], "left")


def test_concurrent_retries_store_one_vote(arena):
    make_toy_catalog(arena)
    pair = issue_pair(arena, "recolor")
    created, errors = [], []

    def vote():
        try:
            created.append(record_vote(arena, pair["impression_id"], pair["token"], "right")[1])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=vote) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert created.count(True) == 1 and count_votes(arena) == 1


def test_sampler_shows_every_pair_and_both_sides(arena):
    make_toy_catalog(arena)
    seen = set()
    for _ in range(120):
        choice = arena.sampler.choose("recolor")
        seen.add((choice.left_model_id, choice.right_model_id))
        assert 0 < choice.propensity <= 0.5
    assert len(seen) == 6  # 3 models: 3 pairs x 2 sides


def test_the_kept_key_hmac_matches_the_standard_library():
    """arena.collect.mac gives hmac.digest's bytes for keys shorter and longer than a block."""
    import hmac as std
    import random

    from arena.collect.mac import hmac_sha256

    rng = random.Random(7)
    for length in (0, 1, 31, 32, 63, 64, 65, 100, 200):
        key = rng.randbytes(length)
        for size in (0, 5, 64, 300):
            msg = rng.randbytes(size)
            assert hmac_sha256(key, msg) == std.digest(key, msg, "sha256")
            assert hmac_sha256(key, msg) == std.digest(key, msg, "sha256")      # kept states reused
