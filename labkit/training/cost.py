"""Stage 03 — what a student costs in hardware, in well under a second: LUTs, latency, nonzero weights.

The student search records this cost for every trial (lab 03 chooses with it); the RTL twin (lab 04b)
builds its Verilog from the same trace (:func:`trace`), and :func:`labkit.rtl.cost.calibrate` checks
the estimate against Yosys.  da4ml is optional here: without it :func:`da4ml_missing` says so and no
cost is recorded.

The student is traced with da4ml (:func:`trace`);
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
:func:`labkit.rtl.cost.calibrate` gives the ratio of this estimate to Yosys's LUT count on the points a bench
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
from ..fixedpoint import activation_precision, bits_precision
from .contract import describe_layers


def da4ml_missing():
    """None if da4ml can be imported, else one sentence saying how to install it."""
    try:
        import da4ml  # noqa: F401
    except ImportError:
        return "da4ml is not installed (pip install --no-deps da4ml==0.6.0, as `make test` does)"
    return None


# ------------------------------------------------------------------------------------------
# the student as da4ml combinational logic
# ------------------------------------------------------------------------------------------

def round_half_even(v, k: int, i: int, f: int, overflow: str):
    """``v`` (one da4ml FixedVariable) -> fixed<k, i, f> rounding half to even, then ``overflow``.

    With ``v`` an integer A at its own resolution 2**-F (F > f) and s = F - f:
    half-to-even(A) = (A + 2**(s-1) - 1 + bit_s(A)) >> s, i.e. round-half-up of
    ``v - 2**-F`` when the kept LSB is 0 and of ``v`` when it is 1.
    """
    F = int(v.kif[2])
    if F <= f:       # nothing below the new LSB: no rounding
        return v.quantize(k, i, f, overflow, "TRN")
    lsb_kept = (v * 2.0 ** f).quantize(0, 1, 0, "WRAP", "TRN")   # bit at weight 2**-f, 0 or 1
    return (v + (lsb_kept - 1) * 2.0 ** -F).quantize(k, i, f, overflow, "RND")


def apply_each(array, fn):
    """``fn`` applied to every element of a da4ml FixedVariableArray (per-element rounding)."""
    from da4ml.trace import FixedVariableArray
    vars_ = np.array([fn(v) for v in np.ravel(array._vars)], dtype=object).reshape(array._vars.shape)
    return FixedVariableArray(vars_, array.solver_options, hwconf=array.hwconf)


def fixed_kif(p) -> tuple:
    """labkit FixedFormat (ap_fixed width/integer/signed) -> da4ml (k, i, f); da4ml's i excludes the sign."""
    k = 1 if p.signed else 0
    return k, p.integer - k, p.frac


def layer_steps(model) -> list:
    """[(kind, name, payload)] of the student: ('dense', name, (W, b)) / ('relu', name, FixedFormat)."""
    steps = []
    for kind, layer in describe_layers(model, outputs="any")[1:]:
        if kind == "QDense":
            W = np.asarray(layer.kernel_quantizer_internal(layer.kernel), np.float64)
            b = (np.asarray(layer.bias_quantizer_internal(layer.bias), np.float64) if layer.use_bias
                 else np.zeros(W.shape[1]))
            for name, arr in (("kernel", W), ("bias", b)):
                q = getattr(layer, f"{name}_quantizer_internal") if name == "kernel" or layer.use_bias else None
                if q is None:
                    continue
                w_p = bits_precision(q)         # each on its own quantizer's grid
                off = arr * 2.0 ** w_p.frac - np.round(arr * 2.0 ** w_p.frac)
                if np.any(off != 0):
                    raise ValueError(f"{layer.name} {name} is not on the {w_p.hls4ml()} grid: the student "
                                     "must use quantized_bits(bits, integer, alpha=1)")
            steps.append(("dense", layer.name, (W, b)))
        else:
            steps.append(("relu", layer.name, activation_precision(layer.quantizer)))
    return steps


