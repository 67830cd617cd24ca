"""Active pair sampling: gap-variance weights (pure numpy) and the arena's sampler on a database."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sqlmodel import select
from toy_catalog import make_toy_catalog

from arena.collect.sampling import PairSampler
from arena.collect.voting import issue_pair, record_vote
from arena.store.db import session
from arena.store.schema import Impression, Model, Vote
from scoring.active_sampling import fit_strengths, gap_variance_reduction, pair_weights, win_matrix
from scoring.errors import ScoringError


def all_pairs(m: int) -> np.ndarray:
    i, j = np.triu_indices(m, k=1)
    return np.stack([i, j], axis=1)


def expected_wins(theta, n_each: float) -> np.ndarray:
    """Every ordered pair compared ``n_each`` times, wins at their expected Bradley-Terry rate."""
    theta = np.asarray(theta, dtype=float)
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    np.fill_diagonal(p, 0.0)
    return n_each * p


def weight_of(weights, pairs, a, b) -> float:
    k = [tuple(sorted(p)) for p in pairs.tolist()].index(tuple(sorted((a, b))))
    return float(weights[k])


# -- the weights -------------------------------------------------------------------------------
def test_weights_are_probabilities_with_a_uniform_floor():
    rng = np.random.default_rng(0)
    wins = rng.poisson(3.0, size=(6, 6)).astype(float)
    np.fill_diagonal(wins, 0)
    pairs = all_pairs(6)
    for share in (0.0, 0.1, 0.5, 1.0):
        w = pair_weights(6, pairs, wins, uniform_share=share)
        assert w.shape == (len(pairs),)
        assert w.sum() == pytest.approx(1.0)
        assert np.all(w >= share / len(pairs) - 1e-12)
    assert pair_weights(6, pairs, wins, uniform_share=1.0) == pytest.approx(np.full(15, 1 / 15))


def test_no_votes_give_uniform_weights():
    pairs = all_pairs(5)
    assert pair_weights(5, pairs, np.zeros((5, 5))) == pytest.approx(np.full(10, 0.1))
    some = pairs[[0, 3, 7]]
    assert pair_weights(5, some, np.zeros((5, 5))) == pytest.approx(np.full(3, 1 / 3))


def test_well_measured_pair_gets_less_weight_than_unvoted_models():
    wins = np.zeros((4, 4))
    wins[0, 1], wins[1, 0] = 30.0, 25.0  # models 2 and 3 never played
    pairs = all_pairs(4)
    w = pair_weights(4, pairs, wins)
    assert weight_of(w, pairs, 0, 1) < weight_of(w, pairs, 2, 3)
    assert weight_of(w, pairs, 0, 1) < min(weight_of(w, pairs, 0, 2), weight_of(w, pairs, 1, 3))
    # the measured pair keeps only about its uniform share
    assert weight_of(w, pairs, 0, 1) < 2 * 0.1 / len(pairs)


def test_close_neighbours_outweigh_a_far_apart_well_measured_pair():
    wins = expected_wins([-2.0, 0.0, 0.15, 2.0], n_each=40)
    pairs = all_pairs(4)
    w = pair_weights(4, pairs, wins)
    assert weight_of(w, pairs, 1, 2) > 3 * weight_of(w, pairs, 0, 3)


def test_reduction_is_the_exact_rank_one_update():
    rng = np.random.default_rng(3)
    wins = rng.poisson(2.0, size=(5, 5)).astype(float)
    np.fill_diagonal(wins, 0)
    fit = fit_strengths(wins)
    pairs = all_pairs(5)
    got = gap_variance_reduction(fit, pairs)
    info = np.linalg.inv(fit.covariance)
    for (i, j), r in zip(pairs, got):
        d = np.zeros(5)
        d[i], d[j] = 1.0, -1.0
        p = 1 / (1 + np.exp(-(fit.theta[i] - fit.theta[j])))
        after = np.linalg.inv(info + p * (1 - p) * np.outer(d, d))
        order = fit.order
        gaps = lambda c: sum(c[a, a] + c[b, b] - 2 * c[a, b] for a, b in zip(order[:-1], order[1:]))  # noqa: E731
        assert r == pytest.approx(gaps(fit.covariance) - gaps(after), rel=1e-8, abs=1e-12)


def test_fit_is_finite_for_an_unbeaten_model_and_orders_by_strength():
    wins = np.zeros((3, 3))
    wins[0, 1], wins[0, 2], wins[1, 2], wins[2, 1] = 12.0, 9.0, 6.0, 2.0
    fit = fit_strengths(wins)
    assert np.all(np.isfinite(fit.theta)) and np.all(np.isfinite(fit.covariance))
    assert fit.order.tolist() == [0, 1, 2]
    assert np.all(np.linalg.eigvalsh(fit.covariance) > 0)


def test_win_matrix_counts_ties_half_to_each_side():
    w = win_matrix(3, [0, 1, 2, 0], [1, 0, 0, 2], [1.0, 1.0, 0.5, 0.0], [3, 2, 4, 1])
    assert w.tolist() == [[0, 3, 2], [2, 0, 0], [3, 0, 0]]


@pytest.mark.parametrize("call, message", [
    (lambda: pair_weights(3, [[0, 3]], np.zeros((3, 3))), "out of range"),
    (lambda: pair_weights(3, [[1, 1]], np.zeros((3, 3))), "two different"),
    (lambda: pair_weights(3, [0, 1], np.zeros((3, 3))), "k x 2"),
    (lambda: pair_weights(3, np.zeros((0, 2), int), np.zeros((3, 3))), "non-empty"),
    (lambda: pair_weights(3, [[0.0, 1.0]], np.zeros((3, 3))), "integer"),
    (lambda: pair_weights(3, [[0, 1]], np.zeros((2, 2))), "shape"),
    (lambda: pair_weights(3, [[0, 1]], -np.ones((3, 3))), "non-negative"),
    (lambda: pair_weights(3, [[0, 1]], np.eye(3)), "diagonal"),
    (lambda: pair_weights(3, [[0, 1]], np.zeros((3, 3)), uniform_share=1.5), "uniform_share"),
    (lambda: pair_weights(3, [[0, 1]], np.ones((3, 3)) - np.eye(3), prior=0.0), "prior"),
    (lambda: pair_weights(1, [[0, 1]], np.zeros((1, 1))), "n_models"),
    (lambda: win_matrix(2, [0], [2], [1.0]), "out of range"),
    (lambda: win_matrix(2, [0], [1], [2.0]), "score"),
])
def test_bad_input_is_a_named_error(call, message):
    with pytest.raises(ScoringError, match=message):
        call()


# -- the point of it: a simulation -------------------------------------------------------------
TRUTH = np.linspace(-2.0, 2.0, 8)


def simulate(seed: int, active: bool, draws: int = 800, batch: int = 50):
    """Sequential comparisons of the ``TRUTH`` models, weights refitted every ``batch`` draws.

    Returns the posterior variance and the squared error of the truly adjacent gaps, summed.
    """
    rng = np.random.default_rng(seed)
    m = len(TRUTH)
    pairs = all_pairs(m)
    wins = np.zeros((m, m))
    for _ in range(draws // batch):
        p = pair_weights(m, pairs, wins) if active else np.full(len(pairs), 1 / len(pairs))
        k = rng.choice(len(pairs), size=batch, p=p)
        a, b = pairs[k, 0], pairs[k, 1]
        left_wins = rng.random(batch) < 1 / (1 + np.exp(-(TRUTH[a] - TRUTH[b])))
        wins += win_matrix(m, a, b, left_wins.astype(float))
    fit = fit_strengths(wins)
    hi, lo = np.argsort(-TRUTH)[:-1], np.argsort(-TRUTH)[1:]
    c = fit.covariance
    variance = np.sum(c[hi, hi] + c[lo, lo] - 2 * c[hi, lo])
    error = np.sum(((fit.theta[hi] - fit.theta[lo]) - (TRUTH[hi] - TRUTH[lo])) ** 2)
    return variance, error


def test_variance_rule_measures_adjacent_gaps_better_than_uniform_sampling():
    seeds = range(100)
    active = np.array([simulate(s, True) for s in seeds]).mean(axis=0)
    uniform = np.array([simulate(s, False) for s in seeds]).mean(axis=0)
    # about 0.76 and 0.75 of uniform's over these seeds (0.77 and 0.85 at worst over other blocks
    # of 100 seeds)
    assert active[0] < 0.85 * uniform[0]
    assert active[1] < 0.95 * uniform[1]


# -- the arena's sampler -----------------------------------------------------------------------
def add_votes(arena, task, left, right, choices, check_kind="none"):
    with session(arena.engine) as s:
        for choice in choices:
            s.add(Vote(task=task, left_model_id=left.id, right_model_id=right.id, choice=choice,
                       check_kind=check_kind))
        s.commit()


def sampler_weights(arena, task: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Model ids (sorted), the candidate pairs and the expected weights, from the votes."""
    with session(arena.engine) as s:
        ids = sorted(m.id for m in s.exec(select(Model)).all())
        votes = s.exec(select(Vote).where(Vote.task == task, Vote.check_kind != "repeat")).all()
    col = {mid: k for k, mid in enumerate(ids)}
    score = {"left": 1.0, "right": 0.0, "tie": 0.5, "both_bad": 0.5, "model_a": 1.0}
    wins = win_matrix(len(ids), np.array([col[v.left_model_id] for v in votes], dtype=int),
                      np.array([col[v.right_model_id] for v in votes], dtype=int),
                      [score[v.choice] for v in votes])
    pairs = all_pairs(len(ids))
    return ids, pairs, pair_weights(len(ids), pairs, wins)


