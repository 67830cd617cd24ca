"""Riggers of strong models, subtle riggers, sybil swarms and honest taste (scoring.voters):
leave-one-out consensus, the share-of-possible-wins scale, pooled new identities, taste."""
from __future__ import annotations

import numpy as np
import pytest

from scoring.simulate import simulate_crowd
from scoring.voters import VoterData, assess_voters
from scoring.voters.consensus import fit_consensus
from scoring.voters.favour import possible_share


def data_of(crowd):
    return VoterData.from_votes(crowd.voter, crowd.left, crowd.right, crowd.choice,
                                task=crowd.task, models=crowd.models,
                                duration_ms=crowd.duration_ms)


def flagged_share(crowd, report, kind, min_votes=0):
    sel = (crowd.types() == kind) & (crowd.votes_per_voter() >= min_votes)
    assert sel.sum() >= 10, kind
    return report.flagged[sel].mean()


def test_leave_one_out_matches_a_refit_without_the_voter():
    crowd = simulate_crowd(voters=80, votes=5000, seed=2, tasks=("a", "b"),
                           mix={"honest": 0.8, "rigger": 0.2}, rigger_volume=10)
    data = data_of(crowd)
    cons = fit_consensus(data)
    for v in np.argsort(-data.votes())[:3]:                   # the heaviest voters
        weight = np.ones(data.n_voters)
        weight[v] = 0
        refit = fit_consensus(data, weight, leave_out=False)
        rows = data.voter == v
        loo = np.abs(cons.p_left[rows] - refit.p_left[rows]).max()
        full = np.abs(cons.p_left_full[rows] - refit.p_left[rows]).max()
        assert loo < 0.006 and loo < 0.25 * full


def test_the_share_of_possible_wins_does_not_saturate():
    # a model expected to win 80 of 100 that wins all 100, and one expected 20 that wins 100
    assert possible_share(np.array([100.0, 100.0]), np.array([100.0, 100.0]),
                          np.array([80.0, 20.0])).tolist() == [1.0, 1.0]
    assert possible_share(np.array([40.0]), np.array([100.0]), np.array([80.0]))[0] == -0.5


@pytest.fixture(scope="module")
def top_riggers():
    crowd = simulate_crowd(voters=3000, votes=150_000, seed=4, rigged_rank=1 / 7,
                           rigger_focus=0.5, mix={"honest": 0.9, "noisy": 0.05, "rigger": 0.05})
    return crowd, assess_voters(data_of(crowd))


def test_riggers_of_a_strong_model_are_caught(top_riggers):
    crowd, report = top_riggers
    strength = crowd.strengths.mean(axis=0)
    assert np.sum(strength > strength[crowd.rigged_model]) == 1        # the second best model
    assert flagged_share(crowd, report, "rigger", 100) >= 0.9
    assert flagged_share(crowd, report, "honest") == 0
    caught = report.flagged & (crowd.types() == "rigger") & (crowd.votes_per_voter() >= 100)
    assert set(report.stats["favoured_model"][caught]) == {crowd.models[crowd.rigged_model]}


def test_subtle_riggers_are_caught():
    crowd = simulate_crowd(voters=3000, votes=150_000, seed=5,
                           mix={"honest": 0.8, "noisy": 0.05, "subtle_rigger": 0.15})
    report = assess_voters(data_of(crowd))
    assert flagged_share(crowd, report, "subtle_rigger", 100) >= 0.9
    assert flagged_share(crowd, report, "honest") == 0


def test_a_sybil_swarm_under_the_gate_is_flagged_as_a_group():
    crowd = simulate_crowd(voters=3000, votes=150_000, seed=6, rigged_rank=0.85,
                           mix={"honest": 2980 / 3000, "sybil": 20 / 3000})
    assert (crowd.votes_per_voter()[crowd.types() == "sybil"] == 15).all()
    report = assess_voters(data_of(crowd))
    sybil = crowd.types() == "sybil"
    assert report.flagged[sybil].mean() >= 0.9
    assert report.flagged[~sybil].sum() == 0
    k = np.flatnonzero(sybil & report.flagged)[0]
    assert report.checks[k] == ("pooled",) and not report.tested[k]
    assert report.reasons[k][0].startswith("one of ")
    assert f"picked {crowd.models[crowd.rigged_model]} far beyond chance" in report.reasons[k][0]
    group = report.summary["pooled"]["groups"]
    assert [g["model"] for g in group] == [crowd.models[crowd.rigged_model]]
    assert report.weights("defended")[sybil & report.flagged].max() == 0
    # a gate of 10 tests each alone instead (Bonferroni over every voter)
    alone = assess_voters(data_of(crowd), min_decisive=10)
    assert alone.flagged[sybil].mean() >= 0.75 and alone.flagged[~sybil].sum() == 0


def test_a_few_newcomers_pushing_one_model_are_not_a_group():
    crowd = simulate_crowd(voters=3000, votes=150_000, seed=6, rigged_rank=0.85,
                           mix={"honest": 2998 / 3000, "sybil": 2 / 3000})
    report = assess_voters(data_of(crowd))
    assert report.flagged.sum() == 0 and report.summary["pooled"]["groups"] == []


@pytest.fixture(scope="module")
def taste():
    crowd = simulate_crowd(voters=4000, votes=200_000, seed=7,
                           mix={"honest": 0.75, "noisy": 0.05, "taste": 0.20})
    return crowd, assess_voters(data_of(crowd))


def test_honest_taste_for_a_family_is_not_a_flag(taste):
    crowd, report = taste
    assert len(crowd.family) == 3
    assert flagged_share(crowd, report, "taste") <= 0.02
    assert flagged_share(crowd, report, "taste", 100) <= 0.02
    assert flagged_share(crowd, report, "honest") <= 0.005


def test_weighting_does_not_move_an_honestly_liked_family(taste):
    from scoring.bradley_terry import SCALE, fit_bradley_terry
    from scoring.data import Comparisons

    crowd, report = taste
    family = np.array(crowd.family)

    def family_score(weights):
        out = []
        for t in range(len(crowd.tasks)):
            sel = crowd.task == t
            cube = Comparisons.from_counts(crowd.models, crowd.left[sel], crowd.right[sel],
                                           crowd.choice[sel], voter=crowd.voter[sel])
            fit = fit_bradley_terry(cube.reweighted(weights[np.asarray(cube.voters)]))
            out.append(SCALE * fit.theta[np.searchsorted(fit.index, family)].mean())
        return np.array(out)

    base = family_score(report.weights("all"))
    for mode in ("weighted", "exclude", "defended"):
        assert np.abs(family_score(report.weights(mode)) - base).max() < 4.0, mode
    heavy = report.decisive >= 100
    weights = report.weights("weighted")
    assert np.median(weights[heavy & (crowd.types() == "taste")]) == 1.0