def trace(model, input: str = "course"):
    """The student as da4ml combinational logic: returns ``(CombLogic, info dict)``; its input is the
    format of the input transform ``input`` (``CFG.input_transform``)."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize

    if model.input_shape[1:] != (CFG.n_samples,):
        raise ValueError(f"student input shape {model.input_shape[1:]} != ({CFG.n_samples},) of course.ini")
    inp = FixedVariableArrayInput((CFG.n_samples,), hwconf=HWConfig(1, -1, -1))
    h = quantize(inp, *fixed_kif(CFG.input_transform(input).format))
    steps = layer_steps(model)
    comb = comb_trace(inp, replay(h, steps))
    return comb, {"nonzero": _nonzero(steps)}


def replay(h, steps):
    """``steps`` (:func:`layer_steps`) applied to the da4ml array ``h``, then the logit rounding:
    ``h @ W + b`` per dense layer, round-half-even + saturation per activation and for the logits."""
    for kind, _name, payload in steps:
        if kind == "dense":
            W, b = payload
            h = h @ W + b
        else:
            k, i, f = fixed_kif(payload)
            h = apply_each(h, lambda v: round_half_even(v, k, i, f, "SAT"))
    lk, li, lf = fixed_kif(CFG.logit_format)
    return apply_each(h, lambda v: round_half_even(v, lk, li, lf, "SAT"))


def _nonzero(steps) -> int:
    return sum(int(np.count_nonzero(p[0]) + np.count_nonzero(p[1])) for k, _n, p in steps if k == "dense")


# ------------------------------------------------------------------------------------------
# the folded core: the first layer beat by beat (labkit.rtl.fold), the rest as da4ml logic
# ------------------------------------------------------------------------------------------

def first_layer(model):
    """``(W_int (N, U), B_int (U,), F, rest_steps)``: the first dense layer on its integer grid."""
    steps = layer_steps(model)
    kind, _name, (W, b) = steps[0]
    if kind != "dense":
        raise ValueError("the student must start with a QDense layer to be folded")
    for F in range(0, 40):
        Wi, Bi = W * 2.0 ** F, b * 2.0 ** F
        if np.all(Wi == np.round(Wi)) and np.all(Bi == np.round(Bi)):
            return np.round(Wi).astype(np.int64), np.round(Bi).astype(np.int64), F, steps[1:]
    raise ValueError("the first layer's weights are not on a power-of-two grid: use quantized_bits")


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the smallest two's complement word holding every integer in [lo, hi]."""
    n = 1
    while not (-(1 << (n - 1)) <= lo and hi <= (1 << (n - 1)) - 1):
        n += 1
    return n


def z_range(W, B, input: str = "course") -> tuple:
    """(min, max) of Z_j over every possible pulse (each x_i = baseline - s_i in [-top, top],
    top = 2**adc - 1; or x_i = s_i for the raw input, a bound too)."""
    reach = np.abs(W).sum(axis=0) * ((1 << CFG.adc_bits) - 1)
    bias = B << CFG.input_transform(input).frac_bits
    return int((bias - reach).min()), int((bias + reach).max())


