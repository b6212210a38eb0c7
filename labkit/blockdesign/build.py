"""Stage 4: the Vivado block design (PS + AXI DMA + classifier IP) and its bitstream.

``hw/build_overlay.tcl`` is the one build script for every board; it reads ``course.ini``
(the ``[overlay]`` and ``[board:<key>]`` sections) itself.  The classifier is either the Vitis
HLS IP (``ip_kind="hls"``, the default) or its Verilog RTL twin (``ip_kind="rtl"``: the files in
``sources.f`` of the RTL folder, a module-reference cell of ``CFG.rtl.top``).  This module

* runs it for real when Vivado is on PATH (``labkit overlay --board pynq-z1``),
* otherwise says which command it would run and returns 0, so the course continues,
* runs it in plain ``tclsh`` against recording Vivado stubs (``hw/stubs``) and returns the
  recorded block design (:func:`record_design`), which :func:`check_design` checks and
  :func:`draw_design` draws -- the same checks in the tests and in lab 05.

Standard library + numpy at import time (matplotlib is imported inside :func:`draw_design`).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .. import export
from ..config import CFG, artifacts_dir
from ..config import load as load_config

HW_DIR = Path(__file__).resolve().parents[2] / "hw"
BUILD_TCL = HW_DIR / "build_overlay.tcl"
STUB_RUNNER = HW_DIR / "stubs" / "run_stubbed.tcl"

DMA_VLNV = "xilinx.com:ip:axi_dma"
RESET_VLNV = "xilinx.com:ip:proc_sys_reset"
IP_KINDS = ("hls", "rtl")   # the classifier: Vitis HLS IP, or the RTL twin as a module reference


def _hw_file(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the overlay build runs from a labkit checkout "
                                "(the hw/ folder next to labkit/)")
    return path


# ------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------

def vivado_available() -> Tuple[bool, str]:
    """(True, path of vivado) or (False, why not)."""
    path = shutil.which("vivado")
    if path:
        return True, path
    return False, "vivado is not on PATH (source <Vivado install>/settings64.sh to add it)"


def _tclargs(board: str, ip_repo, out_dir, ip_kind: str) -> List[str]:
    # hls is the script's default: its command line stays the 3-argument one
    return [board, str(ip_repo), str(out_dir)] + ([] if ip_kind == "hls" else [ip_kind])


def build_command(board: str, ip_repo, out_dir, ip_kind: str = "hls") -> List[str]:
    """The batch Vivado command that builds ``<overlay_name>.bit/.hwh/.xsa`` into ``out_dir``.

    ``ip_repo`` is the exported HLS IP (``ip_kind="hls"``) or the RTL folder (``ip_kind="rtl"``).
    """
    CFG.board(board)  # unknown board -> KeyError naming the choices
    if ip_kind not in IP_KINDS:
        raise ValueError(f"unknown ip_kind {ip_kind!r}: use {' or '.join(IP_KINDS)}")
    out_dir = Path(out_dir).resolve()
    return ["vivado", "-mode", "batch", "-nojournal", "-log", str(out_dir / "vivado.log"),
            "-source", str(_hw_file(BUILD_TCL)), "-tclargs",
            *_tclargs(board, Path(ip_repo).resolve(), out_dir, ip_kind)]


def _tclsh() -> str:
    for name in ("tclsh", "tclsh8.6"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("tclsh was not found: install Tcl 8.6 (e.g. apt-get install tcl) to record "
                            "the block design without Vivado")


def run_stubbed(board: str, tcl=None, vivado_version: str = "2024.1",
                ip_repo=None, out_dir=None, ini=None, timeout: float = 120, ip_kind: str = "hls",
                params=None) -> dict:
    """Run the build script in tclsh with the recording Vivado stubs; return the record.

    The record (see ``hw/stubs/vivado_stubs.tcl``) holds the project, cells (VLNV, CONFIG,
    pins, interfaces), nets, interface nets, addresses, runs and the files written, plus
    ``exit_code``, ``error`` and ``stderr`` of the script -- also when it stopped with an error.
    ``ip_repo``/``out_dir`` default to temporary folders (the stubs write placeholder outputs
    there, never real-looking artifacts into the course folders); ``ini`` replaces course.ini
    (its ``params.tcl`` export is what the script reads); ``params`` gives a params.tcl instead.
    ``ip_kind`` is passed to the script as is (an invalid one is the script's error to report).
    """
    tcl = Path(tcl) if tcl else _hw_file(BUILD_TCL)
    tclsh = _tclsh()
    with tempfile.TemporaryDirectory(prefix="labkit-overlay-") as tmp:
        tmp = Path(tmp)
        if ip_repo is None and ip_kind == "rtl":
            ip_repo = tmp / "rtl"
            ip_repo.mkdir()
            # the stubs only need sources.f naming an existing file; the module's ports come from course.ini
            (ip_repo / "sources.f").write_text(f"# labkit stub RTL folder\n{CFG.rtl.top}.v\n")
            (ip_repo / f"{CFG.rtl.top}.v").write_text("")
        elif ip_repo is None:
            ip_repo = tmp / "ip"
            ip_repo.mkdir()
            # the stubs only need to see a packaged IP; its interface names come from course.ini
            (ip_repo / "component.xml").write_text("<!-- labkit stub IP repository -->\n")
        out_dir = Path(out_dir) if out_dir is not None else tmp / "out"
        record_path = tmp / "design.json"
        cmd = [tclsh, str(_hw_file(STUB_RUNNER)), "-version", vivado_version, "-record", str(record_path),
               "--", str(tcl), *_tclargs(board, ip_repo, out_dir, ip_kind)]
        if params is None:
            params = export.write_tcl(board, tmp / "params.tcl", cfg=load_config(ini) if ini else CFG)
        env = dict(os.environ, LABKIT_PARAMS=str(params))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if not record_path.exists():
            raise RuntimeError(f"the stub run wrote no record (exit {proc.returncode}):\n{proc.stderr or proc.stdout}")
        record = json.loads(record_path.read_text())
    record["board"] = board
    record["ip_kind"] = ip_kind
    record["stdout"] = proc.stdout
    record["returncode"] = proc.returncode
    return record


def record_design(board: str, tcl=None, vivado_version: str = "2024.1", ip_kind: str = "hls") -> dict:
    """The block design ``hw/build_overlay.tcl`` builds for ``board`` (with the HLS IP or, for
    ``ip_kind="rtl"``, its RTL twin), recorded without Vivado.

    Raises ``RuntimeError`` with the script's own message when it stops with an error.
    """
    record = run_stubbed(board, tcl=tcl, vivado_version=vivado_version, ip_kind=ip_kind)
    if record["exit_code"] != 0:
        message = "\n".join(record.get("stderr") or []) or record.get("error") or "(no message)"
        raise RuntimeError(f"build_overlay.tcl stopped for {board} (exit {record['exit_code']}): {message}")
    return record


# ------------------------------------------------------------------------------------------
# structure checks
# ------------------------------------------------------------------------------------------

def _find_cell(cells: dict, vlnv_prefix: str, name: Optional[str] = None) -> Optional[str]:
    if name is not None:
        return name if name in cells and cells[name]["vlnv"].startswith(vlnv_prefix) else None
    found = [c for c, v in cells.items() if v["vlnv"].startswith(vlnv_prefix)]
    return found[0] if len(found) == 1 else None


def classifier_kind(cell: dict) -> Optional[str]:
    """What a recorded cell is: "hls" (the HLS IP, ``CFG.vlnv``), "rtl" (a module reference to
    ``CFG.rtl.top``) or None."""
    if cell["vlnv"].startswith(CFG.vlnv):
        return "hls"
    if cell.get("type") == "module" and cell.get("reference") == CFG.rtl.top:
        return "rtl"
    return None


def _reachable(record: dict, start: str) -> set:
    """Interface pins reachable from master ``start`` through interface nets and interconnects."""
    cells = record["cells"]
    by_master: Dict[str, List[str]] = {}
    for net in record["intf_nets"]:
        by_master.setdefault(net["master"], []).append(net["slave"])
    seen, todo = {start}, [start]
    while todo:
        for slave in by_master.get(todo.pop(), []):
            if slave in seen:
                continue
            seen.add(slave)
            cell = slave.split("/", 1)[0]
            if cells.get(cell, {}).get("interconnect"):
                for name, intf in cells[cell]["intfs"].items():
                    if intf["mode"] == "master" and f"{cell}/{name}" not in seen:
                        seen.add(f"{cell}/{name}")
                        todo.append(f"{cell}/{name}")
    return seen


def cell_roles(record: dict, board: str) -> Dict[str, Optional[str]]:
    """Names of the PS, DMA, classifier (HLS IP or RTL twin) and reset cells in a record (None when missing)."""
    b = CFG.board(board)
    cells = record.get("cells", {})
    return {
        "ps": _find_cell(cells, b.ps_vlnv),
        "dma": _find_cell(cells, DMA_VLNV, CFG.dma_name),
        "ip": CFG.ip_name if CFG.ip_name in cells and classifier_kind(cells[CFG.ip_name]) else None,
        "reset": _find_cell(cells, RESET_VLNV),
    }


def check_design(record: dict, board: str) -> List[str]:
    """Everything wrong with a recorded block design for ``board``; an empty list means correct.

    The checks: tool version checked first, part/board part from course.ini, the classifier's
    sources (IP repository, or the RTL twin's Verilog files), PS preset + ports + PL clock
    (+ IOPLL on Kria), DMA settings (no scatter-gather, 32-bit streams, length width =
    ``CFG.dma_length_width``, address width), the two streams between DMA and IP, both
    register slaves reachable from the PS general-purpose master and mapped, both DMA memory
    masters reaching and mapping the PS high-performance slave, every required clock pin on the
    PL clock and every reset pin driven, no unconnected AXI interface, the bitstream run, and
    the ``<overlay_name>.bit/.hwh/.xsa`` outputs.  The classifier cell ``CFG.ip_name`` may be the
    HLS IP or its RTL twin (a module reference to ``CFG.rtl.top``); when the record says which was
    asked for (``record["ip_kind"]``, set by :func:`run_stubbed`), it must be that one.
    """
    b = CFG.board(board)
    problems: List[str] = []
    add = problems.append

    if record.get("exit_code", 0) != 0:
        message = " ".join(record.get("stderr") or []) or record.get("error", "")
        add(f"the build script stopped with exit code {record.get('exit_code')}: {message}")
    calls = record.get("calls", [])
    if "version" not in calls or ("create_project" in calls and calls.index("version") > calls.index("create_project")):
        add("the Vivado version is not checked (version -short) before the project is created")

    project = record.get("project") or {}
    if project.get("part") != b.part:
        add(f"project part is {project.get('part')!r}, course.ini says {b.part!r}")
    if project.get("board_part") != b.board_part:
        add(f"project board_part is {project.get('board_part')!r}, course.ini says {b.board_part!r}")

    cells = record.get("cells", {})
    roles = cell_roles(record, board)
    ps, dma, ip, rst = roles["ps"], roles["dma"], roles["ip"], roles["reset"]
    found = classifier_kind(cells[ip]) if ip else None
    kind = record.get("ip_kind") or found or "hls"
    if kind == "rtl":
        if not [f for f in record.get("added_files", []) if f != record.get("wrapper")]:
            add("the RTL twin's Verilog files are not added to the project (add_files from sources.f)")
    elif not project.get("ip_repo_paths") or not record.get("catalog_updates"):
        add("the IP repository is not added (ip_repo_paths + update_ip_catalog)")
    if ps is None:
        add(f"no processing system cell with VLNV {b.ps_vlnv}")
    if dma is None:
        add(f"no AXI DMA cell named {CFG.dma_name!r} ({DMA_VLNV})")
    if ip is None:
        add(f"no classifier cell named {CFG.ip_name!r} (the HLS IP {CFG.vlnv} or a module reference "
            f"to the RTL top {CFG.rtl.top})")
    elif found != kind:
        add(f"the classifier cell {ip!r} is the {found} IP ({cells[ip]['vlnv']}), the build asked for {kind}")
    if rst is None:
        add(f"no reset block ({RESET_VLNV})")

    # -- configuration ----------------------------------------------------------------------
    if ps is not None:
        cfg = cells[ps]["config"]
        if not any(a["target"] == ps and 'apply_board_preset "1"' in a["config"] for a in record.get("automation", [])):
            add(f"{ps}: the board preset is not applied")
        for key in (b.master_enable, b.hp_enable):
            if cfg.get(key) != "1":
                add(f"{ps}: CONFIG.{key} is {cfg.get(key)!r}, must be 1")
        try:
            freq = float(cfg.get(b.pl_clk_freq_property, "nan"))
        except ValueError:
            freq = float("nan")
        if not abs(freq - CFG.clock_mhz) < 1e-6:
            add(f"{ps}: CONFIG.{b.pl_clk_freq_property} is {cfg.get(b.pl_clk_freq_property)!r}, "
                f"course.ini clock_mhz is {CFG.clock_mhz:g}")
        if b.clk_source_property and cfg.get(b.clk_source_property) != b.clk_source:
            add(f"{ps}: CONFIG.{b.clk_source_property} is {cfg.get(b.clk_source_property)!r}, "
                f"must be {b.clk_source} (PYNQ needs the PL clock from {b.clk_source})")
    if dma is not None:
        cfg = cells[dma]["config"]
        want = {
            "c_include_sg": "0",
            "c_sg_include_stscntrl_str": "0",
            "c_sg_length_width": str(CFG.dma_length_width),
            "c_addr_width": str(b.dma_addr_width),
            "c_m_axi_mm2s_data_width": str(CFG.word_bits),
            "c_m_axis_mm2s_tdata_width": str(CFG.word_bits),
            "c_s_axis_s2mm_tdata_width": str(CFG.word_bits),
        }
        for key, value in want.items():
            if str(cfg.get(key)) != value:
                add(f"{dma}: CONFIG.{key} is {cfg.get(key)!r}, must be {value}")

    # -- streams and memory-mapped paths ----------------------------------------------------
    intf_nets = {(n["master"], n["slave"]) for n in record.get("intf_nets", [])}
    if dma and ip:
        for master, slave in ((f"{dma}/M_AXIS_MM2S", f"{ip}/{CFG.ip_in_stream}"),
                              (f"{ip}/{CFG.ip_out_stream}", f"{dma}/S_AXIS_S2MM")):
            if (master, slave) not in intf_nets:
                add(f"stream {master} -> {slave} is not connected")
    if ps:
        from_gp = _reachable(record, f"{ps}/{b.ps_master}")
        for slave in ([f"{dma}/S_AXI_LITE"] if dma else []) + ([f"{ip}/{CFG.ip_ctrl}"] if ip else []):
            if slave not in from_gp:
                add(f"{slave} is not reachable from the PS master {ps}/{b.ps_master}")
        if dma:
            for master in (f"{dma}/M_AXI_MM2S", f"{dma}/M_AXI_S2MM"):
                if f"{ps}/{b.hp_slave}" not in _reachable(record, master):
                    add(f"{master} does not reach the PS high-performance slave {ps}/{b.hp_slave}")
    connected = {end for pair in intf_nets for end in pair}
    for cell, info in cells.items():
        for name, intf in info["intfs"].items():
            if intf["protocol"] in ("aximm", "axis") and f"{cell}/{name}" not in connected:
                add(f"interface {cell}/{name} ({intf['mode']} {intf['protocol']}) is not connected")

    # -- clocks and resets -------------------------------------------------------------------
    net_of = {}
    for net in record.get("nets", []):
        for p in net["pins"]:
            net_of[p] = net
    pl_clk = f"{ps}/{b.pl_clk}" if ps else None
    sync_resets = {f"{rst}/peripheral_aresetn", f"{rst}/interconnect_aresetn"} if rst else set()
    for cell, info in cells.items():
        for name, pin in info["pins"].items():
            path = f"{cell}/{name}"
            if pin["dir"] != "in" or not pin["required"]:
                continue
            driver = net_of.get(path, {}).get("driver")
            if pin["type"] == "clk" and driver != pl_clk:
                add(f"clock pin {path} is driven by {driver or 'nothing'}, must be the PL clock {pl_clk}")
            elif pin["type"] == "rst":
                if driver is None:
                    add(f"reset pin {path} is not driven")
                elif cell == rst and name == "ext_reset_in":
                    if ps and driver != f"{ps}/{b.pl_resetn}":
                        add(f"{path} is driven by {driver}, must be the PS reset {ps}/{b.pl_resetn}")
                elif driver not in sync_resets:
                    add(f"reset pin {path} is driven by {driver}, must come from the reset block {rst}")

    # -- addresses ---------------------------------------------------------------------------
    addresses = record.get("addresses", [])

    def mapped(space: str, slave_prefix: str) -> bool:
        return any(a["space"] == space and a["slave"].startswith(slave_prefix + "/") for a in addresses)

    if ps:
        for slave in ([f"{dma}/S_AXI_LITE"] if dma else []) + ([f"{ip}/{CFG.ip_ctrl}"] if ip else []):
            if not mapped(f"{ps}/Data", slave):
                add(f"{slave} has no address in {ps}/Data")
        spans = sorted((int(a["offset"], 16), int(a["offset"], 16) + int(a["range"], 16))
                       for a in addresses if a["space"] == f"{ps}/Data")
        if any(hi > lo2 for (_, hi), (lo2, _) in zip(spans, spans[1:])):
            add(f"overlapping address ranges in {ps}/Data")
        if dma:
            for space in (f"{dma}/Data_MM2S", f"{dma}/Data_S2MM"):
                if not mapped(space, f"{ps}/{b.hp_slave}"):
                    add(f"{space} does not map the DDR behind {ps}/{b.hp_slave}")

    # -- flow and outputs --------------------------------------------------------------------
    if not record.get("validated"):
        add("validate_bd_design is not run")
    bd = record.get("bd_design", "")
    if record.get("top") != f"{bd}_wrapper" or record.get("wrapper", "") not in record.get("added_files", []):
        add("the HDL wrapper is not made, added and set as top")
    if not any(r["run"] == "impl_1" and r["to_step"] == "write_bitstream" for r in record.get("runs", [])):
        add("launch_runs impl_1 -to_step write_bitstream is not requested")
    if "impl_1" not in record.get("waited", []):
        add("wait_on_run impl_1 is missing (batch Vivado would exit before the bitstream exists)")
    name = CFG.overlay_name
    outputs = set(record.get("outputs", []))
    for ext in ("bit", "hwh", "xsa"):
        if f"{name}.{ext}" not in outputs:
            add(f"{name}.{ext} is not written to the output folder")
    if record.get("hw_platform") and Path(record["hw_platform"]).name != f"{name}.xsa":
        add(f"write_hw_platform writes {Path(record['hw_platform']).name}, expected {name}.xsa")
    return problems


def summary(record: dict) -> str:
    """A few lines: cells with VLNV and the address map."""
    lines = [f"{name:<20} {cell['vlnv']}" for name, cell in record["cells"].items()]
    lines += [f"{a['space']:<24} {a['offset']}  {a['range']:>10}  {a['slave']}" for a in record["addresses"]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# drawing
# ------------------------------------------------------------------------------------------

def _layout(record: dict) -> Dict[str, Tuple[float, float]]:
    """Box centres: PS left, register interconnect above, memory interconnect below, DMA in the
    middle, classifier upper right (so no arrow crosses a box), reset block bottom left."""
    cells = record["cells"]
    ps = next((c for c, v in cells.items() if "processing_system7" in v["vlnv"] or "zynq_ultra_ps_e" in v["vlnv"]), None)
    slaves_of_ps = {n["slave"].split("/")[0] for n in record["intf_nets"] if ps and n["master"].startswith(ps + "/")}
    pos: Dict[str, Tuple[float, float]] = {}
    spare = 1
    for name, cell in cells.items():
        vlnv = cell["vlnv"]
        if name == ps:
            pos[name] = (0.0, 2.0)
        elif vlnv.startswith(RESET_VLNV):
            pos[name] = (0.0, -1.2)
        elif cell.get("interconnect"):
            pos[name] = (3.0, 4.0) if name in slaves_of_ps else (3.0, 0.0)
        elif vlnv.startswith(DMA_VLNV):
            pos[name] = (6.0, 2.0)
        elif name == CFG.ip_name:
            pos[name] = (9.0, 4.0)
        else:
            pos[name] = (3.0 * spare, -1.2)
            spare += 1
    return pos


def draw_design(record: dict, ax=None):
    """Draw the recorded block design: a box per cell, arrows for AXI-Stream (green),
    AXI memory-mapped (blue), clock (orange) and reset (purple) connections.

    Drawn from the record of ``hw/build_overlay.tcl``, so the picture always matches the script.
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 7))
    pos = _layout(record)
    w, h = 2.0, 1.0
    boxes = {}
    for name, (x, y) in pos.items():
        vlnv = record["cells"][name]["vlnv"].split(":")
        box = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03",
                             facecolor="#f3f3f3", edgecolor="black", linewidth=1.2)
        ax.add_patch(box)
        boxes[name] = box
        ax.text(x, y + 0.12, name, ha="center", va="center", fontsize=9, weight="bold")
        ax.text(x, y - 0.18, vlnv[2] if len(vlnv) > 2 else vlnv[0], ha="center", va="center", fontsize=7.5,
                color="dimgray")

    def arrow(a, b, color, style="-", rad=0.0, lw=1.6, alpha=1.0, label=None):
        if a == b or a not in boxes or b not in boxes:
            return
        patch = FancyArrowPatch(pos[a], pos[b], patchA=boxes[a], patchB=boxes[b], arrowstyle="-|>",
                                mutation_scale=12, color=color, linestyle=style, lw=lw, alpha=alpha,
                                connectionstyle=f"arc3,rad={rad}")
        ax.add_patch(patch)
        if label:
            # a point on the arc (quadratic Bezier through the arc3 control point), near its middle
            (x0, y0), (x1, y1) = pos[a], pos[b]
            cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
            t = 0.5
            lx = (1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t ** 2 * x1
            ly = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t ** 2 * y1
            ax.text(lx, ly, label, fontsize=6.5, color=color, ha="center", va="center",
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=0.6))

    colors = {"axis": "tab:green", "aximm": "tab:blue"}
    pair_count: Dict[frozenset, int] = {}
    for net in record["intf_nets"]:
        if "/" not in net["master"] or "/" not in net["slave"]:
            continue  # DDR / FIXED_IO made external (Zynq-7000): top-level ports, not drawn
        (mc, mi), (sc, si) = net["master"].split("/", 1), net["slave"].split("/", 1)
        protocol = record["cells"][mc]["intfs"][mi]["protocol"]
        k = pair_count.get(frozenset((mc, sc)), 0)
        pair_count[frozenset((mc, sc))] = k + 1
        rad = 0.18 * k if protocol == "aximm" else 0.3   # two streams between DMA and IP: opposite arcs
        arrow(mc, sc, colors.get(protocol, "black"), rad=rad, label=f"{mi} → {si}")
    for k, net in enumerate(record["nets"]):
        driver = net.get("driver")
        if not driver:
            continue
        dcell, dpin = driver.split("/", 1)
        ptype = record["cells"][dcell]["pins"][dpin]["type"]
        color = {"clk": "tab:orange", "rst": "tab:purple"}.get(ptype, "gray")
        for cell in sorted({p.split("/", 1)[0] for p in net["pins"]} - {dcell}):
            arrow(dcell, cell, color, style="--" if ptype == "rst" else ":", rad=-0.25 - 0.08 * k, lw=1.0,
                  alpha=0.6)
    handles = [Line2D([], [], color="tab:green", lw=2, label="AXI-Stream (data)"),
               Line2D([], [], color="tab:blue", lw=2, label="AXI memory-mapped (registers, DDR)"),
               Line2D([], [], color="tab:orange", lw=1, linestyle=":", label=f"PL clock ({CFG.clock_mhz:g} MHz)"),
               Line2D([], [], color="tab:purple", lw=1, linestyle="--", label="reset")]
    ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.3, max(xs) + 1.3)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    project = record.get("project") or {}
    ax.set_title(f"{record.get('board', '')}: {project.get('part', '')}  —  block design '{record.get('bd_design', '')}'",
                 fontsize=10)
    return ax


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    boards = list(CFG.boards)
    parser = argparse.ArgumentParser(
        prog="labkit overlay",
        description="Build the overlay (<name>.bit/.hwh/.xsa) for a board with Vivado in batch mode. "
                    "Without Vivado it prints the command it would run and exits 0.")
    parser.add_argument("--board", default=CFG.default_board, choices=boards, help="board section of course.ini")
    parser.add_argument("--ip", dest="ip_kind", default="hls", choices=IP_KINDS,
                        help="the classifier: hls = the Vitis HLS IP (make ip), rtl = its Verilog twin "
                             "(labkit rtl build); default hls")
    parser.add_argument("--ip-repo", type=Path, default=None,
                        help="folder with the classifier IP (default: artifacts/hls/ip, with --ip rtl artifacts/rtl/ip)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: artifacts/overlay/<board>)")
    parser.add_argument("--dry-run", action="store_true", help="print the Vivado command and stop")
    parser.add_argument("--force", action="store_true", help="rebuild even if <name>.bit exists in the output folder")
    parser.add_argument("--jobs", type=int, default=None, help="parallel Vivado jobs (default 4)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    ip_repo = args.ip_repo or artifacts_dir(args.ip_kind, "ip", create=False)
    out = args.out or artifacts_dir("overlay", args.board, create=False)
    cmd = build_command(args.board, ip_repo, out, args.ip_kind)
    bit = Path(out) / f"{CFG.overlay_name}.bit"
    if bit.exists() and not args.force:
        print(f"labkit overlay: {bit} exists already; pass --force to rebuild it (or move it away)", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"labkit overlay: would run: {shlex.join(cmd)}")
        return 0
    found, where = vivado_available()
    if not found:
        print(f"Vivado was not found on PATH, so no bitstream was built; with Vivado "
              f"{' or '.join(CFG.vivado_versions)} labkit overlay writes {Path(out) / 'params.tcl'} from course.ini "
              f"and runs: {shlex.join(cmd)}")
        return 0
    if not Path(ip_repo).is_dir():
        if args.ip_kind == "rtl":
            raise FileNotFoundError(f"RTL folder {ip_repo} does not exist: build the RTL twin first "
                                    "(labkit rtl build, or make rtl)")
        raise FileNotFoundError(f"IP repository {ip_repo} does not exist: export the classifier IP first (make ip)")
    Path(out).mkdir(parents=True, exist_ok=True)
    export.write_tcl(args.board, Path(out) / "params.tcl")     # what build_overlay.tcl sources
    env = dict(os.environ)
    if args.jobs:
        env["LABKIT_VIVADO_JOBS"] = str(args.jobs)
    log = Path(out).resolve() / "vivado.log"
    print(f"labkit overlay: running {where} for {args.board}; the full log goes to {log}", flush=True)
    proc = subprocess.Popen(cmd, cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
    code = proc.wait()
    if code != 0:
        print(f"labkit overlay: Vivado stopped with exit code {code}: read {Path(out).resolve() / 'vivado.log'}",
              file=sys.stderr)
        return code
    print(f"labkit overlay: {bit.resolve()} and {bit.with_suffix('.hwh').name} are ready: copy both to the board")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
