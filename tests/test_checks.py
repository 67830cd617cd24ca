"""Planted checks through the real vote path, on SQLite and PostgreSQL: repeats with the sides
swapped and gold pairs (the no-edit baseline against a real edit) at about one in 30 each."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func
from sqlmodel import select
from toy_catalog import solid

from arena.collect.checks import GOLD_RATE, REPEAT_RATE, gold_candidates, plan_check
from arena.collect.voting import issue_pair, record_vote
from arena.store.catalog import add_item, add_output, ensure_model, ensure_task
from arena.store.db import session
from arena.store.schema import Impression, Output, Vote
from arena.views.cubes import count_rows
from arena.views.voters import db_voter_data

TASK = "object_removal"
STRENGTH = {"alpha": 3, "beta": 2, "no-edit": 0}


def gold_catalog(arena, items: int = 4) -> dict:
    """Items with a reference image, edited by two models, plus the no-edit baseline."""
    ensure_task(arena.engine, TASK)
    models = {"no-edit": ensure_model(arena.engine, "no-edit", "baseline"),
              "alpha": ensure_model(arena.engine, "alpha", "classical"),
              "beta": ensure_model(arena.engine, "beta", "classical")}
    for i in range(items):
        source = solid((200, 20 * i, 0))
        item = add_item(arena.engine, arena.media, key=f"{TASK}-{i}", task=TASK,
                        instruction=f"Remove object {i}", source=source,
                        reference=solid((0, 20 * i, 200)))
        add_output(arena.engine, arena.media, item=item, model=models["no-edit"], image=source)
        for k, name in enumerate(("alpha", "beta")):
            add_output(arena.engine, arena.media, item=item, model=models[name],
                       image=solid((10 * k, 20 * i, 200 - 10 * k)))
    arena.sampler.invalidate()
    return models


def names_by_id(arena) -> dict[int, str]:
    with session(arena.engine) as s:
        from arena.store.schema import Model

        return {m.id: m.name for m in s.exec(select(Model)).all()}


def vote_consistently(arena, voter: str, n: int) -> None:
    """A voter with fixed, consistent taste: the stronger model always wins."""
    names = names_by_id(arena)
    for _ in range(n):
        pair = issue_pair(arena, TASK, voter)
        with session(arena.engine) as s:
            imp = s.get(Impression, pair["impression_id"])
        left, right = STRENGTH[names[imp.left_model_id]], STRENGTH[names[imp.right_model_id]]
        record_vote(arena, pair["impression_id"], pair["token"],
                    "left" if left > right else "right", 4000)


def test_checks_are_planted_at_about_the_right_rate(arena, monkeypatch):
    monkeypatch.setenv("ARENA_SECRET", "checks-test-secret")
    gold_catalog(arena)
    voter = "voter-checks-01"
    n = 240
    vote_consistently(arena, voter, n)
    with session(arena.engine) as s:
        imps = s.exec(select(Impression).where(Impression.voter_id == voter)
                      .order_by(Impression.id)).all()
        votes = {v.impression_id: v for v in s.exec(select(Vote)).all()}
        outputs = {o.id: o for o in s.exec(select(Output)).all()}
    assert len(imps) == n
    kinds = [i.check_kind for i in imps]
    repeats, golds = kinds.count("repeat"), kinds.count("gold")
    assert 3 <= repeats <= 2.2 * n * REPEAT_RATE, repeats
    assert 3 <= golds <= 2.2 * n * GOLD_RATE, golds
    by_id = {i.id: i for i in imps}
    names = names_by_id(arena)
    for imp in imps:
        assert votes[imp.id].check_kind == imp.check_kind   # copied onto the vote
        if imp.check_kind == "repeat":
            first = by_id[imp.repeat_of]
            assert first.id < imp.id and first.check_kind == "none"
            assert first.id in votes                         # only voted pairs are repeated
            assert (imp.item_id, imp.left_output_id, imp.right_output_id) == \
                   (first.item_id, first.right_output_id, first.left_output_id)
        elif imp.check_kind == "gold":
            sides = {names[imp.left_model_id], names[imp.right_model_id]}
            assert "no-edit" in sides and len(sides) == 2
            assert outputs[imp.left_output_id].content_hash != \
                   outputs[imp.right_output_id].content_hash
        else:
            assert imp.repeat_of is None
    assert len({i.repeat_of for i in imps if i.repeat_of}) == repeats   # each repeated once

    # Repeats stay out of the ranking cube; gold votes are ranked like any other vote.
    ranked = int(count_rows(arena.engine)["count"].sum())
    everything = int(count_rows(arena.engine, include_repeats=True)["count"].sum())
    assert ranked == n - repeats and everything == n

    # Voter quality sees both kinds: a consistent voter agrees with herself and is right on gold.
    data = db_voter_data(arena.engine)
    k = data.voters.index(voter)
    assert data.retest[k].sum() == repeats and np.trace(data.retest[k]) == repeats
    assert data.gold[k, 0] == golds and data.gold[k, 1:].sum() == 0


def test_no_checks_without_a_voter_or_without_candidates(arena):
    gold_catalog(arena)
    assert plan_check(arena.engine, None, TASK, secret=b"x") is None
    pair = issue_pair(arena, TASK)                          # anonymous: never a check
    with session(arena.engine) as s:
        assert s.get(Impression, pair["impression_id"]).check_kind == "none"
    # A brand-new voter has nothing to repeat: a repeat that is due gives way to a normal pair.
    assert plan_check(arena.engine, "voter-fresh-01", TASK, secret=b"x", repeat_rate=1.0,
                      gold_rate=0.0) is None
    gold = plan_check(arena.engine, "voter-fresh-01", TASK, secret=b"x", repeat_rate=0.0,
                      gold_rate=1.0)
    assert gold is not None and gold.check_kind == "gold" and 0 < gold.propensity < 1
    assert plan_check(arena.engine, "voter-fresh-01", "recolor", secret=b"x", repeat_rate=0.0,
                      gold_rate=1.0) is None                # no gold pair in that task


def test_gold_pairs_need_a_reference_and_a_real_edit(arena):
    gold_catalog(arena, items=2)
    with arena.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(gold_candidates().subquery())).scalar_one()
    assert total == 4                                       # 2 items x 2 edits
    # an item without a reference image, and an "edit" identical to the source, do not count
    base = ensure_model(arena.engine, "no-edit", "baseline")
    lazy = ensure_model(arena.engine, "lazy", "classical")
    src = solid((1, 2, 3))
    item = add_item(arena.engine, arena.media, key="no-ref", task=TASK, instruction="x", source=src)
    add_output(arena.engine, arena.media, item=item, model=base, image=src)
    add_output(arena.engine, arena.media, item=item, model=lazy, image=solid((9, 9, 9)))
    item = add_item(arena.engine, arena.media, key="ref", task=TASK, instruction="y", source=src,
                    reference=solid((5, 5, 5)))
    add_output(arena.engine, arena.media, item=item, model=base, image=src)
    add_output(arena.engine, arena.media, item=item, model=lazy, image=src)
    with arena.engine.connect() as conn:
        again = conn.execute(select(func.count()).select_from(gold_candidates().subquery())).scalar_one()
    assert again == total


@pytest.mark.parametrize("choice_first, choice_again, agree", [
    ("left", "right", True), ("left", "left", False), ("tie", "both_bad", True)])
def test_retest_answers_are_compared_in_the_first_showing_frame(choice_first, choice_again,
                                                                agree):
    from scoring.voters import VoterData

    data = VoterData.from_votes(["v1"], ["a"], ["b"], ["left"])
    data = data.with_retests(["v1"], [choice_first], [choice_again], swapped=True)
    assert bool(np.trace(data.retest[0]) == 1) is agree
