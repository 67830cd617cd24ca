"""Annotation campaigns on SQLite and PostgreSQL: the deal (each pair to exactly K annotators,
balanced, sides alternated, repeats after their original with the sides swapped, gold pairs),
private links, labels in any order, agreement against the ``krippendorff`` package, flags,
pairs from a file, and rankings from a campaign alone."""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict

import numpy as np
import pytest
from sqlmodel import select
from toy_catalog import gold_catalog as toy_gold_catalog, make_toy_catalog

from arena.collect import annotation as an
from arena.collect import annotator_links as links
from arena.collect import campaigns as cp
from arena.collect.campaign_plan import MIN_GAP, plan
from arena.store.db import session
from arena.store.schema import (Assignment, Campaign, CampaignImpression, CampaignPair,
                                Impression, Model, Vote)
from arena.views.campaign_labels import (UnknownCampaignName, campaign_cubes, campaign_id,
                                        campaign_labels)
from arena.views.campaign_status import campaign_status
from arena.views.cubes import db_cubes
from arena.views.leaderboard import leaderboards

krippendorff = pytest.importorskip("krippendorff")
NAMES = ["ann", "bob", "cy", "dee"]


def queue_of(arena, voter):
    """(assignment, impression, campaign pair) of a member's queue, in order."""
    with session(arena.engine) as s:
        rows = s.exec(select(Assignment, Impression, CampaignPair)
                      .join(Impression, Impression.id == Assignment.impression_id)
                      .join(CampaignImpression, CampaignImpression.impression_id == Impression.id)
                      .join(CampaignPair, CampaignPair.id == CampaignImpression.pair_id)
                      .where(Assignment.voter_id == voter).order_by(Assignment.position)).all()
    return [tuple(r) for r in rows]


def member_voters(arena, name="camp"):
    with session(arena.engine) as s:
        cid = s.exec(select(Campaign.id).where(Campaign.name == name)).one()
    return dict(cp.members(arena, cid))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_each_pair_goes_to_exactly_k_annotators_balanced_with_swapped_repeats(arena, k):
    make_toy_catalog(arena, items=4)                       # 4 items x 3 pairs of models = 12 pairs
    made = cp.create_campaign(arena, "camp", "recolor", 9, overlap=k, annotators=NAMES, seed=k)
    assert (made.pairs, made.overlap, made.gold) == (9, k, 0)
    voters = member_voters(arena)
    assert list(voters) == NAMES and len(set(voters.values())) == 4
    seen: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    loads = {}
    for name, voter in voters.items():
        queue = queue_of(arena, voter)
        assert [a.position for a, _, _ in queue] == list(range(len(queue)))
        assert made.assigned[name] == len(queue)
        ordinary = [(a, i, p) for a, i, p in queue if i.check_kind == "none"]
        loads[name] = len(ordinary)
        for a, imp, pair in ordinary:
            assert imp.voter_id == voter and imp.expires_at is None
            assert {imp.left_output_id, imp.right_output_id} == {pair.output_a, pair.output_b}
            seen[pair.id].append((name, imp.left_output_id == pair.output_b))
        position = {i.id: a.position for a, i, _ in queue}
        for a, imp, pair in queue:
            if imp.check_kind == "repeat":                 # after the original, sides swapped
                first = next(i for _, i, _ in queue if i.id == imp.repeat_of)
                assert position[first.id] < a.position
                assert (imp.left_output_id, imp.right_output_id) == (first.right_output_id,
                                                                   first.left_output_id)
                assert first.check_kind == "none" and first.voter_id == voter
    assert len(seen) == 9
    for shown in seen.values():
        assert len({name for name, _ in shown}) == len(shown) == k       # K distinct annotators
        flips = sum(f for _, f in shown)
        assert abs(2 * flips - k) <= 1                                     # sides alternate
    assert max(loads.values()) - min(loads.values()) <= 1 and sum(loads.values()) == 9 * k
    # a share of repeats where the queue is long enough
    assert all(sum(i.check_kind == "repeat" for _, i, _ in queue_of(arena, v)) >= 1
               for n, v in voters.items() if loads[n] >= 4)


