"""Selective voting (scoring.voters.selective): voting only when one model is on screen is
flagged with a reason; skipping at random, or never skipping, is not."""
from __future__ import annotations

import numpy as np

from scoring.voters import assess_voters
from scoring.voters.data import VoterData

MODELS = ("a", "b", "c", "d")


def crowd(seed: int = 0):
    """30 honest voters (a few random skips), one seeker who skips every pair without "d"."""
    rng = np.random.default_rng(seed)
    skill = np.array([1.0, 0.5, 0.0, -0.5])
    rows, shown = [], []
    for v in range(31):
        voter = f"voter-{v:02d}"
        for _ in range(80):
            i, j = rng.choice(4, 2, replace=False)
            if v == 30:
                voted = 3 in (i, j)
            else:
                voted = rng.random() > 0.1
            shown.append((voter, i, j, voted))
            if voted:
                p = 1 / (1 + np.exp(skill[j] - skill[i]))
                win = "left" if rng.random() < p else "right"
                if v == 30:
                    win = "left" if i == 3 else "right"
                rows.append((voter, i, j, win))
    voter, left, right, choice = map(np.array, zip(*rows))
    data = VoterData.from_votes(voter, np.array(MODELS)[left], np.array(MODELS)[right],
                                np.where(choice == "left", "model_a", "model_b"))
    sv, si, sj, voted = zip(*shown)
    index = {m: k for k, m in enumerate(data.models)}
    li = [index[MODELS[i]] for i in si]
    rj = [index[MODELS[j]] for j in sj]
    return data.with_exposure(list(sv), np.array(li), np.array(rj), np.array(voted))


def test_a_seeker_is_flagged_and_random_skippers_are_not():
    report = assess_voters(crowd())
    flagged = {report.voters[k]: report.reasons[k] for k in np.flatnonzero(report.flagged)}
    assert set(flagged) == {"voter-30"}
    assert any("pairs that showed d" in r and "skipping the rest" in r for r in flagged["voter-30"])
    k = report.voters.index("voter-30")
    assert "selective" in report.checks[k] and report.stats["sought_model"][k] == "d"


def test_without_exposure_the_check_does_not_run():
    data = crowd()
    bare = VoterData(data.voters, data.models, data.tasks, data.task, data.voter, data.left,
                     data.right, data.counts)
    assert "selective" not in assess_voters(bare).summary["checks"]


def test_the_defended_weights():
    report = assess_voters(crowd())
    w = report.weights("defended")
    assert w[report.voters.index("voter-30")] == 0.0
    assert np.all(w[~report.flagged] == 1.0)          # everyone here is past the gate
