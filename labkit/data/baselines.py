"""Classical gamma/neutron discrimination: the baselines every network in the course must beat.

* **Amplitude cut** — neutrons deposit ≈3.2 MeVee (the ⁶Li capture peak) while most gammas are
  well below it, so one threshold on the pulse height already separates most events.
* **Charge comparison PSD** — the ratio of the charge after a gate to the total charge in the
  leading-edge window (tail/total); neutrons (no fast core-valence light) rise more slowly and
  put more of their charge late.  The gate is chosen on the training data by the figure of merit.

Figure of merit (FoM) = |μ_n − μ_γ| / (FWHM_γ + FWHM_n), with FWHM = 2.355·σ and σ a robust
(median absolute deviation) estimate.  numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from ..config import CFG
from .prep import preprocess
from ..metrics import accuracy_ci, figure_of_merit
from .pulse import crossing_before, interp_rows, smooth

ONSET_FRACTION = 0.1            # onset = first sample at 10 % of the peak
GATES = tuple(range(4, 80, 2))  # candidate tail-gate starts, samples after the onset


def pulse_counts(X) -> np.ndarray:
    """Baseline-subtracted, positive-going pulses in ADC counts (the input stage, unscaled)."""
    return preprocess(X).astype(np.float64) * 2.0 ** CFG.input_frac_bits


def amplitude(X) -> np.ndarray:
    return pulse_counts(X).max(axis=1)


def _measure(X):
    """Pulses in counts, smoothed peak height, interpolated 10 % crossing (onset) per pulse."""
    p = pulse_counts(X)
    s = smooth(p)
    ipk = s.argmax(axis=1)
    peak = np.maximum(s[np.arange(len(p)), ipk], 1e-9)
    onset = crossing_before(p / peak[:, None], ipk, ONSET_FRACTION)
    return p, peak, onset


def onset(X) -> np.ndarray:
    """Interpolated 10 % point of the leading edge per pulse, in window samples."""
    return _measure(X)[2]


def tail_total(X, gate: int) -> np.ndarray:
    """Charge after ``onset + gate`` over the charge after the onset (both to the window end)."""
    p, _, onset = _measure(X)
    onset = np.ceil(onset).astype(int)
    idx = np.arange(p.shape[1])[None, :]
    after = idx >= onset[:, None]
    total = np.where(after, p, 0).sum(axis=1)
    tail = np.where(idx >= (onset + gate)[:, None], p, 0).sum(axis=1)
    return tail / np.maximum(total, 1e-9)


def early_fraction(X, gate: int) -> np.ndarray:
    """Peak-normalised early charge: mean height of the peak-normalised pulse over the first
    ``gate`` samples after the onset (neutrons rise more slowly: lower values)."""
    p, peak, onset = _measure(X)
    pn = p / peak[:, None]
    return np.mean([interp_rows(pn, onset + k) for k in range(1, gate + 1)], axis=0)


def best_threshold(score: np.ndarray, y: np.ndarray):
    """Threshold and direction that maximise accuracy of ``score > thr -> neutron`` (or ``<``)."""
    order = np.argsort(score, kind="stable")
    s, t = score[order], y[order]
    n = len(s)
    # predicted neutron = above cut position k: correct = gammas below + neutrons above
    gam_below = np.concatenate([[0], np.cumsum(t == 0)])
    neu_above = np.concatenate([[0], np.cumsum((t == 1)[::-1])])[::-1]
    acc_up = (gam_below + neu_above) / n
    acc_down = 1 - acc_up
    k_up, k_dn = int(np.argmax(acc_up)), int(np.argmax(acc_down))
    sign = 1 if acc_up[k_up] >= acc_down[k_dn] else -1
    k = k_up if sign == 1 else k_dn
    lo = s[k - 1] if k > 0 else s[0] - 1
    hi = s[k] if k < n else s[-1] + 1
    return float((lo + hi) / 2), sign


@dataclass
class CutClassifier:
    """One feature, one threshold: the classical discriminators share this shape."""

    name: str
    gate: Optional[int] = None
    feature: str = "amplitude"
    threshold: float = 0.0
    sign: int = 1
    fom: float = float("nan")
    info: Dict[str, float] = field(default_factory=dict)

    def score(self, X) -> np.ndarray:
        return FEATURES[self.feature](X) if self.gate is None else FEATURES[self.feature](X, self.gate)

    def fit(self, X, y) -> "CutClassifier":
        s = self.score(X)
        self.threshold, self.sign = best_threshold(s, np.asarray(y))
        self.fom = figure_of_merit(s, np.asarray(y))
        self.info["train_accuracy"] = float((self.sign * (s - self.threshold) > 0).astype(int).__eq__(y).mean())
        return self

    def neutron_score(self, X) -> np.ndarray:
        """The feature oriented and centred on the cut: > 0 means neutron (what ROC, FoM and
        efficiency-at-misidentification curves take)."""
        return self.sign * (self.score(X) - self.threshold)

    def predict(self, X) -> np.ndarray:
        return (self.neutron_score(X) > 0).astype(np.int64)

    def accuracy(self, X, y) -> float:
        return float((self.predict(X) == np.asarray(y)).mean())


def amplitude_cut(X, y) -> CutClassifier:
    return CutClassifier("amplitude cut").fit(X, y)


def best_on_train(cuts) -> CutClassifier:
    """The cut with the best training accuracy (the first of equals): chosen without test pulses."""
    return max(cuts, key=lambda c: c.info["train_accuracy"])


def _best_gate(name: str, feature: str, X, y, gates) -> CutClassifier:
    """The gate with the best training accuracy (the FoM is reported alongside)."""
    return best_on_train([CutClassifier(name, gate=gate, feature=feature).fit(X, y) for gate in gates])


def charge_comparison(X, y, gates=GATES) -> CutClassifier:
    """Tail/total PSD with the gate that separates (X, y) best."""
    return _best_gate("charge comparison (tail/total)", "tail_total", X, y, gates)


def early_charge(X, y, gates=tuple(range(5, 55, 5))) -> CutClassifier:
    """Peak-normalised early-charge fraction with the gate that separates (X, y) best."""
    return _best_gate("early charge / peak", "early_fraction", X, y, gates)


FEATURES = {"amplitude": amplitude, "tail_total": tail_total, "early_fraction": early_fraction}


def fit_all(train) -> list:
    return [f(train.X, train.y) for f in (amplitude_cut, charge_comparison, early_charge)]


def evaluate(split) -> Dict[str, Dict[str, float]]:
    """Fit the baselines on ``split.train``, report FoM and accuracy on ``split.test``."""
    out = {}
    for clf in fit_all(split.train):
        out[clf.name] = {
            "accuracy": clf.accuracy(split.test.X, split.test.y),
            "accuracy_ci": accuracy_ci(split.test.y, clf.predict(split.test.X)),
            "fom": figure_of_merit(clf.score(split.test.X), split.test.y),
            "threshold": clf.threshold,
            **({"gate_samples": clf.gate} if clf.gate is not None else {}),
        }
    return out
