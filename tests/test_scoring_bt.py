"""Bradley-Terry fits against choix and evalica, tie models, and awkward graphs."""
import choix
import evalica
import numpy as np
import pytest

from scoring import Comparisons, EmptyDataError, ScoringError, fit_bradley_terry
from scoring.bradley_terry import assemble
from scoring.ties import TIE_MODELS

WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)


def simulate(m=8, n=4000, h=0.3, tie=0.15, seed=1, voters=None):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, m)
    theta -= theta.mean()
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + h)))
    u = rng.random(n)
    code = np.where(u < tie, 2 + (rng.random(n) < 0.5), np.where(rng.random(n) < p, 0, 1))
    names = np.array([f"m{k}" for k in range(m)], dtype=object)
    vote = None if voters is None else rng.integers(0, voters, n)
    return names[a], names[b], WINNERS[code], vote, theta


def half_matrix(c):
    m = c.n_models
    mat = np.zeros((m, m))
    half = 0.5 * (c.counts[:, 2] + c.counts[:, 3])
    np.add.at(mat, (c.left, c.right), c.counts[:, 0] + half)
    np.add.at(mat, (c.right, c.left), c.counts[:, 1] + half)
    return mat


def test_equals_choix_ilsr_on_wins_plus_half_ties():
    a, b, w, _, _ = simulate()
    c = Comparisons.from_battles(a, b, w)
    fit = fit_bradley_terry(c, position_bias=False)
    ref = choix.ilsr_pairwise_dense(half_matrix(c), tol=1e-14, max_iter=100000)
    assert np.max(np.abs((ref - ref.mean()) - fit.theta)) < 1e-8


