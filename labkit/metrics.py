"""Honest statistics and pulse-shape-discrimination (PSD) physics metrics (class 0 = gamma, 1 = neutron).

* **Wilson interval** — 95 % confidence interval of a success fraction k/n; unlike k/n ± 1.96·σ it
  stays inside [0, 1] and is sensible for 0/n and n/n.
* **Accuracy with CI** — accuracy as k/n plus its Wilson interval, so "99.6 %" comes with its error bar.
* **McNemar exact test** — do two classifiers evaluated on the *same* pulses really differ?  Only the
  pulses where exactly one of them is right count; exact two-sided binomial test on those.
* **Figure of merit (FoM)** — |median_n − median_γ| / (FWHM_γ + FWHM_n), FWHM = 2.355·σ with σ the
  robust 1.4826·MAD; the classical PSD separation number (same definition as ``labkit.data.baselines``).
* **Neutron efficiency at fixed gamma misidentification** — the fraction of neutrons kept when the
  threshold lets through at most 10⁻³ (or 10⁻²) of the gammas: what a detector physicist quotes.
* **Accuracy by amplitude** — small pulses are hard; accuracy per pulse-height bin shows where.

numpy + math only (runs on the board).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> Tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n`` trials; ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    p, z2 = k / n, z * z
    den = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_ci(y_true, y_pred) -> dict:
    """Accuracy, number correct ``k``, number of pulses ``n`` and the Wilson 95 % interval."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    k, n = int((y_true == y_pred).sum()), int(y_true.size)
    return {"acc": k / n if n else None, "k": k, "n": n, "ci95": list(wilson(k, n))}


def fmt_acc(d_or_k, n: Optional[int] = None) -> str:
    """``"0.9956 (1792/1800, 95 % CI 0.9927–0.9974)"`` from an :func:`accuracy_ci` dict or ``(k, n)``."""
    k, n = (d_or_k["k"], d_or_k["n"]) if isinstance(d_or_k, dict) else (int(d_or_k), int(n))
    if not n:
        return "n/a (0/0)"
    lo, hi = wilson(k, n)
    return f"{k / n:.4f} ({k}/{n}, 95 % CI {lo:.4f}–{hi:.4f})"


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """Exact McNemar test: ``a_only`` = pulses only A gets right, ``b_only`` = only B gets right."""
    y = np.asarray(y_true).ravel()
    ok_a, ok_b = np.asarray(pred_a).ravel() == y, np.asarray(pred_b).ravel() == y
    b, c = int((ok_a & ~ok_b).sum()), int((~ok_a & ok_b).sum())
    m = b + c
    p = 1.0 if m == 0 else min(1.0, 2 * sum(math.comb(m, i) for i in range(min(b, c) + 1)) / 2 ** m)
    return {"a_only": b, "b_only": c, "p_value": p, "significant": p < 0.05, "n": int(y.size)}


def mcnemar_text(name_a: str, name_b: str, result: dict) -> str:
    """One sentence summarising :func:`mcnemar` for a report."""
    b, c, p = result["a_only"], result["b_only"], result["p_value"]
    verdict = "a significant difference" if result["significant"] else "not a significant difference"
    return (f"{name_a} vs {name_b}: {b} pulse{'s' * (b != 1)} right only for the {name_a}, "
            f"{c} only for the {name_b}; McNemar exact p = {p:.2g}: {verdict} at 5 %")


def roc_auc(y, score) -> float:
    """Area under the ROC curve = the fraction of (neutron, gamma) pairs the score orders correctly
    (ties count one half; Mann–Whitney U / (n_n · n_g)). NaN when one class is missing."""
    y, score = np.asarray(y), np.asarray(score, dtype=np.float64)
    pos, neg = score[y == 1], score[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (len(pos) * len(neg)))


def robust_sigma(v: np.ndarray) -> float:
    """1.4826 · median absolute deviation (= σ for a Gaussian); nan for an empty array."""
    v = np.asarray(v)
    return float(1.4826 * np.median(np.abs(v - np.median(v)))) if len(v) else float("nan")


def figure_of_merit(score: np.ndarray, y: np.ndarray) -> float:
    """|median_n − median_γ| / (2.355 · (σ_γ + σ_n)), robust σ; inf when the FWHM sum is 0."""
    score, y = np.asarray(score), np.asarray(y)
    g, n = score[y == 0], score[y == 1]
    fwhm = 2.355 * (robust_sigma(g) + robust_sigma(n))
    return float(abs(np.median(n) - np.median(g)) / fwhm) if fwhm > 0 else float("inf")