def test_plan_is_balanced_for_any_k_and_every_repeat_follows_its_original():
    rng = np.random.default_rng(5)
    for members in (1, 2, 3, 5, 7):
        for k in range(1, members + 1):
            queues = plan(list(range(23)), [100, 101], members, k, repeat_share=0.2, rng=rng)
            per_pair = Counter(s.pair for q in queues for s in q if s.kind == "none")
            assert set(per_pair.values()) == {k} and len(per_pair) == 23
            loads = [sum(s.kind == "none" for s in q) for q in queues]
            assert max(loads) - min(loads) <= 1
            for q in queues:
                assert sorted(s.pair for s in q if s.kind == "gold") == [100, 101]
                for i, s in enumerate(q):
                    if s.kind == "repeat":
                        first = q[s.repeat_of]
                        assert s.repeat_of < i and first.pair == s.pair and first.flipped != s.flipped
                        assert i - s.repeat_of > min(MIN_GAP, len(q) - 1 - s.repeat_of) - 1
    with pytest.raises(ValueError):
        plan([1, 2], [], 2, 3, rng=rng)


def test_private_links_open_only_their_own_queue(arena):
    make_toy_catalog(arena)
    made = cp.create_campaign(arena, "camp", "recolor", 4, overlap=2, annotators="ann,bob")
    voters = member_voters(arena)
    for name, token in made.tokens.items():
        assert links.resolve(arena, token) == voters[name]
        assert links.resolve(arena, f"https://arena.example.org/?annotate={token}") == voters[name]
    token = made.tokens["ann"]
    altered = token[:-1] + ("y" if token.endswith("x") else "x")     # one character off
    for wrong in ("", None, voters["ann"], "ann", altered, "x" * 32,
                  "\x00" * 40, "é" * 30):
        assert links.resolve(arena, wrong) is None
    old = made.tokens["ann"]
    new = cp.new_link(arena, "camp", "ann")
    assert links.resolve(arena, old) is None and links.resolve(arena, new) == voters["ann"]
    with pytest.raises(cp.UnknownMember, match="'zed' is not an annotator of campaign 'camp'"):
        cp.new_link(arena, "camp", "zed")
    with pytest.raises(cp.UnknownCampaign, match="unknown campaign 'nope'; known campaigns: camp"):
        cp.new_link(arena, "nope", "ann")
    with session(arena.engine) as s:
        stored = list(s.exec(select(links.AnnotatorToken.token_hash)).all())
    assert new not in stored and old not in stored and len(stored) == 2   # only hashes are kept


def label_everything(arena, voters, answer, order_seed=0):
    """Members take turns in a random order, one item at a time, each answering ``answer(name,
    pair, impression)`` (a choice as shown)."""
    rng = np.random.default_rng(order_seed)
    pending = dict(voters)
    while pending:
        name = list(pending)[int(rng.integers(len(pending)))]
        item = an.next_item(arena, pending[name])
        if item is None:
            del pending[name]
            continue
        with session(arena.engine) as s:
            imp = s.get(Impression, item.pair["impression_id"])
            pair = s.get(CampaignPair, s.get(CampaignImpression, imp.id).pair_id)
        an.vote(arena, pending[name], item.assignment_id, answer(name, pair, imp),
                1000 + 37 * int(rng.integers(50)))


def shown(canonical: str, pair, imp) -> str:
    """The choice as shown for an answer in the pair's orientation."""
    if imp.left_output_id == pair.output_a:
        return canonical
    return {"left": "right", "right": "left"}.get(canonical, canonical)


