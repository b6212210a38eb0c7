"""The IP without a board: the C++ stream wrapper + hls4ml firmware compiled with g++.

numpy + ctypes only, so it also imports on the board image (no TensorFlow, no hls4ml).

``labkit hls emulate`` (or lab 04) builds ``artifacts/hls/emu/libclyc_emu.so`` from the very
C++ that Vitis HLS synthesises; :class:`EmulatedIP` drives it the way the board's DMA drives
the IP: write ``batch`` to the AXI-Lite register, start, stream the input words in, collect the
output beats (data + TLAST).  :func:`load_test_vectors` reads the vectors lab 04 writes for the
board test.
"""
from __future__ import annotations

import ctypes
import json
from pathlib import Path

import numpy as np

from .. import artifacts
from ..artifacts import LIB_NAME  # noqa: F401  (re-exported)
from ..stream import CTRL_BITS, REGISTERS, VECTOR_ARRAYS, default_vectors_dir, load_test_vectors  # noqa: F401


# AXI-Lite register map of the IP (bundle "control" = s_axi_control, ap_ctrl_hs on it).
# Vitis HLS reserves 0x00-0x0C for block control and interrupts and places the first scalar
# argument at 0x10 (UG1399, "S_AXILITE Control Register Map"); ``batch`` is that argument.
REGISTER_MAP, CTRL_BITS = REGISTERS, CTRL_BITS     # the IP's register map (labkit.stream), for the vectors

# negative return codes of labkit_emu_run (keep in sync with labkit/hls/cpp/labkit_emu.cpp)
ERR_INPUT_DRY = -1
ERR_OUT_CAPACITY = -2
ERR_BATCH = -3


class EmulationError(RuntimeError):
    """labkit_emu_run refused a run; the message says what the real IP would do."""


def default_lib_path() -> Path:
    return artifacts.ip_library()


class EmulatedIP:
    """ctypes front end of ``libclyc_emu.so``: one call of :meth:`run` = one IP run (one DMA transfer)."""

    def __init__(self, lib_path=None):
        path = Path(lib_path) if lib_path is not None else default_lib_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"emulation library {path} not found: build it with `labkit hls emulate` "
                "(or run lab 04, which builds it) first")
        self.path = path
        self._lib = ctypes.CDLL(str(path.resolve()))
        u32p = ctypes.POINTER(ctypes.c_uint32)
        u8p = ctypes.POINTER(ctypes.c_uint8)
        self._lib.labkit_emu_info.argtypes = [u32p, u32p, u32p, u32p]
        self._lib.labkit_emu_info.restype = ctypes.c_int
        self._lib.labkit_emu_run.argtypes = [ctypes.c_uint32, u32p, u8p, ctypes.c_uint32,
                                             u32p, u8p, ctypes.c_uint32, u32p]
        self._lib.labkit_emu_run.restype = ctypes.c_int
        vals = [ctypes.c_uint32() for _ in range(4)]
        rc = self._lib.labkit_emu_info(*(ctypes.byref(v) for v in vals))
        if rc != 0:
            raise EmulationError(f"labkit_emu_info returned {rc}: rebuild the library with `labkit hls emulate`")
        keys = ("n_samples", "words_per_pulse", "n_out", "max_batch")
        self.info = dict(zip(keys, (int(v.value) for v in vals)))

    def __repr__(self) -> str:
        return f"EmulatedIP({str(self.path)!r}, {self.info})"

    def run(self, batch: int, in_words, in_last=None):
        """Stream ``in_words`` into the IP after writing ``batch`` to its register.

        Returns ``(out_words uint32 (batch*n_out,), out_last bool (batch*n_out,), consumed)``
        where ``consumed`` is how many input words the IP read.
        """
        batch = int(batch)
        if batch < 0 or batch > 0xFFFFFFFF:
            raise ValueError(f"batch must be a 32-bit register value, got {batch}")
        words = np.ascontiguousarray(np.asarray(in_words).reshape(-1), dtype=np.uint32)
        last_ptr = None
        if in_last is not None:
            last = np.ascontiguousarray(np.asarray(in_last).reshape(-1), dtype=np.uint8)
            if last.size != words.size:
                raise ValueError(f"in_last has {last.size} flags for {words.size} input words")
            last_ptr = last.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        # batch > max_batch is refused by the library (-3) before the buffer is used
        capacity = max(1, min(batch, self.info["max_batch"])) * self.info["n_out"]
        out = np.zeros(capacity, np.uint32)
        out_last = np.zeros(capacity, np.uint8)
        consumed = ctypes.c_uint32(0)
        rc = self._lib.labkit_emu_run(
            batch, words.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), last_ptr, words.size,
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)),
            out_last.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), capacity, ctypes.byref(consumed))
        if rc == ERR_INPUT_DRY:
            need = batch * self.info["words_per_pulse"]
            raise EmulationError(
                f"input ran dry: batch={batch} needs {need} words ({self.info['words_per_pulse']} per pulse) "
                f"but only {words.size} were streamed; the real IP would stall and the DMA never complete. "
                "Send whole pulses (labkit.stream.pack_pulses) and set batch to the number of pulses.")
        if rc == ERR_OUT_CAPACITY:
            raise EmulationError(f"output buffer of {capacity} words is too small for batch={batch}")
        if rc == ERR_BATCH:
            raise EmulationError(f"batch={batch} is out of range: the IP takes 1…{self.info['max_batch']} "
                                 "pulses per run (CFG.max_batch); split larger sets into several runs")
        if rc < 0:
            raise EmulationError(f"labkit_emu_run failed with code {rc}")
        return out[:rc].copy(), out_last[:rc].astype(bool), int(consumed.value)

    def classify_words(self, in_words, batch: int | None = None):
        """Convenience: whole-pulse input words -> output words (batch = all pulses)."""
        words = np.asarray(in_words, dtype=np.uint32).reshape(-1)
        n = words.size // self.info["words_per_pulse"] if batch is None else batch
        return self.run(n, words)[0]


# ------------------------------------------------------------------------------------------
# test vectors (written by labkit.hls.vectors.write_test_vectors)
# ------------------------------------------------------------------------------------------



