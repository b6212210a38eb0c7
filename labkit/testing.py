"""Toy pulses and toy QKeras students for the tests (no stage imported at module level).

* :func:`toy_pulses`, :func:`toy_student`, :func:`fit_and_prune` -- CLYC-like pulses and small
  students in the stage-2 contract (shared by the HLS, board and RTL tests);
* :func:`tiny_student`, :func:`tiny_build` -- the tiny student built by both the RTL twin
  (``labkit.rtl``) and hls4ml (``labkit.hls``), to compare the two; it lives here so that neither
  stage imports the other.

The hls4ml project with its emulation libraries is :func:`labkit.hls.testing.toy_build`.
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .config import CFG

SEED = 1234
TINY_SEED = 1


def toy_pulses(n: int, seed: int = SEED):
    """Raw 10-bit codes of CLYC-like pulses: class 0 (gamma) fast decay, class 1 (neutron) slow."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CFG.n_classes, n)
    t = np.arange(CFG.n_samples, dtype=np.float64)
    onset = rng.integers(15, 25, n)[:, None]
    tau = np.where(y == 0, rng.uniform(8, 20, n), rng.uniform(25, 60, n))[:, None]
    amp = rng.uniform(60, 500, n)[:, None]
    base = rng.uniform(700, 900, n)[:, None]
    rel = np.clip(t[None, :] - onset, 0, None)
    pulse = np.where(t[None, :] >= onset, amp * np.exp(-rel / tau), 0.0)
    X = base - pulse + rng.normal(0, 2.0, (n, CFG.n_samples))
    return np.clip(np.round(X), 0, CFG.adc_max).astype(np.uint16), y.astype(np.int64)


def toy_student(hidden=(16, 8), epochs: int = 2, sparsity: float = 0.5, seed: int = SEED):
    """The stage-2 contract in miniature: QDense/quantized_relu layers, logits out, ~half the weights zero."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    wq = dict(kernel_quantizer=quantized_bits(CFG.weight_bits, CFG.weight_integer, alpha=1),
              bias_quantizer=quantized_bits(CFG.weight_bits, CFG.weight_integer, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = inp
    for i, units in enumerate(hidden):
        x = QDense(units, name=f"fc{i + 1}", **wq)(x)
        x = QActivation(quantized_relu(CFG.activation_bits, CFG.activation_integer), name=f"relu{i + 1}")(x)
    out = QDense(CFG.n_classes, name="logits", **wq)(x)
    model = tf.keras.Model(inp, out)
    return fit_and_prune(model, epochs, sparsity, seed)


def fit_and_prune(model, epochs: int, sparsity: float, seed: int = SEED):
    """A few epochs on toy pulses, then magnitude pruning: zero the smallest ``sparsity`` of every kernel."""
    import tensorflow as tf

    from .data.prep import preprocess

    X, y = toy_pulses(2000, seed + 1)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(preprocess(X), y, epochs=epochs, batch_size=64, verbose=0)
    weights = model.get_weights()
    for i, layer_w in enumerate(weights):
        if layer_w.ndim == 2:
            cut = np.quantile(np.abs(layer_w), sparsity)
            weights[i] = np.where(np.abs(layer_w) <= cut, 0.0, layer_w).astype(layer_w.dtype)
    model.set_weights(weights)
    return model


def tiny_student(hidden=(4,), sparsity: float = 0.8, epochs: int = 3, seed: int = TINY_SEED):
    """The course's student builder at toy size, trained a little on toy pulses, then most weights zeroed."""
    import tensorflow as tf

    from .models import build_student

    tf.keras.utils.set_random_seed(seed)
    return fit_and_prune(build_student(list(hidden)), epochs, sparsity, seed)


@functools.lru_cache(maxsize=None)
def tiny_build():
    """Tiny student -> RTL core (+ Verilator emulator) -> IP folder, and its hls4ml C simulation.

    Both stages of the same model, for tests/test_rtl.py: built once per process in a temp folder."""
    from .hls import convert
    from .rtl import build

    tmp = Path(tempfile.mkdtemp(prefix="labkit_rtl_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    model = tiny_student()
    built = build(model, folder=tmp / "rtl")
    hls_model = convert.convert(model, output_dir=tmp / "hls")
    return {"model": model, "built": built, "hls_model": hls_model, "tmp": tmp}
