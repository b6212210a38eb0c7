"""Checks of lab 04c's exercise (the HGQ2 route: which samples of the pulse the student still reads).

numpy only: the student's layers are read through their ``qkernel`` (HGQ2's quantized kernel), so the
check runs in the Keras 3 environment of the lab and in tests without it."""
from __future__ import annotations

import numpy as np

from . import exercise


def samples_read(model) -> tuple:
    """(samples of the window the first quantized layer reads, samples it has): a sample is read when
    at least one of its weights is nonzero after quantization."""
    for layer in model.layers:
        kernel = getattr(layer, "qkernel", None)
        if kernel is not None:
            w = np.asarray(kernel)
            return int(np.count_nonzero(np.any(w != 0, axis=1))), int(w.shape[0])
    raise ValueError("the model has no quantized layer with a `qkernel` (an HGQ2 QDense)")


@exercise("04c", 1)
def samples_the_student_reads(answer, student=None):
    """``answer`` = how many samples of the window the HGQ2 student's first layer still reads."""
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        return False, "set `answer` to a number of samples (an integer)"
    if student is None:
        return False, "pass student= to the check (it counts the samples in the student's first layer)"
    read, total = samples_read(student)
    if int(answer) == total and read < total:
        return False, (f"{total} is every sample of the window; count only the rows of the first layer's "
                       "quantized kernel (`qkernel`) with at least one nonzero weight")
    if int(answer) != read:
        return False, ("count the rows (samples) of the first QDense's `qkernel` that have at least one nonzero "
                       "weight: `np.any(W != 0, axis=1)`")
    return True, (f"the student reads {read} of the {total} samples; the {total - read} others learned zero bits "
                  "in every weight, so no adder (and, in an IP built for it, no register) needs them")
