"""The exercise checks of labs 05 and 06 (labkit/course/exercises/lab05.py, lab06.py): a correct answer
passes, an obviously wrong one fails with a hint, and the shipped `...` is "open"."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from labkit.config import CFG, DMA_LENGTH_WIDTH_DEFAULT, DMA_LENGTH_WIDTH_MAX
from labkit.course import exercises
from labkit.course.exercises import lab06

HAVE_TCLSH = shutil.which("tclsh") is not None or shutil.which("tclsh8.6") is not None
needs_tclsh = pytest.mark.skipif(not HAVE_TCLSH, reason="tclsh not found: install Tcl 8.6 (apt-get install tcl)")
PER_PULSE = CFG.pulse_bytes


def _wrong(lab, n, answer, hint, **context):
    res = exercises.check(lab, n, answer, **context)
    assert res.status == "wrong" and hint in res.message, res.message
    with pytest.raises(AssertionError, match=f"exercise {n}"):
        exercises.check(lab, n, answer, strict=True, **context)


@pytest.mark.parametrize("lab, n", [("05", 1), ("05", 2), ("05", 3), ("05", 4), ("06", 1), ("06", 2), ("06", 3), ("06", 4)])
def test_shipped_cell_is_open(lab, n, capsys):
    res = exercises.check(lab, n, ...)
    assert res.status == "open" and "not answered yet" in capsys.readouterr().out


# -- lab 05 ---------------------------------------------------------------------------------------

def test_05_1_largest_batch():
    best = (2**DMA_LENGTH_WIDTH_MAX - 1) // PER_PULSE
    assert exercises.check("05", 1, best, strict=True).ok
    _wrong("05", 1, 2**DMA_LENGTH_WIDTH_MAX - 1, "in bytes")
    _wrong("05", 1, best + 1, "more than")
    _wrong("05", 1, best // 2, "so do more")
    _wrong("05", 1, "many", "one number")


@needs_tclsh
def test_05_2_scatter_gather():
    want = {"dma.no_scatter_gather", "cells.no_unconnected_axi_interface", "clocks_resets.clock_pins_on_pl_clock"}
    for board in CFG.boards:
        assert exercises.check("05", 2, want, strict=True, board=board).ok
    _wrong("05", 2, {"dma.no_scatter_gather"}, "missing")
    _wrong("05", 2, want | {"ps.pl_clock_source"}, "did not fail: ps.pl_clock_source")


@needs_tclsh
def test_05_3_open_interrupts():
    from labkit import blockdesign

    record = blockdesign.record_design(CFG.default_board, ip_kind="rtl")
    want = {f"{CFG.dma_name}/mm2s_introut", f"{CFG.dma_name}/s2mm_introut", f"{CFG.ip_name}/interrupt"}
    assert exercises.check("05", 3, want, strict=True, record=record).ok
    assert exercises.check("05", 3, ["/" + p for p in want], record=record).ok       # Vivado-style paths
    _wrong("05", 3, {f"{CFG.ip_name}/interrupt"}, "more open", record=record)
    _wrong("05", 3, want | {"rst_pl/mb_reset"}, "rst_pl/mb_reset", record=record)


def test_05_4_stage_depth():
    for board, b in CFG.boards.items():
        assert exercises.check("05", 4, b.latency_cutoff(250), strict=True, board=board).ok
    b = CFG.board(CFG.default_board)
    _wrong("05", 4, b.latency_cutoff(CFG.rtl.clock_mhz), "built for now")
    _wrong("05", 4, 1000, "adder_delay_ns")


# -- lab 06 ---------------------------------------------------------------------------------------

def test_06_1_length_register():
    best = (2**DMA_LENGTH_WIDTH_DEFAULT - 1) // PER_PULSE
    assert exercises.check("06", 1, best, strict=True, width=DMA_LENGTH_WIDTH_DEFAULT).ok
    assert exercises.check("06", 1, (2**21 - 1) // PER_PULSE, strict=True, width=21).ok
    _wrong("06", 1, 2**DMA_LENGTH_WIDTH_DEFAULT - 1, "in bytes")                  # bytes are not pulses
    _wrong("06", 1, (2**DMA_LENGTH_WIDTH_DEFAULT - 1) // CFG.words_per_pulse, "divides bytes by words")
    _wrong("06", 1, best + 1, "more than")


def test_06_2_bad_input():
    rng = np.random.default_rng(0)
    X = rng.integers(0, CFG.adc_max + 1, (2, CFG.n_samples))
    cases = {"a": np.where(np.arange(CFG.n_samples) == 50, CFG.adc_max + 1, X), "b": X / CFG.adc_max,
             "c": X[:, :-1], "d": X.astype(np.float64)}
    assert exercises.check("06", 2, {"a", "b", "c"}, strict=True, cases=cases).ok
    _wrong("06", 2, {"a", "b", "c", "d"}, "look again at d", cases=cases)
    _wrong("06", 2, {"a"}, "pass the lab's cases")


def test_06_3_stuck_dma():
    assert exercises.check("06", 3, dict(lab06.STUCK), strict=True).ok
    as_read = {k: (bool(s), bool(r), int(i)) for k, (s, r, i) in lab06.STUCK.items()}     # what pynq returns
    assert exercises.check("06", 3, as_read, strict=True).ok
    _wrong("06", 3, dict(lab06.STUCK, b=(True, False, 1)), "case b: CTRL.AP_IDLE")
    _wrong("06", 3, {"a": (0, 0, 1)}, "keys a, b, c")


def test_06_4_ip_throughput():
    want = CFG.clock_mhz * 1e6 / CFG.words_per_pulse
    assert exercises.check("06", 4, want, strict=True, ii=1.0).ok
    _wrong("06", 4, CFG.rtl.clock_mhz * 1e6 / CFG.words_per_pulse, "pipelined the core for", ii=1.0)
    _wrong("06", 4, CFG.clock_mhz * 1e6, "deliver the pulse", ii=1.0)