def test_sampler_logs_the_propensity_of_the_variance_rule(arena):
    models = make_toy_catalog(arena)
    make_toy_catalog(arena, task="restyle")
    a, b, c = models["alpha"], models["beta"], models["gamma"]
    add_votes(arena, "recolor", a, b, ["left"] * 5 + ["right"] * 3 + ["tie", "both_bad", "model_a"])
    add_votes(arena, "recolor", b, c, ["left"] * 2)
    add_votes(arena, "recolor", a, c, ["right"] * 50, check_kind="repeat")  # left out
    ids, pairs, weights = sampler_weights(arena, "recolor")
    sampler = PairSampler(arena.engine, seed=7, cache_s=0)
    for task, p_task in (("recolor", 1.0), (None, 0.5)):
        for _ in range(20):
            choice = sampler.choose(task)
            assert choice.sampler == sampler.name == "variance-mix"
            if choice.task != "recolor":
                continue
            w = weight_of(weights, pairs, ids.index(choice.left_model_id),
                          ids.index(choice.right_model_id))
            assert choice.propensity == pytest.approx(p_task * w / 4 / 2, rel=1e-9)
    # through the vote path: the impression stores the sampler's name and propensity
    arena.sampler.invalidate()
    pair = issue_pair(arena, "recolor")
    record_vote(arena, pair["impression_id"], pair["token"], "left")
    with session(arena.engine) as s:
        imp = s.get(Impression, pair["impression_id"])
    w = weight_of(weights, pairs, ids.index(imp.left_model_id), ids.index(imp.right_model_id))
    assert imp.sampler == "variance-mix"
    assert imp.propensity == pytest.approx(w / 4 / 2, rel=1e-9)


