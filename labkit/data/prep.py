"""Preprocessing the IP reproduces bit for bit (integer baseline subtraction + shift).

    baseline = (sum of the first 2**baseline_log2 window samples) >> baseline_log2   (floor)
    x        = (baseline - sample) * 2**-input_frac_bits

A model trained on the codes as they are uses the ``raw`` transform instead (:func:`transform`,
``CFG.input_transform``).  Every value of ``x`` lies exactly on the ``CFG.input_format`` grid (ap_fixed<12,4>), so QKeras,
the hls4ml C simulation and the FPGA see the same numbers.  numpy only.
"""
from __future__ import annotations

import numpy as np

from ..config import CFG
from ..stream import check_pulses


def baseline(X) -> np.ndarray:
    X = check_pulses(X).astype(np.int64)
    return X[:, : CFG.baseline_samples].sum(axis=1) >> CFG.baseline_log2


def transform(X, input: str = "course") -> np.ndarray:
    """(n, 161) raw ADC codes -> (n, 161) float32 network input through the input transform ``input``
    (``CFG.input_transform``: ``course`` = :func:`preprocess`, ``raw`` = the codes as floats)."""
    t = CFG.input_transform(input)
    if t.baseline:
        return preprocess(X)
    return (check_pulses(X).astype(np.float32) * np.float32(2.0 ** -t.frac_bits))


def preprocess(X) -> np.ndarray:
    """(n, 161) raw ADC codes -> (n, 161) float32 network input (positive-going pulse)."""
    X = check_pulses(X).astype(np.int64)
    diff = baseline(X)[:, None] - X
    return (diff.astype(np.float32) * np.float32(2.0 ** -CFG.input_frac_bits))
