"""Checks of lab 05's exercises (the block design).  Standard library + labkit.blockdesign (tclsh
for exercise 2, which records an edited copy of hw/build_overlay.tcl with the Vivado stubs)."""
from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from ...config import CFG, DMA_LENGTH_WIDTH_MAX
from . import exercise

#: the PL clock of exercise 4 (MHz)
EX4_CLOCK_MHZ = 250.0
#: the line exercise 2 removes from the script
SG_LINE = "CONFIG.c_include_sg 0"


def _whole(answer, what: str):
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None, f"give {what} as one number (got {answer!r})"
    if value != int(value):
        return None, f"give {what} as a whole number (got {answer!r})"
    return int(value), ""


@exercise("05", 1)
def largest_batch(answer, **_):
    """The largest max_batch whose transfer fits the DMA's widest length register."""
    value, why = _whole(answer, "the batch in pulses")
    if value is None:
        return False, why
    per_pulse, limit = CFG.pulse_bytes, (1 << DMA_LENGTH_WIDTH_MAX) - 1
    best = limit // per_pulse
    if value == best:
        return True, (f"{best} pulses x {per_pulse} bytes = {best * per_pulse:,} bytes fit the "
                      f"{DMA_LENGTH_WIDTH_MAX}-bit register ({limit:,} bytes); one pulse more needs "
                      f"{(best + 1) * per_pulse:,} bytes")
    if value in (limit, limit + 1):
        return False, ("that is the register's limit in bytes; max_batch counts pulses: divide by the bytes "
                       "of the larger direction of one pulse")
    if value * per_pulse <= limit:
        return False, (f"{value} pulses ({value * per_pulse:,} bytes) fit, but so do more: find the largest "
                       "max_batch whose transfer still fits")
    return False, (f"{value} pulses need {value * per_pulse:,} bytes, more than the {DMA_LENGTH_WIDTH_MAX}-bit "
                   f"register holds ({limit:,} bytes): count the bytes of one pulse "
                   "(max(words_per_pulse, n_classes) words)")


@lru_cache(maxsize=None)
def scatter_gather_failures(board: str) -> frozenset:
    """Names of the checks that fail when hw/build_overlay.tcl loses its ``CONFIG.c_include_sg 0``."""
    from ...blockdesign import BUILD_TCL, failed, run_checks, run_stubbed

    lines = BUILD_TCL.read_text().splitlines(keepends=True)
    kept = [line for line in lines if SG_LINE not in line]
    if len(kept) != len(lines) - 1:
        raise RuntimeError(f"{BUILD_TCL} no longer has exactly one '{SG_LINE}' line")
    with tempfile.TemporaryDirectory(prefix="labkit-ex05-") as tmp:
        tcl = Path(tmp) / "build_overlay.tcl"
        tcl.write_text("".join(kept))
        return frozenset(c.name for c in failed(run_checks(run_stubbed(board, tcl=tcl), board)))


def _names(answer) -> set:
    items = answer if isinstance(answer, (set, frozenset, list, tuple)) else [answer]
    return {str(getattr(a, "name", a)) for a in items}


@exercise("05", 2)
def scatter_gather(answer, board: str = CFG.default_board, **_):
    """The checks that fail without ``CONFIG.c_include_sg 0``, as a set of check names."""
    want = scatter_gather_failures(board)
    got = _names(answer)
    if got == want:
        return True, ("scatter-gather is the DMA's default: it adds an M_AXI_SG port and its clock pin "
                      "m_axi_sg_aclk, and nothing drives that clock or connects that port")
    missing, extra = want - got, got - want
    parts = []
    if missing:
        parts.append(f"{len(missing)} failing check(s) are missing from your set")
    if extra:
        parts.append(f"these did not fail: {', '.join(sorted(extra))}")
    return False, "; ".join(parts) + (" -- use the names of blockdesign.failed(blockdesign.run_checks(record, "
                                      "BOARD)) on the recording of the edited script")


@exercise("05", 3)
def open_interrupts(answer, record: dict = None, **_):
    """The interrupt pins the recorded design leaves unconnected, as ``cell/pin`` strings."""
    if record is None:
        from ...blockdesign import record_design
        record = record_design(CFG.default_board)
    on_nets = {p for net in record["nets"] for p in net["pins"]}
    want = {f"{cell}/{name}" for cell, info in record["cells"].items() for name, pin in info["pins"].items()
            if pin["type"] == "intr" and f"{cell}/{name}" not in on_nets}
    got = {p.strip("/") for p in _names(answer)}
    if got == want:
        return True, (f"{len(want)} interrupt outputs are open; on Zynq-7000 they would go to IRQ_F2P, on Zynq "
                      "UltraScale+ to pl_ps_irq0, through an AXI interrupt controller for PYNQ")
    if got <= want:
        return False, (f"{len(want - got)} more open interrupt pin(s): look at every cell's pins of type 'intr' "
                       "in record['cells'] that are on no net of record['nets']")
    return False, (f"not open interrupt pins of this design: {', '.join(sorted(got - want))} "
                   "(write them as 'cell/pin', e.g. from record['cells'][cell]['pins'])")


@exercise("05", 4)
def stage_depth(answer, board: str = CFG.default_board, clock_mhz: float = EX4_CLOCK_MHZ, **_):
    """Adder levels one pipeline stage of the RTL core may hold at ``clock_mhz`` on ``board``."""
    value, why = _whole(answer, "the adder levels per stage")
    if value is None:
        return False, why
    b = CFG.board(board)
    want = b.latency_cutoff(clock_mhz)
    if value == want:
        return True, (f"{1000 / clock_mhz:g} ns per stage / {b.adder_delay_ns:g} ns per adder level -> {want}: "
                      f"rebuild the RTL core with [rtl] clock_mhz = {clock_mhz:g} (more, shallower stages), and "
                      "the overlay's timing report must show WNS >= 0 at the new clock")
    if value == b.latency_cutoff(CFG.rtl.clock_mhz):
        return False, (f"that is the depth for {CFG.rtl.clock_mhz:g} MHz, the clock the core is built for now; "
                       f"redo it for {clock_mhz:g} MHz")
    if value == b.latency_cutoff(CFG.clock_mhz):
        return False, f"that is the depth for {CFG.clock_mhz:g} MHz, today's PL clock; redo it for {clock_mhz:g} MHz"
    return False, (f"one stage gets 1000 / {clock_mhz:g} ns; divide by adder_delay_ns of [board:{board}] and "
                   "round down (CFG.board(BOARD).latency_cutoff does this)")
