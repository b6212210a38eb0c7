"""The RTL twin as an IP folder, and its independent Icarus Verilog test benches.

* :func:`write_ip` renders the AXI-Stream/AXI-Lite top (``verilog/axis_top.v.in``) around a
  written :class:`~labkit.rtl.core.Core` and lists every file in ``sources.f`` (what the block
  design script adds to a Vivado project);
* :func:`simulate_core` streams one input vector per clock through the bare core and measures
  the latency (rising edges from input to output) and the initiation interval;
* :func:`simulate_ip` plays PS + DMA against the top, cycle by cycle, with random stalls on both
  streams, and returns every output beat with its TLAST and clock edge.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import emit
from .. import artifacts
from ..config import CFG
from . import tools

HERE = Path(__file__).parent / "verilog"
FIFO_DEPTH = 4  # results the top buffers while out_stream is stalled


def render(template: str, values: dict) -> str:
    """A Verilog template of this folder, filled by the course's one template syntax (labkit.emit)."""
    return emit.render((HERE / template).read_text(), values, what=template)


def top_values(core) -> dict:
    """The top's fields for a parallel :class:`~labkit.rtl.core.Core` or a :class:`~labkit.rtl.fold.FoldedCore`."""
    values = {
        **emit.verilog_values(core.n_out, core.input), "CORE": core.name, "CW": core.out_width, "CF": core.out_frac,
        "LAT": core.latency_cycles, "DEPTH": FIFO_DEPTH,
        "WIW": max(1, int(np.ceil(np.log2(CFG.words_per_pulse)))), "DW": max(1, int(np.log2(FIFO_DEPTH))),
        "BW": max(1, int(np.ceil(np.log2(max(2, core.n_out))))),
    }
    if CFG.input_transform(core.input).baseline:
        values["INSTAGE"] = (f"baseline = (sum of the first {CFG.baseline_samples} codes) >> {CFG.baseline_log2}, "
                             "x = baseline - code")
        values["XIN"] = "{{(XW-ADC){1'b0}}, baseline} - {{(XW-ADC){1'b0}}, samples[j*ADC +: ADC]}"
    else:
        values["INSTAGE"] = "x = the code itself (the raw input)"
        values["XIN"] = "samples[j*ADC +: ADC]"
    if getattr(core, "fold", "none") == "stream":
        values["NETWORK"] = (f"{core.name}, the first layer folded to the stream (one beat per clock, no "
                             f"window buffer), then {core.rest} (da4ml); the result {core.latency_cycles} "
                             "clock edges after the last beat")
        values["INPUT"] = render("input_fold.v.in", values)
    else:
        values["NETWORK"] = (f"{core.name} (da4ml, fully pipelined, {core.latency_cycles} clock edges, one "
                             "input per clock) behind a window buffer")
        values["INPUT"] = render("input_window.v.in", values)
    return values


def write_ip(core, folder=None) -> Path:
    """The IP folder: ``<top>.v``, ``core/...`` (da4ml sources), ``sources.f``, ``labkit_rtl.json``."""
    folder = Path(folder) if folder is not None else artifacts.rtl_ip()
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "core").mkdir(parents=True)
    sources = []
    for rel in core.sources:
        dst = folder / "core" / Path(rel).name
        shutil.copy(Path(core.folder) / rel, dst)
        sources.append(f"core/{dst.name}")
    top = folder / f"{CFG.rtl.top}.v"
    top.write_text(render("axis_top.v.in", top_values(core)))
    sources.append(top.name)
    (folder / "sources.f").write_text("# Verilog files of the RTL classifier IP (top last); "
                                      f"top module: {CFG.rtl.top}\n" + "\n".join(sources) + "\n")
    (folder / "labkit_rtl.json").write_text(json.dumps({**core.meta(), "top": CFG.rtl.top,
                                                        "fifo_depth": FIFO_DEPTH}, indent=1) + "\n")
    return folder


