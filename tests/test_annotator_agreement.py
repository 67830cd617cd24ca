"""Annotator agreement: Krippendorff's alpha, Fleiss' kappa, bootstrap, per-annotator scores."""
import time

import numpy as np
import pytest

from scoring.annotator_agreement import (ORDINAL_RANK, annotator_scores, fleiss_kappa,
                                         label_table, reliability)
from scoring.errors import ScoringError

krippendorff = pytest.importorskip("krippendorff")


def random_table(rng, units=60, coders=5, missing=0.35, p=(0.4, 0.3, 0.2, 0.1)):
    codes = rng.choice(4, size=(units, coders), p=p).astype(np.int8)
    codes[rng.random(codes.shape) < missing] = -1
    return codes


def correlated_table(rng, units=300, coders=5, noise=0.3, missing=0.2):
    truth = rng.choice(4, size=units)
    codes = np.where(rng.random((units, coders)) < noise,
                     rng.choice(4, size=(units, coders)), truth[:, None]).astype(np.int8)
    codes[rng.random(codes.shape) < missing] = -1
    return codes


def reference_alpha(codes, level):
    data = codes.T.astype(float)
    if level == "ordinal":
        data = np.where(codes.T >= 0, ORDINAL_RANK[codes.T], -1).astype(float)
    data[data < 0] = np.nan
    domain = [0, 1, 2] if level == "ordinal" else [0, 1, 2, 3]
    return krippendorff.alpha(reliability_data=data, value_domain=domain,
                              level_of_measurement=level)


@pytest.mark.parametrize("seed", range(8))
def test_alpha_matches_krippendorff_package(seed):
    rng = np.random.default_rng(seed)
    codes = random_table(rng) if seed % 2 else correlated_table(rng, units=80)
    res = reliability(codes, rounds=0)
    assert res.alpha_nominal.value == pytest.approx(reference_alpha(codes, "nominal"),
                                                    abs=1e-9)
    assert res.alpha_ordinal.value == pytest.approx(reference_alpha(codes, "ordinal"),
                                                    abs=1e-9)


