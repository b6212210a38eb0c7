"""labkit.metrics against values computed by hand (numpy only)."""
import json
import math

import numpy as np
import pytest

from labkit.metrics import (accuracy_by_bin, accuracy_ci, default_amplitude_edges, efficiency_at_misid,
                            efficiency_text, figure_of_merit, fmt_acc, mcnemar, mcnemar_text,
                            physics_report, robust_sigma, wilson)

Z = 1.959963984540054


def wilson_by_hand(k, n):
    # centre = (p + z²/2n) / (1 + z²/n);  half = z/(1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)
    p, z2 = k / n, Z * Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("k,n,expected", [
    # k=0, n=10: z² = 3.8415, 1 + z²/n = 1.38415, centre = 0.19207/1.38415 = 0.13876,
    # half = 1.95996/1.38415 · sqrt(3.8415/400) = 1.41601 · 0.09800 = 0.13876 -> (0, 0.2775)
    (0, 10, (0.0, 0.2775)),
    (10, 10, (0.7225, 1.0)),
    # k=5: centre 0.5, half = 1.41601 · sqrt(0.025 + 0.0096) = 1.41601 · 0.18601 = 0.2634
    (5, 10, (0.2366, 0.7634)),
])
def test_wilson_hand_values(k, n, expected):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(expected[0], abs=1e-4) and hi == pytest.approx(expected[1], abs=1e-4)
    hl, hh = wilson_by_hand(k, n)
    assert lo == pytest.approx(max(hl, 0), abs=1e-12) and hi == pytest.approx(min(hh, 1), abs=1e-12)


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(1792, 1800)
    assert 0 <= lo < 1792 / 1800 < hi <= 1


def test_accuracy_ci_and_fmt():
    d = accuracy_ci([0, 1, 1, 0], [0, 1, 0, 0])
    assert (d["k"], d["n"], d["acc"]) == (3, 4, 0.75)
    assert d["ci95"] == pytest.approx(list(wilson_by_hand(3, 4)))
    # p = 0.995556, 1 + z²/n = 1.0021342, centre = 0.996623/1.0021342 = 0.994501,
    # half = 1.95579 · sqrt(2.4582e-6 + 2.964e-7) = 0.003246 -> 0.9913–0.9977
    assert fmt_acc(1792, 1800) == "0.9956 (1792/1800, 95 % CI 0.9913–0.9977)"
    assert fmt_acc(d) == fmt_acc(3, 4)


@pytest.mark.parametrize("b,c,p", [
    (0, 5, 2 / 32),                    # 2 · C(5,0) / 2⁵
    (1, 9, 2 * (1 + 10) / 1024),       # 2 · (C(10,0) + C(10,1)) / 2¹⁰ = 0.021484375
    (7, 2, 2 * (1 + 9 + 36) / 512),    # 0.1797
    (0, 0, 1.0),
    (5, 5, 1.0),                       # 2 · 638/1024 > 1 -> clamped
])
def test_mcnemar_p(b, c, p):
    y = np.zeros(b + c + 3, int)
    a = np.r_[np.zeros(b, int), np.ones(c, int), 0, 0, 1]    # a right on the first b, wrong on the next c
    bb = np.r_[np.ones(b, int), np.zeros(c, int), 0, 0, 1]   # b the opposite; last 3 shared
    r = mcnemar(y, a, bb)
    assert (r["a_only"], r["b_only"], r["n"]) == (b, c, b + c + 3)
    assert r["p_value"] == pytest.approx(p, abs=1e-12)
    assert r["significant"] == (p < 0.05)


def test_mcnemar_counts_and_text():
    y = np.array([0, 0, 1, 1, 1, 0])
    a = np.array([0, 1, 1, 0, 1, 0])   # wrong at 1, 3
    b = np.array([0, 0, 0, 0, 1, 1])   # wrong at 2, 3, 5
    r = mcnemar(y, a, b)
    assert (r["a_only"], r["b_only"]) == (2, 1)   # a-only right: 2, 5; b-only right: 1
    r = {"a_only": 7, "b_only": 2, "p_value": 92 / 512, "significant": False}
    assert mcnemar_text("student", "amplitude cut", r) == (
        "student vs amplitude cut: 7 pulses right only for the student, 2 only for the amplitude cut; "
        "McNemar exact p = 0.18: not a significant difference at 5 %")