def ip_meta(folder) -> dict:
    """``labkit_rtl.json`` of an IP folder (its core's fields: ``n_out``, ``input``, ...), or {}."""
    path = Path(folder) / "labkit_rtl.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def read_sources(folder) -> list:
    folder = Path(folder)
    listing = folder / "sources.f"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} not found: write the RTL IP with `labkit rtl build` first")
    return [folder / line.strip() for line in listing.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def _run(cmd, cwd, what: str, timeout: float = 3600):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(map(str, cmd[:2]))} ...):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@contextlib.contextmanager
def _workdir(workdir, prefix: str):
    """``workdir`` (kept), or a temporary folder removed afterwards."""
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        yield Path(workdir)
        return
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compile_tb(sources, tb_text: str, top: str, workdir: Path) -> Path:
    reason = tools.missing("iverilog")
    if reason:
        raise RuntimeError(reason)
    tb = workdir / f"{top}.v"
    tb.write_text(tb_text)
    exe = workdir / f"{top}.vvp"
    _run(["iverilog", "-g2012", "-o", str(exe), "-s", top, str(tb)] + [str(s) for s in sources], workdir,
         "iverilog compile")
    return exe


# ------------------------------------------------------------------------------------------
# bare core: latency and initiation interval
# ------------------------------------------------------------------------------------------

def core_input_lines(x: np.ndarray, width: int, frac: int = CFG.input_format.frac) -> list:
    """Transformed inputs (n, N) with ``frac`` fraction bits -> hex lines of the core's packed input
    (input 0 in the low bits)."""
    bits = np.asarray(np.round(np.asarray(x, np.float64) * 2.0 ** frac), np.int64)
    mask = (1 << width) - 1
    digits = (width * CFG.n_samples + 3) // 4
    lines = []
    for row in bits:
        v = 0
        for i, b in enumerate(row.tolist()):
            v |= (b & mask) << (width * i)
        lines.append(format(v, f"0{digits}x"))
    return lines


def decode_core_output(value: int, core) -> np.ndarray:
    mask = (1 << core.out_width) - 1
    out = []
    for k in range(core.n_out):
        r = (value >> (k * core.out_width)) & mask
        if r >> (core.out_width - 1):
            r -= 1 << core.out_width
        out.append(r / 2.0 ** core.out_frac)
    return np.array(out)


def simulate_core(core, X_raw, expected=None, workdir=None) -> dict:
    """Icarus run of the bare core, one new pulse per clock.

    Returns ``logits`` (n, n_out) in input order, ``latency_cycles`` (rising edges from the edge
    that captures an input to the edge that updates its output, both counted), ``ii`` (clocks
    between successive results when a new input comes every clock) and the wall time.
    """
    from ..data.prep import transform

    x = transform(X_raw, core.input)
    n = len(x)
    with _workdir(workdir, "labkit_tbcore_") as workdir:
        t0 = time.perf_counter()
        (workdir / "in.hex").write_text("\n".join(core_input_lines(x, core.in_width, core.in_frac)) + "\n")
        values = {"CORE": core.name, "INW": core.in_width * CFG.n_samples, "OUTW": core.out_width * core.n_out,
                  "NMAX": n, "LAT": core.latency_cycles}
        sources = [Path(core.folder) / s for s in core.sources]
        exe = _compile_tb(sources, render("tb_core.v.in", values), "tb_core", workdir)
        _run(["vvp", "-n", str(exe), "+in=in.hex", "+out=out.txt", f"+n={n}"], workdir, "core simulation")
        printed = {}
        for line in (workdir / "out.txt").read_text().split("\n"):
            if line.strip() and "x" not in line.split()[1]:
                edge, hexval = line.split()
                printed[int(edge)] = int(hexval, 16)
        wall = time.perf_counter() - t0
    # input k is captured at edge k+1; find the print edge e0 of result 0: result k prints at e0+k
    ref = None if expected is None else np.asarray(expected, np.float64)
    best = None
    for e0 in range(1, core.latency_cycles + 8):
        got = [printed.get(e0 + k) for k in range(n)]
        if any(g is None for g in got):
            continue
        logits = np.array([decode_core_output(g, core) for g in got])
        if ref is None or np.array_equal(logits, ref):
            best = (e0, logits)
            break
    if best is None:
        # report the stream at the designed latency so the caller can show what differs
        e0 = core.latency_cycles + 1
        logits = np.array([decode_core_output(printed.get(e0 + k, 0), core) for k in range(n)])
        return {"n": n, "logits": logits, "latency_cycles": None, "ii": None, "matched": False, "wall_s": wall}
    e0, logits = best
    # set at edge e0+k-1, captured at edge k+1: (e0+k-1) - (k+1) + 1 edges
    return {"n": n, "logits": logits, "latency_cycles": e0 - 1, "ii": 1.0, "matched": ref is not None,
            "wall_s": wall}


