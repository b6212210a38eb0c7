"""Plotting helpers for the labs (matplotlib imported lazily; not needed on the board)."""
from __future__ import annotations

import numpy as np

from ..config import CFG


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _time_us(n=None):
    n = CFG.n_samples if n is None else n
    return (CFG.window_start + np.arange(n)) * CFG.sample_period_us


def pulses(p, n_per_class: int = 5, seed: int = CFG.seed, ax=None):
    """A few raw pulses per class (ADC codes vs time)."""
    plt = _plt()
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CFG.class_names):
        idx = rng.choice(np.flatnonzero(p.y == c), size=min(n_per_class, int((p.y == c).sum())), replace=False)
        for k, i in enumerate(idx):
            ax.plot(_time_us(), p.X[i], color=f"C{c}", lw=0.8, alpha=0.8, label=name if k == 0 else None)
    ax.set(xlabel="time in trace (µs)", ylabel="ADC code", title="Raw pulses (window of the leading edge)")
    ax.legend()
    return ax


def mean_shapes(p, ax=None):
    """Mean peak-normalised pulse per class, with the ±1σ band."""
    from ..data.baselines import pulse_counts
    plt = _plt()
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    q = pulse_counts(p.X)
    q = q / np.maximum(q.max(axis=1, keepdims=True), 1e-9)
    for c, name in enumerate(CFG.class_names):
        m, s = q[p.y == c].mean(0), q[p.y == c].std(0)
        ax.plot(_time_us(), m, color=f"C{c}", label=name)
        ax.fill_between(_time_us(), m - s, m + s, color=f"C{c}", alpha=0.2)
    ax.set(xlabel="time in trace (µs)", ylabel="peak-normalised height", title="Mean pulse shape per class")
    ax.legend()
    return ax


def amplitude_spectra(p, ax=None, bins=100):
    from ..data.baselines import amplitude
    plt = _plt()
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    a = amplitude(p.X)
    edges = np.linspace(0, max(a.max(), 1), bins + 1)
    for c, name in enumerate(CFG.class_names):
        ax.hist(a[p.y == c], bins=edges, histtype="step", color=f"C{c}", label=name)
    ax.set(xlabel="amplitude (ADC counts above baseline)", ylabel="pulses", yscale="log", title="Amplitude spectra")
    ax.legend()
    return ax


