"""Small-sample corrected clustered intervals, the voter bootstrap, position_bias='none', Elo."""
import time

import choix
import evalica
import numpy as np
import pytest
from scipy import stats

from scoring import Comparisons, Votes, fit_bradley_terry, rank
from scoring.bradley_terry import SCALE
from scoring.clustered import t_quantile
from scoring.coverage import Scenario, draw_crowd
from scoring.elo import bootstrap_elo, fit_elo
from scoring.intervals import _bread_inverse, _centre, sandwich
from scoring.pareto import score_draws
from scoring.resample import voter_bootstrap_params

WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)


def crowd(scenario, seed):
    cols, truth = draw_crowd(scenario, seed)
    return Comparisons.from_battles(cols["model_a"], cols["model_b"], cols["winner"],
                                    voter=cols["judge"]), truth


def test_cr2_is_hc2_when_every_vote_is_its_own_voter():
    rng = np.random.default_rng(2)
    m, n = 4, 120
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    code = rng.choice(4, n, p=[0.45, 0.35, 0.1, 0.1])
    names = np.array([f"m{k}" for k in range(m)], dtype=object)
    data = Comparisons.from_battles(names[a], names[b], WINNERS[code], voter=np.arange(n))
    fit = fit_bradley_terry(data)
    inv = _bread_inverse(fit)
    idx = {name: k for k, name in enumerate(fit.models)}
    meat = np.zeros((m + 1, m + 1))
    for i, j, c in zip(data.left, data.right, data.counts):
        x = np.zeros(m + 1)
        x[idx[data.models[i]]], x[idx[data.models[j]]], x[m] = 1, -1, 1
        p = 1 / (1 + np.exp(-(x @ fit.params)))
        y = c @ np.array([1.0, 0.0, 0.5, 0.5])
        lev = p * (1 - p) * x @ inv @ x                     # HC2: the vote's own leverage
        meat += np.outer(x, x) * (y - p) ** 2 / (1 - lev)
    cov, info = sandwich(data, fit, correction="cr2")
    assert info.adjusted == n
    assert np.allclose(cov, _centre(fit, inv @ meat @ inv), rtol=1e-9, atol=1e-14)


def test_cr2_and_cr3_widen_a_voter_heavy_board_and_report_effective_voters():
    data, _ = crowd(Scenario("heavy", taste=0.5, top_share=0.75), 5)
    fit = fit_bradley_terry(data)
    var = {c: np.diag(sandwich(data, fit, correction=c)[0])[:8] for c in ("cr1", "cr2", "cr3")}
    plain = sandwich(data, fit, correction="cr1")[1]
    assert np.all(var["cr1"] * 199 / 200 < var["cr2"]) and np.all(var["cr2"] < var["cr3"])
    assert 3 < np.median(plain.effective[:8]) < 40               # 10 voters cast 75%: few
    board = rank(data)
    assert 3 < board.effective_voters < 40 and board.to_dict()["effective_voters"]
    assert any("effective number" in note for note in board.warnings)


def test_effective_voters_of_equal_voters_is_their_number():
    data, _ = crowd(Scenario("even", voters=60, votes=6000, skew=0.01), 1)
    effective = sandwich(data, fit_bradley_terry(data))[1].effective[:8]
    assert np.all((effective > 50) & (effective <= 60))


@pytest.mark.parametrize("df", [1, 2, 2.5, 3, 4.2, 7, 19, 120])
def test_t_quantile(df):
    assert abs(t_quantile(0.975, df)[0] - stats.t.ppf(0.975, df)) < 1.5e-3
    assert t_quantile(0.975, np.inf)[0] == pytest.approx(1.959964, abs=1e-6)


def test_coverage_when_ten_voters_cast_three_quarters_of_the_votes():
    """Both interval methods hold ~95% where the plain sandwich gives ~0.91 (bounded time)."""
    t0 = time.perf_counter()
    scenario = Scenario("heavy", taste=0.5, top_share=0.75, votes=2000)
    hits = {"sandwich": [], "bootstrap": []}
    for r in range(50):
        data, truth = crowd(scenario, 500 + r)
        for method in hits:
            board = rank(data, intervals=method, rounds=120, seed=r)
            hits[method] += [row.ci_low <= truth[row.model] <= row.ci_high for row in board.rows]
    for method, h in hits.items():
        assert 0.915 <= np.mean(h) <= 0.985, (method, np.mean(h))
    assert time.perf_counter() - t0 < 60


