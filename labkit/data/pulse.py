"""Per-pulse measurements shared by the baselines and the calibration (numpy only)."""
from __future__ import annotations

import numpy as np


def smooth(p: np.ndarray, w: int = 11) -> np.ndarray:
    """Centred moving average of width ``w`` along each row (edges padded)."""
    c = np.cumsum(np.pad(p, ((0, 0), (w // 2 + 1, w // 2)), mode="edge"), axis=1)
    return (c[:, w:] - c[:, :-w]) / w


def crossing_before(r: np.ndarray, ipk: np.ndarray, level: float) -> np.ndarray:
    """Interpolated position of the last upward crossing of ``level`` before ``ipk`` (per row).

    Searching backwards from the peak ignores noise excursions in the baseline."""
    k = np.arange(r.shape[1])
    below = (r < level) & (k[None, :] < ipk[:, None])
    a = np.where(below.any(axis=1), r.shape[1] - 1 - np.argmax(below[:, ::-1], axis=1), 0)
    a = np.minimum(a, r.shape[1] - 2)
    rows = np.arange(len(r))
    r0, r1 = r[rows, a], r[rows, a + 1]
    frac = np.clip((level - r0) / np.where(r1 != r0, r1 - r0, 1.0), 0, 1)
    return a + frac


def interp_rows(r: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation of ``r`` at fractional positions ``pos``."""
    rows = np.arange(len(r))
    a = np.clip(np.floor(pos).astype(int), 0, r.shape[1] - 2)
    f = np.clip(pos - a, 0, 1)
    return r[rows, a] * (1 - f) + r[rows, a + 1] * f
