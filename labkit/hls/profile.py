"""Profiling and per-layer traces for lab 04: hls4ml's C simulation vs QKeras, layer by layer.

``hls4ml.model.profiling`` needs seaborn; when it is missing, :func:`numerical` draws the same
kind of figure (weight ranges vs the chosen precisions) with matplotlib alone and says so.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from ..data.prep import preprocess


def keras_trace(model, X_raw) -> dict:
    """{layer name: output} for every QDense / QActivation of the QKeras model."""
    import tensorflow as tf

    layers = [l for l in model.layers if type(l).__name__ in ("QDense", "QActivation")]
    probe = tf.keras.Model(model.inputs, [l.output for l in layers])
    outs = probe.predict(preprocess(X_raw), verbose=0, batch_size=4096)
    if len(layers) == 1:            # one output: Keras returns the array itself, not a list of one
        outs = [outs]
    return {l.name: np.asarray(o, np.float64) for l, o in zip(layers, outs)}


def hls_trace(hls_model, X_raw) -> dict:
    """{layer name: output} from ``hls_model.trace`` (the project must be converted with trace=True)."""
    x = np.ascontiguousarray(preprocess(X_raw), np.float64)
    with contextlib.redirect_stdout(io.StringIO()):      # "Recompiling myproject with tracing"
        _, trace = hls_model.trace(x)
    return {k: np.asarray(v, np.float64).reshape(len(x), -1) for k, v in trace.items()}


def traces(model, hls_model, X_raw):
    """(QKeras trace, hls4ml trace) -- compute once, pass to trace_table / plot_traces."""
    return keras_trace(model, X_raw), hls_trace(hls_model, X_raw)


def trace_table(model, hls_model, X_raw=None, traced=None) -> list:
    """Per layer: hls4ml precision, value range and max |hls4ml - QKeras|."""
    kt, ht = traced if traced is not None else traces(model, hls_model, X_raw)
    rows = []
    for name, k in kt.items():
        if name not in ht:
            continue
        layer = hls_model.graph.get(name)
        prec = str(layer.get_output_variable().type.precision) if layer is not None else "?"
        h = ht[name]
        rows.append({"layer": name, "precision": prec, "min": float(h.min()), "max": float(h.max()),
                     "max_abs_diff": float(np.max(np.abs(h - k.reshape(h.shape))))})
    return rows


def plot_traces(model, hls_model, X_raw=None, traced=None, max_points: int = 20000):
    """One scatter per traced layer: hls4ml output vs QKeras output (points on the diagonal = exact)."""
    import matplotlib.pyplot as plt

    kt, ht = traced if traced is not None else traces(model, hls_model, X_raw)
    names = [n for n in kt if n in ht]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        k, h = kt[name].reshape(-1)[:max_points], ht[name].reshape(-1)[:max_points]
        ax.plot(k, h, ".", ms=2)
        lo, hi = min(k.min(), h.min()), max(k.max(), h.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        ax.set_title(name)
        ax.set_xlabel("QKeras")
    axes[0][0].set_ylabel("hls4ml C simulation")
    fig.tight_layout()
    return fig


def numerical(model, hls_model, X_raw):
    """``hls4ml.model.profiling.numerical``: weights and activations vs the final (C-simulated) types.

    Returns the two figures of the final model (weights, activations).  hls4ml also draws both
    "before optimization" (the same weights; activations from Keras instead of the C simulation) and
    prints its summary dictionaries and a Keras progress bar: those are closed / swallowed.
    Without seaborn, a matplotlib figure of the weight ranges instead.
    """
    x = preprocess(X_raw)
    try:
        from hls4ml.model.profiling import numerical as hls_numerical
    except ModuleNotFoundError as err:
        print(f"hls4ml profiling needs {err.name}, which is not installed: drawing the weight ranges "
              "with matplotlib instead (pip install seaborn for hls4ml's own plots).")
        return [_weight_ranges(model, hls_model)]
    import matplotlib.pyplot as plt

    with contextlib.redirect_stdout(io.StringIO()):
        wp, wph, ap, aph = hls_numerical(model=model, hls_model=hls_model, X=x)
    for fig in (wp, ap):
        if fig is not None:
            plt.close(fig)
    return [fig for fig in (wph, aph) if fig is not None]


def _weight_ranges(model, hls_model):
    import matplotlib.pyplot as plt

    data, labels, spans = [], [], []
    for layer in model.layers:
        if type(layer).__name__ != "QDense":
            continue
        w = np.asarray(layer.kernel_quantizer_internal(layer.kernel)).reshape(-1)
        w = np.abs(w[w != 0])
        data.append(np.log2(w))
        labels.append(f"{layer.name}/weight")
        prec = hls_model.graph[layer.name].get_weights("weight").type.precision
        spans.append((-prec.fractional, prec.integer - 1))  # smallest / largest magnitude (log2)
    fig, ax = plt.subplots(figsize=(6, 1 + 0.6 * len(data)))
    try:
        ax.boxplot(data, orientation="horizontal")  # matplotlib >= 3.10
    except TypeError:
        ax.boxplot(data, vert=False)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    for i, (lo, hi) in enumerate(spans, start=1):
        ax.add_patch(plt.Rectangle((lo, i - 0.4), hi - lo, 0.8, color="grey", alpha=0.3))
    ax.set_xlabel("log2 |nonzero weight|   (grey: range of the ap_fixed type)")
    fig.tight_layout()
    return fig
