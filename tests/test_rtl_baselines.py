"""The classical cuts as RTL (labkit.rtl.baselines): Icarus decisions equal the Python cuts', Yosys cost."""

import numpy as np
import pytest

from labkit import data
from labkit.config import CFG
from labkit.data import baselines as cuts
from labkit.data import synth
from labkit.rtl import baselines as rb
from labkit.rtl import tools


@pytest.fixture(scope="module")
def pulses():
    """Small synthetic set (the course generator) plus hostile windows: flat, saturated, all-zero,
    a positive-going excursion (peak clamps to 1) and a full-scale pulse."""
    s = synth.generate(60, seed=7)
    X = data.windows_from_traces(s.traces)
    y = s.labels.copy()
    flat = np.full((1, CFG.n_samples), 800, np.uint16)
    zero = np.zeros((1, CFG.n_samples), np.uint16)
    sat = np.full((1, CFG.n_samples), CFG.adc_max, np.uint16)
    up = flat.copy(); up[0, 30:60] = 900
    full = sat.copy(); full[0, 40:80] = 0
    extra = np.concatenate([flat, zero, sat, up, full])
    return np.concatenate([X, extra]), np.concatenate([y, [0, 0, 0, 0, 1]])


@pytest.fixture(scope="module")
def fitted(pulses):
    X, y = pulses
    return cuts.amplitude_cut(X, y), rb.early_charge_window(X, y, starts=(10, 18, 26), gates=(10, 25))


def test_ratio_constants_are_the_float_cut():
    """(M*P) >> F is the largest S the float cut keeps on the lower side, for every peak P."""
    rng = np.random.default_rng(3)
    for thr in list(rng.uniform(-3, 30, 6)) + [0.0, 7.362116804654285, 0.5, 1 / 3]:
        for sign in (1, -1):
            clf = rb.WindowRatioCut("t", gate=5, threshold=float(thr), sign=sign)
            M, F = rb.ratio_constants(clf)
            for P in (1, 2, 3, 7, 100, 511, 1023):
                c = (M * P) >> F
                for S in range(c - 2, c + 3):
                    upper = float(S) / P > thr if sign > 0 else not float(S) / P < thr
                    assert upper == (S > c), (thr, sign, P, S)


def test_csd_digits():
    for M in list(range(-200, 200)) + [964967, -964967, 2 ** 40 + 3]:
        assert sum(d << k for k, d in rb.csd(M)) == M


_no_iverilog = tools.missing("iverilog")


@pytest.mark.skipif(_no_iverilog is not None, reason=f"RTL baselines need Icarus Verilog: {_no_iverilog}")
def test_icarus_decisions_equal_python_cuts(pulses, fitted):
    X, _ = pulses
    amp, ratio = fitted
    for clf in (amp, ratio):
        assert np.array_equal(rb.simulate(clf, X), clf.predict(X)), clf.name
    # the other direction and thresholds at / outside the range (integer, half-integer, negative, huge)
    for thr, sign in ((amp.threshold, -1), (200.0, 1), (-3.0, 1), (5000.0, 1), (0.0, -1)):
        clf = cuts.CutClassifier("amplitude cut", threshold=thr, sign=sign)
        assert np.array_equal(rb.simulate(clf, X), clf.predict(X)), (thr, sign)
    clf = rb.WindowRatioCut("w", gate=ratio.gate, start=ratio.start, threshold=ratio.threshold, sign=-ratio.sign)
    assert np.array_equal(rb.simulate(clf, X), clf.predict(X))


def test_a_cut_without_rtl_form_says_so():
    with pytest.raises(ValueError, match="no RTL form"):
        rb.verilog(cuts.CutClassifier("tail", gate=10, feature="tail_total"))


_no_yosys = tools.missing("yosys")


@pytest.mark.skipif(_no_yosys is not None, reason=f"Yosys synthesis of the baselines needs Yosys: {_no_yosys}")
def test_yosys_amplitude_cut_uses_luts_and_no_dsp(fitted, tmp_path):
    r = rb.synthesize(fitted[0], workdir=tmp_path)
    assert r["lut"] > 0 and r["dsp"] == 0 and r["ff"] == 1


def test_report_names_an_unknown_cut():
    from labkit.rtl.baselines import report
    with pytest.raises(ValueError, match="amplitude cut"):
        report(None, None, which=("energy cut",))