def test_agreement_matches_the_krippendorff_package(arena):
    make_toy_catalog(arena, items=4)
    cp.create_campaign(arena, "camp", "recolor", 12, overlap=3, annotators=NAMES, seed=3,
                       repeat_share=0.2)
    voters = member_voters(arena)
    status = campaign_status(arena, "camp", rounds=50)
    assert (status["campaign"], status["task"], status["pairs"], status["overlap"]) == ("camp", "recolor", 12, 3)
    assert status["labels"] == 0 and [s for s in ("alpha_nominal", "alpha_ordinal", "fleiss_kappa")
                                      if status[s] is not None] == []
    assert [r["annotator"] for r in status["annotators"]] == NAMES
    assert all(r["agreement_with_majority"] is None and r["gold_accuracy"] is None
               and r["done"] == 0 and r["assigned"] > 0 for r in status["annotators"])

    rng = np.random.default_rng(11)
    truth = {}
    options = ["left", "right", "tie", "both_bad"]
    given: dict[tuple[str, int], str] = {}

    def answer(name, pair, imp):
        truth.setdefault(pair.id, options[int(rng.integers(4))])
        if imp.check_kind == "repeat":
            return shown(given[name, pair.id], pair, imp)
        canonical = truth[pair.id] if rng.random() < 0.7 else options[int(rng.integers(4))]
        given[name, pair.id] = canonical
        return shown(canonical, pair, imp)

    label_everything(arena, voters, answer, order_seed=4)
    status = campaign_status(arena, "camp", rounds=200)
    pairs = sorted({p for _, p in given})
    data = np.full((4, len(pairs)), np.nan)
    for (name, pid), a in given.items():
        data[NAMES.index(name), pairs.index(pid)] = options.index(a)
    assert status["alpha_nominal"] == pytest.approx(
        krippendorff.alpha(reliability_data=data, value_domain=[0, 1, 2, 3],
                           level_of_measurement="nominal"), abs=1e-9)
    rank = np.array([0, 2, 1, np.nan])                     # left < tie < right; both bad off
    ordinal = np.where(np.isnan(data), np.nan, rank[np.nan_to_num(data).astype(int)])
    assert status["alpha_ordinal"] == pytest.approx(
        krippendorff.alpha(reliability_data=ordinal, value_domain=[0, 1, 2],
                           level_of_measurement="ordinal"), abs=1e-9)
    counts = np.zeros((len(pairs), 4))                     # Fleiss (1971), 3 raters per pair
    for (name, pid), a in given.items():
        counts[pairs.index(pid), options.index(a)] += 1
    p_bar = ((counts * (counts - 1)).sum(1) / 6).mean()
    p_e = ((counts.sum(0) / counts.sum()) ** 2).sum()
    assert status["fleiss_kappa"] == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-9)
    for key in ("alpha_nominal", "alpha_ordinal", "fleiss_kappa"):
        ci = status["intervals"][key]
        assert ci["low"] <= status[key] <= ci["high"]
    assert status["per_task"][0]["alpha_nominal"] == status["alpha_nominal"]
    assert status["units"] == 12 and status["done"] == status["assigned"] == status["labels"]
    assert status["labels"] == sum(r["done"] for r in status["annotators"])
    for r in status["annotators"]:
        assert r["done"] == r["assigned"] and r["repeats"] >= 1 and r["repeat_same"] == r["repeats"]
        assert 0 <= r["agreement_with_majority"] <= 1 and r["compared"] >= 1
        assert sum(map(sum, r["confusion"])) == r["compared"]
        assert 1.0 <= r["seconds_per_item"] <= 3.0
    # the labels, mapped to the pairs' orientation, are what each member meant
    for lab in campaign_labels(arena.engine, campaign_id(arena.engine, "camp")):
        if lab.check_kind == "none":
            assert lab.answer == given[lab.member, lab.pair_id]


def gold_catalog(arena, items=6):
    toy_gold_catalog(arena, items)


def test_flags_name_the_annotators_and_the_reasons(arena):
    gold_catalog(arena, items=8)                     # 8 items x 3 model pairs = 24 pairs
    made = cp.create_campaign(arena, "camp", "object_removal", 14, overlap=4,
                              annotators="good1,good2,good3,lefty,contrary", seed=9,
                              repeat_share=0.3, gold_share=0.3)
    assert made.gold >= 3
    voters = member_voters(arena)
    with session(arena.engine) as s:
        golds = s.exec(select(CampaignPair).where(CampaignPair.kind == "gold")).all()
        assert golds and all(p.gold_answer in ("left", "right") for p in golds)
        kinds = {m.id: m.kind for m in s.exec(select(Model)).all()}
    for p in golds:                                  # the gold answer names the real edit
        edit = p.model_a if p.gold_answer == "left" else p.model_b
        assert kinds[edit] != "baseline"
    truth = {}

    def answer(name, pair, imp):
        if name == "lefty":
            return "left"
        canonical = pair.gold_answer or truth.setdefault(pair.id, "left" if pair.id % 3 else "right")
        if name == "contrary":
            canonical = {"left": "right", "right": "left"}[canonical]
        return shown(canonical, pair, imp)

    label_everything(arena, voters, answer, order_seed=2)
    status = campaign_status(arena, "camp", rounds=0)
    rows = {r["annotator"]: r for r in status["annotators"]}
    flagged = {f["annotator"]: " ".join(f["reasons"]) for f in status["flagged"]}
    assert set(flagged) == {"lefty", "contrary"}, flagged
    assert "picked the left image" in flagged["lefty"]
    assert "agreed with the others' majority" in flagged["contrary"]
    assert "preferred the unedited image on" in flagged["contrary"]
    assert rows["good1"]["gold_accuracy"] == 1.0 and rows["contrary"]["gold_accuracy"] == 0.0
    assert min(rows[n]["agreement_with_majority"] for n in ("good1", "good2", "good3")) \
        > 0.5 > rows["contrary"]["agreement_with_majority"]
    assert all(not rows[n]["reasons"] for n in ("good1", "good2", "good3"))


