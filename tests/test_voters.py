"""Voter quality on simulated crowds: detection, false alarms, the reasons' wording, weights."""
from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import binom

from scoring.errors import ScoringError
from scoring.simulate import BAD_TYPES, simulate_crowd
from scoring.voters import Settings, VoterData, assess_voters, cohen_kappa, jeffreys
from scoring.voters.tails import signed_root


def voter_data(crowd, extra=None, durations=True):
    cols = {"voter": np.array(crowd.voters, dtype=object)[crowd.voter],
            "left": np.array(crowd.models, dtype=object)[crowd.left],
            "right": np.array(crowd.models, dtype=object)[crowd.right],
            "choice": crowd.choice, "task": np.array(crowd.tasks, dtype=object)[crowd.task],
            "duration": crowd.duration_ms.astype(float)}
    for part in extra or ():
        cols = {k: np.concatenate([cols[k], np.asarray(part[k], dtype=cols[k].dtype)])
                for k in cols}
    return VoterData.from_votes(cols["voter"], cols["left"], cols["right"], cols["choice"],
                                task=cols["task"],
                                duration_ms=cols["duration"] if durations else None)


@pytest.fixture(scope="module")
def mixed():
    crowd = simulate_crowd(voters=1200, votes=80_000, seed=21)
    return crowd, assess_voters(voter_data(crowd))


def test_bad_voters_with_enough_votes_are_flagged(mixed):
    crowd, report = mixed
    types = dict(zip(crowd.voters, crowd.types()))
    kinds = np.array([types[v] for v in report.voters])
    big = report.votes >= 50
    for kind in ("random", "always_left", "anti_consensus", "rigger", "tie_spammer"):
        sel = big & (kinds == kind)
        assert sel.sum() >= 3 and report.flagged[sel].mean() >= 0.9, kind
    assert not report.flagged[kinds == "honest"].any()
    flagged = report.flagged & big
    assert np.isin(kinds[flagged], BAD_TYPES).mean() >= 0.95
    # few votes: not tested alone; flagged only as a group pushing one model, and only riggers
    few = (report.decisive < 20) & (report.votes < 20) & report.flagged
    assert few.any() and set(kinds[few]) == {"rigger"}
    assert all(report.checks[k] == ("pooled",) for k in np.flatnonzero(few))


def test_reliability_separates_the_types(mixed):
    crowd, report = mixed
    types = dict(zip(crowd.voters, crowd.types()))
    kinds = np.array([types[v] for v in report.voters])
    heavy = report.decisive >= 100
    med = {k: np.nanmedian(report.reliability[heavy & (kinds == k)])
           for k in ("honest", "random", "anti_consensus")}
    assert med["honest"] > 0.9 and abs(med["random"] - 0.5) < 0.15 and med["anti_consensus"] < 0.2


@pytest.mark.parametrize("seed", [1, 2])
def test_false_alarms_on_an_honest_crowd_stay_below_one_percent(seed):
    crowd = simulate_crowd(voters=1500, votes=60_000, seed=seed,
                           mix={"honest": 0.9, "noisy": 0.1})
    report = assess_voters(voter_data(crowd))
    assert report.tested.sum() > 500
    assert report.flagged.mean() <= 0.01


