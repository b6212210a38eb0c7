"""``labkit calibrate``: tolerance against the real traces (when present) and a CLI smoke test."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import labkit
from labkit.data import calibrate
from labkit.course import cli
from labkit.config import CFG
from labkit.data.synth import generate

REAL_NAME = "clyc_real_traces_200.csv"


def real_traces_path() -> Path:
    env = os.environ.get("LABKIT_SHARED_DATA")
    folder = Path(env) if env else Path(labkit.__file__).resolve().parents[2] / "shared" / "data"
    return folder / REAL_NAME


def _write_trace_table(path: Path, traces: np.ndarray, labels: np.ndarray) -> Path:
    """A small file in the trace-table layout (label, fci_ref_100msps, s0…s2047)."""
    n = 2048
    with open(path, "w") as fh:
        fh.write("label,fci_ref_100msps," + ",".join(f"s{i}" for i in range(n)) + "\n")
        for row, y in zip(traces[:, :n].astype(int).tolist(), labels.tolist()):
            fh.write(f"{CFG.class_names[y]},0.5," + ",".join(map(str, row)) + "\n")
    return path


@pytest.mark.real
def test_synthetic_matches_real_within_tolerance():
    path = real_traces_path()
    if not path.exists():
        pytest.skip(f"real CLYC traces not found at {path} (set LABKIT_SHARED_DATA to the folder holding {REAL_NAME})")
    from labkit.data.formats import read_trace_table

    X, y = read_trace_table(path)
    syn = generate(1500, CFG.seed)
    rows = calibrate.compare(X, y, syn.traces, syn.labels)
    checked = [r for r in rows if r["ok"] is not None]
    assert len(checked) == len(calibrate.SHAPE_KEYS) * CFG.n_classes
    bad = [f"{r['class']}/{r['figure']}: real {r['real']:.3f} synth {r['synth']:.3f}" for r in checked if not r["ok"]]
    assert not bad, bad
    spectrum = calibrate.spectrum_check(syn.traces, syn.labels)
    bad = [f"{s['figure']}: {s['synth']:.1f} vs {s['fact']}" for s in spectrum if not s["ok"]]
    assert not bad, bad


@pytest.mark.real
def test_low_amplitude_gammas_like_the_real_windows():
    """The trigger records no gamma below the real data's smallest in-window amplitude (a plain
    threshold used to let ~4 % of them in at 0-5 counts), and about as many small ones."""
    path = real_traces_path().with_name("clyc_real_windows_dev.csv")
    if not path.exists():
        pytest.skip(f"real CLYC windows not found at {path} (set LABKIT_SHARED_DATA to the folder holding it)")
    from labkit.data import baselines
    from labkit.data.formats import read_windows

    real = read_windows(path)
    a_real = baselines.amplitude(real.X)[real.y == 0]
    syn = generate(1500, CFG.seed)
    a_syn = baselines.amplitude(syn.windows())[syn.labels == 0]
    assert (a_syn < a_real.min()).mean() <= 0.002, (a_syn.min(), a_real.min())
    assert abs((a_syn < 10).mean() - (a_real < 10).mean()) < 0.03
    assert abs(np.median(a_syn) - np.median(a_real)) / np.median(a_real) < 0.15


def test_shape_figures_keys_and_values():
    syn = generate(100, seed=5)
    figs = calibrate.shape_figures(syn.traces, syn.labels)
    assert set(figs) == set(CFG.class_names)
    for name, f in figs.items():
        for key in list(calibrate.SHAPE_KEYS) + list(calibrate.INFO_KEYS):
            assert np.isfinite(f[key]), (name, key)
        assert 0.5 < f["rise_us"] < 1.2 and 0 < f["h_0.1"] < f["h_0.2"] < f["h_0.4"] < 1
    # also works on 2048-sample traces (the real trace-table length)
    short = calibrate.shape_figures(syn.traces[:, :2048], syn.labels)
    assert short["gamma"]["h_0.1"] == pytest.approx(figs["gamma"]["h_0.1"])


def test_cli_smoke(tmp_path, capsys):
    # a stand-in "real" table (synthetic, other seed) keeps this test independent of shared data
    fake = generate(30, seed=99)
    real = _write_trace_table(tmp_path / "real.csv", fake.traces, fake.labels)
    plot = tmp_path / "plots" / "comparison.png"
    assert cli.main(["calibrate", "--real", str(real), "--n", "150", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert plot.exists() and plot.stat().st_size > 10_000
    assert str(plot) in out
    for text in ("10-90 % rise", "height @ t10+0.1 µs", "t10 in window", "baseline σ", "gamma median", "✓"):
        assert text in out, text


def test_cli_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="--real"):
        calibrate.main(["--real", str(missing)])
    assert cli.main(["calibrate", "--real", str(missing)]) == 2          # a missing input is a usage/input error (exit 2)
    err = capsys.readouterr().err
    assert "not found" in err and "LABKIT_SHARED_DATA" in err