def test_equals_evalica_bradley_terry_on_the_same_votes():
    a, b, w, _, _ = simulate(m=12, n=6000, seed=3)
    c = Comparisons.from_battles(a, b, w)
    fit = fit_bradley_terry(c, position_bias=False)
    winners = [{"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y}.get(x, evalica.Winner.Draw)
               for x in w]
    ref = evalica.bradley_terry(a, b, winners, tolerance=1e-13, limit=100000)
    logs = np.log(ref.scores.reindex(list(c.models)).to_numpy())
    assert np.max(np.abs((logs - logs.mean()) - fit.theta)) < 1e-8


def test_position_bias_is_recovered_and_sides_matter():
    a, b, w, _, theta = simulate(m=6, n=40000, h=0.4, tie=0.0, seed=5)
    fit = fit_bradley_terry(Comparisons.from_battles(a, b, w))
    assert abs(fit.h - 0.4) < 0.05
    assert np.max(np.abs(fit.theta - theta)) < 0.08
    assert fit.iterations <= 8 and fit.cut_off == () and fit.ridge == 0


@pytest.mark.parametrize("ties", ["half", "davidson", "rao-kupper"])
def test_local_derivatives_match_finite_differences(ties):
    model = TIE_MODELS[ties]
    rng = np.random.default_rng(0)
    d = rng.normal(0, 1, 5)
    counts = rng.integers(0, 5, (5, 4)).astype(float)
    tau = np.array([0.7]) if model.n_tau else np.zeros(0)
    ll, g, neg = model.row_terms(d, tau, model.prepare(counts))
    eps = 1e-6
    up, _, _ = model.row_terms(d + eps, tau, model.prepare(counts))
    dn, _, _ = model.row_terms(d - eps, tau, model.prepare(counts))
    assert np.allclose((up - dn) / (2 * eps), g[:, 0], atol=1e-6)
    _, gu, _ = model.row_terms(d + eps, tau, model.prepare(counts))
    _, gd, _ = model.row_terms(d - eps, tau, model.prepare(counts))
    assert np.allclose(-(gu - gd)[:, 0] / (2 * eps), neg[:, 0, 0], atol=1e-5)
    if model.n_tau:
        up, gu, _ = model.row_terms(d, tau + eps, model.prepare(counts))
        dn, gd, _ = model.row_terms(d, tau - eps, model.prepare(counts))
        assert np.allclose((up - dn) / (2 * eps), g[:, 1], atol=1e-6)
        assert np.allclose(-(gu - gd) / (2 * eps), neg[:, :, 1], atol=1e-5)
    # per-vote scores add up to the row gradient
    s = model.vote_scores(d, tau)
    assert np.allclose(np.einsum("nk,nka->na", counts, s), g)
    # probabilities of the four outcomes (tie and both_bad share one) sum to one
    if model.n_tau:
        one = np.eye(4)
        p = [np.exp(model.row_terms(d, tau, model.prepare(np.tile(one[k], (5, 1))))[0]) for k in range(3)]
        assert np.allclose(sum(p), 1)


@pytest.mark.parametrize("ties", ["davidson", "rao-kupper"])
def test_tie_models_recover_their_own_parameters(ties):
    rng = np.random.default_rng(7)
    m, n, h = 5, 60000, 0.2
    theta = np.linspace(-1, 1, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    d = theta[a] - theta[b] + h
    tau = np.array([np.log(0.8)]) if ties == "davidson" else np.array([np.log(1.6)])
    model = TIE_MODELS[ties]
    probs = np.stack([np.exp(model.row_terms(d, tau, model.prepare(np.tile(np.eye(4)[k], (n, 1))))[0])
                      for k in range(3)], 1)
    code = (rng.random(n)[:, None] > np.cumsum(probs, 1)).sum(1)
    fit = fit_bradley_terry(Comparisons.from_counts(None, a.astype(str), b.astype(str), code), ties=ties)
    order = np.argsort([int(x) for x in fit.models])
    assert np.max(np.abs(fit.theta[order] - theta)) < 0.06
    assert abs(np.log(fit.tie_param) - tau[0]) < 0.05 and abs(fit.h - h) < 0.05


def test_hessian_is_the_numerical_derivative_of_the_gradient():
    a, b, w, _, _ = simulate(m=5, n=800, seed=9)
    c = Comparisons.from_battles(a, b, w)
    fit = fit_bradley_terry(c, ties="davidson")
    m = c.n_models
    i, j, counts = c.left, c.right, c.counts
    model = TIE_MODELS["davidson"]

    def grad(x):
        d = x[:m][i] - x[:m][j] + x[m]
        _, g, neg = model.row_terms(d, x[m + 1:], model.prepare(counts))
        return assemble(i, j, m, g, neg, 1, 1)[0]
    eps = 1e-6
    num = np.stack([(grad(fit.params + eps * e) - grad(fit.params - eps * e)) / (2 * eps)
                    for e in np.eye(len(fit.params))])
    assert np.allclose(-num, fit.hessian, atol=1e-4)
    assert np.max(np.abs(grad(fit.params))) < 1e-6


def test_a_model_that_never_loses_gets_a_finite_score_and_a_warning():
    a, b, w, _, _ = simulate(m=4, n=400, seed=2)
    a, b, w = list(a) + ["champ"] * 5 + ["m1"] * 5, list(b) + ["m0"] * 5 + ["champ"] * 5, \
        list(w) + ["model_a"] * 5 + ["model_b"] * 5
    with pytest.warns(UserWarning, match="never lost.*champ"):
        fit = fit_bradley_terry(Comparisons.from_battles(a, b, w))
    assert np.all(np.isfinite(fit.theta)) and fit.ridge > 0
    assert fit.cut_off == ("champ",)
    assert fit.theta[fit.models.index("champ")] == fit.theta.max()
    with pytest.raises(ScoringError, match="strongly connected"):
        fit_bradley_terry(Comparisons.from_battles(a, b, w), ridge=0)


def test_a_disconnected_graph_names_the_cut_off_models():
    a = ["p", "q", "r", "s"] * 10
    b = ["q", "p", "s", "r"] * 10
    w = ["model_a", "model_a", "model_a", "model_b"] * 10
    with pytest.warns(UserWarning, match="not strongly connected"):
        fit = fit_bradley_terry(Comparisons.from_battles(a, b, w))
    assert len(fit.cut_off) == 2 and np.all(np.isfinite(fit.theta))
    assert abs(fit.theta.sum()) < 1e-9


def test_no_votes_and_one_model_raise_empty_data():
    with pytest.raises(EmptyDataError):
        fit_bradley_terry(Comparisons.from_battles([], [], []))
    only = Comparisons.from_counts(("a", "b"), ["a"], ["b"], [0], [0])
    with pytest.raises(EmptyDataError):
        fit_bradley_terry(only)


def test_models_without_votes_are_left_out_with_a_note():
    c = Comparisons.from_counts(("a", "b", "idle"), ["a", "b"], ["b", "a"], [0, 0], [3, 2])
    with pytest.warns(UserWarning, match="idle"):
        fit = fit_bradley_terry(c)
    assert fit.models == ("a", "b")


def test_bad_options():
    c = Comparisons.from_battles(["a", "b"], ["b", "a"], ["model_a", "model_a"])
    with pytest.raises(ScoringError, match="unknown ties"):
        fit_bradley_terry(c, ties="glicko")
    with pytest.raises(ScoringError, match="needs at least one tie"):
        fit_bradley_terry(c, ties="davidson")


def test_votes_separated_by_the_position_bias_fix_h_at_zero():
    # strongly connected, so the plain fit exists; but with h, one left win and eight right
    # wins are explained perfectly (log-likelihood -> 0, |h| and the scores -> infinity)
    a = ["d", "d", "a", "a", "b", "c", "c", "a", "b"]
    b = ["c", "b", "b", "d", "c", "a", "a", "d", "a"]
    w = ["model_b"] * 8 + ["model_a"]
    c = Comparisons.from_battles(a, b, w)
    with pytest.warns(UserWarning, match="position bias not estimable"):
        fit = fit_bradley_terry(c)
    plain = fit_bradley_terry(c, position_bias=False)
    assert fit.h == 0.0 and not fit.position_bias and fit.converged
    assert np.allclose(fit.theta, plain.theta)


def test_tiny_one_sided_boards_never_run_off(recwarn):
    rng = np.random.default_rng(7)
    models = np.array(list("abcd"), dtype=object)
    for _ in range(300):
        n = int(rng.integers(2, 12))
        left = rng.integers(0, 4, n)
        right = (left + rng.integers(1, 4, n)) % 4
        side = rng.choice(["model_a", "model_b"])
        w = np.where(rng.random(n) < 0.1, "model_a" if side == "model_b" else "model_b", side)
        c = Comparisons.from_battles(models[left], models[right], w.astype(object))
        try:
            fit = fit_bradley_terry(c)
        except EmptyDataError:
            continue
        assert fit.converged and abs(fit.h) < 5, (models[left], models[right], w)


def _separated_by_lp(i, j, counts, m):
    """The definition, checked by linear programming: is there theta with h = +-1 that no
    cell's outcomes disagree with?"""
    from scipy.optimize import linprog

    for h in (1.0, -1.0):
        rows, bounds = [], []
        for a, b, n in zip(i, j, counts):
            d = np.zeros(m)
            d[a], d[b] = 1.0, -1.0
            if n[0] + n[2] + n[3] > 0:      # margin d.theta + h >= 0
                rows.append(-d)
                bounds.append(h)
            if n[1] + n[2] + n[3] > 0:      # margin d.theta + h <= 0
                rows.append(d)
                bounds.append(-h)
        res = linprog(np.zeros(m), A_ub=np.array(rows), b_ub=np.array(bounds),
                      bounds=[(None, None)] * m, method="highs")
        if res.status == 0:
            return True
    return False


def test_position_bias_separation_agrees_with_linear_programming():
    from scoring.graph import position_bias_separates

    rng = np.random.default_rng(3)
    found = {True: 0, False: 0}
    for _ in range(400):
        m = int(rng.integers(2, 6))
        cells = rng.integers(1, 2 * m)
        i = rng.integers(0, m, cells)
        j = (i + rng.integers(1, m, cells)) % m if m > 1 else i
        counts = (rng.random((cells, 4)) < [0.5, 0.5, 0.1, 0.05]) * rng.integers(1, 4, (cells, 4))
        keep = counts.sum(axis=1) > 0
        i, j, counts = i[keep], j[keep], counts[keep]
        if not len(i):
            continue
        expected = _separated_by_lp(i, j, counts, m)
        assert position_bias_separates(i, j, counts, m) == expected, (i, j, counts)
        found[expected] += 1
    assert min(found.values()) > 50       # both answers were exercised