def crafted(name, n, rule="left", duration=4000.0, task="recolor", with_model=None, seed=0):
    """``n`` votes of one voter on random pairs of the eight models (``model-01`` strongest).

    ``rule``: "left", "stronger", "weaker", "with" (always ``with_model``), or an array of
    choice codes. ``with_model`` puts that model in every pair, on a random side.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(8, size=n)
    b = (a + 1 + rng.integers(7, size=n)) % 8
    if with_model is not None:
        other = (with_model + 1 + rng.integers(7, size=n)) % 8
        swap = rng.random(n) < 0.5
        a, b = np.where(swap, other, with_model), np.where(swap, with_model, other)
    if isinstance(rule, str):
        choice = {"left": np.zeros(n, int), "stronger": np.where(a < b, 0, 1),
                  "weaker": np.where(a > b, 0, 1),
                  "with": np.where(a == with_model, 0, 1)}[rule]
    else:
        choice = np.asarray(rule)
    names = np.array([f"model-{k + 1:02d}" for k in range(8)], dtype=object)
    return {"voter": np.full(n, name, dtype=object), "left": names[a], "right": names[b],
            "choice": choice, "task": np.full(n, task, dtype=object),
            "duration": np.full(n, duration)}


@pytest.fixture(scope="module")
def honest_crowd():
    return simulate_crowd(voters=400, votes=30_000, seed=5, tasks=("recolor",),
                          mix={"honest": 1.0})


def reasons_of(honest_crowd, part, **settings):
    report = assess_voters(voter_data(honest_crowd, [part]), **settings)
    k = report.voters.index(part["voter"][0])
    return report, k, report.reasons[k]


def test_reason_for_a_left_clicker(honest_crowd):
    choice = np.zeros(50, int)
    choice[[7, 31]] = 1
    report, k, reasons = reasons_of(honest_crowd, crafted("voter-leftie-1", 50, rule=choice))
    assert report.flagged[k] and report.checks[k][0] == "side"
    m = re.fullmatch(r"picked the left image 48 times out of 50 decisive votes, where about "
                     r"(\d+) were expected \(z = \+(\d+\.\d)\)", reasons[0])
    assert m and 18 <= int(m.group(1)) <= 32 and float(m.group(2)) > 5


def test_reason_for_a_rigger(honest_crowd):
    part = crafted("voter-rigger-1", 60, rule="with", with_model=7)      # model-08, the weakest
    assert all("model-08" in (l, r) for l, r in zip(part["left"], part["right"]))
    report, k, reasons = reasons_of(honest_crowd, part)
    assert report.flagged[k] and report.stats["favoured_model"][k] == "model-08"
    assert report.checks[k][0] == "favouritism"
    assert re.fullmatch(r"picked model-08 in 60 of 60 decisive votes where it was shown, where "
                        r"about \d+ were expected \(z = \+\d+\.\d\)", reasons[0])


def test_reasons_for_ties_speed_and_inversion(honest_crowd):
    part = crafted("voter-ties-01", 40, rule=np.r_[np.full(30, 2), np.full(5, 3), np.zeros(5, int)])
    report, k, reasons = reasons_of(honest_crowd, part)
    assert report.checks[k][0] == "ties"
    assert re.match(r"answered tie or both bad on 35 of 40 votes, where the crowd would on about "
                    r"\d+ of the same pairs \(z = \+\d+\.\d\)", reasons[0])

    part = crafted("voter-speedy-1", 40, rule="stronger", duration=600.0)
    report, k, reasons = reasons_of(honest_crowd, part)
    assert report.checks[k] == ("speed",)
    assert re.fullmatch(r"voted in under 1.5 s on 40 of 40 timed votes \(z = \+\d+\.\d\)",
                        reasons[0])

    part = crafted("voter-invert-1", 40, rule="weaker")
    report, k, reasons = reasons_of(honest_crowd, part)
    assert {"person_fit", "reliability"} <= set(report.checks[k])
    assert any(re.fullmatch(r"went against the crowd's favourite in 40 of 40 decisive votes, "
                            r"where about \d+ were expected \(person-fit z = -\d+\.\d\)", r)
               for r in reasons)
    assert any(r.startswith("Crowd-BT reliability 0.00 (1 follows the crowd, 0.5 is random, "
                            "0 inverts it) over 40 decisive votes") for r in reasons)
    assert report.reliability[k] < 0.05 and report.weights("weighted")[k] == 0
    assert "favouritism" not in report.checks[k]           # inverting is not rigging


def test_gate_and_small_voters(honest_crowd):
    part = crafted("voter-short-1", 15)                     # 15 left clicks: below the gate
    report, k, reasons = reasons_of(honest_crowd, part)
    assert not report.tested[k] and not report.flagged[k] and reasons == ()
    assert np.isnan(report.reliability[k]) and report.weights("weighted")[k] == 1


def test_planted_checks_flag_with_reasons(honest_crowd):
    data = voter_data(honest_crowd)
    bad, good = data.voters[0], data.voters[1]
    data = data.with_gold([bad] * 12 + [good] * 12, ["left"] * 12 + ["right"] * 12,
                          [True] * 24)                       # baseline shown left each time
    data = data.with_retests([bad] * 30 + [good] * 30, ["left"] * 60,
                             ["left"] * 30 + ["right"] * 30, swapped=True)
    report = assess_voters(data)
    k, j = report.voters.index(bad), report.voters.index(good)
    assert report.flagged[k] and not report.flagged[j]
    assert "chose the unedited image over a clean edit in 12 of 12 gold pairs (accuracy 0%, " \
           "95% interval 0-" in " ".join(report.reasons[k])
    assert any(r.startswith("gave the same answer to only 0 of 30 repeated pairs shown with "
                            "the sides swapped") for r in report.reasons[k])
    assert report.stats["gold_accuracy"][j] == 1 and report.stats["retest_agreement"][j] == 1
    assert report.summary["gold"]["decisive"] == 24 and report.summary["retest"]["pairs"] == 60


def test_weights_and_rows(mixed):
    _, report = mixed
    assert np.all(report.weights("all") == 1)
    exclude, weighted = report.weights("exclude"), report.weights("weighted")
    assert np.array_equal(exclude == 0, report.flagged)
    assert np.all((weighted >= 0) & (weighted <= 1)) and np.all(weighted[report.flagged] == 0)
    with pytest.raises(ScoringError, match="unknown voter mode"):
        report.weights("some")
    rows = report.rows()
    assert rows[0]["flagged"] and {"voter", "votes", "flagged", "reasons", "reliability",
                                   "weight"} <= set(rows[0])
    assert [r["flagged"] for r in rows] == sorted((r["flagged"] for r in rows), reverse=True)
    summary = report.summary
    assert summary["per_test_alpha"] == pytest.approx(
        0.05 / (summary["tested"] * len(summary["checks"])))
    assert summary["flagged"] == report.flagged.sum()


def test_settings_are_checked():
    with pytest.raises(ScoringError):
        Settings(alpha=2).validate()
    empty = VoterData.from_votes(np.array([], dtype=object), np.array([], dtype=object),
                                 np.array([], dtype=object), np.array([], dtype=np.int64))
    with pytest.raises(ScoringError, match="no votes"):
        assess_voters(empty)
    with pytest.raises(ScoringError, match="itself"):
        VoterData.from_votes(["v"], ["a"], ["a"], ["left"])


@pytest.mark.parametrize("n, p, x", [(50, 0.5, 48), (20, 0.1, 8), (30, 0.9, 15), (12, 0.4, 12),
                                     (200, 0.3, 95)])
def test_signed_root_tracks_exact_binomial_tails(n, p, x):
    z, mean, var = signed_root(np.array([p]), np.array([float(n)]), np.array([0]), 1,
                               np.array([float(x)]))
    exact = binom.sf(x - 1, n, p) if x > n * p else binom.cdf(x, n, p)
    from scipy.special import ndtr

    approx = ndtr(-abs(z[0]))
    assert 0.5 * exact <= approx <= 2.0 * exact


def test_kappa_and_jeffreys_known_values():
    assert cohen_kappa(np.array([[20, 5, 0], [10, 15, 0], [0, 0, 0]])) == pytest.approx(0.4)
    low, high = jeffreys(np.array([7]), np.array([10]))
    assert low[0] == pytest.approx(0.3942, abs=1e-3) and high[0] == pytest.approx(0.9073, abs=1e-3)
