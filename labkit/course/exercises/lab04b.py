"""Checks of lab 04b's exercises (the open RTL twin: pruning, pipeline depth, the other board, a LUT
budget, the clock that matches the detector's rate)."""
from __future__ import annotations

import tempfile

import numpy as np

from ...config import CFG
from . import exercise


def _first_layer_nonzero(model) -> int:
    for layer in model.layers:
        if type(layer).__name__ == "QDense":
            return int(np.count_nonzero(np.asarray(layer.kernel_quantizer_internal(layer.kernel))))
    raise ValueError("the model has no QDense layer")


@exercise("04b", 1)
def prune_and_count(answer, student=None, x=None, y=None, val=None, lut_before=None):
    """``answer`` = (pruned QKeras model, Yosys LUTs of its core); ``x, y`` = preprocessed test pulses and
    labels (accuracy), ``val`` = (x, y) of the validation split (dead-network test; default ``x, y``)."""
    import tensorflow as tf
    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], tf.keras.Model)):
        return False, "set `answer = (pruned, lut)`: the pruned model and the LUTs Yosys counted for its core"
    if student is None or x is None or y is None:
        return False, "pass student=, x= (preprocessed test pulses) and y= (their labels) to the check"
    from ... import metrics
    from ...training.compress import dead_reason
    pruned, lut = answer
    before, after = _first_layer_nonzero(student), _first_layer_nonzero(pruned)
    if after >= before:
        return False, (f"the first layer still has {after} nonzero weights (the student: {before}): "
                       "zero its smallest weights before rebuilding the core")
    reason = dead_reason(pruned, *(val if val is not None else (x, y)))
    if reason:
        return False, (f"the pruned network is dead ({reason}), so its LUT count describes a circuit that "
                       "classifies nothing: keep more weights")
    lut = int(lut)
    if lut_before is not None and lut >= lut_before:
        return False, (f"{lut} LUTs is not fewer than the unpruned core's {lut_before}: "
                       "synthesize the core built from the pruned model")
    acc = metrics.fmt_acc(metrics.accuracy_ci(np.asarray(y), pruned.predict(x, verbose=0).argmax(1)))
    msg = f"first layer {before} -> {after} nonzero weights"
    if lut_before is not None:
        msg += (f", LUTs {lut_before} -> {lut} (about {(lut_before - lut) / (before - after):.1f} LUTs per "
                "removed weight: each one was a shift-and-add)")
    return True, msg + f"; accuracy {acc} without retraining"


@exercise("04b", 2)
def predicted_stages(answer, student=None, clock_mhz=250, board=None):
    """``answer`` = the number of pipeline stages predicted for ``clock_mhz``; checked against build_core."""
    from ...config import CFG
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        return False, "set `answer` to the number of pipeline stages (an integer) you predict"
    if student is None:
        return False, "pass student= to the check (it builds the core at that clock to compare)"
    from ...rtl.core import build_core
    board = board or CFG.default_board
    with tempfile.TemporaryDirectory(prefix="labkit_ex04b_") as tmp:
        core, _ = build_core(student, tmp, board=board, clock_mhz=clock_mhz)
    levels = f"latency_cutoff = {core.latency_cutoff} adder levels per stage"
    if int(answer) != core.stages:
        return False, (f"build_core cuts the pipeline at {clock_mhz:g} MHz into {core.stages} stages, not "
                       f"{int(answer)} ({levels}): divide the adder depth by the levels per stage and round up")
    return True, (f"{core.stages} stages at {clock_mhz:g} MHz ({levels}): latency {core.latency_cycles} clocks = "
                  f"{core.latency_cycles * 1000.0 / clock_mhz:g} ns; the adder depth is fixed by the network, so "
                  "the time through it barely moves, only the number of registers cutting it does")


