"""Checks of lab 02's exercises (the teacher)."""
from __future__ import annotations

import numpy as np

from . import exercise


def _tuner_summary(tuner):
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    best = min((t.score for t in trials if t.score is not None), default=None)
    return trials, best


@exercise("02", 1)
def dropout_search(answer, baseline=None):
    import keras_tuner as kt
    if not isinstance(answer, kt.Tuner):
        return False, "set `answer` to the keras-tuner tuner you searched with (kt.BayesianOptimization(...))"
    names = [p.name for p in answer.oracle.hyperparameters.space]
    if not any("dropout" in n for n in names):
        return False, f"the search space {names} has no dropout hyper-parameter: ask hp.Float('dropout', ...) in build(hp)"
    trials, best = _tuner_summary(answer)
    if not trials:
        return False, "no trial completed yet: call answer.search(...)"
    msg = f"{len(trials)} trials with dropout, best val_loss {best:.4f}"
    if baseline is not None:
        _, base = _tuner_summary(baseline)
        if base is not None:
            msg += f" vs {base:.4f} without dropout (lab's search); with a handful of trials the difference is mostly noise"
    return True, msg


@exercise("02", 2)
def random_search(answer, baseline=None):
    import keras_tuner as kt
    if not isinstance(answer, kt.RandomSearch):
        return False, "set `answer` to a kt.RandomSearch tuner built on the same hypermodel"
    trials, best = _tuner_summary(answer)
    if not trials:
        return False, "no trial completed yet: call answer.search(...)"
    if baseline is not None and answer.oracle.max_trials != baseline.oracle.max_trials:
        return False, (f"max_trials={answer.oracle.max_trials} for random search vs {baseline.oracle.max_trials} "
                       "for Bayesian optimisation: compare at the same number of trials")
    msg = f"random search: best val_loss {best:.4f} after {len(trials)} trials"
    if baseline is not None:
        msg += f"; Bayesian optimisation: {_tuner_summary(baseline)[1]:.4f}"
    return True, msg


@exercise("02", 3)
def raw_codes(answer, x_val_raw=None, y_val=None, x_val=None, teacher=None):
    import tensorflow as tf
    if not isinstance(answer, tf.keras.Model):
        return False, "set `answer` to the Keras model you trained on the raw ADC codes"
    if x_val_raw is None or y_val is None:
        return False, "pass x_val_raw= (split.val.X) and y_val= to the check"
    acc_raw = float(np.mean(answer.predict(np.asarray(x_val_raw, dtype="float32"), verbose=0).argmax(1) == y_val))
    msg = f"trained on raw codes: validation accuracy {acc_raw:.4f}"
    if teacher is not None and x_val is not None:
        acc = float(np.mean(teacher.predict(x_val, verbose=0).argmax(1) == y_val))
        msg += f"; the teacher on preprocessed pulses: {acc:.4f}"
    scale = float(np.mean(np.abs(np.asarray(x_val_raw, dtype="float64"))))
    msg += (f". The raw codes average {scale:.0f} in magnitude and sit on the ADC baseline, so every unit must first "
            "learn to cancel a large common offset, and initial weights scaled for inputs of order 1 give huge "
            "logits in the first steps; the course's input stage subtracts the baseline and scales by a power of two")
    return True, msg
