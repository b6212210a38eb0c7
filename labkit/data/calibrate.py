"""``labkit calibrate --real PATH``: synthetic CLYC pulses next to real traces.

Prints, per class, the shape figures of the real traces and of freshly generated synthetic
pulses (median over pulses) with their relative difference and a ✓/✗ against the ±15 % shape
tolerance, then the amplitude-spectrum check against the README facts, and saves a comparison plot
(mean peak-normalised pulses aligned at the 10 % point, amplitude histograms).

Figures (``shape_figures``), per pulse, then the median per class:

* baseline = mean of raw samples 0…99, ``baseline σ`` = their standard deviation;
* pulse = baseline − trace (positive-going); amplitude = maximum of its 11-sample (0.1 µs) moving average
  (robust against noise on the flat top); the peak-normalised pulse = pulse / amplitude;
* t10 = the 10 % crossing: last sample below 0.1 before the peak, linear interpolation;
  ``onset`` = t10 − ``CFG.window_start`` (position in the course window);
* ``rise`` = t90 − t10 (t90 from the smoothed pulse), in µs;
* ``h+0.1``/``h+0.2``/``h+0.4`` = normalised height 0.1/0.2/0.4 µs after t10 (interpolated);
* ``peak`` = time of the maximum after t10, ``decay`` = time from the maximum to 1/e, in µs.

The real file has a hand-picked energy selection, so its amplitude percentiles are shown for
information only; the spectrum is checked against the facts of the natural spectrum.
numpy + matplotlib; imports on a machine without TensorFlow.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .pulse import crossing_before, interp_rows, smooth

from .. import artifacts
from ..config import CFG
from ..stream import int_arg

BASELINE_SAMPLES = 100       # raw samples 0…99 hold no pulse in the real records
SHAPE_TOLERANCE = 0.15       # relative tolerance of the synthetic shape figures
SPECTRUM_TOLERANCE = {"neutron_peak": 0.05, "gamma_median": 0.15, "gamma_p90": 0.15}
# Facts about the *natural* spectrum (shared/data/README.md), in counts of amplitude
SPECTRUM_FACTS = {"neutron_peak": 340.0, "gamma_median": 40.0, "gamma_p90": 107.0}

#: figures compared with the ±15 % tolerance (name -> label, unit)
SHAPE_KEYS = {
    "rise_us": ("10-90 % rise", "µs"),
    "h_0.1": ("height @ t10+0.1 µs", ""),
    "h_0.2": ("height @ t10+0.2 µs", ""),
    "h_0.4": ("height @ t10+0.4 µs", ""),
    "baseline_sigma": ("baseline σ", "LSB"),
    "onset": ("t10 in window", "sample"),
}
#: figures shown for information
INFO_KEYS = {
    "peak_us": ("peak after t10", "µs"),
    "decay_us": ("decay peak→1/e", "µs"),
    "amp_p10": ("amplitude p10", "counts"),
    "amp_p50": ("amplitude p50", "counts"),
    "amp_p90": ("amplitude p90", "counts"),
}


def default_real_path() -> Path:
    """``$LABKIT_SHARED_DATA/clyc_real_traces_200.csv`` or ``../shared/data/`` beside the project."""
    env = os.environ.get("LABKIT_SHARED_DATA")
    folder = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    return folder / "clyc_real_traces_200.csv"


# ------------------------------------------------------------------------------------------
# per-pulse measurements
# ------------------------------------------------------------------------------------------

def pulse_measurements(traces) -> Dict[str, np.ndarray]:
    """Per-pulse figures (arrays) of raw traces from raw sample 0 (see the module docstring)."""
    X = np.asarray(traces, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < 1000:
        raise ValueError(f"traces must be raw records (n, >=1000 samples from raw sample 0), got {X.shape}")
    per = 1.0 / (CFG.sample_period_us * 1000.0) * 1000.0  # samples per µs
    base = X[:, :BASELINE_SAMPLES].mean(axis=1)
    sigma = X[:, :BASELINE_SAMPLES].std(axis=1)
    p = base[:, None] - X
    ps = smooth(p)
    ipk = BASELINE_SAMPLES + ps[:, BASELINE_SAMPLES:].argmax(axis=1)
    amp = ps[np.arange(len(X)), ipk]
    safe = np.where(amp > 0, amp, np.nan)
    pn = p / safe[:, None]
    psn = ps / safe[:, None]
    t10 = crossing_before(pn, ipk, 0.1)
    t90 = crossing_before(psn, ipk, 0.9)
    # decay: first smoothed sample after the peak below 1/e
    k = np.arange(X.shape[1])
    after = (psn < 1 / np.e) & (k[None, :] > ipk[:, None])
    has = after.any(axis=1)
    j = np.argmax(after, axis=1)
    rows = np.arange(len(X))
    r0, r1 = psn[rows, np.maximum(j - 1, 0)], psn[rows, j]
    tdec = j - 1 + np.clip((r0 - 1 / np.e) / np.where(r0 != r1, r0 - r1, 1.0), 0, 1)
    out = {
        "baseline": base,
        "baseline_sigma": sigma,
        "amplitude": amp,
        "t10": t10,
        "onset": t10 - CFG.window_start,
        "rise_us": (t90 - t10) / per,
        "peak_us": (ipk - t10) / per,
        "decay_us": np.where(has, (tdec - ipk) / per, np.nan),
    }
    for d in (0.1, 0.2, 0.4):
        out[f"h_{d}"] = interp_rows(pn, t10 + d * per)
    return out


def shape_figures(traces, labels) -> Dict[str, Dict[str, float]]:
    """Median shape figures per class: ``{class_name: {figure: value}}`` (see ``SHAPE_KEYS``)."""
    m = pulse_measurements(traces)
    labels = np.asarray(labels)
    out = {}
    for c, name in enumerate(CFG.class_names):
        sel = labels == c
        if not sel.any():
            continue
        fig = {key: float(np.nanmedian(v[sel])) for key, v in m.items()
               if key not in ("baseline", "amplitude", "t10")}
        amp = m["amplitude"][sel]
        fig.update({f"amp_p{q}": float(np.percentile(amp, q)) for q in (10, 50, 90)})
        fig["n"] = int(sel.sum())
        out[name] = fig
    return out


def compare(real_traces, real_labels, synth_traces, synth_labels) -> List[dict]:
    """Rows ``{class, figure, unit, real, synth, rel_diff, ok}`` (``ok`` None = information only)."""
    real = shape_figures(real_traces, real_labels)
    syn = shape_figures(synth_traces, synth_labels)
    rows = []
    for name in CFG.class_names:
        if name not in real or name not in syn:
            continue
        for key, (label, unit) in list(SHAPE_KEYS.items()) + list(INFO_KEYS.items()):
            r, s = real[name][key], syn[name][key]
            rel = (s - r) / abs(r) if r else float("nan")
            ok = bool(abs(rel) <= SHAPE_TOLERANCE) if key in SHAPE_KEYS else None
            rows.append({"class": name, "figure": key, "label": label, "unit": unit,
                         "real": r, "synth": s, "rel_diff": rel, "ok": ok})
    return rows


def spectrum_check(synth_traces, synth_labels) -> List[dict]:
    """Synthetic amplitude spectrum vs the natural-spectrum facts of the README."""
    m = pulse_measurements(synth_traces)
    labels = np.asarray(synth_labels)
    g, n = m["amplitude"][labels == 0], m["amplitude"][labels == 1]
    values = {"neutron_peak": float(np.median(n)) if len(n) else float("nan"),
              "gamma_median": float(np.median(g)) if len(g) else float("nan"),
              "gamma_p90": float(np.percentile(g, 90)) if len(g) else float("nan")}
    labels_ = {"neutron_peak": "neutron capture peak (median)", "gamma_median": "gamma median",
               "gamma_p90": "gamma 90th percentile"}
    rows = []
    for key, fact in SPECTRUM_FACTS.items():
        rel = (values[key] - fact) / fact
        rows.append({"figure": key, "label": labels_[key], "fact": fact, "synth": values[key],
                     "rel_diff": rel, "tolerance": SPECTRUM_TOLERANCE[key],
                     "ok": bool(abs(rel) <= SPECTRUM_TOLERANCE[key])})
    return rows


def format_table(rows: List[dict], spectrum: Optional[List[dict]] = None) -> str:
    lines = [f"{'class':<8} {'figure':<22} {'real':>9} {'synthetic':>10} {'rel.diff':>9}  ±{SHAPE_TOLERANCE:.0%}"]
    lines.append("-" * len(lines[0]))
    last = None
    for r in rows:
        if last is not None and r["class"] != last:
            lines.append("")
        last = r["class"]
        mark = {True: "✓", False: "✗", None: "(info)"}[r["ok"]]
        lab = r["label"] + (f" [{r['unit']}]" if r["unit"] else "")
        lines.append(f"{r['class']:<8} {lab:<22} {r['real']:>9.3f} {r['synth']:>10.3f} {r['rel_diff']:>+9.1%}  {mark}")
    if spectrum:
        lines += ["", "amplitude spectrum [counts] vs the natural-spectrum facts (shared/data/README.md;",
                  "the real file's energy selection is not natural, so its percentiles above are info only):"]
        for s in spectrum:
            lines.append(f"  {s['label']:<30} fact {s['fact']:>6.0f}   synthetic {s['synth']:>7.1f}"
                         f"   {s['rel_diff']:>+6.1%} (±{s['tolerance']:.0%})  {'✓' if s['ok'] else '✗'}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# comparison plot
# ------------------------------------------------------------------------------------------

def aligned_mean(traces, labels, label: int, before: int = 30, after: int = 600, measurements=None):
    """Mean peak-normalised pulse of one class on a grid of samples relative to t10.

    Returns (times in µs relative to t10, mean normalised pulse).  ``measurements``: the
    ``pulse_measurements(traces)`` result if already computed.
    """
    m = pulse_measurements(traces) if measurements is None else measurements
    X = np.asarray(traces, np.float64)[np.asarray(labels) == label]
    sel = np.asarray(labels) == label
    p = (m["baseline"][sel, None] - X) / m["amplitude"][sel, None]
    grid = np.arange(-before, after + 1, dtype=float)
    pos = m["t10"][sel, None] + grid[None, :]
    k = np.arange(X.shape[1])
    vals = np.array([np.interp(row_pos, k, row) for row_pos, row in zip(pos, p)])
    return grid * CFG.sample_period_us, vals.mean(axis=0)


def comparison_plot(real_traces, real_labels, synth_traces, synth_labels, path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    colors = {"gamma": "tab:blue", "neutron": "tab:red"}
    mr, ms = pulse_measurements(real_traces), pulse_measurements(synth_traces)
    for c, name in enumerate(CFG.class_names):
        for ax, after in ((axes[0, 0], 150), (axes[0, 1], 900)):
            for src, (X, y, meas), ls in (("real", (real_traces, real_labels, mr), "-"),
                                          ("synthetic", (synth_traces, synth_labels, ms), "--")):
                if not (np.asarray(y) == c).any():
                    continue
                t, mean = aligned_mean(X, y, c, before=30, after=after, measurements=meas)
                ax.plot(t, mean, ls, color=colors.get(name), label=f"{name} {src}", lw=1.4)
    axes[0, 0].set_title("leading edge (mean, peak-normalised, aligned at 10 %)")
    axes[0, 1].set_title("full pulse")
    for ax in axes[0]:
        ax.set_xlabel("time after the 10 % point [µs]")
        ax.set_ylabel("normalised pulse")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    bins = np.linspace(0, 600, 121)
    for c, name in enumerate(CFG.class_names):
        ax = axes[1, c]
        ax.hist(ms["amplitude"][np.asarray(synth_labels) == c], bins=bins, density=True, histtype="stepfilled",
                alpha=0.35, color=colors.get(name), label="synthetic (natural spectrum)")
        ax.hist(mr["amplitude"][np.asarray(real_labels) == c], bins=bins, density=True, histtype="step",
                color="k", label="real (energy-selected file)")
        ax.set_title(f"{name}: amplitude")
        ax.set_xlabel("amplitude [ADC counts]")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--real", type=Path, default=None,
                    help="real trace table (label, fci_ref_100msps, s0…s2047); default: "
                         "$LABKIT_SHARED_DATA or ../shared/data/clyc_real_traces_200.csv")
    ap.add_argument("--n", type=int_arg(1), default=2000, help="synthetic pulses per class (default 2000)")
    ap.add_argument("--seed", type=int_arg(0), default=CFG.seed, help="seed of the synthetic pulses")
    ap.add_argument("--plot", type=Path, default=None,
                    help="comparison plot path (default: artifacts/calibration/comparison.png)")
    args = ap.parse_args(argv)

    from .formats import read_trace_table
    from .synth import generate

    real_path = args.real or default_real_path()
    if not Path(real_path).exists():
        raise FileNotFoundError(
            f"real trace table not found: {real_path}. Pass --real PATH to clyc_real_traces_200.csv "
            f"(shared/data beside the project) or set LABKIT_SHARED_DATA to the folder that holds it.")
    if args.n < 10:
        raise ValueError(f"--n must be at least 10 pulses per class, got {args.n}")
    real_X, real_y = read_trace_table(real_path)
    syn = generate(args.n, args.seed)
    rows = compare(real_X, real_y, syn.traces, syn.labels)
    spectrum = spectrum_check(syn.traces, syn.labels)
    print(f"real: {real_path} ({len(real_y)} traces); synthetic: {args.n} per class, seed {args.seed}")
    print("median per class; shape figures must agree within ±15 %\n")
    print(format_table(rows, spectrum))
    plot = args.plot or artifacts.calibration_plot()
    comparison_plot(real_X, real_y, syn.traces, syn.labels, plot)
    print(f"\ncomparison plot: {plot}")
    bad = [r for r in rows if r["ok"] is False] + [s for s in spectrum if not s["ok"]]
    if bad:
        print(f"{len(bad)} figure(s) outside tolerance: " + ", ".join(
            f"{r.get('class', 'spectrum')}/{r['figure']}" for r in bad))
    return 0
