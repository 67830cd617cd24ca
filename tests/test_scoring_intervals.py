"""Sandwich covariance against a brute-force sum over votes, the samplers, Wilson intervals."""
import numpy as np
import pytest

from scoring import Comparisons, Votes, fit_bradley_terry
from scoring.intervals import (PoissonSampler, _cluster_meat, _condition_on_total, _poisson_cdf,
                               grouped_gram, model_cov, sandwich_cov, wilson)
from scoring.ties import TIE_MODELS

WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)


def votes(n=400, m=4, voters=15, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    code = rng.choice(4, n, p=[0.4, 0.35, 0.15, 0.1])
    names = np.array([f"m{k}" for k in range(m)], dtype=object)
    return Votes.from_battles(names[a], names[b], WINNERS[code], voter=rng.integers(0, voters, n))


def brute_force_meat(v, fit, by_voter):
    """Per-vote score vectors over [theta, h, tau?], summed per voter (or not), outer products."""
    m, model = len(fit.models), TIE_MODELS[fit.ties]
    tau = fit.params[m + 1:]
    p = len(fit.params)
    total = {}
    for k in range(len(v)):
        i, j, c = v.left[k], v.right[k], v.choice[k]
        d = fit.theta[i] - fit.theta[j] + fit.h
        s = model.vote_scores(np.array([d]), tau)[0, c]
        x = np.zeros(p)
        x[i] += s[0]
        x[j] -= s[0]
        x[m] += s[0]
        if len(s) > 1:
            x[m + 1] += s[1]
        key = v.voter[k] if by_voter else k
        total[key] = total.get(key, 0) + x
    return sum(np.outer(x, x) for x in total.values()), len(total)


@pytest.mark.parametrize("ties", ["half", "davidson", "rao-kupper"])
@pytest.mark.parametrize("by_voter", [True, False])
def test_sandwich_equals_the_brute_force_sum(ties, by_voter):
    v = votes()
    data = v.comparisons()
    if not by_voter:
        data = Comparisons(data.models, data.left, data.right, data.counts)
    fit = fit_bradley_terry(data, ties=ties)
    meat, groups = brute_force_meat(v, fit, by_voter)
    if by_voter:
        meat *= groups / (groups - 1)
    m = len(fit.models)
    bread = fit.hessian.copy()
    bread[:m, :m] += 1 / m
    inv = np.linalg.inv(bread)
    proj = np.eye(len(fit.params))
    proj[:m, :m] -= 1 / m
    expected = proj @ inv @ meat @ inv @ proj.T
    assert np.allclose(sandwich_cov(data, fit), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fit_h", [0, 1])
@pytest.mark.parametrize("q", [1, 2])
def test_cluster_meat_dense_and_sparse_routes_agree(fit_h, q):
    rng = np.random.default_rng(4)
    m, n = 6, 500
    i = rng.integers(0, m, n)
    j = (i + rng.integers(1, m, n)) % m
    g = rng.normal(size=(n, q))
    voter = rng.integers(0, 40, n)
    p = m + fit_h + (q > 1)
    brute = np.zeros((p, p))
    for c in np.unique(voter):
        x = np.zeros(p)
        at = voter == c
        np.add.at(x, i[at], g[at, 0])
        np.add.at(x, j[at], -g[at, 0])
        if fit_h:
            x[m] = g[at, 0].sum()
        if q > 1:
            x[m + fit_h] = g[at, 1].sum()
        brute += np.outer(x, x)
    brute *= len(np.unique(voter)) / (len(np.unique(voter)) - 1)
    dense = _cluster_meat(voter, i, j, g, m, fit_h, p)                  # small table: dense
    sparse = _cluster_meat(voter * 10 ** 6, i, j, g, m, fit_h, p)       # huge table: sparse
    assert np.allclose(dense, brute, rtol=1e-12, atol=1e-12)
    assert np.allclose(sparse, brute, rtol=1e-12, atol=1e-12)


def test_model_covariance_is_the_sandwich_when_the_model_is_right():
    rng = np.random.default_rng(1)
    m, n = 5, 60000
    theta = np.linspace(-1, 1, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    win = rng.random(n) < 1 / (1 + np.exp(-(theta[a] - theta[b] + 0.2)))
    data = Comparisons.from_battles(a.astype(str), b.astype(str), np.where(win, "model_a", "model_b"))
    fit = fit_bradley_terry(data)
    ratio = np.diag(sandwich_cov(data, fit))[:m] / np.diag(model_cov(fit))[:m]
    assert np.all(np.abs(ratio - 1) < 0.05)


def test_grouped_gram_matches_dense():
    rng = np.random.default_rng(2)
    p, groups = 9, 40
    dense = np.where(rng.random((groups, p)) < 0.4, rng.normal(size=(groups, p)), 0)
    dense[:5] = rng.normal(size=(5, p))                       # some heavy groups
    g, c = np.nonzero(dense)
    for max_pairs in (7, 1 << 22):
        assert np.allclose(grouped_gram(g, c, dense[g, c], p, max_pairs=max_pairs), dense.T @ dense)


def test_poisson_sampler_is_poisson():
    from math import exp, factorial

    lam = np.array([0.5, 1, 3, 3, 40, 2500.0])
    sampler, rng = PoissonSampler(lam), np.random.default_rng(0)
    draws = np.array([sampler.draw(rng) for _ in range(30000)])
    assert np.allclose(draws.mean(0), lam, rtol=0.03, atol=0.02)
    assert np.allclose(draws.var(0), lam, rtol=0.06, atol=0.03)
    freq = np.bincount(draws[:, 2].astype(int), minlength=8)[:8] / len(draws)
    pmf = np.array([exp(-3) * 3 ** k / factorial(k) for k in range(8)])
    assert np.max(np.abs(freq - pmf)) < 0.01
    assert np.allclose(_poisson_cdf(6, 3.0), np.cumsum(pmf[:6]))


def test_multinomial_from_poisson_keeps_the_total_and_the_distribution():
    lam = np.array([5.0, 1.0, 14.0])
    sampler, rng = PoissonSampler(lam), np.random.default_rng(1)
    cdf = np.cumsum(lam) / lam.sum()
    draws = np.array([_condition_on_total(sampler.draw(rng), 20, cdf, rng) for _ in range(20000)])
    assert np.all(draws.sum(1) == 20)
    p = lam / 20
    assert np.allclose(np.cov(draws.T), 20 * (np.diag(p) - np.outer(p, p)), atol=0.12)


def test_wilson_interval_known_values():
    low, high = wilson(np.array([5, 0, 10]), np.array([10, 10, 10]))
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    assert low[1] == pytest.approx(0, abs=1e-12) and high[1] == pytest.approx(0.2775, abs=1e-4)
    assert high[2] == pytest.approx(1) and low[2] == pytest.approx(0.7225, abs=1e-4)
    assert np.isnan(wilson(0, 0)[0])