def test_pairs_from_a_file_and_what_a_bad_file_says(arena, tmp_path):
    make_toy_catalog(arena, items=3)
    path = tmp_path / "pairs.csv"
    path.write_text("item,model_a,model_b\nrecolor-0,alpha,beta\nrecolor-1,gamma,alpha\n"
                    "recolor-2,beta,gamma\n")
    made = cp.create_campaign(arena, "from-file", None, None, overlap=2, annotators="ann,bob,cy",
                              pairs_file=path, gold_share=0)
    assert (made.pairs, made.tasks) == (3, ["recolor"])
    with session(arena.engine) as s:
        pairs = s.exec(select(CampaignPair).order_by(CampaignPair.id)).all()
        models = {m.id: m.name for m in s.exec(select(Model)).all()}
    assert [(models[p.model_a], models[p.model_b]) for p in pairs] == [
        ("alpha", "beta"), ("gamma", "alpha"), ("beta", "gamma")]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"item": "recolor-0", "model_a": "alpha", "model_b": "gamma",
                                 "task": "recolor"}) + "\n")
    assert cp.create_campaign(arena, "jsonl", "recolor", None, overlap=1, annotators="ann",
                              pairs_file=jsonl).pairs == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("item,model_a,model_b\nnope,alpha,beta\nrecolor-0,alpha,zeta\n"
                   "recolor-0,alpha,alpha\nrecolor-1,alpha,beta\nrecolor-1,beta,alpha\n")
    with pytest.raises(cp.CampaignError) as err:
        cp.create_campaign(arena, "bad", None, None, overlap=1, annotators="ann", pairs_file=bad)
    message = str(err.value)
    for part in ("row 2: unknown item 'nope'", "row 3: unknown model 'zeta'",
                 "row 4: needs two different models", "row 6: the same pair as row 5"):
        assert part in message
    with pytest.raises(cp.CampaignError, match="no such file"):
        cp.create_campaign(arena, "bad", None, None, overlap=1, annotators="ann",
                           pairs_file=tmp_path / "missing.csv")
    with pytest.raises(cp.CampaignError, match="not in text_edit"):
        make_toy_catalog(arena, task="text_edit", items=1)
        cp.create_campaign(arena, "bad", "text_edit", None, overlap=1, annotators="ann",
                           pairs_file=path)
    with session(arena.engine) as s:
        assert len(s.exec(select(Campaign)).all()) == 2               # nothing of the bad ones


