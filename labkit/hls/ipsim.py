"""The IP without a board: the C++ stream wrapper + hls4ml firmware compiled with g++.

numpy + ctypes only, so it also imports on the board image (no TensorFlow, no hls4ml).

``labkit hls emulate`` (or lab 04) builds ``artifacts/hls/emu/libclyc_emu.so`` from the very
C++ that Vitis HLS synthesises; :class:`EmulatedIP` drives it the way the board's DMA drives
the IP: write ``batch`` to the AXI-Lite register, start, stream the input words in, collect the
output beats (data + TLAST).  :func:`load_test_vectors` reads the vectors lab 04 writes for the
board test.

The library is native code loaded into the Python process, from a folder the user can write to.
So :func:`~labkit.hls.wrapper.build_emulation` records its SHA-256 next to it
(``libclyc_emu.so.sha256``, the ``sha256sum`` format), and :class:`EmulatedIP` loads only a file
whose bytes match that record: the bytes are read once, checked, and the checked bytes are what
``dlopen`` maps (from a private copy), so the file cannot change between the check and the load.
A library without a record, or one that differs from it, is refused with the command that
rebuilds it.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .. import artifacts
from ..artifacts import LIB_NAME  # noqa: F401  (re-exported)
from ..stream import (CTRL_BITS, REGISTERS, VECTOR_ARRAYS, default_vectors_dir, load_test_vectors,  # noqa: F401
                      whole_number)


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


class UntrustedLibraryError(EmulationError, ValueError):
    """The emulation library has no SHA-256 record, or differs from it: it is not loaded."""


HASH_SUFFIX = ".sha256"
REBUILD = "`labkit hls emulate` (or `labkit hls convert`, or lab 04)"


def default_lib_path() -> Path:
    return artifacts.ip_library()


def library_record(lib_path) -> Path:
    """The SHA-256 record of an emulation library: ``<library>.sha256`` next to it."""
    lib_path = Path(lib_path)
    return lib_path.with_name(lib_path.name + HASH_SUFFIX)


def write_library_record(lib_path, digest: str) -> Path:
    """Write ``<library>.sha256`` (``<hex>  <name>``, as ``sha256sum`` prints it) atomically."""
    return artifacts.write_text_atomic(library_record(lib_path), f"{digest}  {Path(lib_path).name}\n")


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recorded_sha256(lib_path) -> str:
    """The SHA-256 recorded for ``lib_path`` when it was built; one sentence saying how to rebuild if there is none."""
    path = Path(lib_path)
    record = library_record(path)
    if not path.is_file():
        raise FileNotFoundError(f"emulation library {path} not found (or not a file): build it with {REBUILD}")
    if not (record.exists() or record.is_symlink()):
        raise UntrustedLibraryError(
            f"emulation library {path} has no SHA-256 record ({record.name} next to it), so it is not loaded "
            f"(it is native code run inside Python): rebuild it with {REBUILD}, which writes both")
    match = None
    if record.is_file():                     # never open a FIFO or a device: it could block
        try:
            with open(record, "rb") as f:
                text = f.read(4097).decode("ascii")
            match = re.fullmatch(r"([0-9a-fA-F]{64})(?:[ \t]+\*?[^\n]*)?\s*", text) if len(text) <= 4096 else None
        except (OSError, UnicodeDecodeError):
            match = None
    if match is None:
        raise UntrustedLibraryError(
            f"{record} is not a SHA-256 record of {path.name}, so the library is not loaded: rebuild it with "
            f"{REBUILD}, which writes both")
    return match.group(1).lower()


def _mismatch(path: Path) -> UntrustedLibraryError:
    return UntrustedLibraryError(
        f"emulation library {path} does not match the SHA-256 recorded when it was built "
        f"({library_record(path).name}): it was changed or replaced since, so it is not loaded; rebuild it "
        f"with {REBUILD}")


def verify_library(lib_path) -> str:
    """Check ``lib_path`` against its record without loading it; returns the digest."""
    path = Path(lib_path)
    expected = recorded_sha256(path)
    if file_sha256(path) != expected:
        raise _mismatch(path)
    return expected


def load_verified_library(lib_path) -> ctypes.CDLL:
    """``ctypes.CDLL`` of ``lib_path`` if its bytes match its SHA-256 record (:func:`recorded_sha256`).

    The bytes are read once: hashed while copied into a fresh 0700 temporary folder (``$TMPDIR``),
    and that checked copy is what ``dlopen`` maps; the folder is removed once the library is mapped.
    So nothing that changes ``lib_path`` after the check reaches the process.
    """
    path = Path(lib_path)
    expected = recorded_sha256(path)
    folder = Path(tempfile.mkdtemp(prefix="labkit-emu-"))
    try:
        copy = folder / path.name
        h = hashlib.sha256()
        with open(path, "rb") as src, os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700), "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                dst.write(chunk)
        if h.hexdigest() != expected:
            raise _mismatch(path)
        try:
            return ctypes.CDLL(str(copy))
        except OSError as err:
            raise EmulationError(
                f"could not load the emulation library {path} ({err}): rebuild it with {REBUILD}; if the "
                f"temporary folder {folder.parent} does not allow executables (noexec), set TMPDIR to one "
                "that does") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class EmulatedIP:
    """ctypes front end of ``libclyc_emu.so``: one call of :meth:`run` = one IP run (one DMA transfer)."""

    def __init__(self, lib_path=None):
        path = Path(lib_path) if lib_path is not None else default_lib_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"emulation library {path} not found: build it with `labkit hls emulate` "
                "(or run lab 04, which builds it) first")
        self.path = path
        self._lib = load_verified_library(path)
        if not all(hasattr(self._lib, name) for name in ("labkit_emu_info", "labkit_emu_run")):
            raise EmulationError(f"{path} is not a labkit emulation library (no labkit_emu_info/labkit_emu_run): "
                                 f"rebuild it with {REBUILD}")
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
        # the input transform its wrapper applies (a library built before --input existed: the course's)
        baseline = getattr(self._lib, "labkit_emu_input_baseline", None)
        self.info["input"] = "raw" if baseline is not None and baseline() == 0 else "course"

    def __repr__(self) -> str:
        return f"EmulatedIP({str(self.path)!r}, {self.info})"

    def run(self, batch: int, in_words, in_last=None):
        """Stream ``in_words`` into the IP after writing ``batch`` to its register.

        Returns ``(out_words uint32 (batch*n_out,), out_last bool (batch*n_out,), consumed)``
        where ``consumed`` is how many input words the IP read.
        """
        batch = whole_number(batch, "batch (a 32-bit register value)", low=0, high=0xFFFFFFFF)
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