def fold_widths(W, z_width: int) -> dict:
    """The folded core's word widths, shared by its Verilog (:func:`labkit.rtl.fold.fold_verilog`) and
    its LUT estimate (:func:`fold_cost`): ``nb`` beats that hold baseline samples, ``wb`` weight bits,
    ``xw`` bits of x = baseline - s, ``pw`` bits of one beat's products (and of each term, mod 2**pw),
    ``aw`` accumulator bits."""
    spw, top = CFG.samples_per_word, (1 << CFG.adc_bits) - 1
    big = int(np.abs(W).max() * top * spw)
    pw = signed_bits(-big, big)
    return {"nb": -(-CFG.baseline_samples // spw), "wb": signed_bits(int(min(W.min(), 0)), int(max(W.max(), 0))),
            "xw": CFG.adc_bits + 2, "pw": pw, "aw": max(int(z_width), pw)}


def weight_bit_planes(W, wb: int) -> tuple:
    """(ever set, always set): boolean arrays (lane, unit, bit) over the folded ROM's beats of the
    first layer's integer weights ``W`` in ``wb``-bit two's complement.  A bit never set adds no
    shift-and-add term; one set on every beat adds an unmasked term and no ROM bit
    (:func:`labkit.rtl.fold.fold_verilog` writes them, :func:`fold_cost` counts them)."""
    spw, wpp = CFG.samples_per_word, CFG.words_per_pulse
    N, U = W.shape
    Wp = np.zeros((wpp * spw, U), np.int64)
    Wp[:N] = W
    bits = (Wp.reshape(wpp, spw, U)[..., None] >> np.arange(wb)) & 1          # (beat, lane, unit, bit)
    return bits.max(axis=0) == 1, bits.min(axis=0) == 1


def naf(c: int) -> list:
    """``c`` in the non-adjacent form: ``[(shift, digit ±1)]``, lowest first (the adders of a constant
    multiplication, one fewer than the digits)."""
    out, k, v = [], 0, int(c)
    while v:
        if v & 1:
            d = 2 - (v & 3)          # +1 or -1
            out.append((k, d))
            v -= d
        v >>= 1
        k += 1
    return out


def trace_rest(model, input: str = "course"):
    """Everything after ``z`` as da4ml combinational logic: ``(CombLogic, info)``."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize

    W, B, F, rest = first_layer(model)
    lo, hi = z_range(W, B, input)
    zw = signed_bits(lo, hi)
    frac = F + CFG.input_transform(input).frac_bits
    inp = FixedVariableArrayInput((W.shape[1],), hwconf=HWConfig(1, -1, -1))
    h = quantize(inp, 1, zw - 1 - frac, frac)
    nonzero = int(np.count_nonzero(W) + np.count_nonzero(B)) + _nonzero(rest)
    return comb_trace(inp, replay(h, rest)), {"z_width": zw, "frac": frac, "nonzero": nonzero}


def fold_cost(model) -> dict:
    """LUT estimate of the folded core (:mod:`labkit.rtl.fold`): first layer beat by beat + the rest.

    Per unit j the beat's products are shift-and-add terms, one per weight bit set on some beat of
    the ROM (:func:`weight_bit_planes`): (terms - 1) adders of the product's width, plus the
    accumulator; each ROM bit that varies between beats costs one LUT6 per 64 beats; each input lane one subtractor (x = baseline - s);
    the baseline correction one adder per signed digit of SWe_j; the rest: :func:`comb_cost`.
    The cost follows the first layer's width and bits, hardly its nonzero count.
    """
    W, B, F, _ = first_layer(model)
    U = W.shape[1]
    spw, wpp = CFG.samples_per_word, CFG.words_per_pulse
    comb, info = trace_rest(model)
    w = fold_widths(W, info["z_width"])
    nb, wb, xw, pw, aw = w["nb"], w["wb"], w["xw"], w["pw"], w["aw"]
    ever_set, always_set = weight_bit_planes(W, wb)                            # (lane, unit, bit)
    terms = ever_set.sum(axis=(0, 2))                                           # per unit
    rom = int((ever_set & ~always_set).sum()) * -(-wpp // 64)                   # the bits that vary
    products = int(sum(max(int(t) - 1, 0) * pw for t in terms))
    SWe = W[:nb * spw].sum(axis=0)
    corr = sum(len(naf(int(c))) * aw for c in SWe)
    rest = comb_cost(comb)["lut_estimate"]
    total = rom + products + U * aw + spw * xw + corr + rest
    return {"lut_estimate": int(total), "rom": rom, "products": products, "accumulators": U * aw,
            "lanes": spw * xw, "correction": int(corr), "rest": int(rest), "units": int(U), "weight_bits": int(wb),
            "comb": comb}


# ------------------------------------------------------------------------------------------
# its cost
# ------------------------------------------------------------------------------------------

#: da4ml opcodes: 0/1 a±b·2**s, 4 a+const, ±2 relu, ±6 msb mux, ±3 quantize, -1 input copy, 5 const
ADDERS = (0, 1, 4)
PER_BIT = (2, -2, 6, -6)
WIRES = (-1, 3, -3, 5)


def _qint_kif(qint):
    from da4ml.types import minimal_kif
    return tuple(int(x) for x in minimal_kif(qint))


def _trailing_zeros(n: int) -> int:
    n = abs(int(n))
    return (n & -n).bit_length() - 1 if n else 0


def op_luts(op, ops) -> float:
    """LUTs of one da4ml ``Op`` under the documented model (``ops``: the solution's op list)."""
    k, i, f = _qint_kif(op.qint)
    width = k + i + f
    if op.opcode in (0, 1):
        fa = _qint_kif(ops[op.id0].qint)[2]
        fb = _qint_kif(ops[op.id1].qint)[2] - int(op.data)      # b is shifted left by data bits
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
        "adder_bits": int(sum(_qint_kif(ops[j].qint)[0] + _qint_kif(ops[j].qint)[1] + _qint_kif(ops[j].qint)[2]
                              for j in adders)),
        "adder_luts": int(round(sum(luts[j] for j in adders))),
        "da4ml_cost": float(round(comb.cost, 1)),
        "ops": dict(sorted(Counter(int(op.opcode) for op in ops).items())),
    }


def _weight_bits(model) -> int:
    bits = [bits_precision(layer.kernel_quantizer_internal).width
            for kind, layer in describe_layers(model)[1:] if kind == "QDense"]
    return int(max(bits)) if bits else 0


def estimate(model, clock_mhz: float | None = None, board: str = CFG.default_board, fold: str | None = None) -> dict:
    """Hardware cost of a trained, quantized (finalized) QKeras student, in well under a second.

    Returns ``lut_estimate`` and ``latency_cycles`` (clock edges from the core's input to its
    output) of the core ``fold`` names (default course.ini [rtl] fold: "none" the fully parallel
    core, the LUT model of the module docstring; "stream" the folded core, :func:`fold_cost`) at
    ``clock_mhz`` (default course.ini [rtl] clock_mhz) on ``board``; ``lut_estimate_parallel`` and
    ``lut_estimate_fold`` (both cores), ``stages``, ``nonzero`` (nonzero quantized weights and
    biases), ``weight_bits``, ``adders``, ``adder_bits``, ``da4ml_cost`` (da4ml's own cost figure of
    the parallel core) and ``estimate_s`` (seconds taken).
    """
    fold = fold or CFG.rtl.fold
    reason = da4ml_missing()
    if reason:
        raise RuntimeError(reason)
    from da4ml.trace.pipeline import to_pipeline

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
               latency_cutoff=cutoff, lut_estimate_parallel=out["lut_estimate"], fold=fold)
    fc = fold_cost(model)
    out["lut_estimate_fold"] = fc["lut_estimate"]
    if fold == "stream":
        rest = fc["comb"]
        rest_stages = (len(to_pipeline(rest, cutoff, verbose=False).solutions)
                       if any(op.opcode != -1 for op in rest.ops) else 0)
        # the weights' and x's register, the products', the accumulators, then the rest's input register
        # and its stages
        out.update(lut_estimate=fc["lut_estimate"], latency_cycles=rest_stages + 4, stages=rest_stages,
                   fold_parts={k: v for k, v in fc.items() if k != "comb"})
    out["estimate_s"] = round(time.perf_counter() - t0, 3)
    return out