def test_sampler_draws_a_heavily_voted_pair_less_often(arena):
    models = make_toy_catalog(arena)
    a, b, c = models["alpha"], models["beta"], models["gamma"]
    add_votes(arena, "recolor", a, b, ["left", "right", "tie"] * 12)
    sampler = PairSampler(arena.engine, seed=11, cache_s=0)
    drawn = Counter()
    for _ in range(300):
        choice = sampler.choose("recolor")
        drawn[frozenset((choice.left_model_id, choice.right_model_id))] += 1
    voted = drawn[frozenset((a.id, b.id))]
    assert voted < drawn[frozenset((a.id, c.id))] / 3
    assert voted < drawn[frozenset((b.id, c.id))] / 3


def test_refreshes_count_only_new_votes_and_agree_with_a_full_count(arena):
    models = make_toy_catalog(arena)
    make_toy_catalog(arena, task="restyle")
    a, b, c = models["alpha"], models["beta"], models["gamma"]
    add_votes(arena, "recolor", a, b, ["left"] * 6 + ["tie"])
    kept = PairSampler(arena.engine, seed=1, cache_s=0, recount_s=1e9)
    before = kept._current()
    add_votes(arena, "recolor", b, c, ["right"] * 9 + ["both_bad"] * 2)
    add_votes(arena, "recolor", a, c, ["right"] * 3, check_kind="repeat")   # left out
    after = kept._current()
    with session(arena.engine) as s:
        top = max(v.id for v in s.exec(select(Vote)).all())
    assert after is not before and kept._counts.last_id == top
    assert after.weights["restyle"] is before.weights["restyle"]            # no new votes there
    full = PairSampler(arena.engine, seed=1, cache_s=0)._current()
    assert set(after.weights) == set(full.weights) == {"recolor", "restyle"}
    for task in full.weights:
        assert after.weights[task] == pytest.approx(full.weights[task], rel=1e-12)
    assert not np.allclose(after.weights["recolor"], before.weights["recolor"])


