"""Vitis HLS C synthesis + IP export, and the csynth report parser.

Runs only when ``vitis_hls`` or ``vitis-run`` of a supported version (course.ini
``vivado_versions``) is on PATH; otherwise :func:`export_ip` prints one sentence and returns.
No TensorFlow / hls4ml import here.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from .. import artifacts
from ..config import CFG
from ..export import render, tcl_word

TEMPLATE = Path(__file__).with_name("templates") / "build_ip.tcl"
HLS_PROJECT = "labkit_ip_prj"
SKIP_SENTENCE = ("Vitis HLS not found on PATH: skipping C synthesis and IP export; the C simulation above "
                 "is the bit-exact reference, and an instructor with Vitis {versions} runs `labkit hls export`.")


def skip_sentence() -> str:
    return SKIP_SENTENCE.format(versions="/".join(CFG.vivado_versions))


def build_tcl(board: str = CFG.default_board, ip_dir=None, network: str = "myproject") -> str:
    """Text of the Vitis HLS script; every name and number comes from CFG."""
    ip_dir = Path(ip_dir) if ip_dir is not None else artifacts.hls_ip()
    values = {
        "VLNV": CFG.vlnv,
        "HLS_PROJECT": HLS_PROJECT,
        "TOP": CFG.hls_top,
        "NETWORK": network,
        "PART": CFG.board(board).part,
        "PERIOD_NS": f"{1000.0 / CFG.clock_mhz:g}",
        "VENDOR": CFG.vendor,
        "LIBRARY": CFG.library,
        "VERSION": CFG.ip_version,
        "IP_ZIP": (Path(ip_dir).resolve() / f"{CFG.hls_top}.zip").as_posix(),
    }
    return render(TEMPLATE.read_text(), values, what=TEMPLATE.name, quote=tcl_word)


def find_vitis():
    """(command list to run a TCL file, version) or (None, reason)."""
    for exe, run in (("vitis_hls", lambda tcl: ["vitis_hls", "-f", tcl]),
                     ("vitis-run", lambda tcl: ["vitis-run", "--mode", "hls", "--tcl", tcl])):
        path = shutil.which(exe)
        if not path:
            continue
        flag = "-version" if exe == "vitis_hls" else "--version"
        try:
            out = subprocess.run([path, flag], capture_output=True, text=True, timeout=300)
            text = out.stdout + out.stderr
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"{exe} found at {path} but `{exe} {flag}` failed ({err})"
        m = re.search(r"v?(20\d\d\.\d)", text)
        version = m.group(1) if m else "unknown"
        if version not in CFG.vivado_versions:
            return None, (f"{exe} {version} found at {path}, but labkit supports Vitis "
                          f"{' / '.join(CFG.vivado_versions)} only (course.ini vivado_versions): "
                          "source a supported settings64.sh and rerun `labkit hls export`")
        return run, version
    return None, None


def parse_csynth_xml(path) -> dict:
    """Latency, II, clock and resources from a Vitis HLS ``csynth.xml`` (top-level report)."""
    root = ET.parse(path).getroot()

    def text(xpath, default=None):
        node = root.find(xpath)
        return node.text.strip() if node is not None and node.text else default

    def number(value):
        try:
            return int(value)
        except (TypeError, ValueError):
            try:
                return float(value)
            except (TypeError, ValueError):
                return value  # e.g. 'undef' for data-dependent latency

    res = root.find("./AreaEstimates/Resources")
    avail = root.find("./AreaEstimates/AvailableResources")
    resources = {child.tag: number(child.text) for child in (res if res is not None else [])}
    available = {child.tag: number(child.text) for child in (avail if avail is not None else [])}
    if "DSP48E" in resources and "DSP" not in resources:  # older tool versions
        resources["DSP"] = resources.pop("DSP48E")
        available["DSP"] = available.pop("DSP48E", None)
    lat = "./PerformanceEstimates/SummaryOfOverallLatency/"
    return {
        "top": text("./UserAssignments/TopModelName"),
        "part": text("./UserAssignments/Part"),
        "target_clock_ns": number(text("./UserAssignments/TargetClockPeriod")),
        "estimated_clock_ns": number(text("./PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_best": number(text(lat + "Best-caseLatency")),
        "latency_worst": number(text(lat + "Worst-caseLatency")),
        "interval_min": number(text(lat + "Interval-min")),
        "interval_max": number(text(lat + "Interval-max")),
        "LUT": resources.get("LUT"),
        "FF": resources.get("FF"),
        "DSP": resources.get("DSP"),
        "BRAM_18K": resources.get("BRAM_18K"),
        "available": available,
    }


def report_table(report: dict) -> str:
    """Markdown-ish table of a parsed csynth report (used/available)."""
    rows = [("latency (cycles, best/worst)", f"{report['latency_best']} / {report['latency_worst']}"),
            ("interval II (min/max)", f"{report['interval_min']} / {report['interval_max']}"),
            ("clock ns (target/estimated)", f"{report['target_clock_ns']} / {report['estimated_clock_ns']}")]
    for key in ("LUT", "FF", "DSP", "BRAM_18K"):
        avail = report["available"].get(key)
        pct = f" ({100.0 * report[key] / avail:.1f} %)" if isinstance(avail, (int, float)) and avail and \
            isinstance(report[key], (int, float)) else ""
        rows.append((key, f"{report[key]} / {avail}{pct}"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def export_ip(project_dir=None, board: str = CFG.default_board, ip_dir=None, quiet: bool = False):
    """Write build_ip.tcl into the hls4ml project and run Vitis HLS if available.

    Returns the parsed csynth report (dict) or None when Vitis is absent (one sentence printed).
    """
    project_dir = Path(project_dir) if project_dir is not None else artifacts.hls_project()
    fw = project_dir / "firmware"
    if not (fw / f"{CFG.hls_top}.cpp").is_file():
        raise FileNotFoundError(f"{fw}/{CFG.hls_top}.cpp missing: run `labkit hls convert` first")
    ip_dir = Path(ip_dir) if ip_dir is not None else artifacts.hls_ip(create=True)
    ip_dir.mkdir(parents=True, exist_ok=True)
    tcl = project_dir / "build_ip.tcl"
    tcl.write_text(build_tcl(board, ip_dir))
    run, version = find_vitis()
    if run is None:
        print(version if version else skip_sentence())
        return None
    if not quiet:
        print(f"Vitis HLS {version}: C synthesis + IP export (this takes minutes) ...")
    proc = subprocess.run(run(tcl.name), cwd=project_dir, capture_output=True, text=True)
    (ip_dir / "vitis_hls.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"Vitis HLS failed (exit {proc.returncode}); see {ip_dir / 'vitis_hls.log'}")
    sol = project_dir / HLS_PROJECT / "solution1"
    xml = sol / "syn" / "report" / "csynth.xml"
    if not xml.is_file():
        xml = sol / "syn" / "report" / f"{CFG.hls_top}_csynth.xml"
    unpacked = sol / "impl" / "ip"
    if unpacked.is_dir():  # the unzipped IP repository Vivado's ip_repo_paths points at
        shutil.copytree(unpacked, ip_dir / CFG.hls_top, dirs_exist_ok=True)
    report = parse_csynth_xml(xml)
    shutil.copyfile(xml, ip_dir / "csynth.xml")
    if not quiet:
        print(report_table(report))
    return report
