"""Stage 03 — which trial of the student search is handed on: points, the front, the selection rule.

Every trial of the student search records the cost of the network it delivers (LUT estimate,
latency in cycles, nonzero weights, bits) and that network's own validation result, pulse by pulse
(``val_pred.npy`` beside its ``student.h5``).  :func:`select` chooses among those trials; the choice
is the course's student (``artifacts/student/student.h5``), the one every later lab and the board use.

Modes (course.ini [search] ``selection``):

* ``accuracy`` -- the lowest validation loss: the paper's choice;
* ``budget`` -- the best validation accuracy among the trials within ``lut_budget`` LUTs and
  ``latency_budget`` cycles (a ``verify`` function, e.g. Yosys, may pass over a candidate whose
  synthesised LUTs exceed the budget);
* ``pareto`` -- the fewest LUTs among the trials that are *good enough*: (1) at least as accurate on
  the validation pulses as the best classical cut (the floor, :func:`cut_floor`), and (2) not
  significantly less accurate than the most accurate trial by an exact McNemar test on the same
  validation pulses (paired, two-sided, 5 %).  A trial with no pulse-by-pulse record must match the
  most accurate trial's count.  If no trial reaches the floor, the most accurate trial is handed on
  and the sentence says so.

Why a paired test and a floor, not "inside the best trial's Wilson interval": on a few hundred
validation pulses that interval is wide (benchmarks/DECISIONS.md has the case). The paired test uses
that both trials saw the same pulses; the floor makes sure a network is never chosen where a
comparator does better on the same pulses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..config import CFG, SELECTION_MODES
from ..metrics import mcnemar, wilson

#: file name of a trial's validation predictions (argmax of its finalized student), beside student.h5
TRIAL_VAL_PRED = "val_pred.npy"


class NoModelFitsError(ValueError):
    """No trial satisfies the selection's constraints (one sentence with the fix)."""


# ------------------------------------------------------------------------------------------
# trials -> points
# ------------------------------------------------------------------------------------------

def points(tuner) -> list:
    """One dict per completed trial that recorded its hardware cost, in trial order:
    ``trial_id, hp, objective`` (validation cross-entropy of the network it kept, not the search's
    score, which may add a LUT penalty), ``val_acc, val_k, val_n, val_ci95``,
    ``lut_estimate, latency_cycles, nonzero`` (None when the search recorded no cost: da4ml missing),
    ``weight_bits, activation_bits``, ``layers`` (widths of
    the network, input to logits), ``path`` (the trial's own student, or None) and ``val_pred``
    (its validation predictions, or None)."""
    out = []
    for t in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        m = t.metrics
        if t.status != "COMPLETED" or t.score is None or not m.exists("val_final_n"):
            continue
        costed = m.exists("lut_estimate")
        k, n = int(m.get_last_value("val_final_correct")), int(m.get_last_value("val_final_n"))
        hp = dict(t.hyperparameters.values)
        folder = Path(tuner.get_trial_dir(t.trial_id))
        path, pred = folder / "student.h5", folder / TRIAL_VAL_PRED
        out.append({
            "trial_id": t.trial_id, "hp": hp, "objective": _validation_loss(t),
            "val_acc": k / n if n else float("nan"), "val_k": k, "val_n": n,
            "val_ci95": [round(v, 5) for v in wilson(k, n)],
            "lut_estimate": int(m.get_last_value("lut_estimate")) if costed else None,
            "latency_cycles": int(m.get_last_value("latency_cycles")) if costed else None,
            "nonzero": int(m.get_last_value("nonzero")) if costed else None,
            "weight_bits": int(m.get_last_value("weight_bits")) if m.exists("weight_bits") else
            int(hp.get("weight_bits", CFG.weight_bits)),
            "activation_bits": int(hp.get("activation_bits", CFG.activation_bits)),
            "layers": layers_of(hp),
            "path": str(path) if path.exists() else None,
            "val_pred": np.load(pred) if pred.exists() else None,
        })
    return out


