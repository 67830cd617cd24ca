"""The synthetic crowd: reproducible, skewed, and each voter type behaves as documented."""
from __future__ import annotations

import numpy as np
import pytest

from scoring.bradley_terry import fit_bradley_terry
from scoring.data import Comparisons
from scoring.errors import ScoringError
from scoring.simulate import VOTER_TYPES, CrowdConfig, simulate_crowd


@pytest.fixture(scope="module")
def crowd():
    return simulate_crowd(voters=1500, votes=120_000, seed=11)


def test_same_seed_same_crowd_other_seed_other_crowd():
    a = simulate_crowd(voters=200, votes=5000, seed=4)
    b = simulate_crowd(CrowdConfig(voters=200, votes=5000, seed=4))
    c = simulate_crowd(voters=200, votes=5000, seed=5)
    for name in ("voter", "left", "right", "choice", "task", "duration_ms"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert np.array_equal(a.strengths, b.strengths) and a.truth() == b.truth()
    assert not np.array_equal(a.choice, c.choice)


def test_sizes_types_and_skew(crowd):
    per_voter = crowd.votes_per_voter()
    assert len(crowd) == 120_000 and per_voter.min() >= 1
    assert per_voter.max() > 10 * np.median(per_voter)            # a few voters cast most votes
    counts = {t: int(np.sum(crowd.types() == t)) for t in VOTER_TYPES}
    for t, share in crowd.config.mix.items():
        assert abs(counts[t] - share * 1500) <= 1
    assert np.all(crowd.left != crowd.right)
    assert np.allclose(crowd.strengths.mean(axis=1), 0)
    truth = crowd.truth()
    assert truth["rigged_model"] == crowd.models[crowd.rigged_model]
    assert set(truth["voters"].values()) <= set(VOTER_TYPES)
    assert set(truth["scores"]) == set(crowd.tasks)


def shares(crowd, kind):
    sel = crowd.types()[crowd.voter] == kind
    choice = crowd.choice[sel]
    return sel, np.bincount(choice, minlength=4) / len(choice)


def test_each_type_votes_as_documented(crowd):
    _, random = shares(crowd, "random")
    assert abs(random[0] - 0.5) < 0.03 and random[2:].sum() == 0
    _, left = shares(crowd, "always_left")
    assert abs(left[0] - 0.95) < 0.03
    _, ties = shares(crowd, "tie_spammer")
    assert ties[2:].sum() > 0.7
    _, honest = shares(crowd, "honest")
    assert 0.05 < honest[2:].sum() < 0.3

    theta = crowd.strengths[crowd.task, crowd.left] - crowd.strengths[crowd.task, crowd.right]
    for kind, sign in (("honest", 1), ("anti_consensus", -1)):
        sel = (crowd.types()[crowd.voter] == kind) & (crowd.choice < 2)
        stronger_won = (theta[sel] > 0) == (crowd.choice[sel] == 0)
        assert (stronger_won.mean() > 0.7) if sign > 0 else (stronger_won.mean() < 0.3)

    rig = crowd.types()[crowd.voter] == "rigger"
    shown = rig & ((crowd.left == crowd.rigged_model) | (crowd.right == crowd.rigged_model))
    assert shown.sum() / rig.sum() > 0.75                          # riggers seek their model
    won = np.where(crowd.left[shown] == crowd.rigged_model, crowd.choice[shown] == 0,
                   crowd.choice[shown] == 1)
    assert won.all()

    fast = np.median(crowd.duration_ms[crowd.types()[crowd.voter] == "always_left"])
    slow = np.median(crowd.duration_ms[crowd.types()[crowd.voter] == "honest"])
    assert fast < 1500 < slow


def test_honest_votes_recover_the_true_order(crowd):
    sel = (crowd.types()[crowd.voter] == "honest") & (crowd.task == 0)
    cube = Comparisons.from_counts(crowd.models, crowd.left[sel], crowd.right[sel],
                                   crowd.choice[sel])
    fit = fit_bradley_terry(cube)
    assert np.array_equal(np.argsort(-fit.theta), np.argsort(-crowd.strengths[0]))


def test_battle_columns_and_options():
    c = simulate_crowd(voters=50, votes=800, seed=1, durations=False, tasks=("recolor",),
                       mix={"honest": 1.0})
    cols = c.columns()
    assert set(cols) == {"model_a", "model_b", "winner", "judge", "task", "tstamp"}
    assert set(cols["winner"]) <= {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert c.duration_ms is None and set(cols["task"]) == {"recolor"}
    assert all(len(v) >= 8 for v in c.voters)                       # valid arena voter ids


@pytest.mark.parametrize("bad", [dict(mix={"lazy": 1.0}), dict(votes=10, voters=20),
                                 dict(models=2), dict(tasks=()), dict(rigger_focus=2.0)])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ScoringError):
        simulate_crowd(**{"voters": 20, "votes": 100, **bad})