def test_a_draw_does_not_wait_for_a_refresh_in_progress(arena):
    make_toy_catalog(arena)
    sampler = PairSampler(arena.engine, seed=2, cache_s=0)
    first = sampler._current()
    make_toy_catalog(arena, task="restyle")      # new outputs; this sampler is stale by time only
    with sampler._loading:                       # another thread is refreshing
        assert sampler.tasks() == ["recolor"] and sampler._current() is first
        assert sampler.choose().task == "recolor"
    assert sampler.tasks() == ["recolor", "restyle"]


def test_a_voter_is_not_shown_the_same_pair_twice_in_a_row(arena):
    make_toy_catalog(arena, models=("alpha", "beta"), items=2)      # two presentations in all
    shown = []
    for _ in range(40):
        pair = issue_pair(arena, "recolor", "voter-norepeat-01")
        record_vote(arena, pair["impression_id"], pair["token"], "left")
        with session(arena.engine) as s:
            shown.append(s.get(Impression, pair["impression_id"]))
    for before, now in zip(shown, shown[1:]):
        if now.check_kind == "none":                                # planted repeats come back on purpose
            assert now.item_id != before.item_id
            assert now.propensity == pytest.approx(0.5)             # the other item, either side
    assert issue_pair(arena, "recolor")["impression_id"]            # no voter: nothing to avoid


def test_avoiding_a_pair_gives_the_exact_conditional_propensity(arena):
    models = make_toy_catalog(arena)
    a, b = models["alpha"], models["beta"]
    add_votes(arena, "recolor", a, b, ["left", "right"] * 6)
    ids, pairs, weights = sampler_weights(arena, "recolor")
    sampler = PairSampler(arena.engine, seed=5, cache_s=0)
    first = sampler.choose("recolor")
    avoid = (first.item_id, first.left_output_id, first.right_output_id)
    w_avoid = weight_of(weights, pairs, ids.index(first.left_model_id), ids.index(first.right_model_id))
    p_avoid = w_avoid / 4                                           # 4 items share every pair
    for _ in range(100):
        got = sampler.choose("recolor", avoid=avoid)
        assert (got.item_id, {got.left_output_id, got.right_output_id}) != (avoid[0], set(avoid[1:]))
        w = weight_of(weights, pairs, ids.index(got.left_model_id), ids.index(got.right_model_id))
        assert got.propensity == pytest.approx(w / 4 / 2 / (1 - p_avoid), rel=1e-9)


def test_the_only_pair_there_is_is_shown_again(arena):
    make_toy_catalog(arena, models=("alpha", "beta"), items=1)
    sampler = PairSampler(arena.engine, seed=3, cache_s=0)
    first = sampler.choose()
    again = sampler.choose(avoid=(first.item_id, first.left_output_id, first.right_output_id))
    assert again.item_id == first.item_id and again.propensity == pytest.approx(0.5)


def test_a_planted_gold_pair_that_equals_the_last_pair_waits(arena, monkeypatch):
    import arena.collect.issuing as issuing
    from arena.collect.checks import CheckChoice

    make_toy_catalog(arena, models=("alpha", "beta"), items=2)
    first = issue_pair(arena, "recolor", "voter-goldgap-01", hold=False)
    with session(arena.engine) as s:
        shown = s.get(Impression, first["impression_id"])
    gold = CheckChoice(task="recolor", item_id=shown.item_id, left_output_id=shown.right_output_id,
                       right_output_id=shown.left_output_id, left_model_id=shown.right_model_id,
                       right_model_id=shown.left_model_id, sampler="check-gold", propensity=0.01,
                       check_kind="gold")
    monkeypatch.setattr(issuing, "plan_check", lambda *a, **k: gold)
    second = issue_pair(arena, "recolor", "voter-goldgap-01", hold=False)
    third = issue_pair(arena, "recolor", "voter-goldgap-01", hold=False)
    with session(arena.engine) as s:
        kinds = [s.get(Impression, p["impression_id"]).check_kind for p in (second, third)]
    assert kinds == ["none", "gold"]      # the gold pair comes once another pair came between