# ------------------------------------------------------------------------------------------
# the IP: AXI-Lite + AXI-Stream, as the DMA drives it
# ------------------------------------------------------------------------------------------

def simulate_ip(ip_folder, X_raw, batches=None, gap_percent: int = 0, seed: int = 1, workdir=None) -> dict:
    """Icarus run of the IP top: runs of ``batches`` pulses (default one run of all).

    Returns ``words`` (uint32), ``last`` (bool) and ``edge`` per output beat, per-run ``runs``
    (first input edge, last output edge, CTRL at ap_done), ``errors`` (protocol violations found
    by the test bench), ``cycles_per_pulse`` measured over the streaming part and
    ``latency_after_last_beat`` (the fewest clock edges from a pulse's last input word to its first
    logit; with ``gap_percent`` 0 the output is never stalled, so this is the IP's latency).
    """
    from ..stream import pack_pulses

    X = np.asarray(X_raw, np.uint16)
    n = len(X)
    batches = [n] if batches is None else [int(b) for b in batches]
    if sum(batches) != n:
        raise ValueError(f"batches {batches} sum to {sum(batches)}, not the {n} pulses given")
    words = pack_pulses(X)
    with _workdir(workdir, "labkit_tbip_") as workdir:
        t0 = time.perf_counter()
        (workdir / "words.hex").write_text("\n".join(format(int(w), "08x") for w in words) + "\n")
        (workdir / "batches.hex").write_text("\n".join(format(b, "08x") for b in batches) + "\n")
        values = {"TOP": CFG.rtl.top, "MAXWORDS": max(1, words.size), "WPP": CFG.words_per_pulse}
        exe = _compile_tb(read_sources(ip_folder), render("tb_axis.v.in", values), "tb_axis", workdir)
        _run(["vvp", "-n", str(exe), "+words=words.hex", f"+nwords={words.size}", "+batches=batches.hex",
              f"+runs={len(batches)}", "+out=out.txt", f"+seed={seed}", f"+gap={gap_percent}"],
             workdir, "IP simulation")
        text = (workdir / "out.txt").read_text()
        wall = time.perf_counter() - t0
    beats, runs, errors, idle, in_last = [], [], [], None, []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "beat":
            beats.append((int(parts[1], 16), parts[2] == "1", int(parts[3])))
        elif parts[0] == "inlast":
            in_last.append(int(parts[1]))
        elif parts[0] == "run":
            runs.append({"run": int(parts[1]), "first_in_edge": int(parts[2]), "last_out_edge": int(parts[3]),
                         "ctrl": int(parts[4], 16)})
        elif parts[0] == "error":
            errors.append(line[6:])
        elif parts[0] == "idle":
            idle = int(parts[1], 16)
    if len(runs) != len(batches):
        errors.append(f"only {len(runs)} of {len(batches)} runs finished")
    span = sum(r["last_out_edge"] - r["first_in_edge"] for r in runs)
    # clock edges from the edge that takes a pulse's last input word to the one that hands out its first logit
    n_out = ip_meta(ip_folder).get("n_out", CFG.n_classes)
    first_out = [int(beats[p * n_out][2]) for p in range(min(len(in_last), len(beats) // n_out))]
    after_last = [o - i for o, i in zip(first_out, in_last)]
    return {
        "latency_after_last_beat": min(after_last) if after_last else None,
        "words": np.array([b[0] for b in beats], np.uint32),
        "last": np.array([b[1] for b in beats], bool),
        "edge": np.array([b[2] for b in beats], np.int64),
        "runs": runs, "errors": errors, "ctrl_after_reset": idle,
        "cycles_per_pulse": span / n if n else None, "wall_s": wall,
    }