def _validation_loss(trial) -> float:
    """The trial's validation cross-entropy (``val_final_loss`` at the epoch it kept), or its score
    when it recorded none."""
    if trial.metrics.exists("val_final_loss"):
        values = [v for o in trial.metrics.get_history("val_final_loss") for v in o.value if np.isfinite(v)]
        if values:
            return float(min(values))
    return float(trial.score)


def layers_of(hp: dict) -> list:
    """Widths from input to logits of a student with hyper-parameters ``hp`` (e.g. [161, 6, 3, 2])."""
    depth = int(hp.get("layers", 1))
    return [CFG.n_samples] + [int(hp[f"units_{i}"]) for i in range(depth)] + [CFG.n_classes]


def front(pts, cost: str = "lut_estimate") -> list:
    """The trials no other trial beats: none with more validation accuracy at no more LUTs
    (ties in LUTs: the more accurate; then the lower loss). Sorted by LUTs.  ``cost``: the LUT figure
    (default the search's da4ml estimate; ``lut``: Yosys); points without it are left out."""
    ordered = sorted((p for p in pts if p.get(cost) is not None),
                     key=lambda p: (p[cost], -p["val_acc"], p.get("objective", 0.0)))
    out, best = [], -1.0
    for p in ordered:
        if p["val_acc"] > best:
            out.append(p)
            best = p["val_acc"]
    return out


def cut_floor(split) -> dict:
    """The pareto floor: the best classical cut's validation accuracy.  Each cut
    (:mod:`labkit.data.baselines`) is fitted on the training pulses; the best on the validation
    pulses sets the floor (``name, acc, k, n``).  The test pulses play no part."""
    from ..data import baselines
    y = np.asarray(split.val.y)
    rows = []
    for cut in baselines.fit_all(split.train):
        k = int((cut.predict(split.val.X) == y).sum())
        rows.append({"name": cut.name, "acc": k / len(y), "k": k, "n": int(len(y))})
    return max(rows, key=lambda r: r["k"])


# ------------------------------------------------------------------------------------------
# selection
# ------------------------------------------------------------------------------------------

def _rank_accuracy(p):
    return (-p["val_acc"], p["objective"], p["lut_estimate"])


def good_enough(pts, *, y_val=None, floor: Optional[dict] = None) -> tuple:
    """(the trials the pareto rule admits, the most accurate trial): see the module docstring."""
    best = min(pts, key=_rank_accuracy)
    paired = y_val is not None and best.get("val_pred") is not None

    def not_worse(p):
        if p["val_k"] >= best["val_k"]:
            return True
        if paired and p.get("val_pred") is not None:
            return not mcnemar(y_val, p["val_pred"], best["val_pred"])["significant"]
        return False

    lo = floor["acc"] if floor else 0.0
    return [p for p in pts if p["val_acc"] >= lo and not_worse(p)], best


