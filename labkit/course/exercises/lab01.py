"""Checks of lab 01's exercises (data, classical baselines, file formats).  numpy only."""
from __future__ import annotations

import numpy as np

from . import exercise
from ...config import CFG
from ... import metrics

#: exercise 2 looks at the test pulses below this amplitude (ADC counts)
LOW_AMPLITUDE = 100


def _need(**context):
    missing = [k for k, v in context.items() if v is None]
    return f"pass {', '.join(f'{k}=' for k in missing)} to the check" if missing else ""


def _is_pulses(x) -> bool:
    return hasattr(x, "X") and hasattr(x, "y") and hasattr(x, "report")


def gate_foms(train, gates) -> dict:
    """FoM of the tail/total charge comparison for each gate, fitted on ``train``."""
    from ...data.baselines import CutClassifier
    return {int(g): CutClassifier("gate", gate=int(g), feature="tail_total").fit(train.X, train.y).fom for g in gates}


@exercise("01", 1)
def best_gate(answer, train=None, lab_cut=None):
    from ...data.baselines import GATES
    if (msg := _need(train=train)):
        return False, msg
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)):
        return False, "set `answer` to one gate: an int, the number of samples after the onset where the tail starts"
    gate = int(answer)
    if not 1 <= gate < CFG.n_samples - 1:
        return False, f"a gate of {gate} samples does not fit in the {CFG.n_samples}-sample window"
    foms = gate_foms(train, GATES)
    best = max(foms, key=foms.get)
    mine = foms[gate] if gate in foms else gate_foms(train, [gate])[gate]
    if mine < foms[best] - 1e-9:
        return False, (f"the FoM at gate {gate} is {mine:.3f}, but another gate of baselines.GATES does better: "
                       f"fit a CutClassifier(..., feature='tail_total') for every gate and take the largest .fom")
    ns = CFG.sample_period_us * 1000
    msg = (f"gate {gate} samples ({gate * ns:.0f} ns after the onset): FoM {mine:.3f} on the training pulses; "
           f"FoM at the shortest gate {min(foms)}: {foms[min(foms)]:.3f}, at the longest {max(foms)}: {foms[max(foms)]:.3f}")
    if lab_cut is not None and lab_cut.gate is not None:
        msg += (f". The lab's cut uses gate {lab_cut.gate} (chosen by training accuracy, FoM {lab_cut.fom:.3f}): "
                f"the best-separated peaks and the best single threshold need not coincide")
    return True, msg


@exercise("01", 2)
def low_amplitude(answer, cuts=None, test=None):
    from ...data.baselines import amplitude
    if (msg := _need(cuts=cuts, test=test)):
        return False, msg
    if not isinstance(answer, dict):
        return False, "set `answer` to a dict {cut name: accuracy on the low-amplitude test pulses}, e.g. {clf.name: ...}"
    names = [c.name for c in cuts]
    if sorted(answer) != sorted(names):
        return False, f"use the cut names as keys: {names}"
    low = amplitude(test.X) < LOW_AMPLITUDE
    if not low.any():
        return False, f"no test pulse lies below {LOW_AMPLITUDE} counts"
    lines, ok = [], True
    for clf in cuts:
        acc = metrics.accuracy_ci(test.y[low], clf.predict(test.X[low]))
        full = metrics.accuracy_ci(test.y, clf.predict(test.X))
        try:
            given = float(answer[clf.name])
        except (TypeError, ValueError):
            return False, f"the value for {clf.name!r} must be a number (the accuracy)"
        ok &= abs(given - acc["acc"]) < 1e-6
        lines.append(f"{clf.name}: {metrics.fmt_acc(acc)} below {LOW_AMPLITUDE} counts, {metrics.fmt_acc(full)} on all")
    if not ok:
        n0 = int((test.y[low] == 0).sum())
        return False, (f"not the accuracies on the pulses with baselines.amplitude(test.X) < {LOW_AMPLITUDE}: that mask "
                       f"selects {int(low.sum())} test pulses ({n0} gammas); compare clf.predict(...) with the labels there")
    return True, "; ".join(lines)


@exercise("01", 3)
def round_trip(answer, test=None):
    if (msg := _need(test=test)):
        return False, msg
    if not _is_pulses(answer):
        return False, "set `answer` to what data.load(path) returns for the window CSV you wrote"
    if answer.X.shape != test.X.shape:
        return False, f"the file holds {answer.X.shape[0]} windows, the test split {test.X.shape[0]}: write all of split.test"
    if not (np.array_equal(answer.X, test.X) and np.array_equal(answer.y, test.y)):
        return False, "the windows or labels you read back differ from split.test: write split.test.X and split.test.y"
    return True, (f"{len(answer)} windows and labels read back bit for bit from {answer.source} "
                  f"({answer.report.get('dropped', 0)} rows dropped)")


@exercise("01", 4)
def damaged_file(answer, test=None):
    if (msg := _need(test=test)):
        return False, msg
    if not _is_pulses(answer):
        return False, "set `answer` to what data.load(damaged_path, on_bad='drop') returns"
    dropped = int(answer.report.get("dropped", 0))
    if dropped == 0:
        return False, ("nothing was dropped: damage one sample value in a copy of your file (e.g. 5000, beyond the "
                       f"{CFG.adc_bits}-bit ADC range, or 'abc'), then load it with on_bad='drop'")
    if len(answer) + dropped != len(test):
        return False, (f"{len(answer)} pulses read + {dropped} dropped ≠ the {len(test)} test pulses you wrote: "
                       "damage a copy of the whole split.test file")
    rows = {r.tobytes() for r in np.asarray(test.X)}
    if not all(r.tobytes() in rows for r in np.asarray(answer.X)):
        return False, "some windows you read back are not test windows: damage only one value"
    return True, (f"{dropped} damaged row(s) dropped, {len(answer)} pulses kept; without on_bad='drop' the loader "
                  f"stops with one sentence that names the row, the column and the fix")
