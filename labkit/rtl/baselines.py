"""The classical cuts as tiny RTL: what a network has to beat, with its own hardware cost.

Both cuts read the raw 10-bit window (``CFG.n_samples`` samples, sample 0 in the low bits of one
flat input bus) and use the IP's input stage: ``baseline = (sum of the first 2**baseline_log2
samples) >> baseline_log2`` and ``p[i] = baseline - x[i]`` (labkit.data.prep).  The output
``neutron`` is registered: latency 1 clock edge, one new window per clock.

* **amplitude cut** (labkit.data.baselines.amplitude_cut): ``max p > T`` with an integer ``T``,
  built as ``any(x[i] < baseline - T)``: one comparator per sample and an OR tree (the same decision
  as a max tree and a comparator, at a fraction of the LUTs);
* **early charge / peak** (:class:`WindowRatioCut`): the charge ``S`` of a fixed window of
  ``gate`` samples from ``start`` (an adder tree) over the peak ``P = max(max p, 1)``; the ratio is
  never divided: ``S > c(P)`` with ``c(P) = (M * P) >>> F``, a constant multiply (as shifts and
  adds: no DSP) and a compare.

The integer thresholds reproduce the fitted float cut exactly (:func:`ratio_constants` checks every
possible peak), so the RTL decides like the Python cut on every pulse; :func:`simulate` proves it
with Icarus Verilog.  The float early-charge cut of labkit.data.baselines (smoothed peak,
interpolated onset) has no such integer form; the fixed window is the version that fits in RTL,
with start and gate chosen on the training pulses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..config import CFG
from ..data import baselines as cuts
from ..metrics import accuracy_ci
from . import resources, sim

ADC = CFG.adc_bits
N = CFG.n_samples
P_MAX = (1 << ADC) - 1          # baseline - min sample lies in 0 ... 2**adc_bits - 1
STARTS = tuple(range(0, 40, 2))
GATES = tuple(range(5, 55, 5))


def window_ratio(X, start: int, gate: int) -> np.ndarray:
    """Charge of samples ``start ... start+gate-1`` over the peak (at least 1), in counts."""
    p = cuts.pulse_counts(X)
    return p[:, start:start + gate].sum(axis=1) / np.maximum(p.max(axis=1), 1.0)


@dataclass
class WindowRatioCut(cuts.CutClassifier):
    """``early charge / peak`` over a fixed window: the integer-friendly early-charge cut."""

    start: int = 0

    def score(self, X) -> np.ndarray:
        return window_ratio(X, self.start, self.gate)


def early_charge_window(X, y, starts=STARTS, gates=GATES) -> WindowRatioCut:
    """The fixed-window early-charge cut with the best training accuracy (first of equals)."""
    return cuts.best_on_train([WindowRatioCut("early charge / peak (window)", gate=g, feature="window_ratio",
                                              start=a).fit(X, y) for a in starts for g in gates])


# ------------------------------------------------------------------------------------------
# exact integer thresholds
# ------------------------------------------------------------------------------------------

def amplitude_constant(clf) -> int:
    """``T`` with ``neutron = (max p > T)`` (sign +1) or ``(max p > T)`` inverted (sign -1)."""
    thr = clf.threshold
    # sign +1: amp > thr  <=>  amp > floor(thr);  sign -1: amp < thr  <=>  not (amp > ceil(thr) - 1)
    return math.floor(thr) if clf.sign > 0 else math.ceil(thr) - 1


def _c_of_p(thr: float, sign: int, P: int) -> int:
    """Largest integer S that the float cut calls *not* the upper side: float(S/P) <= thr (sign +1)
    or float(S/P) < thr (sign -1)."""
    below = (lambda s: float(s) / P <= thr) if sign > 0 else (lambda s: float(s) / P < thr)
    c = math.floor(Fraction(thr) * P)
    while below(c + 1):
        c += 1
    while not below(c):
        c -= 1
    return c


def ratio_constants(clf, p_max: int = P_MAX):
    """Integers ``(M, F)`` with ``(M * P) >> F == c(P)`` for every peak ``P = 1 ... p_max`` (floor
    shift), so ``S > (M*P) >> F`` is exactly the float cut ``S/P > thr`` (or its complement)."""
    target = np.array([_c_of_p(clf.threshold, clf.sign, P) for P in range(1, p_max + 1)], dtype=object)
    P = np.arange(1, p_max + 1, dtype=object)
    for F in range(0, 60):
        base = math.floor(Fraction(clf.threshold) * 2 ** F)
        for M in (base, base + 1, base - 1, base + 2):
            if all((M * P) >> F == target):
                return int(M), F
    raise RuntimeError(f"no integer form of the threshold {clf.threshold!r} found: report this as a labkit bug")


# ------------------------------------------------------------------------------------------
# Verilog
# ------------------------------------------------------------------------------------------

def _tree(lines, names, op, width, prefix):
    """Balanced binary tree of ``op(a, b)`` over the wires ``names``; returns the root wire."""
    level = 0
    while len(names) > 1:
        nxt = []
        for k in range(0, len(names) - 1, 2):
            w = f"{prefix}{level}_{k // 2}"
            lines.append(f"  wire {width(level + 1)} {w} = {op(names[k], names[k + 1])};")
            nxt.append(w)
        if len(names) % 2:
            nxt.append(names[-1])
        names, level = nxt, level + 1
    return names[0]


def _header(name, lines):
    bl = CFG.baseline_log2
    lines += [f"// {name}: generated by labkit.rtl.baselines; registered output (latency 1 clock)",
              f"module {name} (input wire clk, input wire [{N * ADC - 1}:0] x, output reg neutron);"]
    lines += [f"  wire [{ADC - 1}:0] x{i} = x[{ADC * i} +: {ADC}];" for i in range(N)]
    root = _tree(lines, [f"x{i}" for i in range(1 << bl)], lambda a, b: f"{a} + {b}",
                 lambda lv: f"[{ADC + lv - 1}:0]", "bs")
    lines.append(f"  wire [{ADC - 1}:0] base = {root} >> {bl};")
    mn = _tree(lines, [f"x{i}" for i in range(N)], lambda a, b: f"({a} < {b}) ? {a} : {b}",
               lambda lv: f"[{ADC - 1}:0]", "mn")
    lines.append(f"  wire [{ADC - 1}:0] amp = base - {mn};   // max(baseline - x) >= 0")


def amplitude_verilog(clf, name: str = "bl_amplitude") -> str:
    """``max p > T``  <=>  some sample lies below ``baseline - T``: one comparator per sample and an
    OR tree (no max tree, same decision)."""
    T = amplitude_constant(clf)
    bl = CFG.baseline_log2
    lines = [f"// {name}: generated by labkit.rtl.baselines; registered output (latency 1 clock)",
             f"module {name} (input wire clk, input wire [{N * ADC - 1}:0] x, output reg neutron);"]
    lines += [f"  wire [{ADC - 1}:0] x{i} = x[{ADC * i} +: {ADC}];" for i in range(N)]
    root = _tree(lines, [f"x{i}" for i in range(1 << bl)], lambda a, b: f"{a} + {b}",
                 lambda lv: f"[{ADC + lv - 1}:0]", "bs")
    lines.append(f"  wire [{ADC - 1}:0] base = {root} >> {bl};")
    if T < 0:
        cmp = "1'b1"                       # max p >= 0 > T: every pulse
    elif T >= P_MAX:
        cmp = "1'b0"                       # max p <= P_MAX <= T: no pulse
    else:
        # base - x_i > T  <=>  x_i < base - T  (base - T may be negative: then no sample is below)
        # 0 <= T < P_MAX, so base - T < 2**ADC: if it is positive it fits ADC unsigned bits
        lines.append(f"  wire signed [{ADC + 1}:0] lim = $signed({{2'b0, base}}) - {T};")
        lines.append(f"  wire [{ADC - 1}:0] lim_u = lim[{ADC - 1}:0];")
        lines += [f"  wire b{i} = x{i} < lim_u;" for i in range(N)]
        any_below = _tree(lines, [f"b{i}" for i in range(N)], lambda a, b: f"{a} | {b}", lambda lv: "", "or")
        cmp = f"(lim > 0) & {any_below}"
    if clf.sign < 0:
        cmp = f"!({cmp})"
    lines += [f"  always @(posedge clk) neutron <= {cmp};", "endmodule", ""]
    return "\n".join(lines)


def csd(M: int) -> list:
    """Canonical signed digits of ``M``: [(shift, +1 or -1), ...], fewest non-zero digits."""
    out, k = [], 0
    while M:
        if M & 1:
            d = 2 - (M & 3)          # +1 if M = 1 mod 4, else -1
            out.append((k, d))
            M -= d
        M >>= 1
        k += 1
    return out


def _shift_add(M: int, var: str) -> str:
    """``M * var`` as shifts and adds (no multiplier cell: LUTs and carry chains, no DSP)."""
    terms = csd(M)
    if not terms:
        return "0"
    text = ""
    for k, d in terms:
        t = f"({var} <<< {k})" if k else var
        text += (" + " if d > 0 else " - ") + t if text else ("" if d > 0 else "-") + t
    return text


def ratio_verilog(clf, name: str = "bl_early_charge") -> str:
    M, F = ratio_constants(clf)
    a, g = clf.start, clf.gate
    lines = []
    _header(name, lines)
    levels = max(1, math.ceil(math.log2(g)))               # the adder tree's sum has ADC + levels bits
    sw = ADC + levels + 2                                   # signed width of S = g*base - sum x
    root = _tree(lines, [f"x{i}" for i in range(a, a + g)], lambda u, v: f"{u} + {v}",
                 lambda lv: f"[{ADC + lv - 1}:0]", "es")
    mw = max(abs(M).bit_length() + 1, 2)
    pw = mw + ADC + 1
    lines += [f"  wire signed [{sw - 1}:0] bw = {{{sw - ADC}'d0, base}};",
              f"  wire signed [{sw - 1}:0] s = {_shift_add(g, 'bw')} - $signed({{{sw - ADC - levels}'d0, {root}}});",
              f"  wire [{ADC - 1}:0] peak = (amp == 0) ? {ADC}'d1 : amp;",
              f"  wire signed [{pw - 1}:0] pk = {{{pw - ADC}'d0, peak}};",
              f"  wire signed [{pw - 1}:0] prod = {_shift_add(M, 'pk')};   // {M} * peak",
              f"  wire signed [{pw - 1}:0] c = prod >>> {F};",
              f"  wire upper = s > c;   // early charge / peak above the threshold, no division",
              f"  always @(posedge clk) neutron <= {'upper' if clf.sign > 0 else '!upper'};",
              "endmodule", ""]
    return "\n".join(lines)


def verilog(clf) -> tuple:
    """(module name, Verilog text) of a fitted amplitude or window-ratio cut."""
    if isinstance(clf, WindowRatioCut):
        return "bl_early_charge", ratio_verilog(clf)
    if clf.feature == "amplitude":
        return "bl_amplitude", amplitude_verilog(clf)
    raise ValueError(f"cut {clf.name!r} has no RTL form: use the amplitude cut or early_charge_window(...)")


# ------------------------------------------------------------------------------------------
# simulation, synthesis, report
# ------------------------------------------------------------------------------------------

def _packed_lines(X) -> list:
    X = np.asarray(X, np.int64)
    digits = (N * ADC + 3) // 4
    out = []
    for row in X:
        v = 0
        for i, s in enumerate(row.tolist()):
            v |= int(s) << (ADC * i)
        out.append(format(v, f"0{digits}x"))
    return out


TB = """`timescale 1ns/1ps
module tb_bl;
  reg clk = 0;
  reg [{W}:0] x = 0;
  wire neutron;
  reg [{W}:0] mem [0:{NMAX}];
  integer k, n, fd;
  {TOP} dut (.clk(clk), .x(x), .neutron(neutron));
  always #5 clk = ~clk;
  initial begin
    if (!$value$plusargs("n=%d", n)) n = 0;
    $readmemh("in.hex", mem);
    fd = $fopen("out.txt", "w");
    for (k = 0; k < n; k = k + 1) begin
      x = mem[k];
      @(posedge clk); #1;
      $fdisplay(fd, "%0d", neutron);
    end
    $fclose(fd);
    $finish;
  end
endmodule
"""


def simulate(clf, X, workdir=None) -> np.ndarray:
    """Icarus Verilog decisions (0/1 per pulse) of the cut's RTL on raw windows ``X``."""
    from ..stream import check_pulses

    X = check_pulses(X)
    top, text = verilog(clf)
    with sim._workdir(workdir, "labkit_tbbl_") as wd:
        (wd / f"{top}_rtl.v").write_text(text)
        (wd / "in.hex").write_text("\n".join(_packed_lines(X)) + "\n")
        tb = TB.replace("{W}", str(N * ADC - 1)).replace("{NMAX}", str(max(len(X) - 1, 0))).replace("{TOP}", top)
        exe = sim._compile_tb([wd / f"{top}_rtl.v"], tb, "tb_bl", wd)
        sim._run(["vvp", "-n", str(exe), f"+n={len(X)}"], wd, "baseline simulation")
        got = [int(v) for v in (wd / "out.txt").read_text().split()]
    return np.array(got, np.int64)


def synthesize(clf, board: str = CFG.default_board, workdir=None) -> dict:
    """The student's Yosys flow (labkit.rtl.resources.synthesize) on the cut's RTL."""
    top, text = verilog(clf)
    with sim._workdir(workdir, "labkit_synbl_") as wd:
        src = Path(wd) / f"{top}.v"
        src.write_text(text)
        return resources.synthesize([src], top, board=board, workdir=Path(wd) / "yosys")


def report(train, test, board: str = CFG.default_board, which=None) -> list:
    """Fit the cuts on ``train``; accuracy on ``test`` and Yosys cost on ``board``, one dict each:
    name, acc (accuracy_ci: acc, k, n, ci95), lut, ff, dsp, latency_cycles, latency.
    ``which``: the cut names to report (default both: the amplitude cut and the early-charge window)."""
    makers = {"amplitude cut": cuts.amplitude_cut, "early charge / peak (window)": early_charge_window}
    unknown = set(which or ()) - set(makers)
    if unknown:
        raise ValueError(f"no RTL cut named {', '.join(sorted(unknown))}: choose from {', '.join(makers)}")
    out = []
    for name, make in makers.items():
        if which is not None and name not in which:
            continue
        clf = make(train.X, train.y)
        r = synthesize(clf, board)
        out.append({"name": clf.name, "acc": accuracy_ci(test.y, clf.predict(test.X)),
                    "lut": r["lut"], "ff": r["ff"], "dsp": r["dsp"], "latency_cycles": 1,
                    "latency": "registered output: 1 clock edge from window to decision",
                    "threshold": clf.threshold, "sign": clf.sign,
                    **({"start": clf.start, "gate": clf.gate} if isinstance(clf, WindowRatioCut) else {})})
    return out
