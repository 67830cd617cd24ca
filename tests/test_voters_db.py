"""Voter quality from the database (SQL aggregates) on SQLite and PostgreSQL, leaderboards
without flagged voters, and the organiser's Voters tab functions."""
from __future__ import annotations

import numpy as np
import pytest
from toy_catalog import make_toy_catalog

from arena.store.organiser import is_organiser, organiser_key
from arena.store.schema import Vote
from arena.views.voters import (NoVotersError, db_voter_data, voter_leaderboards, voter_report,
                                voters_overview)
from arena.web.ui.voters_tab import overview_tables, summary_markdown, vote_rows
from scoring.simulate import simulate_crowd

CHOICES = ("left", "right", "tie", "both_bad")


def store_votes(arena, rows) -> None:
    """Insert vote rows in one statement (votes imported without impressions)."""
    with arena.engine.begin() as conn:
        conn.execute(Vote.__table__.insert(), rows)


@pytest.fixture
def crowd_db(arena):
    models = make_toy_catalog(arena)
    ids = [models[name].id for name in ("alpha", "beta", "gamma")]
    crowd = simulate_crowd(voters=60, votes=4000, models=3, tasks=("recolor",), seed=3,
                           mix={"honest": 1.0})
    rows = [{"voter_id": crowd.voters[v], "task": "recolor", "left_model_id": ids[l],
             "right_model_id": ids[r], "choice": CHOICES[c], "duration_ms": int(d)}
            for v, l, r, c, d in zip(crowd.voter, crowd.left, crowd.right, crowd.choice,
                                     crowd.duration_ms)]
    rng = np.random.default_rng(0)
    for k in range(80):                                      # always the left image
        a, b = rng.choice(3, 2, replace=False)
        rows.append({"voter_id": "voter-leftie-01", "task": "recolor", "left_model_id": ids[a],
                     "right_model_id": ids[b], "choice": "left", "duration_ms": 4000})
    for k in range(60):                                      # ties on everything
        a, b = rng.choice(3, 2, replace=False)
        rows.append({"voter_id": "voter-ties-0001", "task": "recolor", "left_model_id": ids[a],
                     "right_model_id": ids[b], "choice": "tie", "duration_ms": 4000})
    rows.append({"voter_id": None, "task": "recolor", "left_model_id": ids[0],
                 "right_model_id": ids[1], "choice": "left", "duration_ms": None})
    store_votes(arena, rows)
    return arena


def test_report_from_sql_aggregates(crowd_db):
    data = db_voter_data(crowd_db.engine)
    assert len(data.voters) == 62 and "" not in data.voters            # anonymous votes left out
    assert data.counts.sum() == 4000 + 80 + 60
    assert data.timed.sum() == 4140 and data.retest.sum() == 0 and data.gold.sum() == 0
    report = voter_report(data)
    flagged = {report.voters[k]: report.reasons[k] for k in np.flatnonzero(report.flagged)}
    assert set(flagged) == {"voter-leftie-01", "voter-ties-0001"}
    assert flagged["voter-leftie-01"][0].startswith("picked the left image 80 times out of 80")
    assert flagged["voter-ties-0001"][0].startswith("answered tie or both bad on 60 of 60 votes")


def test_leaderboards_without_flagged_voters(crowd_db):
    result = voter_leaderboards("exclude", engine=crowd_db.engine)
    overall = result["leaderboards"][0]
    assert overall["task"] == "overall" and overall["votes"] == 4140 + 1   # votes cast, + anonymous
    assert overall["effective_votes"] == 4000 + 1                          # those the fit counted
    assert result["voters"]["flagged"] == 2 and result["voters"]["excluded_votes"] == 140
    for row in overall["rows"]:
        assert {"rank_all", "score_all", "rank_change"} <= set(row)
        assert row["rank_change"] == row["rank_all"] - row["rank"]
    weighted = voter_leaderboards("weighted", engine=crowd_db.engine, tasks=["recolor"])
    assert [b["task"] for b in weighted["leaderboards"]] == ["recolor"]
    same = voter_leaderboards("all", engine=crowd_db.engine)
    assert all(r["rank_change"] == 0 for r in same["leaderboards"][0]["rows"])


def test_voters_tab_functions(crowd_db):
    view = voters_overview(crowd_db.engine)
    assert {r["voter"] for r in view["flagged"]} == {"voter-leftie-01", "voter-ties-0001"}
    assert "2 of" in summary_markdown(view)
    key = organiser_key(crowd_db.engine)
    text, rows, voters, moves = overview_tables(crowd_db, key, "Exclude flagged voters", "recolor")
    assert text.startswith("**2 of") and set(voters) == {"voter-leftie-01", "voter-ties-0001"}
    assert any("left image" in r[3] for r in rows) and len(moves) == 3
    votes = vote_rows(crowd_db, key, "voter-leftie-01")
    assert len(votes) == 80 and {v[4] for v in votes} == {"left"}
    assert vote_rows(crowd_db, key, None) == []


def test_voters_tab_shows_nothing_without_the_organiser_key(crowd_db):
    key = organiser_key(crowd_db.engine)
    assert len(key) >= 20 and organiser_key(crowd_db.engine) == key   # made once, then kept
    for wrong in ("", None, key[:-1], key + "x", "voter-leftie-01"):
        text, rows, voters, moves = overview_tables(crowd_db, wrong, "Exclude flagged voters", "recolor")
        assert (rows, voters, moves) == ([], [], []) and "organiser key" in text
        assert "voter-leftie-01" not in text
        assert vote_rows(crowd_db, wrong, "voter-leftie-01") == []
    assert overview_tables(crowd_db, "nope", "Exclude flagged voters", "recolor")[0].startswith(
        "**That is not the organiser key.**")
    assert is_organiser(crowd_db.engine, f"  {key}\n")                 # pasted with spaces


def test_organiser_key_from_the_environment(crowd_db, monkeypatch):
    monkeypatch.setenv("ARENA_ORGANISER_KEY", "room-42-key")
    assert organiser_key(crowd_db.engine) == "room-42-key"
    assert is_organiser(crowd_db.engine, "room-42-key") and not is_organiser(crowd_db.engine, "room-42")


def test_empty_database(arena):
    make_toy_catalog(arena)
    with pytest.raises(NoVotersError):
        db_voter_data(arena.engine)
    assert voters_overview(arena.engine)["flagged"] == []


def test_voters_tab_says_when_nobody_has_enough_votes_yet(arena):
    models = make_toy_catalog(arena)
    ids = [m.id for m in models.values()]
    store_votes(arena, [{"voter_id": "voter-new-0001", "task": "recolor", "left_model_id": ids[k % 2],
                         "right_model_id": ids[2], "choice": "left", "duration_ms": 3000}
                        for k in range(5)])
    text = summary_markdown(voters_overview(arena.engine))
    assert text == "**No voter has 20 decisive votes yet**, so none is checked (1 voter, 5 votes so far)."


def test_the_key_field_remembers_only_a_working_key(arena):
    from arena.web.ui.organiser_field import given_key

    key = organiser_key(arena.engine)
    assert given_key(arena, f" {key} ", "") == (key, key)            # typed: checked, remembered
    assert given_key(arena, "", key) == (key, key)                   # remembered from before
    assert given_key(arena, "typo", key) == ("typo", key)            # a typo keeps the good key
    assert given_key(arena, "", "old-key") == ("old-key", "")        # a stale key is forgotten
