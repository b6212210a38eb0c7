"""Checks of lab 06's exercises (on the board).  numpy + labkit's numpy-only modules: these run on
the PYNQ board, where there is no TensorFlow."""
from __future__ import annotations

import math

from ...config import CFG, DMA_LENGTH_WIDTH_DEFAULT
from ...stream import check_pulses
from . import exercise

#: exercise 3: what each mistake leaves behind, (sendchannel idle, recvchannel idle, CTRL.AP_IDLE)
#: (a) AP_START never written: the IP does not take its input, nothing moves;
#: (b) batch = 2 but one pulse sent: the IP runs and waits for the second pulse, no TLAST comes;
#: (c) batch = 1 but two pulses sent: the IP answers the first (TLAST) and stops, the second stays in MM2S
STUCK = {"a": (False, False, 1), "b": (True, False, 0), "c": (False, True, 1)}
STUCK_FIELDS = ("sendchannel.idle", "recvchannel.idle", "CTRL.AP_IDLE")


@exercise("06", 1)
def length_register(answer, width: int = DMA_LENGTH_WIDTH_DEFAULT, **_):
    """The largest batch, in pulses, that a ``width``-bit DMA length register allows."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False, f"give the batch as one number of pulses (got {answer!r})"
    limit, per_pulse = (1 << width) - 1, CFG.pulse_bytes
    want = limit // per_pulse
    if value == want:
        return True, (f"{width} bits hold {limit:,} bytes; one pulse is {per_pulse} bytes "
                      f"({CFG.words_per_pulse} words of {CFG.word_bits // 8} bytes), so {want} pulses "
                      f"({want * per_pulse:,} bytes) fit and {want + 1} do not")
    if value in (limit, limit + 1):
        return False, "that is the register's limit in bytes; the batch is counted in pulses"
    if value == limit // CFG.words_per_pulse:
        return False, "that divides bytes by words: one word is several bytes"
    if value != int(value):
        return False, "a batch is a whole number of pulses: round down"
    if value * per_pulse > limit:
        return False, f"{int(value)} pulses are {int(value) * per_pulse:,} bytes, more than {limit:,}"
    return False, f"{int(value)} pulses fit, but so do more: find the largest batch that fits {limit:,} bytes"


@exercise("06", 2)
def bad_input(answer, cases: dict = None, **_):
    """The set of case letters that ``clf.classify`` refuses (``cases``: the lab's dict of inputs)."""
    if not cases:
        return False, "pass the lab's cases: exercises.check('06', 2, answer, cases=cases)"
    want = set()
    for key, X in cases.items():
        try:
            check_pulses(X)
        except ValueError:
            want.add(key)
    items = answer if isinstance(answer, (set, frozenset, list, tuple)) else [answer]
    got = {str(a) for a in items}
    if got == want:
        kept = sorted(set(cases) - want)
        return True, ("the driver refuses what the IP cannot take -- codes outside the ADC range, values that are "
                      "not integer codes, a window of the wrong length" +
                      (f"; {', '.join(kept)} passes, because integer codes stored as floats are still codes"
                       if kept else ""))
    wrong = sorted(got ^ want)
    return False, f"look again at {', '.join(wrong)}: try each with clf.classify and catch ValueError"


@exercise("06", 3)
def stuck_dma(answer, **_):
    """For each mistake a/b/c: (sendchannel.idle, recvchannel.idle, CTRL.AP_IDLE) after the transfers."""
    if not isinstance(answer, dict) or set(map(str, answer)) != set(STUCK):
        return False, f"give a dict with the keys {', '.join(sorted(STUCK))}, each a tuple {STUCK_FIELDS}"
    notes = []
    for key, want in STUCK.items():
        try:
            got = tuple(int(bool(v)) for v in answer[key])
        except TypeError:
            return False, f"case {key}: give a tuple of three values {STUCK_FIELDS}"
        if len(got) != 3:
            return False, f"case {key}: give three values {STUCK_FIELDS}"
        bad = [f for f, g, w in zip(STUCK_FIELDS, got, (int(x) for x in want)) if g != w]
        if bad:
            notes.append(f"case {key}: {', '.join(bad)}")
    if not notes:
        return True, ("a stuck receive with an idle IP means it never started; a stuck receive with a busy IP means "
                      "it waits for more input than was sent; a stuck send with an idle IP means more input was "
                      "sent than the batch register asked for")
    return False, "; ".join(notes) + " -- reload the overlay (overlay.download()) before each case"


@exercise("06", 4)
def ip_throughput(answer, ii: float = 1.0, **_):
    """The pulses per second the IP alone sustains at the overlay's PL clock."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False, f"give pulses per second as one number (got {answer!r})"
    cycles = max(CFG.words_per_pulse, ii)
    want = CFG.clock_mhz * 1e6 / cycles

    def near(x):
        return math.isclose(value, x, rel_tol=0.01)

    if near(want):
        return True, (f"{CFG.clock_mhz:g} MHz / {cycles:g} clocks per pulse = {want:,.0f} pulses/s: the input "
                      f"stream ({CFG.words_per_pulse} words of {CFG.word_bits} bits per pulse, one word per clock) "
                      f"sets the pace, not the core's II of {ii:g}")
    if near(CFG.rtl.clock_mhz * 1e6 / cycles):
        return False, (f"{CFG.rtl.clock_mhz:g} MHz is the clock lab 04b pipelined the core for; in the overlay "
                       f"everything runs at the PL clock CFG.clock_mhz")
    if near(CFG.clock_mhz * 1e6 / ii) or near(CFG.rtl.clock_mhz * 1e6 / ii):
        return False, ("the core takes a pulse per II clocks, but the stream first has to deliver the pulse: "
                       "one word per clock, CFG.words_per_pulse words per pulse")
    if 0 < value < 1:
        return False, "that looks like a time per pulse; give pulses per second"
    return False, "pulses/s = PL clock in Hz / clocks per pulse (the larger of the stream's words per pulse and II)"
