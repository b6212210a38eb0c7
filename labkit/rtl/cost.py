"""Hardware cost of a student in seconds, without Vivado or Yosys: LUTs, latency, nonzero weights.

The student is traced with da4ml exactly as :func:`labkit.rtl.core.trace` does for the RTL core;
da4ml's solution (a ``CombLogic``: a list of ``Op`` records, each with its opcode, operands and the
``QInterval`` of its result) is then costed op by op -- no Verilog is written or compiled.

LUT model (7-series / UltraScale: every adder is a carry chain, CARRY4/CARRY8, fed by one LUT per
bit that forms the propagate signal):

* ``a ± b·2**s`` (opcodes 0/1): **one LUT per output bit at or above the higher of the two operands'
  LSBs**.  Below that position only one operand has bits, so those bits are wires.  In da4ml's
  (k, i, f) terms, with ``f_a`` and ``f_b - s`` the operands' fraction bits and (k, i, f) the
  result's: ``k + i + min(f_a, f_b - s)`` LUTs.
* ``a + c`` with a constant c (opcode 4): one LUT per output bit at or above c's lowest set bit.
* ReLU (±2), MSB multiplexer (±6, the saturation of a quantizer): one LUT per output bit.
* quantize (±3, i.e. dropping bits), copies of inputs (-1) and constants (5): wires, 0 LUTs.
  (The sign flip of a -3 is folded into the neighbouring adder by da4ml's code generator.)
* anything else (multipliers, lookup tables, bit ops -- the course's student has none):
  da4ml's own per-op cost, so the total never silently drops an op.

Pipeline registers are flip-flops, not LUTs; they are not part of ``lut_estimate``.
:func:`calibrate` gives the ratio of this estimate to Yosys's LUT count on the points a bench
actually synthesises (Yosys also packs small adders into LUT6 pairs and merges ReLU with the
next adder, so expect a ratio near, not at, 1).

Latency: da4ml's pipelining at the configured clock, as :func:`labkit.rtl.core.build_core` does it
(``to_pipeline`` with the board's ``latency_cutoff`` adder levels per stage):
``latency_cycles = stages + 1`` (the registered input plus one register per stage).
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np

from ..config import CFG
from . import tools

#: da4ml opcodes: 0/1 a±b·2**s, 4 a+const, ±2 relu, ±6 msb mux, ±3 quantize, -1 input copy, 5 const
ADDERS = (0, 1, 4)
PER_BIT = (2, -2, 6, -6)
WIRES = (-1, 3, -3, 5)


def _kif(qint):
    from da4ml.types import minimal_kif
    return tuple(int(x) for x in minimal_kif(qint))


def _trailing_zeros(n: int) -> int:
    n = abs(int(n))
    return (n & -n).bit_length() - 1 if n else 0


def op_luts(op, ops) -> float:
    """LUTs of one da4ml ``Op`` under the documented model (``ops``: the solution's op list)."""
    k, i, f = _kif(op.qint)
    width = k + i + f
    if op.opcode in (0, 1):
        fa = _kif(ops[op.id0].qint)[2]
        fb = _kif(ops[op.id1].qint)[2] - int(op.data)      # b is shifted left by data bits
        return float(max(0, min(width, k + i + min(fa, fb))))
    if op.opcode == 4:
        # the constant is op.data * step of the result: its lowest set bit sits tz bits above the LSB
        return float(max(0, width - _trailing_zeros(op.data)))
    if op.opcode in PER_BIT:
        return float(width)
    if op.opcode in WIRES:
        return 0.0
    return float(op.cost)


def comb_cost(comb) -> dict:
    """LUT estimate of a da4ml ``CombLogic`` and the counts behind it."""
    ops = list(comb.ops)
    luts = [op_luts(op, ops) for op in ops]
    adders = [j for j, op in enumerate(ops) if op.opcode in ADDERS]
    return {
        "lut_estimate": int(round(sum(luts))),
        "adders": len(adders),
        "adder_bits": int(sum(_kif(ops[j].qint)[0] + _kif(ops[j].qint)[1] + _kif(ops[j].qint)[2]
                              for j in adders)),
        "adder_luts": int(round(sum(luts[j] for j in adders))),
        "da4ml_cost": float(round(comb.cost, 1)),
        "ops": dict(sorted(Counter(int(op.opcode) for op in ops).items())),
    }


def _weight_bits(model) -> int:
    from ..fixedpoint import bits_precision, describe_layers
    bits = [bits_precision(layer.kernel_quantizer_internal).width
            for kind, layer in describe_layers(model)[1:] if kind == "QDense"]
    return int(max(bits)) if bits else 0


def estimate(model, clock_mhz: float | None = None, board: str = CFG.default_board) -> dict:
    """Hardware cost of a trained, quantized (finalized) QKeras student, in well under a second.

    Returns ``lut_estimate`` (the LUT model of the module docstring), ``latency_cycles`` at
    ``clock_mhz`` (default course.ini [rtl] clock_mhz) on ``board``, ``stages``, ``nonzero``
    (nonzero quantized weights and biases), ``weight_bits``, ``adders``, ``adder_bits``,
    ``da4ml_cost`` (da4ml's own cost figure) and ``estimate_s`` (seconds taken).
    """
    reason = tools.missing("da4ml")
    if reason:
        raise RuntimeError(reason)
    from da4ml.trace.pipeline import to_pipeline

    from .core import trace

    t0 = time.perf_counter()
    clock_mhz = float(clock_mhz or CFG.rtl.clock_mhz)
    if not np.isfinite(clock_mhz) or clock_mhz <= 0:
        raise ValueError(f"clock_mhz={clock_mhz} is not a positive frequency in MHz: pass e.g. 200")
    cutoff = int(CFG.board(board).latency_cutoff(clock_mhz))
    comb, info = trace(model)
    out = comb_cost(comb)
    if any(op.opcode != -1 for op in comb.ops):
        stages = len(to_pipeline(comb, cutoff, verbose=False).solutions)
    else:       # logits that do not depend on anything computed: nothing to pipeline
        stages = 0
    out.update(latency_cycles=stages + 1, stages=stages, nonzero=int(info["nonzero"]),
               weight_bits=_weight_bits(model), clock_mhz=clock_mhz, board=board,
               latency_cutoff=cutoff)
    out["estimate_s"] = round(time.perf_counter() - t0, 3)
    return out


def calibrate(points) -> dict:
    """Ratio of :func:`estimate`'s ``lut_estimate`` to Yosys LUTs on the given points.

    ``points``: an iterable of ``(estimate_dict_or_model, yosys_luts)`` pairs, or of
    :class:`labkit.rtl.core.Core` objects (each then synthesised with Yosys through
    :func:`labkit.rtl.resources.synthesize` and costed from its ``model`` attribute if present,
    otherwise from ``core.est_luts`` -- pass pairs when you have the model).
    Returns ``{"ratio": mean(est/yosys), "ratios": [...], "points": [(est, yosys), ...]}``.
    """
    pairs = []
    for p in points:
        if isinstance(p, tuple) and len(p) == 2:
            est, lut = p
            if not isinstance(est, dict):
                est = estimate(est)
            pairs.append((int(est["lut_estimate"]), int(lut)))
        else:
            from .resources import synthesize
            res = synthesize([f"{p.folder}/{s}" for s in p.sources], f"{p.name}_wrapper", board=p.board)
            model = getattr(p, "model", None)
            est = estimate(model, p.clock_mhz, p.board)["lut_estimate"] if model is not None else p.est_luts
            pairs.append((int(est), int(res["lut"])))
    if not pairs:
        raise ValueError("calibrate() needs at least one (estimate, yosys_luts) point")
    for est, lut in pairs:
        if lut <= 0:
            raise ValueError(f"a Yosys LUT count of {lut} cannot calibrate the estimate: pass the "
                             "'lut' of a synthesised core")
    ratios = [est / lut for est, lut in pairs]
    return {"ratio": round(float(np.mean(ratios)), 3), "ratios": [round(r, 3) for r in ratios],
            "points": pairs}
