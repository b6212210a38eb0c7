"""One compiled hls4ml project + emulation libraries of the toy student, for tests.

Both tests/test_hls.py and tests/test_stream_wrapper.py call :func:`toy_build`; it is cached in
the process, so a pytest session compiles each C++ artifact once (in a temporary folder that is
removed at exit).  The g++ builds that do not depend on each other run two at a time.  The toy
pulses and students themselves are in :mod:`labkit.testing`.
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..emulation import LIB_NAME
from ..testing import toy_student

#: deliberately broken wrapper variants (compiled with -D<macro>) the checks must catch
BUG_VARIANTS = {"no_tlast": "LABKIT_BUG_NO_TLAST", "int_logits": "LABKIT_BUG_INT_LOGITS"}


@functools.lru_cache(maxsize=None)
def toy_build(bugs: bool = True):
    """Student + hls4ml project (compiled) + emulation library (+ broken variants), built once.

    Returns a dict: model, hls_model, project, lib, bug_libs {name: path}, tmp, timings.
    """
    from . import convert
    from .wrapper import build_emulation

    tmp = Path(tempfile.mkdtemp(prefix="labkit_hls_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    t0 = time.perf_counter()
    model = toy_student()
    hls_model = convert.convert(model, output_dir=tmp / "prj", compile=False)
    prj = tmp / "prj"
    jobs = {"csim": hls_model.compile, "emu": lambda: build_emulation(prj, tmp / "emu" / LIB_NAME)}
    if bugs:
        for name, macro in BUG_VARIANTS.items():
            jobs[name] = functools.partial(build_emulation, prj, tmp / name / LIB_NAME, (macro,))
    timings = {"student_s": time.perf_counter() - t0}
    results = {}
    with ThreadPoolExecutor(max_workers=2) as pool:  # g++ runs release the GIL; 2 cores
        t1 = time.perf_counter()
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        for name, fut in futures.items():
            results[name] = fut.result()
        timings["compile_all_s"] = time.perf_counter() - t1
    return {
        "model": model, "hls_model": hls_model, "project": prj, "tmp": tmp,
        "lib": results["emu"], "bug_libs": {k: results[k] for k in BUG_VARIANTS if k in results},
        "timings": timings,
    }
