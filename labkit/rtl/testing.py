"""A tiny student and its RTL build, for tests (compiled once per process, in a temp folder)."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

SEED = 1


def tiny_student(hidden=(4,), sparsity: float = 0.8, epochs: int = 3, seed: int = SEED):
    """The course's student builder at toy size, trained a little on toy pulses, then most weights zeroed."""
    import tensorflow as tf

    from ..hls.testing import fit_and_prune
    from ..models import build_student

    tf.keras.utils.set_random_seed(seed)
    return fit_and_prune(build_student(list(hidden)), epochs, sparsity, seed)


@functools.lru_cache(maxsize=None)
def tiny_build():
    """Tiny student -> RTL core (+ Verilator emulator) -> IP folder, and its hls4ml C simulation."""
    from ..hls import convert
    from . import build

    tmp = Path(tempfile.mkdtemp(prefix="labkit_rtl_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    model = tiny_student()
    built = build(model, folder=tmp / "rtl")
    hls_model = convert.convert(model, output_dir=tmp / "hls")
    return {"model": model, "built": built, "hls_model": hls_model, "tmp": tmp}