def test_fleiss_kappa_textbook_example():
    # 10 subjects, 14 raters, 5 categories: p_j = .143 .200 .279 .150 .229, P = .378,
    # P_e = .213, kappa = .210 (the worked example of Fleiss' kappa, e.g. Wikipedia).
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                      [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                      [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    n = 14
    p_bar = ((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean()
    p_e = ((table.sum(axis=0) / table.sum()) ** 2).sum()
    assert p_bar == pytest.approx(0.378, abs=5e-4) and p_e == pytest.approx(0.213, abs=5e-4)
    assert fleiss_kappa(table) == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-12)
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_unequal_raters_and_single_labels():
    # Gwet's generalisation: mean P_u over units with >= 2 labels, shares averaged per unit.
    codes = np.array([[0, 0, -1], [0, 1, 1], [2, 2, 2], [3, -1, -1]], dtype=np.int8)
    p_u = np.array([1.0, 1 / 3, 1.0])
    shares = np.array([[1, 0, 0, 0], [1 / 3, 2 / 3, 0, 0], [0, 0, 1, 0]]).mean(axis=0)
    p_e = (shares ** 2).sum()
    res = reliability(codes, rounds=0)
    assert res.fleiss_kappa.value == pytest.approx((p_u.mean() - p_e) / (1 - p_e), abs=1e-12)
    assert res.units == 3 and res.labels == 9


def test_perfect_agreement_is_one():
    codes = np.repeat(np.array([0, 1, 2, 3, 0, 2, 1, 3])[:, None], 4, axis=1).astype(np.int8)
    codes[0, 1] = codes[5, 3] = -1
    res = reliability(codes, rounds=50)
    assert res.alpha_nominal.value == pytest.approx(1.0)
    assert res.alpha_ordinal.value == pytest.approx(1.0)
    assert res.fleiss_kappa.value == pytest.approx(1.0)


def test_independent_labels_give_about_zero():
    res = reliability(random_table(np.random.default_rng(3), units=5000, missing=0.3),
                      rounds=0)
    for est in (res.alpha_nominal, res.alpha_ordinal, res.fleiss_kappa):
        assert abs(est.value) < 0.02


def test_undefined_figures_are_nan():
    single = np.array([[0, -1], [-1, 2], [3, -1]], dtype=np.int8)
    res = reliability(single, rounds=20)
    assert res.units == 0
    assert np.isnan(res.alpha_nominal.value) and np.isnan(res.fleiss_kappa.value)
    assert res.to_dict()["fleiss_kappa"] == {"value": None, "low": None, "high": None}
    same = np.zeros((5, 3), dtype=np.int8)       # one value everywhere: no expected disagreement
    assert np.isnan(reliability(same, rounds=0).alpha_nominal.value)
    bad_only = np.full((4, 2), 3, dtype=np.int8)  # both_bad is missing in the ordinal alpha
    assert np.isnan(reliability(bad_only, rounds=0).alpha_ordinal.value)


def test_bootstrap_contains_estimate_and_is_seeded():
    codes = correlated_table(np.random.default_rng(11))
    a = reliability(codes, rounds=400, seed=5)
    b = reliability(codes, rounds=400, seed=5)
    c = reliability(codes, rounds=400, seed=6)
    assert a == b and a != c
    for est in (a.alpha_nominal, a.alpha_ordinal, a.fleiss_kappa):
        assert est.low < est.value < est.high
        assert est.high - est.low < 0.2
    narrow = reliability(codes, rounds=400, seed=5, level=0.5).alpha_nominal
    assert a.alpha_nominal.low < narrow.low < narrow.high < a.alpha_nominal.high


def test_label_table_from_columns():
    t = label_table(["p2", "p1", "p1", "p2", "p3"], ["bo", "al", "bo", "al", "al"],
                    ["left", "tie", "both_bad", 1, "right"])
    assert t.units == ("p1", "p2", "p3") and t.coders == ("al", "bo")
    assert t.codes.tolist() == [[2, 3], [1, 0], [1, -1]]
    coded = label_table([1, 1], [0, 1], np.array([0, 3]))
    assert coded.codes.tolist() == [[0, 3]]
    with pytest.raises(ScoringError):
        label_table([1, 1], ["a", "a"], ["left", "right"])
    with pytest.raises(ScoringError):
        label_table([1, 2], ["a"], ["left"])


def test_leave_one_out_majority_and_gold():
    # units u1..u4, annotators a, b, c, d
    t = label_table(
        ["u1"] * 4 + ["u2"] * 4 + ["u3"] * 3 + ["u4"] * 2,
        ["a", "b", "c", "d", "a", "b", "c", "d", "a", "b", "c", "a", "d"],
        ["left", "left", "left", "right",        # u1: others of d say left
         "tie", "tie", "right", "right",         # u2: a's others: tie 1 right 2; c's: tie 2
         "both_bad", "left", "right",            # u3: every leave-one-out is a tie
         "right", "right"])                      # u4: one other each
    s = annotator_scores(t, gold={"u1": "left", "u2": "tie", "u4": 1, "gone": "left"})
    assert s.coders == ("a", "b", "c", "d")
    # a: u1 agree (left), u2 disagree (others right), u4 agree -> 2/3
    # b: u1 agree, u2 others tie 1, right 2 -> disagree -> 1/2
    # c: u1 agree, u2 others tie 2, right 1 -> disagree (c said right) -> 1/2
    # d: u1 disagree (right vs left), u2 others tie 2 right 1 -> disagree, u4 agree -> 1/3
    assert s.compared.tolist() == [3, 2, 2, 3]
    assert s.majority_agreement == pytest.approx([2 / 3, 1 / 2, 1 / 2, 1 / 3])
    assert s.confusion[3].tolist()[1] == [1, 1, 1, 0]    # d said right: left, right, tie
    assert s.confusion.sum() == s.compared.sum()
    # gold: a u1 ok, u2 ok, u4 ok; b u1 ok, u2 ok; c u1 ok, u2 wrong; d u1 wrong, u2 wrong, u4 ok
    assert s.gold_answered.tolist() == [3, 2, 2, 3]
    assert s.gold_accuracy == pytest.approx([1, 1, 1 / 2, 1 / 3])
    none = annotator_scores(t)
    assert none.gold_answered.sum() == 0 and np.isnan(none.gold_accuracy).all()
    assert none.to_dict()["a"]["gold_accuracy"] is None


def test_runtime_ten_thousand_units():
    codes = correlated_table(np.random.default_rng(0), units=10_000, coders=5)
    start = time.perf_counter()
    reliability(codes, rounds=1000)
    annotator_scores(codes, gold={i: 0 for i in range(0, 10_000, 10)})
    assert time.perf_counter() - start < 1.0


def test_ordinal_scale_and_empty_table():
    from scoring.columns import CHOICES
    rank = {c: ORDINAL_RANK[i] for i, c in enumerate(CHOICES)}
    assert rank["left"] < rank["tie"] < rank["right"] and rank["both_bad"] == -1
    res = reliability(np.empty((0, 3), dtype=np.int8), rounds=10)
    assert res.units == 0 and np.isnan(res.alpha_ordinal.value)
    with pytest.raises(ScoringError):
        reliability(np.array([[0, 4]]))