def test_bad_requests_store_nothing(arena):
    make_toy_catalog(arena)
    for kwargs, message in (
            (dict(tasks="nope", pairs=3, overlap=1, annotators="a"), "unknown task 'nope'"),
            (dict(tasks="recolor", pairs=3, overlap=3, annotators="a,b"), "--overlap must be between 1"),
            (dict(tasks="recolor", pairs=3, overlap=0, annotators="a,b"), "--overlap must be between 1"),
            (dict(tasks="recolor", pairs=0, overlap=1, annotators="a"), "--pairs must be between 1"),
            (dict(tasks="recolor", pairs=500, overlap=1, annotators="a"), "has 12 distinct pairs"),
            (dict(tasks="recolor", pairs=3, overlap=1, annotators="a,a"), "listed twice"),
            (dict(tasks="recolor", pairs=3, overlap=1, annotators=""), "at least one annotator"),
            (dict(tasks="recolor", pairs=3, overlap=1, annotators="a b"), "must be 1-48 letters"),
            (dict(tasks=None, pairs=3, overlap=1, annotators="a"), "give --task T")):
        with pytest.raises((cp.CampaignError, an.UnknownTask), match=message):
            cp.create_campaign(arena, "camp", overlap=kwargs.pop("overlap"), **kwargs)
    with pytest.raises(cp.CampaignError, match="campaign name"):
        cp.create_campaign(arena, "bad name!", "recolor", 3, overlap=1, annotators="a")
    cp.create_campaign(arena, "camp", "recolor", 3, overlap=1, annotators="a")
    with pytest.raises(cp.CampaignError, match="exists already"):
        cp.create_campaign(arena, "camp", "recolor", 3, overlap=1, annotators="a")
    with pytest.raises(UnknownCampaignName, match="unknown campaign 'other'"):
        campaign_status(arena, "other")
    with session(arena.engine) as s:
        assert len(s.exec(select(Campaign)).all()) == 1


def test_rankings_from_a_campaign_alone_are_clustered_by_annotator(arena):
    make_toy_catalog(arena, items=4)
    an.create_queue(arena, "annotator-outsider", "recolor", 3)          # not in the campaign
    outsider = an.next_item(arena, "annotator-outsider")
    an.vote(arena, "annotator-outsider", outsider.assignment_id, "left")
    cp.create_campaign(arena, "camp", "recolor", 12, overlap=2, annotators=NAMES, seed=1)
    voters = member_voters(arena)
    with session(arena.engine) as s:
        names = {m.id: m.name for m in s.exec(select(Model)).all()}
    strength = {"alpha": 2, "beta": 1, "gamma": 0}

    def answer(name, pair, imp):
        if imp.check_kind == "repeat":
            return "tie"
        a, b = strength[names[imp.left_model_id]], strength[names[imp.right_model_id]]
        return "left" if a > b else "right"

    label_everything(arena, voters, answer)
    cubes = campaign_cubes(arena.engine, "camp")
    assert sorted(cubes) == ["overall", "recolor"]
    with session(arena.engine) as s:
        campaign_votes = s.exec(select(Vote).join(CampaignImpression, CampaignImpression.impression_id
                                                  == Vote.impression_id)
                                .where(Vote.check_kind != "repeat")).all()
    assert cubes["overall"].n_votes == len(campaign_votes) == 24
    assert len(set(cubes["overall"].voters)) == 4                     # one cluster per annotator
    board = leaderboards(cubes)["leaderboards"][0]
    assert [r["model"] for r in board["rows"]] == ["alpha", "beta", "gamma"]
    assert all(r["ci_low"] < r["score"] < r["ci_high"] for r in board["rows"])
    # the public board counts campaign labels as every annotator's (repeats left out), once
    public = db_cubes(arena.engine)["overall"]
    assert public.n_votes == 24 + 1
    only = campaign_cubes(arena.engine, "camp", ["recolor"])
    assert list(only) == ["recolor"] and only["recolor"].n_votes == 24
    with pytest.raises(UnknownCampaignName):
        campaign_cubes(arena.engine, "nope")


def test_export_writes_the_battle_format_with_annotator_names(arena, tmp_path):
    from arena.files.battles import read_battles
    from arena.views.campaign_labels import export_labels

    make_toy_catalog(arena)
    cp.create_campaign(arena, "camp", "recolor", 5, overlap=2, annotators="ann,bob", seed=2)
    voters = member_voters(arena)
    label_everything(arena, voters, lambda name, pair, imp: "left" if name == "ann" else "tie")
    for fmt in ("csv", "json", "jsonl", "parquet"):
        path = tmp_path / f"labels.{fmt}"
        n = export_labels(arena.engine, "camp", path)
        cols = read_battles(path)
        assert n == len(cols["winner"]) == campaign_status(arena, "camp", rounds=0)["labels"]
        assert set(cols["judge"]) == {"ann", "bob"}
        assert set(cols["winner"][cols["judge"] == "ann"]) == {"model_a"}
        assert set(cols["winner"][cols["judge"] == "bob"]) == {"tie"}
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert {r["campaign"] for r in rows} == {"camp"} and {r["task"] for r in rows} == {"recolor"}
