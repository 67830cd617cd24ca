"""Live sessions on SQLite and PostgreSQL: rounds, one vote per person per round, tally, reveal."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select
from toy_catalog import make_toy_catalog

from arena.collect import live
from arena.collect.live import rounds, sessions
from arena.collect.voting import ForgedToken, issue_pair, record_vote
from arena.store.db import session
from arena.store.schema import Impression, LiveSeat, LiveSession, Vote, Voter

ALICE, BOB, CAROL = "voter-alice-01", "voter-bob-0002", "voter-carol-03"


@pytest.fixture
def catalog(arena):
    return make_toy_catalog(arena)


def started(arena, task="recolor"):
    made = live.create_session(arena, task)
    return made, live.next_round(arena, made.code, made.presenter_token)


def vote(arena, view, choice, code):
    return live.vote(arena, code, view["pair"]["impression_id"], view["pair"]["token"], choice, 800)


def test_create_gives_a_short_code_and_keeps_only_the_token_hash(arena, catalog):
    made = live.create_session(arena, "recolor")
    assert len(made.code) == sessions.CODE_LENGTH and set(made.code) <= set(sessions.CODE_ALPHABET)
    assert len(made.presenter_token) >= 32
    with session(arena.engine) as s:
        row = s.exec(select(LiveSession).where(LiveSession.code == made.code)).one()
    assert made.presenter_token not in row.presenter_token_hash and len(row.presenter_token_hash) == 64
    assert (row.task, row.state, row.current_round) == ("recolor", "open", 0)
    assert live.get_session(arena, made.code.lower()).id == row.id  # codes are case-insensitive
    codes = {live.create_session(arena, None).code for _ in range(20)}
    assert len(codes) == 20
    before = live.state(arena, made.code, ALICE)
    assert before["round"] == 0 and before["pair"] is None and before["reveal"] is None


def test_unknown_codes_tasks_and_presenter_tokens_are_refused(arena, catalog):
    made = live.create_session(arena, "recolor")
    for code in ("ZZZZZZ", "", "<b>x</b>", "A" * 40):
        with pytest.raises(live.UnknownSession) as err:
            live.state(arena, code)
        assert err.value.status == 404
    with pytest.raises(live.NoPairs):
        live.create_session(arena, "no_such_task")
    for action in (live.next_round, live.reveal, live.close):
        for token in (None, "", "wrong", made.presenter_token + "x"):
            with pytest.raises(live.NotPresenter) as err:
                action(arena, made.code, token)
            assert err.value.status == 403
    with pytest.raises(live.RoundNotOpen) as err:  # nothing to reveal before the first round
        live.reveal(arena, made.code, made.presenter_token)
    assert err.value.status == 409
    assert live.state(arena, made.code)["state"] == "open"


def test_everyone_sees_the_round_pair_through_an_impression_of_their_own(arena, catalog):
    made, shown = started(arena)
    assert shown["round"] == 1 and shown["state"] == "open"
    a, b = live.state(arena, made.code, ALICE), live.state(arena, made.code, BOB)
    public = {k: shown["pair"][k] for k in ("task", "instruction", "source_url", "left_url", "right_url")}
    for view in (a, b):
        assert {k: view["pair"][k] for k in public} == public
        assert view["your_vote"] is None and view["reveal"] is None
    assert a["pair"]["impression_id"] != b["pair"]["impression_id"]
    again = live.state(arena, made.code, ALICE)  # re-opening gives the same impression back
    assert again["pair"]["impression_id"] == a["pair"]["impression_id"]
    assert again["pair"]["token"] == a["pair"]["token"]
    with session(arena.engine) as s:
        imps = s.exec(select(Impression).where(Impression.session_id.is_not(None))).all()
        kinds = {v.id: v.kind for v in s.exec(select(Voter)).all()}
    assert len(imps) == 2 and {i.voter_id for i in imps} == {ALICE, BOB}
    assert len({(i.item_id, i.left_output_id, i.right_output_id) for i in imps}) == 1
    assert kinds[ALICE] == kinds[BOB] == "audience"
    assert "alpha" not in str(a) and "beta" not in str(a) and "gamma" not in str(a)


def test_one_vote_per_person_per_round_and_the_tally(arena, catalog):
    made, _ = started(arena)
    a, b, c = (live.state(arena, made.code, v) for v in (ALICE, BOB, CAROL))
    answer, created = vote(arena, a, "left", made.code)
    assert created and answer["choice"] == "left" and set(answer) == set(rounds.VOTE_ANSWER)
    retry, created = vote(arena, a, "right", made.code)  # a second vote is the first one again
    assert not created and retry == answer
    reopened = live.state(arena, made.code, ALICE)
    assert reopened["your_vote"] == "left"
    assert reopened["pair"]["impression_id"] == a["pair"]["impression_id"]
    vote(arena, b, "both_bad", made.code)
    tally = live.tally(arena, made.code)
    assert tally["counts"] == {"left": 1, "right": 0, "tie": 0, "both_bad": 1}
    assert (tally["votes"], tally["viewers"], tally["round"], tally["state"]) == (2, 3, 1, "open")
    with session(arena.engine) as s:
        votes = s.exec(select(Vote)).all()
    assert len(votes) == 2 and {v.voter_id for v in votes} == {ALICE, BOB}
    with pytest.raises(ForgedToken):
        live.vote(arena, made.code, c["pair"]["impression_id"], "f" * 40, "tie")


def test_reveal_shows_models_latencies_and_tally_then_refuses_late_votes(arena, catalog):
    made, _ = started(arena)
    a, b = live.state(arena, made.code, ALICE), live.state(arena, made.code, BOB)
    first, _ = vote(arena, a, "right", made.code)
    shown = live.reveal(arena, made.code, made.presenter_token)
    assert shown["state"] == "revealed"
    r = shown["reveal"]
    assert {r["left_model"], r["right_model"]} <= {"alpha", "beta", "gamma"}
    assert r["left_model"] != r["right_model"]
    assert r["left_latency_s"] > 0 and r["right_latency_s"] > 0
    assert r["tally"]["counts"]["right"] == 1
    assert live.reveal(arena, made.code, made.presenter_token)["state"] == "revealed"  # idempotent
    with pytest.raises(live.RoundNotOpen) as err:  # Bob opened the round but did not vote in time
        vote(arena, b, "left", made.code)
    assert err.value.status == 409
    assert vote(arena, a, "right", made.code) == (first, False)  # a retry still gets its answer
    late = live.state(arena, made.code, CAROL)  # opened after the reveal: no impression
    assert late["reveal"] == live.state(arena, made.code)["reveal"]
    assert "impression_id" not in late["pair"]
    assert live.tally(arena, made.code)["viewers"] == 2

    nxt = live.next_round(arena, made.code, made.presenter_token)
    assert (nxt["round"], nxt["state"], nxt["reveal"]) == (2, "open", None)
    a2 = live.state(arena, made.code, ALICE)
    assert a2["pair"]["impression_id"] != a["pair"]["impression_id"] and a2["your_vote"] is None
    assert live.tally(arena, made.code)["votes"] == 0
    assert vote(arena, a2, "tie", made.code)[1]


def test_next_round_closes_the_previous_round_to_votes(arena, catalog):
    made, _ = started(arena)
    a = live.state(arena, made.code, ALICE)
    live.next_round(arena, made.code, made.presenter_token)
    with pytest.raises(live.RoundNotOpen):
        vote(arena, a, "left", made.code)
    # The regular vote path stores nothing for it either once the lead's hook calls
    # check_vote_open; the check itself answers the same for any impression of the round.
    with session(arena.engine) as s:
        imp = s.get(Impression, a["pair"]["impression_id"])
    with pytest.raises(live.RoundNotOpen):
        live.check_vote_open(arena, imp)


def test_close_ends_the_session_and_reveals_the_last_round(arena, catalog):
    made, _ = started(arena)
    a = live.state(arena, made.code, ALICE)
    closed = live.close(arena, made.code, made.presenter_token)
    assert closed["state"] == "closed" and closed["reveal"]["left_model"]
    assert live.close(arena, made.code, made.presenter_token)["state"] == "closed"
    for action in (live.next_round, live.reveal):
        with pytest.raises(live.RoundNotOpen):
            action(arena, made.code, made.presenter_token)
    with pytest.raises(live.RoundNotOpen):
        vote(arena, a, "left", made.code)


def test_impressions_outside_the_session_are_not_taken(arena, catalog):
    made, _ = started(arena)
    other, _ = started(arena)
    theirs = live.state(arena, other.code, ALICE)
    with pytest.raises(live.UnknownSession):
        vote(arena, theirs, "left", made.code)
    plain = issue_pair(arena, "recolor", BOB)  # the ordinary arena path is unaffected
    with session(arena.engine) as s:
        imp = s.get(Impression, plain["impression_id"])
    live.check_vote_open(arena, imp)
    assert record_vote(arena, plain["impression_id"], plain["token"], "left")[1]


def test_opening_a_round_twice_at_once_gives_one_impression(arena, catalog):
    made, _ = started(arena)
    with ThreadPoolExecutor(8) as pool:
        views = list(pool.map(lambda _: live.state(arena, made.code, ALICE), range(8)))
    assert len({v["pair"]["impression_id"] for v in views}) == 1
    with session(arena.engine) as s:
        assert len(s.exec(select(LiveSeat)).all()) == 1
        assert len(s.exec(select(Impression).where(Impression.session_id.is_not(None))).all()) == 1


def test_rounds_avoid_repeating_a_pair_and_any_task_draws_from_all(arena, catalog):
    make_toy_catalog(arena, task="style", models=("alpha", "beta"), items=2)
    made = live.create_session(arena, "any")
    seen = []
    for _ in range(6):
        view = live.next_round(arena, made.code, made.presenter_token)
        seen.append((view["pair"]["task"], view["pair"]["instruction"], view["pair"]["left_url"],
                     view["pair"]["right_url"]))
    assert live.state(arena, made.code)["task"] == "any"
    assert len(set(seen)) >= 5
