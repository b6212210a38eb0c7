"""QKeras student -> da4ml combinational logic -> fully pipelined Verilog core (+ Verilator emulator).

da4ml's own Keras front end needs Keras 3 / HGQ2, so the student's *quantized* weights are
replayed through da4ml's tracing API: a symbolic input vector in the course's input format
(``CFG.input_format``, the same ap_fixed<12,4> the HLS path feeds hls4ml), then per layer

* ``QDense``: ``h @ W + b`` with the quantized kernel and bias -- da4ml turns every constant
  matrix-vector product into shift-and-add trees (distributed arithmetic, no multipliers);
* ``quantized_relu(bits, integer)``: round half to even, then clip to [0, 2**integer - lsb]
  (= ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>, what QKeras computes);
* logits: ``CFG.logit_format`` with the same rounding and saturation as the HLS path.

Only the rounding needs care: da4ml offers truncation and round-half-up, so half-to-even is built
from them (:func:`round_half_even`).  The precisions come from :mod:`labkit.fixedpoint` -- the
RTL and the HLS path read the student's quantizers through the same functions.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import artifacts
from ..config import CFG
from ..training.cost import apply_each, layer_steps, round_half_even, trace  # noqa: F401 (this module's API)
from . import tools


@dataclass
class Core:
    """A written RTL core: where, its pipeline and the bit layout of its ports."""

    folder: str
    name: str
    board: str
    clock_mhz: float
    latency_cutoff: int
    stages: int                 # pipeline stages (comb blocks between registers)
    latency_cycles: int         # rising edges from input to output (registers in the path)
    in_width: int               # bits per input in <name>_wrapper's model_inp
    in_frac: int
    out_width: int              # bits per logit in <name>_wrapper's model_out
    out_frac: int
    est_luts: float             # da4ml's own estimate
    est_ffs: int
    nonzero: int
    trace_s: float
    sources: list = field(default_factory=list)   # Verilog files, relative to folder
    emulator_compiled: bool = False
    n_out: int = CFG.n_classes  # logits per pulse
    input: str = "course"       # the input transform (CFG.input_transform)

    def meta(self) -> dict:
        return asdict(self)


def _uniform_layout(qints):
    """(width, frac) of da4ml's regular port layout (every element widened to the largest k+i / f)."""
    from da4ml.types import minimal_kif
    ks, is_, fs = zip(*map(minimal_kif, qints))
    return max(is_) + max(ks) + max(fs), max(fs)


def write_rtl(comb, name: str, folder: Path, board: str, clock_mhz: float, cutoff: int):
    """da4ml's pipelined Verilog of ``comb`` as module ``<name>_wrapper`` in ``folder``, unchecked (the
    HGQ2 route's cores use it as it is).  Returns ``(RTLModel, (in_width, in_frac), (out_width, out_frac))``
    in da4ml's regular port layout."""
    from da4ml.codegen import RTLModel

    rtl = RTLModel(comb, name, folder, flavor="verilog", latency_cutoff=cutoff,
                   clock_period=1000.0 / clock_mhz, part_name=CFG.board(board).part, print_latency=False)
    rtl.write()
    return rtl, _uniform_layout(comb.inp_qint), _uniform_layout(comb.out_qint)


def write_comb(comb, name: str, folder: Path, board: str, clock_mhz: float, cutoff: int, input_format=None):
    """da4ml's pipelined Verilog of ``comb`` as module ``<name>_wrapper`` in ``folder``, checked.

    Refuses logits that depend on no input, inputs off ``input_format`` (when given) and logits that do
    not fit the course's logit format.  Returns ``(RTLModel, (in_width, in_frac), (out_width, out_frac))``
    in da4ml's regular port layout (:func:`write_rtl`).
    """
    rtl, (in_w, in_f), (out_w, out_f) = write_rtl(comb, name, folder, board, clock_mhz, cutoff)
    if in_w == 0:
        raise ValueError("the student's logits do not depend on its input (every hidden unit is dead or "
                         "pruned away), so there is no circuit to build: retrain the student (lab 03)")
    fmt = input_format
    if fmt is not None and (in_f != fmt.frac or in_w > fmt.width):
        raise ValueError(f"the traced core takes inputs of {in_w} bits with {in_f} fraction bits, not "
                         f"{fmt.hls()}: every input must be quantized to the input transform's format")
    lf = CFG.logit_format
    if out_f > lf.frac or out_w - out_f > lf.integer:
        raise ValueError(f"core logits ({out_w} bits, {out_f} fraction) do not fit {lf.hls()}")
    return rtl, (in_w, in_f), (out_w, out_f)