def select(pts, mode: Optional[str] = None, *, lut_budget: Optional[int] = None,
           latency_budget: Optional[int] = None, verify: Optional[Callable[[dict], int]] = None,
           y_val=None, floor: Optional[dict] = None) -> dict:
    """The chosen point (a copy, with ``selected_by``: one sentence saying why).

    ``mode``: accuracy | budget | pareto (default course.ini [search] selection).  Budgets default to
    course.ini's ``lut_budget`` / ``latency_budget`` and apply in ``budget`` mode only.
    ``verify(point) -> LUTs`` (e.g. Yosys) is asked, in budget mode, for each candidate in rank order
    until one is within the budget by that count too; it may also be a cache of counts.
    ``y_val``: the validation labels (the paired test of pareto mode); ``floor``: :func:`cut_floor`.
    Raises :class:`NoModelFitsError` when no trial qualifies.
    """
    pts = [p for p in pts if p.get("val_n")]
    mode = mode or CFG.search.selection
    if mode not in SELECTION_MODES:
        raise ValueError(f"selection mode {mode!r} is not one of {', '.join(SELECTION_MODES)}")
    if not pts:
        raise NoModelFitsError("no trial of the search completed with its hardware cost recorded: run the "
                               "student search with more trials")
    costed = [p for p in pts if p["lut_estimate"] is not None]
    if mode == "accuracy" or not costed:
        p = min(pts, key=lambda p: (p["objective"], p["lut_estimate"] or 0))
        why = (f"accuracy: the lowest validation loss ({p['objective']:.5f}) of {len(pts)} trials")
        if mode != "accuracy":
            why += (f" ({mode} needs each trial's hardware cost, and this search recorded none: "
                    "install da4ml (`make setup`) and rerun the search)")
        return dict(p, selected_by=why)
    pts = costed
    if mode == "budget":
        return _select_budget(pts, lut_budget, latency_budget, verify)
    ok, best = good_enough(pts, y_val=y_val, floor=floor)
    cut = (f"the best classical cut ({floor['name']}, {floor['k']}/{floor['n']})" if floor
           else "no classical cut (none given)")
    if not ok:
        return dict(best, selected_by=(f"pareto: no trial reaches the validation accuracy of {cut}; the most "
                                       f"accurate trial ({best['val_k']}/{best['val_n']}) is handed on: search "
                                       "more trials or epochs"))
    p = min(ok, key=lambda p: (p["lut_estimate"], -p["val_acc"], p["objective"]))
    most = f"the most accurate trial (trial {best['trial_id']}, {best['val_k']}/{best['val_n']})"
    test = (f"not significantly less accurate than {most} by McNemar's paired test at 5 %"
            if y_val is not None and best.get("val_pred") is not None else f"as accurate as {most}")
    return dict(p, selected_by=(f"pareto: the fewest LUTs among the {len(ok)} of {len(pts)} trials at least as "
                                f"accurate on the validation pulses as {cut} and {test}"))


def _select_budget(pts, lut_budget, latency_budget, verify):
    lut_budget = int(lut_budget if lut_budget is not None else CFG.search.lut_budget)
    latency_budget = int(latency_budget if latency_budget is not None else CFG.search.latency_budget)
    if lut_budget < 1 or latency_budget < 1:
        raise ValueError(f"budgets must be at least 1 (LUTs {lut_budget}, cycles {latency_budget})")
    fits = sorted((p for p in pts if p["lut_estimate"] <= lut_budget and p["latency_cycles"] <= latency_budget),
                  key=_rank_accuracy)
    refused = []
    for p in fits:
        lut = int(verify(p)) if verify is not None else None
        if lut is not None and lut > lut_budget:
            refused.append((p["trial_id"], lut))
            continue
        extra = f"; passed over (synthesised LUTs above it): {refused}" if refused else ""
        return dict(p, selected_by=(f"budget: the best validation accuracy of the {len(fits)} of {len(pts)} trials "
                                    f"within {lut_budget} LUTs and {latency_budget} cycles{extra}"), lut_verified=lut)
    smallest = min(pts, key=lambda p: p["lut_estimate"])
    raise NoModelFitsError(
        f"no trial fits the budget of {lut_budget} LUTs and {latency_budget} cycles (the smallest has "
        f"{smallest['lut_estimate']} LUTs and {smallest['latency_cycles']} cycles"
        + (f"; over budget once synthesised: {refused}" if refused else "")
        + "): raise the budget, or search more trials (fewer bits and a higher sparsity make smaller students)")


def summary(point: dict) -> dict:
    """What ``student.json`` records of the chosen trial (JSON-ready)."""
    return {"trial_id": point["trial_id"], "selected_by": point["selected_by"], "layers": point["layers"],
            "nonzero": point["nonzero"], "weight_bits": point["weight_bits"],
            "activation_bits": point["activation_bits"], "lut_estimate": point["lut_estimate"],
            "latency_cycles": point["latency_cycles"], "val_k": point["val_k"], "val_n": point["val_n"]}
