"""Synthetic CLYC generator: determinism, format, physics sanity, Zenodo round trip."""
from __future__ import annotations

import numpy as np
import pytest

from labkit.data.calibrate import pulse_measurements
from labkit.config import CFG
from labkit.data.formats import read_zenodo
from labkit.data.synth import DEFAULT_PARAMS, SynthTraces, generate, write_zenodo_dataset


@pytest.fixture(scope="module")
def small() -> SynthTraces:
    return generate(60, seed=7)


def test_deterministic_per_seed(small):
    again = generate(60, seed=7)
    for name in ("traces", "labels", "energy_kev", "amplitude"):
        np.testing.assert_array_equal(getattr(small, name), getattr(again, name))
    other = generate(60, seed=8)
    assert not np.array_equal(small.traces, other.traces)


def test_smaller_n_is_a_prefix_of_each_class(small):
    part = generate(10, seed=7)
    for c in range(CFG.n_classes):
        np.testing.assert_array_equal(part.traces[part.labels == c], small.traces[small.labels == c][:10])


def test_shapes_dtypes_ranges(small):
    n = 2 * 60
    assert small.traces.shape == (n, CFG.raw_trace_samples) and small.traces.dtype == np.uint16
    assert small.labels.dtype == np.int64 and small.labels.shape == (n,)
    assert np.array_equal(np.bincount(small.labels), [60, 60])
    assert small.energy_kev.dtype == np.float64 and small.amplitude.dtype == np.float64
    assert small.traces.max() <= CFG.adc_max
    assert np.all(small.energy_kev > 0) and np.all(small.amplitude > 0)
    assert small.windows().shape == (n, CFG.n_samples)
    empty = generate(0)
    assert empty.traces.shape == (0, CFG.raw_trace_samples) and len(empty) == 0


def test_pulses_are_negative_going_from_a_real_baseline(small):
    X = small.traces.astype(float)
    base = X[:, :100].mean(axis=1)
    levels = np.asarray(DEFAULT_PARAMS.baseline_levels)
    assert np.all(np.min(np.abs(base[:, None] - levels[None, :]), axis=1) < 4)
    depth = base - X[:, CFG.window_start:].min(axis=1)
    height = X[:, CFG.window_start:].max(axis=1) - base
    assert np.all(depth > 0.5 * small.amplitude)           # the pulse goes down ...
    assert np.all(height < 5)                               # ... never up (only noise)
    # the pulse peak falls inside the record, after the window start
    assert np.all(np.argmin(X, axis=1) > CFG.window_start)
    # baseline noise ~ 0.7 LSB after quantisation
    assert 0.55 < np.median(X[:, :100].std(axis=1)) < 0.85


def test_energy_consistent_with_amplitude(small):
    n = small.labels == 1
    ratio = small.energy_kev[n] / small.amplitude[n]
    assert np.median(ratio) == pytest.approx(3200 / 340, rel=0.05)


def test_classes_differ_in_the_early_leading_edge():
    d = generate(300, seed=3)
    m = pulse_measurements(d.traces)
    g, n = d.labels == 0, d.labels == 1
    for key, gap in (("h_0.1", 0.05), ("h_0.2", 0.05)):
        assert np.median(m[key][g]) - np.median(m[key][n]) > gap
    # ... but not in the rise time to 90 % (that is the SiPM integration, shared by both)
    assert np.median(m["rise_us"][g]) == pytest.approx(np.median(m["rise_us"][n]), rel=0.15)
    # onset: neutrons (large, slowly rising) reach their 10 % point later in the window
    assert np.median(m["onset"][n]) > np.median(m["onset"][g]) + 4


def _best_cut_accuracy(f, y):
    o = np.argsort(f)
    ys = y[o]
    c1 = np.concatenate([[0], np.cumsum(ys == 1)])
    c0 = np.concatenate([[0], np.cumsum(ys == 0)])
    n0, n1 = (y == 0).sum(), (y == 1).sum()
    return max(((c0 + n1 - c1) / len(y)).max(), ((c1 + n0 - c0) / len(y)).max())


def test_separable_but_not_trivially():
    d = generate(2000, seed=11)
    m = pulse_measurements(d.traces)
    X = d.traces.astype(float)
    pn = (m["baseline"][:, None] - X) / m["amplitude"][:, None]
    k = np.arange(X.shape[1])
    # peak-normalised early charge: mean normalised pulse over the 0.3 µs after the 10 % point
    pos = m["t10"][:, None] + np.arange(31)[None, :]
    early = np.array([np.interp(p, k, r) for p, r in zip(pos, pn)]).mean(axis=1)
    acc_psd = _best_cut_accuracy(early, d.labels)
    acc_amp = _best_cut_accuracy(m["amplitude"], d.labels)
    assert 0.990 < acc_psd < 0.9995, acc_psd
    assert 0.975 < acc_amp < 0.997, acc_amp


def test_only_leading_edges_trigger():
    """The trigger fires on a leading edge, never on the flat top of a pulse that barely reaches
    the threshold: every recorded pulse shows its leading edge inside the course window."""
    from labkit.data.baselines import amplitude
    d = generate(1500, seed=CFG.seed)
    g = d.labels == 0
    # before the leading-edge filter, ~4 % of these gammas showed 0-5 counts in the window
    assert amplitude(d.windows())[g].min() >= 5
    assert d.amplitude.min() > DEFAULT_PARAMS.trigger_threshold
    # the window holds the rise: the in-window height tracks the true amplitude
    assert np.all(amplitude(d.windows()) > 0.4 * d.amplitude)


def test_trigger_gap_must_fit_before_the_trigger():
    from dataclasses import replace
    for gap in (0, DEFAULT_PARAMS.trigger_position + 1):
        with pytest.raises(ValueError, match="trigger_gap"):
            generate(2, params=replace(DEFAULT_PARAMS, trigger_gap=gap))


def test_zenodo_round_trip(tmp_path):
    paths = write_zenodo_dataset(tmp_path, 5, seed=3)
    assert set(paths) == set(CFG.class_names)
    pulses = read_zenodo(tmp_path, progress=False)
    ref = generate(5, seed=3)
    np.testing.assert_array_equal(pulses.X, ref.windows())
    np.testing.assert_array_equal(pulses.y, ref.labels)
    np.testing.assert_allclose(pulses.meta["energy"], ref.energy_kev, atol=0.006)
    assert np.isnan(pulses.meta["fci"]).all()


def test_refuses_to_overwrite(tmp_path):
    write_zenodo_dataset(tmp_path, 2, seed=1)
    before = (tmp_path / "gamma.csv").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_zenodo_dataset(tmp_path, 2, seed=2)
    assert (tmp_path / "gamma.csv").read_bytes() == before
    write_zenodo_dataset(tmp_path, 2, seed=2, overwrite=True)
    assert (tmp_path / "gamma.csv").read_bytes() != before


def test_bad_n():
    with pytest.raises(ValueError):
        generate(-1)
