"""Stage 3b — the open RTL twin: cycle latency and resources without Vivado.

The saved student becomes fully pipelined Verilog through da4ml (distributed arithmetic: every
weight a shift-and-add, no multipliers), wrapped in an AXI-Stream/AXI-Lite top with the same
ports, register map, packing and TLAST rules as the HLS IP, so it can replace that IP in the
block design (``make overlay IP=rtl``).  Modules:

* :mod:`labkit.rtl.core` -- trace the student, write the pipelined core, Verilator emulator;
* :mod:`labkit.rtl.sim` -- IP folder, Icarus test benches (core latency/II; IP cycle by cycle);
* :mod:`labkit.rtl.resources` -- Yosys ``synth_xilinx`` figures and the device share;
* :mod:`labkit.rtl.tools` -- where Verilator / Icarus / Yosys are, or why not.

numpy-only at import time; ``labkit rtl build|check|synth|status`` and ``labkit bench rtl``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .. import artifacts
from ..config import CFG, INPUT_HELP, INPUTS, RTL_FOLDS as FOLDS   # the cores ``build`` writes (labkit.rtl.fold: "stream")
from ..stream import float_arg

__all__ = ["FOLDS", "build", "check", "depth_sweep", "main"]


def build(model=None, board: str = CFG.default_board, clock_mhz=None, latency_cutoff=None, folder=None,
          emulator: bool = True, quiet: bool = True, fold: str | None = None, input: str = "course") -> dict:
    """Student -> core (+ Verilator emulator) -> IP folder.  Returns {core, rtl, ip, timings, fold}.

    ``fold``: "none" (fully parallel core behind a window buffer) or "stream" (the first layer folded
    to the input stream, :mod:`labkit.rtl.fold`); default course.ini [rtl] fold.  ``folder`` default:
    ``artifacts/rtl`` (parallel) or ``artifacts/rtl/<fold>``.  ``input``: the input transform the
    student was trained on (``CFG.input_transform``; ``course`` or ``raw``).
    """
    from pathlib import Path

    from .sim import write_ip

    fold = fold or CFG.rtl.fold
    if fold not in FOLDS:
        raise ValueError(f"fold {fold!r} is not one of {', '.join(FOLDS)}")
    if model is None:
        from ..training.checkpoints import load_student
        model = load_student()
    root = Path(folder) if folder is not None else artifacts.rtl_root(fold)
    t0 = time.perf_counter()
    from .core import build_core, compile_emulator
    if fold == "stream":
        from .fold import build_folded
        if latency_cutoff is not None:
            raise ValueError("latency_cutoff applies to the parallel core (fold='none') only")
        core, rtl = build_folded(model, root / "core", board=board, clock_mhz=clock_mhz, input=input)
    else:
        core, rtl = build_core(model, root / "core", board=board, clock_mhz=clock_mhz, latency_cutoff=latency_cutoff,
                               input=input)
    timings = {"write_s": round(time.perf_counter() - t0, 1)}
    if emulator:
        timings["verilator_s"] = round(compile_emulator(core, rtl), 1)
    ip = write_ip(core, root / "ip")
    if not quiet:
        if fold == "stream":
            print(f"RTL core (first layer folded to the stream): {core.units} accumulators of {core.acc_width} bits, "
                  f"{core.weight_bits}-bit weights from a ROM, then {core.rest_latency} clock edges of da4ml logic; "
                  f"IP folder {ip}")
        else:
            print(f"RTL core: {core.stages} pipeline stages at {core.clock_mhz:g} MHz ({core.latency_cutoff} adder "
                  f"levels per stage), {core.nonzero} nonzero parameters; IP folder {ip}")
    return {"core": core, "rtl": rtl, "ip": ip, "timings": timings, "fold": fold}


def check(built: dict, model, X_raw, csim_logits=None, ip_batch: int | None = None, gap_percent: int = 0) -> dict:
    """Bit-exactness on ``X_raw``: Verilator and Icarus vs QKeras, the IP's words vs the C simulation.

    Parallel core: Verilator and Icarus run the bare core.  Folded core: Verilator runs the da4ml
    part fed with the folded layer's sums (computed as the Verilog does), and Icarus runs the whole
    IP, whose words are compared in both cases.  ``csim_logits`` are the stage-3 C simulation's
    logits of the same pulses, e.g. lab 04's test vectors (None: compared with QKeras only).
    Returns the figures, the IP's output ``words`` and the ``logits``.
    """
    from ..fixedpoint import quantize_logits
    from ..training.contract import qkeras_logits
    from ..stream import encode_logits
    from .sim import simulate_core, simulate_ip

    core = built["core"]
    fold = built.get("fold", "none")
    q = quantize_logits(qkeras_logits(model, X_raw, input=core.input), CFG.logit_format)
    out = {"n": int(len(X_raw)), "fold": fold}
    if core.emulator_compiled:
        if fold == "stream":
            from .fold import emulator_logits
            v = emulator_logits(core, built["rtl"], model, X_raw)
        else:
            from .core import emulator_logits
            v = emulator_logits(built["rtl"], X_raw, core.input)
        out["verilator_equal_qkeras"] = bool(np.array_equal(v, q))
    batch = min(len(X_raw), ip_batch or CFG.max_batch)
    batches = [min(batch, len(X_raw) - s) for s in range(0, len(X_raw), batch)]
    ip = simulate_ip(built["ip"], X_raw, batches=batches, gap_percent=gap_percent)
    ip_logits = None
    if fold == "stream":
        from ..stream import decode_logits
        ip_logits = decode_logits(ip["words"], n_out=core.n_out) if ip["words"].size == q.size else None
        out.update(iverilog_core_equal_qkeras=bool(ip_logits is not None and np.array_equal(ip_logits, q)),
                   latency_cycles=ip["latency_after_last_beat"] if gap_percent == 0 else None,
                   ii=float(CFG.words_per_pulse))
    else:
        sim = simulate_core(core, X_raw, expected=q)
        out.update(iverilog_core_equal_qkeras=bool(sim["matched"]), latency_cycles=sim["latency_cycles"],
                   ii=sim["ii"])
    out["latency_ns"] = (None if out["latency_cycles"] is None
                         else round(out["latency_cycles"] * 1000.0 / core.clock_mhz, 1))
    ref_words = encode_logits(csim_logits if csim_logits is not None else q)
    out.update(rtl_words_equal=bool(ip["words"].shape == ref_words.shape and np.array_equal(ip["words"], ref_words)),
               compared_with="C simulation" if csim_logits is not None else "QKeras",
               tlast_ok=bool(ip["last"].sum() == len(batches) and all(
                   ip["last"][np.cumsum(batches) * core.n_out - 1])),
               protocol_errors=ip["errors"], ip_cycles_per_pulse=ip["cycles_per_pulse"],
               ip_latency_after_last_beat=ip["latency_after_last_beat"], words=ip["words"])
    if csim_logits is not None:
        out["csim_equal_qkeras"] = bool(np.array_equal(np.asarray(csim_logits, np.float64), q))
    out["logits"] = {"qkeras": q, "iverilog_core": ip_logits if fold == "stream" else sim["logits"]}
    return out


def synth(built: dict, board: str = CFG.default_board, ip: bool = True) -> dict:
    """Yosys figures of the core (the student) and, with ``ip``, of the whole IP top."""
    from pathlib import Path

    from .resources import synthesize
    from .sim import read_sources

    core = built["core"]
    top = core.name if built.get("fold", "none") == "stream" else f"{core.name}_wrapper"
    out = {"core": synthesize([Path(core.folder) / s for s in core.sources], top, board)}
    if ip:
        out["ip"] = synthesize(read_sources(built["ip"]), CFG.rtl.top, board)
    return out


def depth_sweep(model, clocks_mhz=(100, 150, 200, 300, 400), board: str = CFG.default_board, yosys: bool = True,
                folder=None) -> list:
    """Pipeline depth vs registers and LUTs: one core per target clock (no emulator, no IP)."""
    import tempfile
    from pathlib import Path

    from .core import build_core
    from .resources import synthesize

    rows = []
    base = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="labkit_sweep_"))
    for mhz in clocks_mhz:
        core, _ = build_core(model, base / f"core_{int(mhz)}", board=board, clock_mhz=mhz)
        row = {"clock_mhz": mhz, "latency_cutoff": core.latency_cutoff, "stages": core.stages,
               "latency_cycles": core.latency_cycles, "latency_ns": round(core.latency_cycles * 1000.0 / mhz, 1),
               "est_luts": core.est_luts, "est_ffs": core.est_ffs}
        if yosys:
            r = synthesize([Path(core.folder) / s for s in core.sources], f"{core.name}_wrapper", board)
            row.update(lut=r["lut"], ff=r["ff"], carry=r["carry"], dsp=r["dsp"])
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def _test_split():
    from ..data import load_split
    return load_split().test


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="labkit rtl", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("build", "write the core and the IP folder (artifacts/rtl/ip)"),
                        ("check", "build, then bit-exact checks + latency on the test split"),
                        ("synth", "build, then Yosys resources of the core and the IP"),
                        ("status", "which open tools are here")):
        s = sub.add_parser(name, help=help_)
        if name != "status":
            s.add_argument("--student", default=None)
            s.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
            s.add_argument("--clock-mhz", type=float_arg(0.0, 2000.0), default=None, help=f"default {CFG.rtl.clock_mhz:g} (course.ini [rtl])")
            s.add_argument("--input", choices=INPUTS, default="course", help=INPUT_HELP)
            s.add_argument("--fold", choices=FOLDS, default=None,
                           help="none: fully parallel core behind a window buffer; stream: the first layer folded "
                                f"to the input stream (default {CFG.rtl.fold}, course.ini [rtl] fold)")
    args = p.parse_args(argv)
    from . import tools
    if args.cmd == "status":
        for tool in ("da4ml", "verilator", "iverilog", "yosys", "g++"):
            print(f"{tool:<10} {tools.missing(tool) or 'ok'}")
        return 0
    need = {"build": ("da4ml",), "check": ("da4ml", "iverilog"), "synth": ("da4ml", "yosys")}[args.cmd]
    reason = tools.missing(*need)
    if reason:
        print(f"labkit rtl {args.cmd}: {reason}")
        return 1
    from ..training.ownmodel import load_own_student
    _, model, _ = load_own_student(args.student, args.input)   # the course's student, or your own prepared
    built = build(model, board=args.board, clock_mhz=args.clock_mhz,
                  emulator=args.cmd == "check" and not tools.missing("verilator"), quiet=False, fold=args.fold,
                  input=args.input)
    if args.cmd == "check":
        test = _test_split()
        res = check(built, model, test.X)
        print(json.dumps({k: v for k, v in res.items() if k not in ("logits", "words")}))
    elif args.cmd == "synth":
        figs = synth(built, args.board)
        print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "cells"} for k, v in figs.items()}))
    return 0