def efficiency_at_misid(score, y, misid: float) -> dict:
    """Neutron efficiency (``score > t``) at the lowest threshold ``t`` (a gamma's score) that lets at
    most ``floor(misid · n_gamma)`` gammas through.  ``resolved`` is False when there are too few
    gammas to measure that rate: then ``t`` is the highest gamma score (no gamma above it)."""
    score, y = np.asarray(score, dtype=np.float64).ravel(), np.asarray(y).ravel()
    g, neu = np.sort(score[y == 0])[::-1], score[y == 1]
    n_g, n_n = int(g.size), int(neu.size)
    allowed = int(math.floor(misid * n_g + 1e-9))    # tolerance for e.g. 0.001 * 1000 = 0.99999...
    t = float(g[min(allowed, n_g - 1)]) if n_g else float("-inf")
    above = int((g > t).sum())
    k = int((neu > t).sum())
    return {"misid_target": float(misid), "threshold": t, "gamma_above": above, "n_gamma": n_g,
            "misid": above / n_g if n_g else None, "neutron_eff": k / n_n if n_n else None,
            "k": k, "n": n_n, "ci95": list(wilson(k, n_n)), "resolved": bool(allowed >= 1)}


def efficiency_text(r: dict) -> str:
    """One line for an :func:`efficiency_at_misid` result, flagging an unmeasurable target."""
    head = f"neutron efficiency at gamma misid {r['misid_target']:g}: {fmt_acc(r['k'], r['n'])}"
    if r["resolved"]:
        return head + f" ({r['gamma_above']}/{r['n_gamma']} gammas above threshold {r['threshold']:.4g})"
    return head + (f" — NOT resolved: {r['n_gamma']} gammas cannot measure a rate of {r['misid_target']:g}; "
                   f"threshold set just above the highest gamma ({r['threshold']:.4g})")


def default_amplitude_edges() -> Tuple[int, ...]:
    """Pulse-height bin edges in ADC counts."""
    return (0, 20, 40, 80, 160, 320, 1024)


def accuracy_by_bin(y_true, y_pred, amplitude, edges: Sequence[float]) -> List[dict]:
    """Accuracy per amplitude bin ``[lo, hi)`` (last bin ``[lo, hi]``); empty bins: acc None, CI [0, 1]."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    a = np.asarray(amplitude, dtype=np.float64).ravel()
    out = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        sel = (a >= lo) & ((a <= hi) if i == len(edges) - 2 else (a < hi))
        d = accuracy_ci(y_true[sel], y_pred[sel])
        out.append({"lo": float(lo), "hi": float(hi), "n": d["n"], "n_gamma": int((y_true[sel] == 0).sum()),
                    "n_neutron": int((y_true[sel] == 1).sum()), "acc": d["acc"], "ci95": d["ci95"]})
    return out


def _plain(x):
    """numpy scalars -> Python; non-finite floats -> None (strict JSON)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def physics_report(score, y, y_pred, amplitude) -> dict:
    """Accuracy (with CI), FoM, neutron efficiency at 10⁻³ / 10⁻² gamma misid, accuracy by amplitude.
    Plain JSON types; an infinite FoM or undefined threshold becomes None."""
    return _plain({"accuracy": accuracy_ci(y, y_pred), "fom": figure_of_merit(score, y),
                   "eff_at_1e-3": efficiency_at_misid(score, y, 1e-3),
                   "eff_at_1e-2": efficiency_at_misid(score, y, 1e-2),
                   "by_amplitude": accuracy_by_bin(y, y_pred, amplitude, default_amplitude_edges())})


def physics_table(y, scores: dict, preds: dict, amplitude) -> str:
    """One row per discriminator: accuracy (n, 95 % CI), FoM, neutron efficiency at 10⁻³ and 10⁻²
    gamma misidentification (with CI; '(not resolved)' when there are too few gammas)."""
    def eff(r):
        s = f"{r['neutron_eff']:.4f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
        return s + ("" if r["resolved"] else " (not resolved)")

    rows = [f"{'discriminator':<34}{'accuracy (k/n, 95 % CI)':<42}{'FoM':>6}   "
            f"{'n-eff @ 1e-3 misid':<38}{'n-eff @ 1e-2 misid':<38}"]
    for label, sc in scores.items():
        rep = physics_report(sc, y, preds[label], amplitude)
        fom = f"{rep['fom']:.2f}" if rep["fom"] is not None else "inf"
        rows.append(f"{label:<34}{fmt_acc(rep['accuracy']):<42}{fom:>6}   "
                    f"{eff(rep['eff_at_1e-3']):<38}{eff(rep['eff_at_1e-2']):<38}")
    return "\n".join(rows)