def verilog_sources(folder: Path) -> list:
    """The Verilog files of a core folder the design needs, relative to it: ``src/*.v`` and the da4ml
    static modules it uses."""
    src = folder / "src"
    used = {"binop.v", "multiplier.v", "mux.v", "negative.v", "shift_adder.v"}
    if any((src / "memfiles").glob("*")):
        used.add("lookup_table.v")
    sources = sorted(str(p.relative_to(folder)) for p in src.glob("*.v"))
    return sources + sorted(str(p.relative_to(folder)) for p in (src / "static").glob("*.v") if p.name in used)


def build_core(model, folder=None, board: str = CFG.default_board, clock_mhz: float | None = None,
               latency_cutoff: int | None = None, input: str = "course"):
    """Trace the student and write the pipelined Verilog project; returns ``(Core, RTLModel)``.

    The pipeline cut follows the board's adder delay at ``clock_mhz`` (course.ini [rtl]),
    unless ``latency_cutoff`` (adder levels per stage) is given.  ``input``: the input transform
    the student was trained on (``CFG.input_transform``).
    """
    reason = tools.missing("da4ml")
    if reason:
        raise RuntimeError(reason)

    b = CFG.board(board)
    clock_mhz = float(clock_mhz or CFG.rtl.clock_mhz)
    cutoff = int(latency_cutoff or b.latency_cutoff(clock_mhz))
    folder = Path(folder) if folder is not None else artifacts.rtl_core()
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    t = CFG.input_transform(input)
    comb, info = trace(model, t.name)
    trace_s = time.perf_counter() - t0
    rtl, (in_w, in_f), (out_w, out_f) = write_comb(comb, CFG.rtl.core, folder, board, clock_mhz, cutoff,
                                                   input_format=t.format)
    pipe = rtl._pipe
    core = Core(
        folder=str(folder), name=CFG.rtl.core, board=board, clock_mhz=clock_mhz, latency_cutoff=cutoff,
        stages=len(pipe.solutions), latency_cycles=len(pipe.solutions) + 1,
        in_width=in_w, in_frac=in_f, out_width=out_w, out_frac=out_f,
        est_luts=float(round(comb.cost, 1)), est_ffs=int(pipe.reg_bits), nonzero=info["nonzero"],
        trace_s=round(trace_s, 2), sources=verilog_sources(folder), n_out=int(model.output_shape[-1]), input=t.name)
    (folder / "labkit_core.json").write_text(json.dumps(core.meta(), indent=1) + "\n")
    return core, rtl


def compile_emulator(core, rtl, verbose: bool = False) -> float:
    """Verilate a written core (parallel, or the da4ml part of a folded one) into da4ml's emulator
    library (``rtl.predict``); returns seconds."""
    reason = tools.missing("verilator", "g++")
    if reason:
        raise RuntimeError(reason)
    t0 = time.perf_counter()
    with tools.verilator_environment():
        rtl.compile(verbose=verbose, openmp=False, nproc=2)
    core.emulator_compiled = True
    return time.perf_counter() - t0


def emulator_logits(rtl, X_raw, input: str = "course") -> np.ndarray:
    """Logits of the Verilated core for raw pulses (the input stage in numpy, as the wrapper does it)."""
    from ..data.prep import transform
    x = np.ascontiguousarray(transform(X_raw, input), dtype=np.float64)
    return np.asarray(rtl.predict(x, n_threads=1), np.float64).reshape(len(x), -1)
