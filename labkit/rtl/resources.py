"""Resources without Vivado: Yosys ``synth_xilinx`` -> LUT, FF, CARRY, DSP and the device share.

Yosys maps to the same primitives Vivado uses (LUT1-6, FDRE, CARRY4/CARRY8, DSP48E1/E2), but it
is a different synthesis tool: expect counts in the same range as Vivado's, not equal to them,
and no timing -- no open tool gives the Fmax of a Xilinx part.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..config import CFG
from . import tools


def parse_stat(text: str) -> dict:
    """Yosys ``stat`` -> {cell type: count}: of the flattened top, or, when a module kept its hierarchy
    (``keep_hierarchy``), the design's totals (the ``design hierarchy`` section) only."""
    cells = {}
    marker = "=== design hierarchy ==="
    if marker in text:
        text = text[text.index(marker):]
    for line in text.splitlines():
        m = re.match(r"^\s+([A-Z][A-Z0-9_]*)\s+(\d+)\s*$", line)
        if m:
            cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    return cells


def summarize(cells: dict, board: str = CFG.default_board) -> dict:
    """Primitive counts -> lut, ff, carry, dsp, bram (+ % of the board's device)."""
    lut = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k)) + cells.get("INV", 0)
    lutram = sum(v for k, v in cells.items() if k.startswith(("SRL", "RAM32", "RAM64", "RAM128", "RAM256")))
    out = {
        "lut": lut + lutram,
        "ff": sum(v for k, v in cells.items() if re.fullmatch(r"FD[RSCP]E(_1)?", k)),
        "carry": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
        "dsp": sum(v for k, v in cells.items() if k.startswith("DSP48")),
        "bram": sum(v for k, v in cells.items() if k.startswith("RAMB")),
    }
    totals = CFG.board(board).device_totals()
    part = CFG.board(board).part.split("-")[0][:7]
    for key in ("lut", "ff", "carry", "dsp"):
        if totals.get(key):
            out[f"{key}_pct"] = round(100.0 * out[key] / totals[key], 2)
    out["device"] = part
    return out


def synthesize(sources, top: str, board: str = CFG.default_board, workdir=None, timeout: float = 3600) -> dict:
    """Run ``synth_xilinx -family <board's family> -flatten -noiopad`` on ``sources``.

    Returns :func:`summarize`'s figures plus ``cells`` (all primitives), ``family``, ``yosys_s``.
    """
    cmd = tools.yosys_command()
    if cmd is None:
        raise RuntimeError(tools.missing("yosys"))
    family = CFG.board(board).yosys_family
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="labkit_yosys_"))
    workdir.mkdir(parents=True, exist_ok=True)
    # No path goes into the Yosys script: its words split at spaces and ';', and a '"' cannot be
    # quoted. The sources are copied into the work folder under plain names and read from there
    # (yosys runs in it), so any artifacts or work folder name works.
    src = workdir / "src"
    src.mkdir(exist_ok=True)
    files = []
    for i, source in enumerate(sources):
        name = f"{i:03d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(source).name)}"
        shutil.copyfile(source, src / name)
        files.append(f"src/{name}")
    for word, what in ((family, "yosys family"), (top, "top module")):
        if not re.fullmatch(r"[A-Za-z0-9_]+", word):
            raise ValueError(f"{what} {word!r} is not a plain name (letters, digits, '_'): fix it in labkit/course.ini")
    script = workdir / "synth.ys"
    script.write_text(f"read_verilog {' '.join(files)}\n"
                      f"synth_xilinx -family {family} -top {top} -flatten -noiopad\n"
                      "tee -q -o stat.txt stat\n")
    t0 = time.perf_counter()
    r = subprocess.run(cmd + ["-q", "-l", str(workdir / "yosys.log"), "-s", str(script)], cwd=workdir,
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        tail = (workdir / "yosys.log").read_text()[-2000:] if (workdir / "yosys.log").is_file() else r.stderr
        raise RuntimeError(f"yosys synth_xilinx failed:\n{tail}")
    cells = parse_stat((workdir / "stat.txt").read_text())
    out = summarize(cells, board)
    out.update(cells=cells, family=family, yosys_s=round(time.perf_counter() - t0, 1), tool=" ".join(cmd))
    return out