def test_fom_hand_values():
    assert robust_sigma(np.array([0.0, 1, 2])) == pytest.approx(1.4826)
    score, y = np.array([0.0, 1, 2, 10, 11, 12]), np.array([0, 0, 0, 1, 1, 1])
    assert figure_of_merit(score, y) == pytest.approx(10 / (2.355 * 2 * 1.4826))
    assert figure_of_merit(np.array([1.0, 1, 5, 5]), np.array([0, 0, 1, 1])) == math.inf


def test_efficiency_resolved():
    g = np.arange(1000.0)                          # gammas 0..999
    n = np.array([997.5, 998.0, 998.5, 999.5, 2000, 3000, 100, 5])
    score, y = np.r_[g, n], np.r_[np.zeros(1000, int), np.ones(8, int)]
    r = efficiency_at_misid(score, y, 1e-3)        # 1 gamma (999) may be above -> t = 998
    assert r["threshold"] == 998.0 and r["gamma_above"] == 1 and r["misid"] == 1e-3 and r["resolved"]
    assert (r["k"], r["n"]) == (4, 8)              # 998.5, 999.5, 2000, 3000; 998.0 at t is not selected
    assert r["neutron_eff"] == 0.5 and r["ci95"] == pytest.approx(list(wilson_by_hand(4, 8)))
    r = efficiency_at_misid(score, y, 1e-2)        # 10 gammas (990..999) above -> t = 989
    assert (r["threshold"], r["gamma_above"], r["k"]) == (989.0, 10, 6)
    assert "NOT resolved" not in efficiency_text(r)


def test_efficiency_unresolved():
    score = np.r_[np.arange(10.0), 8.5, 9.0, 9.5]
    y = np.r_[np.zeros(10, int), np.ones(3, int)]
    r = efficiency_at_misid(score, y, 1e-3)
    assert not r["resolved"] and r["threshold"] == 9.0 and r["gamma_above"] == 0
    assert (r["k"], r["n"]) == (1, 3)              # only 9.5 is strictly above the highest gamma
    assert "NOT resolved" in efficiency_text(r)


def test_accuracy_by_bin():
    amp = np.array([5, 19.9, 20, 50, 1024, 1024, 2000])
    yt = np.array([0, 1, 0, 1, 1, 0, 1])
    yp = np.array([0, 0, 0, 1, 1, 1, 1])
    bins = accuracy_by_bin(yt, yp, amp, default_amplitude_edges())
    assert [b["n"] for b in bins] == [2, 1, 1, 0, 0, 2]          # 1024 in the last bin, 2000 in none
    assert (bins[0]["n_gamma"], bins[0]["n_neutron"], bins[0]["acc"]) == (1, 1, 0.5)
    assert bins[3]["acc"] is None and bins[3]["ci95"] == [0.0, 1.0]
    assert (bins[5]["lo"], bins[5]["hi"], bins[5]["acc"]) == (320, 1024, 0.5)


def test_physics_report_json():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = rng.normal(y * 3.0, 1.0).astype(np.float32)
    amp = rng.uniform(0, 1024, 500).astype(np.float32)
    rep = physics_report(score, y, (score > 1.5).astype(np.int64), amp)
    json.loads(json.dumps(rep, allow_nan=False))
    assert set(rep) == {"accuracy", "fom", "eff_at_1e-3", "eff_at_1e-2", "by_amplitude"}
    assert rep["eff_at_1e-3"]["resolved"] is False and rep["eff_at_1e-2"]["resolved"] is True
    assert len(rep["by_amplitude"]) == 6 and sum(b["n"] for b in rep["by_amplitude"]) == 500


def test_roc_auc_counts_ordered_pairs():
    from labkit.metrics import roc_auc
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, [0.1, 0.4, 0.35, 0.8]) == 0.75        # 3 of 4 pairs ordered
    assert roc_auc(y, [0.1, 0.5, 0.5, 0.8]) == 0.875        # one tie counts one half
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 500), rng.normal(size=500).round(1)
    assert abs(roc_auc(y, s) - sklearn.roc_auc_score(y, s)) < 1e-12