def test_voter_bootstrap_is_seeded_and_wider_than_the_vote_bootstrap_under_taste():
    data, _ = crowd(Scenario("taste", voters=40, taste=0.8, votes=4000), 3)
    one = rank(data, intervals="bootstrap", rounds=200, seed=1)
    assert one.to_dict() == rank(data, intervals="bootstrap", rounds=200, seed=1).to_dict()
    votes = rank(data, intervals="bootstrap", rounds=200, seed=1, resample="votes")
    width = lambda b: np.mean([r.ci_high - r.ci_low for r in b.rows])  # noqa: E731
    assert width(one) > 1.3 * width(votes)
    assert one.snapshot["params"]["resample"] == "voters"
    assert votes.snapshot["params"]["resample"] == "votes"
    fit = fit_bradley_terry(data)
    draws = voter_bootstrap_params(data, fit, rounds=300, seed=0)
    assert np.allclose(draws.mean(axis=0), fit.params, atol=0.05)


def test_p_front_draws_resample_voters_by_default():
    data, _ = crowd(Scenario("taste", voters=40, taste=0.8, votes=4000), 3)
    _, voters = score_draws(data, rounds=150)
    _, votes = score_draws(data, rounds=150, resample="votes")
    assert voters.std(axis=0).mean() > 1.3 * votes.std(axis=0).mean()


def test_position_bias_none_is_the_conventional_fit_of_choix_and_evalica():
    rng = np.random.default_rng(7)
    m, n = 6, 5000
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    theta = rng.normal(0, 1, m)
    code = np.where(rng.random(n) < 1 / (1 + np.exp(-(theta[a] - theta[b] + 0.4))), 0, 1)
    names = np.array([f"m{k}" for k in range(m)], dtype=object)
    data = Comparisons.from_battles(names[a], names[b], WINNERS[code], voter=rng.integers(0, 50, n))
    board = rank(data, position_bias="none")
    assert board.position_bias is None and board.snapshot["params"]["position_bias"] is False
    assert board.to_dict()["position_bias"] is None
    fitted = rank(data)
    assert fitted.position_bias.h > 0.2                        # the default still fits h
    ours = np.array([board.row(x).score for x in data.models])
    wins = [(k, j) if c == 0 else (j, k) for k, j, c in zip(a, b, code)]
    ref = choix.ilsr_pairwise(m, wins, tol=1e-12, max_iter=100000)
    assert np.max(np.abs(1000 + SCALE * (ref - ref.mean()) - ours)) < 1e-4
    res = evalica.bradley_terry(names[a], names[b],
                                [evalica.Winner.X if c == 0 else evalica.Winner.Y for c in code],
                                tolerance=1e-13, limit=100000)
    logs = np.log(res.scores.reindex(list(data.models)).to_numpy())
    assert np.max(np.abs(1000 + SCALE * (logs - logs.mean()) - ours)) < 1e-4
    assert any("not fitted" in note for note in board.warnings)


def test_elo_interval_is_about_its_own_point():
    """A model that gets better late: the file-order ticker sits far from shuffled orders."""
    rng = np.random.default_rng(0)
    m, n = 5, 4000
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    late = np.arange(n) > n * 0.75
    theta = np.zeros((n, m))
    theta[:, 0] = np.where(late, 1.5, -1.5)
    p = 1 / (1 + np.exp(-(theta[np.arange(n), a] - theta[np.arange(n), b])))
    code = np.where(rng.random(n) < p, 0, 1)
    names = np.array([f"m{k}" for k in range(m)], dtype=object)
    votes = Votes.from_battles(names[a], names[b], WINNERS[code])
    point = fit_elo(votes).ratings
    kept = np.quantile(bootstrap_elo(votes, rounds=200, seed=1), [0.025, 0.975], axis=0)
    shuffled = np.quantile(bootstrap_elo(votes, rounds=200, seed=1, order="shuffled"),
                           [0.025, 0.975], axis=0)
    assert np.all((kept[0] <= point) & (point <= kept[1]))
    assert not (shuffled[0, 0] <= point[0] <= shuffled[1, 0])
    board = rank(votes, method="elo", intervals="bootstrap", rounds=100)
    assert all(r.ci_low <= r.score <= r.ci_high for r in board.rows)