def robust_limits(values, q=(5.0, 95.0), reach: float = 1.0, pad: float = 0.04):
    """Axis limits that show the bulk of ``values`` and not a few wild outliers.

    The percentiles ``q`` span the bulk; the limits reach ``reach`` of that span beyond it, but
    never beyond the data (clean data is shown whole), plus a ``pad`` margin."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return -1.0, 1.0
    lo, hi = np.percentile(v, q)
    span = hi - lo
    lo, hi = max(v.min(), lo - reach * span), min(v.max(), hi + reach * span)
    margin = pad * (hi - lo) or (abs(hi) * pad or 1.0)
    return float(lo - margin), float(hi + margin)


def psd_scatter(p, clf, ax=None):
    """PSD feature vs amplitude, with the cut.

    The axes come from the bulk of the points (``robust_limits``), so a few pathological pulses
    cannot flatten the plot; points beyond the axes are drawn on the edge (×) and counted in the
    corner of the plot."""
    from ..data.baselines import amplitude
    plt = _plt()
    ax = ax or plt.subplots(figsize=(8, 5))[1]
    a, s = amplitude(p.X).astype(float), np.asarray(clf.score(p.X), float)
    ylo, yhi = robust_limits(np.append(s, clf.threshold))
    pos = a[a > 0]
    xlo, xhi = (robust_limits(np.log10(pos), q=(0.0, 100.0)) if len(pos) else (0.0, 3.0))
    xlo, xhi = 10 ** xlo, 10 ** xhi
    inside = np.isfinite(s) & (s >= ylo) & (s <= yhi) & (a >= xlo) & (a <= xhi)
    for c, name in enumerate(CFG.class_names):
        m = p.y == c
        ax.scatter(a[m & inside], s[m & inside], s=3, alpha=0.4, color=f"C{c}", label=name)
        out = m & ~inside
        if out.any():
            ax.scatter(np.clip(np.where(a[out] > 0, a[out], xlo), xlo, xhi),
                       np.clip(np.nan_to_num(s[out], nan=ylo), ylo, yhi),
                       s=18, marker="x", color=f"C{c}", clip_on=False)
    ax.axhline(clf.threshold, color="k", ls="--", lw=1, label=f"cut (FoM {clf.fom:.2f})")
    n_out = int((~inside).sum())
    note = (f"all {len(a)} pulses inside the axes" if not n_out else
            f"{n_out} of {len(a)} pulses beyond the axes, drawn as × on the edge")
    ax.set(xlabel="amplitude (counts)", ylabel=clf.name, xscale="log", xlim=(xlo, xhi), ylim=(ylo, yhi))
    ax.set_title(f"Pulse-shape discrimination\n{note}", fontsize=10)
    ax.legend(markerscale=4)
    return ax


def pulse_browser(p):
    """ipywidgets slider to step through pulses (falls back to a static plot without widgets)."""
    plt = _plt()
    try:
        import ipywidgets as w
    except ImportError:  # pragma: no cover
        return pulses(p)

    def show(index=0):
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.plot(_time_us(), p.X[index], color=f"C{int(p.y[index])}")
        ax.set(xlabel="time in trace (µs)", ylabel="ADC code",
               title=f"pulse {index}: {CFG.class_names[int(p.y[index])]}")
        plt.show()

    return w.interact(show, index=w.IntSlider(0, 0, len(p) - 1, 1, continuous_update=False))


def history(hist, keys=("loss", "accuracy"), title=""):
    plt = _plt()
    h = hist.history if hasattr(hist, "history") else hist
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5))
    for ax, k in zip(np.atleast_1d(axes), keys):
        for kk, style in ((k, "-"), (f"val_{k}", "--")):
            if kk in h:
                ax.plot(np.arange(1, len(h[kk]) + 1), h[kk], style, label=kk)
        ax.set(xlabel="epoch", title=f"{title} {k}".strip())
        ax.legend()
    fig.tight_layout()
    return fig


def confusion(y_true, y_pred, ax=None, title=""):
    plt = _plt()
    ax = ax or plt.subplots(figsize=(3.6, 3.2))[1]
    m = np.zeros((CFG.n_classes, CFG.n_classes), int)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    ax.imshow(m, cmap="Blues")
    for i in range(CFG.n_classes):
        for j in range(CFG.n_classes):
            ax.text(j, i, m[i, j], ha="center", va="center", color="k" if m[i, j] < m.max() / 2 else "w")
    ax.set(xticks=range(CFG.n_classes), yticks=range(CFG.n_classes), xticklabels=CFG.class_names,
           yticklabels=CFG.class_names, xlabel="predicted", ylabel="true",
           title=f"{title} acc {np.trace(m) / max(m.sum(), 1):.4f}".strip())
    return m


def roc(curves, ax=None):
    """``curves``: {label: (y_true, neutron_score)} — ROC with the area in the legend."""
    from sklearn.metrics import auc, roc_curve
    plt = _plt()
    ax = ax or plt.subplots(figsize=(5, 5))[1]
    for label, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.4f})")
    ax.set(xlabel="gammas called neutron (FPR)", ylabel="neutrons found (TPR)", xscale="log", xlim=(1e-4, 1),
           title="ROC")
    ax.legend(fontsize=8)
    return ax


def psd_panels(y, scores, amplitude, preds, n_seeds_note: str = ""):
    """Three panels a PSD physicist reads: score distributions per class with the FoM, neutron
    efficiency against gamma misidentification, and accuracy (95 % CI) per amplitude bin.

    ``scores``/``preds``: {label: array}; scores higher = more neutron-like."""
    from .. import metrics as mx
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    first = next(iter(scores))
    s = np.asarray(scores[first], float)
    lo, hi = np.percentile(s, [0.5, 99.5])
    bins = np.linspace(lo, hi, 60)
    for c, name in enumerate(CFG.class_names):
        axes[0].hist(np.clip(s[y == c], lo, hi), bins=bins, alpha=0.6, label=name)
    axes[0].set(xlabel="neutron logit − gamma logit", ylabel="pulses",
                title=f"{first}: FoM {mx.figure_of_merit(s, y):.2f}")
    axes[0].legend()
    rates = np.logspace(-3, 0, 40)
    for label, sc in scores.items():
        eff = [mx.efficiency_at_misid(sc, y, r)["neutron_eff"] for r in rates]
        axes[1].plot(rates, eff, label=f"{label} (FoM {mx.figure_of_merit(sc, y):.2f})")
    n_g = int((y == 0).sum())
    axes[1].axvline(1 / max(n_g, 1), color="grey", ls=":", label=f"1/{n_g} gammas: below, not measurable")
    axes[1].set(xscale="log", xlabel="gammas called neutron (misidentification)", ylabel="neutron efficiency",
                title="efficiency vs misidentification", ylim=(0, 1.02))
    axes[1].legend(fontsize=8)
    edges = mx.default_amplitude_edges()
    width = 0.8 / len(preds)
    for i, (label, p) in enumerate(preds.items()):
        rows = mx.accuracy_by_bin(y, p, amplitude, edges)
        xs = np.arange(len(rows)) + (i - (len(preds) - 1) / 2) * width
        acc = np.array([r["acc"] if r["acc"] is not None else np.nan for r in rows])
        err = np.clip(np.array([[a - r["ci95"][0], r["ci95"][1] - a] if r["acc"] is not None else [0, 0]
                                for a, r in zip(acc, rows)]).T, 0, None)      # (rounding at 0 and 1)
        axes[2].errorbar(xs, acc, yerr=err, fmt="o", capsize=3, label=label)
    axes[2].set_xticks(range(len(edges) - 1), [f"{a}–{b}" for a, b in zip(edges[:-1], edges[1:])])
    axes[2].set(xlabel="amplitude (ADC counts)", ylabel="accuracy (95 % CI)", title="accuracy per amplitude bin")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def runs(curves, ax=None, key="val_accuracy", title=""):
    """Validation curves of several training runs: {label: [history dict, ...]}."""
    plt = _plt()
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    for i, (label, hists) in enumerate(curves.items()):
        for j, h in enumerate(hists):
            ax.plot(np.arange(1, len(h[key]) + 1), h[key], color=f"C{i}", alpha=0.7, label=label if j == 0 else None)
    ax.set(xlabel="epoch", ylabel=key, title=title)
    ax.legend()
    return ax


def _yerr(acc, ci):
    return np.clip(np.array([[a - c[0], c[1] - a] for a, c in zip(acc, ci)]).T, 0, None)


def pareto(points, measured=(), baselines=(), *, chosen=None, accuracy_choice=None, lut_budget=None, path=None,
           chosen_label: str = "chosen", floor=None):
    """Accuracy vs LUTs of the student search (:mod:`labkit.training.selection`), two panels.

    Left, every trial: validation accuracy (95 % CI) against the LUT estimate, colour = latency in
    cycles, the front joined by a line.  Right, the synthesised points: test accuracy (95 % CI)
    against Yosys LUTs, with the classical cuts (``baselines``: :func:`labkit.rtl.baselines.report`
    rows), the chosen student and the accuracy-only choice on the same axes.  ``path``: also save a PNG."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    pts = list(points)
    trials_panel(fig, left, pts, chosen=chosen, floor=floor)
    ms = sorted(measured, key=lambda p: p["lut"])
    if ms:
        right.errorbar([p["lut"] for p in ms], [p["acc"] for p in ms], yerr=_yerr([p["acc"] for p in ms],
                       [p["acc_ci95"] for p in ms]), fmt="o-", capsize=3, label="students (front)")
    for b in baselines:
        a = b["acc"]
        right.errorbar([b["lut"]], [a["acc"]], yerr=_yerr([a["acc"]], [a["ci95"]]), fmt="s", capsize=3,
                       label=f"{b['name']} (RTL)")
    for p, style, label in ((accuracy_choice, "D", "accuracy-only trial"), (chosen, "*", chosen_label)):
        if p is not None:
            right.errorbar([p["lut"]], [p["acc"]], yerr=_yerr([p["acc"]], [p["acc_ci95"]]), fmt=style, ms=12 if style == "*" else 8,
                           capsize=3, label=f"{label}: {p['lut']} LUT, {p['latency_cycles']} cycles")
    if lut_budget:
        right.axvline(lut_budget, color="red", ls=":", label=f"budget {lut_budget} LUT")
    n = ms[0]["acc_n"] if ms else (chosen or {}).get("acc_n")
    right.set(xscale="log", xlabel="LUTs (Yosys)", ylabel=f"test accuracy (95 % CI, n={n})",
              title="is the network worth its LUTs?")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=7, loc="lower right")
    _lut_axis(right)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _lut_axis(ax):
    """Plain LUT counts at 1, 2, 5 x 10^k on a log axis."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def trials_panel(fig, ax, pts, *, chosen=None, floor=None):
    """Every trial of the student search: validation accuracy (95 % CI) against the LUT estimate,
    colour = latency in cycles, the front joined by a line, label = weight bits; ``chosen`` starred,
    ``floor`` (:func:`labkit.training.selection.cut_floor`) as a dotted line.  Trials without a
    recorded cost (a search run without da4ml) have no place on this axis and are left out."""
    from ..training.selection import front
    pts = [p for p in pts if p["lut_estimate"] is not None]
    if pts:
        lat = np.array([p["latency_cycles"] for p in pts])
        ax.errorbar([p["lut_estimate"] for p in pts], [p["val_acc"] for p in pts],
                    yerr=_yerr([p["val_acc"] for p in pts], [p["val_ci95"] for p in pts]),
                    fmt="none", ecolor="0.7", zorder=1)
        sc = ax.scatter([p["lut_estimate"] for p in pts], [p["val_acc"] for p in pts], c=lat, cmap="viridis",
                        s=40, zorder=2)
        cb = fig.colorbar(sc, ax=ax, label=f"latency (cycles at {CFG.rtl.clock_mhz:g} MHz)")
        cb.set_ticks(sorted(set(int(v) for v in lat)))
        fr = front(pts)
        ax.plot([p["lut_estimate"] for p in fr], [p["val_acc"] for p in fr], "k--", lw=1, label="front")
        for p in pts:
            ax.annotate(f"{p['weight_bits']}b", (p["lut_estimate"], p["val_acc"]), fontsize=7,
                        xytext=(3, -9), textcoords="offset points")
    if floor is not None:
        ax.axhline(floor["acc"], color="red", ls=":", lw=1, label=f"floor: {floor['name']} ({floor['k']}/{floor['n']})")
    if chosen is not None and chosen.get("lut_estimate") is not None:
        ax.scatter([chosen["lut_estimate"]], [chosen["val_acc"]], marker="*", s=250, facecolors="none",
                   edgecolors="red", zorder=3, label=f"deployed: trial {chosen['trial_id']}")
    ax.set(xscale="log", xlabel="LUT estimate (da4ml)",
           ylabel=f"validation accuracy (95 % CI, n={pts[0]['val_n'] if pts else 0})",
           title=f"every trial ({len(pts)}); label = weight bits")
    if pts:
        ax.legend(fontsize=8, loc="lower right")
    _lut_axis(ax)


def trials(pts, *, chosen=None, floor=None, path=None):
    """:func:`trials_panel` as a figure of its own (lab 03: the search and the deployed trial)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    trials_panel(fig, ax, pts, chosen=chosen, floor=floor)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def rate(rows, *, detector_rate: float, stream_rate: float, clock_mhz: float, path=None):
    """LUTs against the pulses per second each core or IP sustains (lab 04b "match the rate").

    ``rows``: [{"name", "lut", "pulses_per_s"}]; ``detector_rate``: the most windows per second one
    detector channel delivers; ``stream_rate``: the most pulses per second the AXI-Stream input
    carries (one word per clock); ``clock_mhz``: the clock both are counted at.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, r in enumerate(rows):
        ax.scatter(r["pulses_per_s"], r["lut"], s=60, color=f"C{k}", zorder=3, label=r["name"])
        ax.annotate(f"{r['lut']:,} LUT", (r["pulses_per_s"], r["lut"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.axvline(detector_rate, color="0.3", ls=":", label=f"one detector channel, at most ({detector_rate / 1e3:,.0f} k/s)")
    ax.axvline(stream_rate, color="0.3", ls="--", label=f"AXI-Stream input bound ({stream_rate / 1e6:.2f} M/s)")
    ax.set_xscale("log")
    ax.set_ylim(0, max(r["lut"] for r in rows) * 1.2)
    ax.set(xlabel=f"pulses per second sustained at {clock_mhz:g} MHz", ylabel="LUT (Yosys, xc7)",
           title="Match the rate, not the maximum")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


#: one marker per route in :func:`two_routes` (the classical cuts are squares)
ROUTE_MARKERS = ("o", "D", "^", "v", "P")


def two_routes(routes, cuts=(), *, path=None, ax=None, title="two routes to the same IP"):
    """Test accuracy (95 % CI) against Yosys LUTs (log axis) of several routes' students on one plot
    (lab 04c, ``labkit bench pareto --route both``): colour = latency in clock cycles, one marker per
    route, each route's points joined in LUT order, the classical cuts as RTL points (squares).

    ``routes``: ``{label: [point, ...]}``, each point with ``lut``, ``acc``, ``acc_ci95`` and
    ``latency_cycles`` (``acc_n`` for the axis label); ``cuts``: the same keys and ``name``.  Points
    without a LUT count (no circuit, or Yosys missing) are left out.  ``path``: also save a PNG."""
    from matplotlib import colors

    plt = _plt()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8.5, 5))
    groups = {label: sorted((p for p in pts if p.get("lut")), key=lambda p: p["lut"]) for label, pts in routes.items()}
    cut_pts = [c for c in cuts if c.get("lut")]
    every = [p for pts in groups.values() for p in pts] + cut_pts
    lat = [p["latency_cycles"] for p in every if p.get("latency_cycles") is not None]
    norm = colors.Normalize(vmin=min(lat, default=0), vmax=max(max(lat, default=1), min(lat, default=0) + 1))
    cmap = plt.get_cmap("viridis")
    sc = None
    for k, (label, pts) in enumerate(groups.items()):
        if not pts:
            continue
        x, y = [p["lut"] for p in pts], [p["acc"] for p in pts]
        ax.errorbar(x, y, yerr=_yerr(y, [p["acc_ci95"] for p in pts]), fmt="none", ecolor="0.65", capsize=3, zorder=1)
        ax.plot(x, y, ls=":", lw=1, color="0.45", zorder=1)
        sc = ax.scatter(x, y, c=[p.get("latency_cycles") or 0 for p in pts], cmap=cmap, norm=norm, s=70,
                        marker=ROUTE_MARKERS[k % len(ROUTE_MARKERS)], edgecolors="k", linewidths=0.6, zorder=3,
                        label=f"{label} ({len(pts)})")
    for c in cut_pts:
        a = c["acc"]
        ax.errorbar([c["lut"]], [a], yerr=_yerr([a], [c["acc_ci95"]]), fmt="none", ecolor="0.65", capsize=3, zorder=1)
        sc = ax.scatter([c["lut"]], [a], c=[c.get("latency_cycles") or 0], cmap=cmap, norm=norm, s=70, marker="s",
                        edgecolors="r", linewidths=1.2, zorder=3, label=f"{c['name']} (RTL)")
    if sc is not None:
        cb = fig.colorbar(sc, ax=ax, label=f"latency (clock cycles at {CFG.rtl.clock_mhz:g} MHz)")
        cb.set_ticks(sorted({int(v) for v in lat}))
    ns = sorted({p["acc_n"] for p in every if p.get("acc_n")})
    n = ns[0] if len(ns) == 1 else ("differs: " + ", ".join(map(str, ns)) if ns else "?")
    ax.set(xscale="log", xlabel="LUTs (Yosys)", ylabel=f"test accuracy (95 % CI, n={n})", title=title)
    if every:
        ax.legend(fontsize=8, loc="best")
        _lut_axis(ax)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
