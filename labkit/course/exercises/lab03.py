"""Checks of lab 03's exercises (the student)."""
from __future__ import annotations

import numpy as np

from . import exercise


def _accuracy(model, x, y) -> float:
    return float(np.mean(model.predict(x, verbose=0).argmax(1) == np.asarray(y)))


@exercise("03", 1)
def four_bit_weights(answer, x_test=None, y_test=None, reference=None):
    import tensorflow as tf
    from qkeras import QDense
    if not isinstance(answer, tf.keras.Model):
        return False, "set `answer` to your trained 4-bit student (a Keras model)"
    dense = [l for l in answer.layers if isinstance(l, QDense)]
    if not dense:
        return False, "the model has no QDense layer: build it from QDense/QActivation like student_by_hand"
    bits = sorted({int(getattr(l.kernel_quantizer_internal, "bits", 0)) for l in dense})
    if bits != [4]:
        return False, f"the QDense kernels use {bits}-bit quantizers: use quantized_bits(4, 0, alpha=1) for every kernel"
    if x_test is None or y_test is None:
        return True, "every kernel is 4-bit (pass x_test=, y_test= to compare accuracies)"
    from labkit.training.compress import dead_reason
    dead = dead_reason(answer, x_test, y_test)
    if dead:
        return False, f"the 4-bit student is dead ({dead}); train it longer or with a smaller learning rate"
    msg = f"4-bit weights: test accuracy {_accuracy(answer, x_test, y_test):.4f}"
    if reference is not None:
        msg += f" vs {_accuracy(reference, x_test, y_test):.4f} with 8 bits (student_by_hand)"
    return True, msg + "; the BOPs of a multiplication scale with weight bits × activation bits, so 4-bit weights halve them"


@exercise("03", 2)
def surviving_samples(answer, x_train=None, y_train=None):
    idx = np.unique(np.asarray(answer).ravel())
    if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        return False, "set `answer` to the integer indices of the window samples that keep a nonzero weight"
    if idx.min() < 0 or idx.max() >= 161:
        return False, f"sample indices must lie in 0…160, got {idx.min()}…{idx.max()}"
    msg = f"{idx.size} of 161 samples survive (first {idx.min()}, last {idx.max()})"
    if x_train is not None and y_train is not None:
        x, y = np.asarray(x_train, dtype=np.float64), np.asarray(y_train)
        sep = np.abs(x[y == 1].mean(0) - x[y == 0].mean(0)) / (x.std(0) + 1e-9)
        top = set(np.argsort(sep)[-idx.size:].tolist())
        msg += (f"; {len(top & set(idx.tolist()))} of them are among the {idx.size} samples that separate the classes "
                f"best on their own (|Δmean|/σ, peak separation at sample {int(np.argmax(sep))})")
    return True, msg


@exercise("03", 3)
def without_teacher(answer):
    if not isinstance(answer, dict) or not {"a_only", "b_only", "p_value"} <= set(answer):
        return False, "set `answer` to metrics.mcnemar(y_test, pred_with_teacher, pred_without_teacher)"
    p = float(answer["p_value"])
    if not 0 <= p <= 1:
        return False, f"p = {p} is not a probability"
    verdict = "significant" if p < 0.05 else "not significant"
    return True, (f"{answer['a_only']} pulses right only with distillation, {answer['b_only']} only without; "
                  f"p = {p:.2g}: {verdict} at 5 %")


@exercise("03", 4)
def one_change_at_a_time(answer, seeds=None):
    if not isinstance(answer, dict) or set(answer) != {"batch", "layers"}:
        return False, ('set `answer = {"batch": dead runs with only the batch changed, '
                       '"layers": dead runs with only the pruned layers changed}`')
    if not all(isinstance(v, (int, np.integer)) and v >= 0 for v in answer.values()):
        return False, "the values are counts of dead runs (integers ≥ 0)"
    if seeds is not None and any(v > seeds for v in answer.values()):
        return False, f"more dead runs than seeds ({seeds})"
    worse = min(answer, key=answer.get)
    if answer["batch"] == answer["layers"]:
        return True, (f"{answer['batch']} dead runs either way: on this data and with these seeds the two fixes "
                      "cannot be told apart; more seeds would")
    return True, f"fixing only the {worse} leaves fewer dead runs ({answer[worse]} vs {max(answer.values())})"
