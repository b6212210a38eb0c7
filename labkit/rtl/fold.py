"""The folded core: the first dense layer computed beat by beat while the pulse streams in.

A pulse arrives as ``words_per_pulse`` AXI-Stream beats of two samples, so at most one pulse
enters every 81 beats.  The parallel core (:mod:`labkit.rtl.core`) could take a new pulse every
clock, behind a window buffer.  Here the first layer is folded to the stream's own rate instead:

* the input stage is linear and exact (course.ini [input_stage]): ``x_i = (baseline - s_i) * 2**-8``,
  so unit j's first-layer sum, with integer weights ``W_ij`` (weights * 2**F) and bias ``B_j``, is
  ``z_j * 2**(F+8) = sum_i W_ij (baseline - s_i) + B_j * 2**8``.  It is accumulated as the beats arrive
  (the accumulator starts at the bias): per beat two products ``W_(2k)j x_(2k) + W_(2k+1)j x_(2k+1)``
  with the beat's weights read from a small ROM into registers, together with the beat's x (so the
  table stays out of the products' logic), and one shift-and-add term per weight bit that is ever
  set.  The beats that hold the baseline samples come before the baseline is known, so they carry ``-s_i``, and ``baseline * SWe_j`` (SWe_j: the sum of their
  weights, often 0) is added once after the last beat (:func:`fold_verilog`, :func:`z_integers`);
* the rest of the network (the first layer's activation, the later layers, the logit rounding)
  is traced with da4ml from ``z`` exactly as :func:`labkit.training.cost.trace` traces the whole
  student, and written as a small fully pipelined core.

Nothing is rounded before ``z``, so the folded IP returns the parallel IP's words bit for bit.
No window buffer, no 161-input adder trees: the cost follows the first layer's width and bits
(its multipliers and ROM), not its nonzero count.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..config import CFG
from ..training.cost import first_layer, fold_widths, naf, trace_rest, weight_bit_planes
from . import tools


@dataclass
class FoldedCore:
    """A written folded core: the first layer's constants and the da4ml core after it."""

    folder: str
    name: str                   # the folded module (first layer + rest)
    rest: str                   # the da4ml module of everything after z
    board: str
    clock_mhz: float
    units: int                  # width of the first layer
    frac: int                   # F: the first layer's weights are integers * 2**-F
    weight_bits: int            # bits of the ROM's signed weights
    acc_width: int              # bits of A_j
    z_width: int                # bits of Z_j (integer at 2**-(F+8))
    rest_in_width: int
    rest_in_frac: int
    rest_latency: int           # clock edges of the da4ml core
    latency_cycles: int         # clock edges from the edge that takes the last beat to the core's output
    out_width: int
    out_frac: int
    nonzero: int
    est_luts: float             # da4ml's estimate of the rest only
    sources: list = field(default_factory=list)
    emulator_compiled: bool = False
    fold: str = "stream"
    n_out: int = CFG.n_classes  # logits per pulse
    input: str = "course"       # the input transform (CFG.input_transform)

    def meta(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------
# the arithmetic, in numpy (what the Verilog computes)
# ------------------------------------------------------------------------------------------

def z_integers(model, X_raw, input: str = "course") -> np.ndarray:
    """``Z_j`` (n, U) of raw pulses, as the folded Verilog computes them (exact integers)."""
    from ..data.prep import baseline, check_pulses
    W, B, _F, _ = first_layer(model)
    t = CFG.input_transform(input)
    X = check_pulses(X_raw).astype(np.int64)
    bias = (B << t.frac_bits)[None, :]
    if not t.baseline:
        return X @ W + bias
    base = baseline(X).astype(np.int64)
    return base[:, None] * W.sum(axis=0)[None, :] - X @ W + bias


# ------------------------------------------------------------------------------------------
# Verilog
# ------------------------------------------------------------------------------------------

def _lit(value: int, width: int) -> str:
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def _const_times(expr: str, c: int, dsp: bool) -> str:
    """``expr * c`` in Verilog; without ``dsp`` as shifts and adds of c's signed digits (CSD)."""
    if c == 0:
        return "0"
    if dsp:
        return f"({expr} * {c})" if c > 0 else f"-({expr} * {-c})"
    terms = [("+" if d > 0 else "-") + f" ({expr} <<< {k})" for k, d in naf(c)]
    return "(" + " ".join(terms).lstrip("+ ") + ")"


def fold_verilog(name: str, rest: str, W, B, F: int, z_width: int, rest_in_width: int, rest_in_frac: int,
                 out_width: int, dsp: bool = False, input: str = "course", n_out: int | None = None) -> tuple:
    """The folded first layer + the rest's instance, as one Verilog module; returns (text, widths).

    Beats from ``nb`` on (after the baseline samples) carry ``x = baseline - s``; the first ``nb``
    beats, before the baseline is known, carry ``-s``, and their ``baseline * SWe_j`` (SWe_j: the sum
    of their weights, often 0 after L1) is added once after the last beat.  The accumulator starts
    at the bias.  Without ``dsp`` every product is shifts and adds, so no DSP is inferred.
    With the raw input (``input="raw"``) every beat carries ``x = s`` and there is no correction.
    """
    N, U = W.shape
    spw, lane, adc = CFG.samples_per_word, CFG.lane_bits, CFG.adc_bits
    wpp = CFG.words_per_pulse
    wiw = max(1, int(np.ceil(np.log2(wpp))))
    w = fold_widths(W, z_width)
    nb, wb, xw, pw, aw = w["nb"], w["wb"], w["xw"], w["pw"], w["aw"]
    t = CFG.input_transform(input)
    SWe = W[:nb * spw].sum(axis=0) if t.baseline else np.zeros(U, np.int64)
    bias = B << t.frac_bits
    ever_set, always_set = weight_bit_planes(W, wb)                            # (lane, unit, bit)
    shift = rest_in_frac - (F + t.frac_bits)
    n_out = CFG.n_classes if n_out is None else int(n_out)
    lines = [
        f"// {name} -- the student's first layer folded to the stream (labkit.rtl.fold); do not edit.",
        f"// Per input beat k: acc_j += W[{spw}k, j] * x0 + W[{spw}k+1, j] * x1, weights from a ROM indexed by k",
        "// (registered with the beat's x),",
        *([f"// x = baseline - sample from beat {nb} on (-sample before: the baseline is not known yet);",
           "// the accumulator starts at the bias; after the last beat z_j = acc_j + baseline * SWe_j."]
          if t.baseline else ["// x = the sample's code (the raw input); the accumulator starts at the bias."]),
        "// Kept as its own module in synthesis: merged with the AXI top, Yosys folds the ROM and the beat",
        "// counter into one logic cone (about 200 LUT more for the same IP).",
        "(* keep_hierarchy *)",
        f"module {name} (",
        "    input  wire clk,",
        "    input  wire en,                       // a beat is taken this clock",
        f"    input  wire [{wiw - 1}:0] widx,         // its index in the pulse",
        "    input  wire [31:0] data,              // its word",
        "    input  wire last,                     // it is the pulse's last beat",
        f"    input  wire [{adc - 1}:0] baseline,   // final from beat {nb} to the pulse's end",
        f"    output wire [{n_out * out_width - 1}:0] model_out",
        ");",
    ]
    for j in range(U):
        lines.append(f"    reg signed [{wb - 1}:0] " + ", ".join(f"w{j}_{m}" for m in range(spw)) + ";")
    # stage 0 registers the ROM's weights with the beat's x: the ROM then stays a small table instead of
    # being merged into the products' logic (benchmarks/DECISIONS.md: fewer LUTs, one clock more)
    lines.append("    always @(posedge clk) if (en) begin   // stage 0: the weights' ROM, registered")
    lines.append("        case (widx)")
    for k in range(wpp):
        vals, nonzero = [], False
        for j in range(U):
            for m in range(spw):
                i = spw * k + m
                v = int(W[i, j]) if i < N else 0
                nonzero |= v != 0
                vals.append(f"w{j}_{m} <= {_lit(v, wb)};")
        if nonzero:
            lines.append(f"            {wiw}'d{k}: begin " + " ".join(vals) + " end")
    lines.append("            default: begin " + " ".join(
        f"w{j}_{m} <= {wb}'sd0;" for j in range(U) for m in range(spw)) + " end")
    lines.append("        endcase")
    lines.append("    end")
    lines.append(f"    wire early = (widx < {nb});")
    for m in range(spw):
        if t.baseline:
            lines.append(f"    wire signed [{xw - 1}:0] x{m}_in = $signed({{2'b0, early ? {adc}'d0 : baseline}}) - "
                         f"$signed({{2'b0, data[{m * lane + adc - 1}:{m * lane}]}});")
        else:       # the raw input: x is the code itself
            lines.append(f"    wire signed [{xw - 1}:0] x{m}_in = $signed({{2'b0, data[{m * lane + adc - 1}:{m * lane}]}});")
    lines.append("    // stage 0: the beat's weights and x; stage 1: the products; stage 2: the accumulators")
    lines.append("    // (z after the last beat; the baseline is taken with the last beat)")
    lines.append("    reg q_en, q_first, q_last, p_en, p_first, p_last;")
    lines.append(f"    reg signed [{xw - 1}:0] " + ", ".join(f"x{m}" for m in range(spw)) + ";")
    lines.append(f"    reg [{adc - 1}:0] base_q;")
    for j in range(U):
        if dsp:
            prods = " + ".join(f"x{m} * w{j}_{m}" for m in range(spw))
        else:       # shift-and-add on the weight's bits (its MSB weighs -2**(wb-1)): no multiplier to infer;
            # a bit that is 0 on every beat adds no term, one that is 1 on every beat adds x unmasked
            terms = []
            for m in range(spw):
                for bit in range(wb):
                    if not ever_set[m, j, bit]:
                        continue
                    sign = "-" if bit == wb - 1 else "+"
                    mask = "" if always_set[m, j, bit] else f"$signed({{{pw}{{w{j}_{m}[{bit}]}}}}) & "
                    terms.append(f"{sign} ({mask}(x{m} <<< {bit}))")
            prods = " ".join(terms).lstrip("+ ") if terms else f"{pw}'sd0"
        lines += [f"    reg  signed [{pw - 1}:0] p{j};",
                  f"    reg  signed [{aw - 1}:0] a{j};",
                  f"    wire signed [{pw - 1}:0] p{j}_next = {prods};"]
    lines.append("    always @(posedge clk) begin")
    lines.append("        q_en <= en; q_first <= en & (widx == 0); q_last <= en & last;")
    lines.append("        if (en) begin")
    lines += [f"            x{m} <= x{m}_in;" for m in range(spw)]
    lines.append("        end")
    lines.append("        if (en & last) base_q <= baseline;")
    lines.append("        p_en <= q_en; p_first <= q_first; p_last <= q_last;")
    lines.append("        if (q_en) begin")
    lines += [f"            p{j} <= p{j}_next;" for j in range(U)]
    lines.append("        end")
    lines.append("        if (p_en) begin")
    lines += [f"            a{j} <= (p_first ? {_lit(int(bias[j]), aw)} : a{j}) + p{j};" for j in range(U)]
    lines.append("        end")
    lines.append("    end")
    lines.append(f"    wire signed [{aw - 1}:0] bq = $signed({{1'b0, base_q}});")
    op = f"<<< {shift}" if shift >= 0 else f">>> {-shift}"
    for j in range(U):
        corr = "" if SWe[j] == 0 else f" + {_const_times('bq', int(SWe[j]), dsp)}"
        lines.append(f"    wire signed [{aw - 1}:0] z{j} = a{j}{corr};")
        lines.append(f"    wire signed [{rest_in_width - 1}:0] r{j} = z{j} {op};")
    lines.append(f"    wire [{U * rest_in_width - 1}:0] rest_in = {{{', '.join(f'r{j}' for j in reversed(range(U)))}}};")
    lines.append(f"    {rest}_wrapper rest (.clk(clk), .model_inp(rest_in), .model_out(model_out));")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", {"weight_bits": wb, "acc_width": aw, "product_width": pw}


def build_folded(model, folder, board: str = CFG.default_board, clock_mhz: float | None = None,
                 input: str = "course") -> tuple:
    """Write the folded core into ``folder``; returns ``(FoldedCore, RTLModel of the rest)``.

    ``input``: the input transform the student was trained on (``CFG.input_transform``)."""
    reason = tools.missing("da4ml")
    if reason:
        raise RuntimeError(reason)
    from .core import verilog_sources, write_comb

    clock_mhz = float(clock_mhz or CFG.rtl.clock_mhz)
    cutoff = int(CFG.board(board).latency_cutoff(clock_mhz))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    W, B, F, _ = first_layer(model)
    comb, info = trace_rest(model, input)
    n_out = int(model.output_shape[-1])
    rest_name = f"{CFG.rtl.core}_rest"
    rtl, (in_w, in_f), (out_w, out_f) = write_comb(comb, rest_name, folder, board, clock_mhz, cutoff)
    name = f"{CFG.rtl.core}_fold"
    text, widths = fold_verilog(name, rest_name, W, B, F, info["z_width"], in_w, in_f, out_w, input=input,
                                n_out=n_out)
    (folder / "src" / f"{name}.v").write_text(text)
    sources = verilog_sources(folder)
    rest_lat = len(rtl._pipe.solutions) + 1
    core = FoldedCore(
        folder=str(folder), name=name, rest=rest_name, board=board, clock_mhz=clock_mhz,
        units=int(W.shape[1]), frac=F, weight_bits=widths["weight_bits"], acc_width=widths["acc_width"],
        z_width=info["z_width"], rest_in_width=in_w, rest_in_frac=in_f, rest_latency=rest_lat,
        latency_cycles=3 + rest_lat, out_width=out_w, out_frac=out_f, nonzero=info["nonzero"],
        est_luts=float(round(comb.cost, 1)), sources=sources, n_out=n_out, input=CFG.input_transform(input).name)
    (folder / "labkit_core.json").write_text(json.dumps(core.meta(), indent=1) + "\n")
    return core, rtl


def emulator_logits(core: FoldedCore, rtl, model, X_raw) -> np.ndarray:
    """Logits of the Verilated rest fed with the folded layer's ``Z`` (computed as the Verilog does)."""
    t = CFG.input_transform(core.input)
    z = z_integers(model, X_raw, core.input).astype(np.float64) * 2.0 ** -(core.frac + t.frac_bits)
    return np.asarray(rtl.predict(np.ascontiguousarray(z), n_threads=1), np.float64).reshape(len(z), -1)