@exercise("04b", 3)
def other_board(answer, pynq=None, board="kv260"):
    """``answer`` = the Yosys figures of the core synthesized for the KV260 (labkit.rtl.synth(...)["core"])."""
    from ...config import CFG
    if not (isinstance(answer, dict) and {"lut", "lut_pct", "family"} <= set(answer)):
        return False, 'set `answer = synth({"core": core}, "kv260", ip=False)["core"]` (the Yosys figures)'
    b = CFG.board(board)
    if answer["family"] != b.yosys_family:
        return False, (f"these figures were synthesized for the {answer['family']} family, not the {b.title}'s "
                       f"{b.yosys_family}: pass \"{board}\" as the board")
    share = 100.0 * answer["lut"] / b.device_luts
    if abs(share - answer["lut_pct"]) > 0.01:
        return False, "lut_pct does not match lut / the KV260's LUTs: use the figures synth() returned unchanged"
    msg = f"{b.title}: {answer['lut']} LUTs = {answer['lut_pct']:.2f} % of the device"
    if pynq is not None:
        msg += f" vs {pynq['lut']} LUTs = {pynq['lut_pct']:.2f} % of the {CFG.board(CFG.default_board).title}"
        if pynq.get("carry") is not None:
            msg += f"; carry cells {pynq['carry']} -> {answer.get('carry')} (a CARRY8 spans 8 bits, a CARRY4 only 4)"
    return True, msg


#: exercise 4's smaller FPGA: a Zynq-7007S (xc7z007s, 14,400 LUTs, DS190), of which the classifier may
#: take a tenth (the rest is the DMA, the interconnect and the experiment's own logic)
SMALL_DEVICE, SMALL_DEVICE_LUTS, SMALL_SHARE = "xc7z007s", 14400, 0.10


@exercise("04b", 4)
def lut_budget(answer, points=None, latency_budget=None, accuracy_choice_lut=None):
    """``answer`` = the LUT budget (an integer) for a tenth of an xc7z007s; ``points`` = the
    student search's points (labkit.training.selection.points); the check runs the budget mode with it."""
    from ...training import selection as search
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        return False, "set `answer` to the LUT budget, an integer number of LUTs"
    want = int(SMALL_DEVICE_LUTS * SMALL_SHARE)
    if int(answer) != want:
        return False, (f"{int(answer)} LUTs is not a tenth of the {SMALL_DEVICE}'s {SMALL_DEVICE_LUTS:,} LUTs: "
                       f"multiply the device's LUTs by {SMALL_SHARE:g} and round down")
    if points is None:
        return False, "pass points= (the search's points) to the check"
    try:
        got = search.select(points, "budget", lut_budget=int(answer), latency_budget=latency_budget)
    except search.NoModelFitsError as err:
        return True, (f"budget {want} LUTs: {err}. That is an answer too: on this chip, with these trials, "
                      "no student fits; a classical cut or a longer search with fewer bits is the way on")
    msg = (f"budget {want} LUTs: trial {got['trial_id']} ({got['lut_estimate']} LUTs estimated, {got['latency_cycles']} "
           f"cycles, {got['weight_bits']}-bit weights, validation {got['val_k']}/{got['val_n']})")
    if accuracy_choice_lut:
        msg += (f"; the course's deployed student ({accuracy_choice_lut} LUTs) takes "
                f"{100.0 * accuracy_choice_lut / SMALL_DEVICE_LUTS:.0f} % of the chip")
    return True, msg


@exercise("04b", 5)
def matching_clock(answer, beats_per_pulse=None):
    """``answer`` = the lowest PL clock in MHz at which the folded IP keeps up with one detector
    channel delivering windows back to back; ``beats_per_pulse`` = what the IP simulation sustained."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        return False, "set `answer` to a clock in MHz, a number"
    if beats_per_pulse is None:
        return False, "pass beats_per_pulse= (the folded IP's clocks per pulse from the simulation) to the check"
    windows_per_s = CFG.sample_rate_hz / CFG.n_samples
    want = windows_per_s * float(beats_per_pulse) / 1e6
    if not np.isfinite(answer) or abs(float(answer) - want) > 0.01 * want:
        return False, (f"{float(answer):g} MHz is not it: one channel delivers a window every {CFG.n_samples} samples "
                       f"at {CFG.sample_rate_hz / 1e6:g} MS/s; the IP needs {float(beats_per_pulse):g} clocks per pulse")
    return True, (f"{want:.1f} MHz: at the overlay's {CFG.design.clock_mhz:g} MHz one folded IP serves "
                  f"{CFG.design.clock_mhz / want:.1f} channels; a faster core would only wait longer")
