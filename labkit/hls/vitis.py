"""Vitis HLS C synthesis + IP export by tool version, and the csynth report parsers.

Which flow runs depends on the Vitis HLS found on PATH (:func:`find_vitis`):

* **Vitis 2023.2 / 2024.1** -- ``build_ip.tcl`` (``templates/build_ip.tcl``) run by
  ``vitis_hls -f build_ip.tcl`` (or ``vitis-run --mode hls --tcl build_ip.tcl`` when only
  ``vitis-run`` is on PATH); reports in ``labkit_ip_prj/solution1/syn/report/``.
* **Vitis 2024.2 / 2025.1 / 2025.2** (``vitis_hls`` is gone) -- ``hls_config.cfg``
  (``templates/hls_config.cfg``): ``v++ -c --mode hls`` synthesises the HLS component in
  ``labkit_ip_comp/`` and ``vitis-run --mode hls --package`` exports the IP; reports in
  ``labkit_ip_comp/hls/syn/report/``.  With ``vitis-run`` alone, the Tcl script through
  ``vitis-run --mode hls --tcl`` (as hls4ml >= 1.2 runs its own build).
* ``vivado_hls`` and any release not in :data:`HLS_FLOWS`: one sentence naming the supported ones.
* no tool at all: one sentence, and the course goes on with the C simulation.

Both reports (``csynth.xml``, or the text ``csynth.rpt`` when no XML was written) parse into the
same dict.  No TensorFlow / hls4ml import here.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .. import artifacts
from ..config import CFG
from ..emit import render, tcl_word

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE = TEMPLATES / "build_ip.tcl"
CFG_TEMPLATE = TEMPLATES / "hls_config.cfg"
TCL_NAME, CFG_NAME = TEMPLATE.name, CFG_TEMPLATE.name
HLS_PROJECT = "labkit_ip_prj"        #: Tcl flow: the Vitis HLS project folder (in the hls4ml project)
HLS_COMPONENT = "labkit_ip_comp"     #: config flow: the HLS component folder (v++ --work_dir)
LOG_NAME = "vitis_hls.log"           #: what the tool printed, beside the exported IP

#: Vitis release -> the flow labkit drives there ("tcl": build_ip.tcl, "cfg": hls_config.cfg).
#: The one table of supported Vitis HLS releases; every Vivado release of course.ini
#: (``vivado_versions``) must have a row (tests/test_hls_flows.py checks it).
HLS_FLOWS: Dict[str, str] = {
    "2023.2": "tcl",
    "2024.1": "tcl",
    "2024.2": "cfg",
    "2025.1": "cfg",
    "2025.2": "cfg",
}
#: executables probed, newest flow first, and the flag that prints each one's version banner
#: (``****** vitis-run v2025.2 (64-bit)``, ``****** Vitis HLS - High-Level Synthesis ... v2023.2.2``)
TOOLS: Tuple[Tuple[str, str], ...] = (("vitis-run", "--version"), ("v++", "--version"),
                                      ("vitis_hls", "-version"), ("vivado_hls", "-version"))
VERSION_RE = re.compile(r"\bv(20\d\d\.\d)(?:\.\d+)*\b")


def supported_versions() -> str:
    """'2023.2, 2024.1, ... or 2025.2' (from :data:`HLS_FLOWS`)."""
    versions = list(HLS_FLOWS)
    return ", ".join(versions[:-1]) + " or " + versions[-1] if len(versions) > 1 else versions[0]


def skip_sentence() -> str:
    return ("Vitis HLS not found: none of vitis-run, v++ or vitis_hls is on PATH, so C synthesis and IP export "
            "are skipped and the course continues with the C simulation of `labkit hls convert` as the "
            f"bit-exact reference (an instructor with Vitis {supported_versions()} runs `labkit hls export`).")


class VitisUnsupported(RuntimeError):
    """A Vitis / Vivado HLS that labkit cannot drive was found (the message is one sentence)."""


@dataclass(frozen=True)
class HlsTool:
    """The Vitis HLS found on PATH and how labkit runs it (commands run in the hls4ml project)."""
    version: str                         #: Vitis release, e.g. "2025.1"
    flow: str                            #: "tcl" or "cfg"
    script: str                          #: the file labkit writes and the tool reads
    commands: Tuple[Tuple[str, ...], ...]  #: run one after the other, cwd = the hls4ml project
    paths: Dict[str, str] = field(default_factory=dict)  #: executable name -> where it was found

    def describe(self) -> str:
        return " && ".join(" ".join(shlex.quote(a) for a in cmd) for cmd in self.commands)

    def report_dirs(self, project_dir) -> List[Path]:
        """Where this flow writes the top-level synthesis reports."""
        project_dir = Path(project_dir)
        if self.flow == "cfg":
            return [project_dir / HLS_COMPONENT / "hls" / "syn" / "report"]
        return [project_dir / HLS_PROJECT / "solution1" / "syn" / "report"]

    def ip_dirs(self, project_dir) -> List[Path]:
        """Where this flow leaves the unpacked IP repository (what Vivado's ip_repo_paths reads)."""
        project_dir = Path(project_dir)
        if self.flow == "cfg":
            return [project_dir / HLS_COMPONENT / "hls" / "impl" / "ip"]
        return [project_dir / HLS_PROJECT / "solution1" / "impl" / "ip"]


def tool_version(path: str, flag: str, timeout: float = 300) -> Optional[str]:
    """Vitis release ("2025.2") printed by ``path flag``, or None when it prints none."""
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, errors="replace", timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VitisUnsupported(f"{path} was found on PATH, but `{Path(path).name} {flag}` failed ({err}): "
                               "source the settings64.sh of a working Vitis install and rerun "
                               "`labkit hls export`") from None
    m = VERSION_RE.search(out.stdout + "\n" + out.stderr)
    return m.group(1) if m else None


def find_vitis(which: Optional[Callable[[str], Optional[str]]] = None) -> HlsTool:
    """The Vitis HLS on PATH and the flow for its version.

    Raises :class:`FileNotFoundError` (with :func:`skip_sentence`) when there is none, and
    :class:`VitisUnsupported` (one sentence naming the supported releases) for ``vivado_hls``, a
    release not in :data:`HLS_FLOWS` or a half install.
    """
    which = which or shutil.which
    paths = {exe: p for exe, _ in TOOLS for p in [which(exe)] if p}
    first = next((exe for exe, _ in TOOLS if exe in paths), None)
    if first is None:
        raise FileNotFoundError(skip_sentence())
    version = tool_version(paths[first], dict(TOOLS)[first])
    fix = (f"labkit exports the IP with Vitis HLS {supported_versions()} only (labkit.hls.vitis.HLS_FLOWS): "
           "source the settings64.sh of one of them and rerun `labkit hls export`")
    if first == "vivado_hls":
        raise VitisUnsupported(f"vivado_hls {version or '(version unknown)'} found at {paths[first]} is the "
                               f"old Vivado HLS, which labkit does not drive; {fix}")
    if version is None:
        raise VitisUnsupported(f"{first} found at {paths[first]} printed no version with "
                               f"`{first} {dict(TOOLS)[first]}`: {fix}")
    if version not in HLS_FLOWS:
        raise VitisUnsupported(f"{first} {version} found at {paths[first]}, but {fix}")
    flow = HLS_FLOWS[version]
    if flow == "cfg" and "v++" in paths and "vitis-run" not in paths:
        raise VitisUnsupported(f"v++ {version} found at {paths['v++']}, but vitis-run (which packages the IP "
                               "in Vitis 2024.2 and later) is not on PATH: source the full Vitis settings64.sh "
                               "and rerun `labkit hls export`")
    if flow == "cfg" and "v++" in paths:
        comp = ("--config", CFG_NAME, "--work_dir", HLS_COMPONENT)
        commands = (("v++", "-c", "--mode", "hls") + comp, ("vitis-run", "--mode", "hls", "--package") + comp)
        return HlsTool(version, "cfg", CFG_NAME, commands, paths)
    if "vitis_hls" in paths:
        return HlsTool(version, "tcl", TCL_NAME, (("vitis_hls", "-f", TCL_NAME),), paths)
    if "vitis-run" in paths:   # the Tcl flow through vitis-run (hls4ml >= 1.2 runs its build so)
        return HlsTool(version, "tcl", TCL_NAME, (("vitis-run", "--mode", "hls", "--tcl", TCL_NAME),), paths)
    raise VitisUnsupported(f"v++ {version} found at {paths[first]}, but neither vitis_hls nor vitis-run is on "
                           "PATH to run the Tcl flow of this release: source the full Vitis settings64.sh and "
                           "rerun `labkit hls export`")


# ------------------------------------------------------------------------------------------
# the script (Tcl) and the config file (v++ / vitis-run)
# ------------------------------------------------------------------------------------------

#: C flags of both flows: relative include dir (the tools run in the hls4ml project folder)
CFLAGS = ("-std=c++14", "-Ifirmware", "-DLABKIT_VITIS_HEADERS")


def cfg_value(value) -> str:
    """``value`` as the value of one ``key=value`` line of hls_config.cfg.

    The format (v++'s config files) has no quoting: a value ends at the line's end, ``#`` starts a
    comment anywhere and surrounding blanks are dropped -- a value that needs any of those is
    refused with a sentence (the config labkit writes holds only relative paths and course.ini
    names, so this guards course.ini edits)."""
    value = str(value)
    bad = [c for c in ("\n", "\r", "#", "\0") if c in value]
    if bad or value != value.strip() or not value:
        raise ValueError(f"{value!r} cannot be written as a value of {CFG_NAME} (the v++ config format has no "
                         "quoting for a line break, '#' or surrounding blanks): change it in labkit/course.ini")
    return value


def _values(board: str, network: str) -> dict:
    return {
        "VLNV": CFG.vlnv, "TOP": CFG.hls_top, "NETWORK": network, "PART": CFG.board(board).part,
        "PERIOD_NS": f"{1000.0 / CFG.clock_mhz:g}", "VENDOR": CFG.vendor, "LIBRARY": CFG.library,
        "VERSION": CFG.ip_version, "CFLAGS": " ".join(CFLAGS),
    }


def build_tcl(board: str = CFG.default_board, ip_dir=None, network: str = "myproject") -> str:
    """Text of ``build_ip.tcl`` (Vitis 2023.2 / 2024.1); every name and number comes from CFG, every
    value is one Tcl word (:func:`labkit.emit.tcl_word`), the IP zip goes straight to ``ip_dir``."""
    ip_dir = Path(ip_dir) if ip_dir is not None else artifacts.hls_ip()
    values = {**_values(board, network), "HLS_PROJECT": HLS_PROJECT,
              "IP_ZIP": (Path(ip_dir).resolve() / f"{CFG.hls_top}.zip").as_posix()}
    return render(TEMPLATE.read_text(), values, what=TEMPLATE.name, quote=tcl_word)


def build_cfg(board: str = CFG.default_board, network: str = "myproject") -> str:
    """Text of ``hls_config.cfg`` (Vitis 2024.2 and later).  Every path in it is relative to the
    hls4ml project folder, where the file lies and the tools run, so no folder name (spaces,
    ``#``, quotes) of the user's ever reaches the unquotable config format; labkit copies the IP
    zip from there to the artifacts."""
    values = {**_values(board, network), "CFG_NAME": CFG_NAME, "COMPONENT": HLS_COMPONENT,
              "IP_ZIP": f"{CFG.hls_top}.zip"}
    return render(CFG_TEMPLATE.read_text(), values, what=CFG_TEMPLATE.name, quote=cfg_value)


def write_scripts(project_dir, board: str = CFG.default_board, ip_dir=None) -> Dict[str, Path]:
    """Write ``build_ip.tcl`` and ``hls_config.cfg`` into the hls4ml project (both, whatever Vitis is
    installed: an instructor can run either by hand)."""
    project_dir = Path(project_dir)
    out = {"tcl": project_dir / TCL_NAME, "cfg": project_dir / CFG_NAME}
    out["tcl"].write_text(build_tcl(board, ip_dir))
    out["cfg"].write_text(build_cfg(board))
    return out


# ------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------

def _number(value):
    if value is None:
        return None
    value = str(value).strip()
    if value in ("?", "-", ""):
        return "undef"          # data-dependent latency (the XML says 'undef', the text report '?')
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def _report(top, part, target, estimated, latency, resources, available) -> dict:
    for table in (resources, available):
        if "DSP48E" in table and "DSP" not in table:  # older tool versions
            table["DSP"] = table.pop("DSP48E")
    return {
        "top": top, "part": part, "target_clock_ns": _number(target), "estimated_clock_ns": _number(estimated),
        "latency_best": _number(latency[0]), "latency_worst": _number(latency[1]),
        "interval_min": _number(latency[2]), "interval_max": _number(latency[3]),
        "LUT": resources.get("LUT"), "FF": resources.get("FF"), "DSP": resources.get("DSP"),
        "BRAM_18K": resources.get("BRAM_18K"), "available": available,
    }


def parse_csynth_xml(path) -> dict:
    """Latency, II, clock and resources from a Vitis HLS ``csynth.xml`` (top-level report; both flows)."""
    root = ET.parse(path).getroot()

    def text(xpath):
        node = root.find(xpath)
        return node.text.strip() if node is not None and node.text else None

    def table(xpath):
        node = root.find(xpath)
        return {child.tag: _number(child.text) for child in (node if node is not None else [])}

    lat = "./PerformanceEstimates/SummaryOfOverallLatency/"
    return _report(text("./UserAssignments/TopModelName"), text("./UserAssignments/Part"),
                   text("./UserAssignments/TargetClockPeriod"),
                   text("./PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
                   [text(lat + k) for k in ("Best-caseLatency", "Worst-caseLatency", "Interval-min", "Interval-max")],
                   table("./AreaEstimates/Resources"), table("./AreaEstimates/AvailableResources"))


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_csynth_rpt(path) -> dict:
    """The same dict from the text report ``<top>_csynth.rpt`` (the Performance Estimates and
    Utilization Estimates tables), for a run that wrote no XML."""
    text = Path(path).read_text(errors="replace")
    lines = text.splitlines()
    top = re.search(r"Report for '([^']+)'", text)
    part = re.search(r"^\s*\*\s*Target device:\s*(\S+)", text, re.M)
    clock = re.search(r"^\s*\|\s*ap_clk\s*\|\s*([\d.]+)\s*ns\s*\|\s*([\d.]+)\s*ns\s*\|", text, re.M)
    latency = [None] * 4
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("+ Latency:")), None)
    if start is not None:
        for ln in lines[start:]:
            cells = _cells(ln) if ln.strip().startswith("|") else []
            if len(cells) >= 6 and re.fullmatch(r"\d+|\?", cells[0]):
                latency = [cells[0], cells[1], cells[4], cells[5]]
                break
    resources, available, names = {}, {}, None
    util = next((i for i, ln in enumerate(lines) if "== Utilization Estimates" in ln), None)
    for ln in lines[util or 0:] if util is not None else []:
        if not ln.strip().startswith("|"):
            continue
        cells = _cells(ln)
        if names is None and cells and cells[0] == "Name":
            names = cells[1:]
        elif names is not None and cells[0] in ("Total", "Available"):
            row = {n: _number(v) for n, v in zip(names, cells[1:])}
            (resources if cells[0] == "Total" else available).update(row)
            if cells[0] == "Available":
                break
    if clock is None or latency[0] is None or not resources:
        raise ValueError(f"{path} is not a Vitis HLS synthesis report (no ap_clk timing, latency or utilization "
                         "table found): give the <top>_csynth.rpt of a finished C synthesis")
    return _report(top.group(1) if top else None, part.group(1) if part else None, clock.group(1),
                   clock.group(2), latency, resources, available)


def find_report(report_dirs, top: str = CFG.hls_top) -> Optional[Path]:
    """The top-level synthesis report in ``report_dirs``: csynth.xml, <top>_csynth.xml, then the
    text reports; None when synthesis wrote none."""
    for name in ("csynth.xml", f"{top}_csynth.xml", f"{top}_csynth.rpt", "csynth.rpt"):
        for folder in report_dirs:
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    return None


def parse_report(path) -> dict:
    """:func:`parse_csynth_xml` or :func:`parse_csynth_rpt`, by the file's suffix."""
    return parse_csynth_xml(path) if Path(path).suffix == ".xml" else parse_csynth_rpt(path)


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


# ------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------

def export_ip(project_dir=None, board: str = CFG.default_board, ip_dir=None, quiet: bool = False,
              strict: bool = False, which: Optional[Callable[[str], Optional[str]]] = None):
    """Write build_ip.tcl and hls_config.cfg into the hls4ml project and run the Vitis HLS on PATH
    with the flow of its version (:func:`find_vitis`).

    Returns the parsed csynth report (dict), or None with one sentence printed when there is no
    Vitis HLS (and, unless ``strict`` -- as ``labkit hls export`` runs it --, when the one found is
    not supported; with ``strict`` that raises :class:`VitisUnsupported`).
    """
    project_dir = Path(project_dir) if project_dir is not None else artifacts.hls_project()
    fw = project_dir / "firmware"
    if not (fw / f"{CFG.hls_top}.cpp").is_file():
        raise FileNotFoundError(f"{fw}/{CFG.hls_top}.cpp missing: run `labkit hls convert` first")
    ip_dir = Path(ip_dir) if ip_dir is not None else artifacts.hls_ip(create=True)
    ip_dir.mkdir(parents=True, exist_ok=True)
    write_scripts(project_dir, board, ip_dir)
    try:
        tool = find_vitis(which)
    except FileNotFoundError as err:
        print(err)
        return None
    except VitisUnsupported as err:
        if strict:
            raise
        print(err)
        return None
    if not quiet:
        print(f"Vitis HLS {tool.version} ({tool.script}): {tool.describe()}  (in {project_dir}; this takes minutes) ...")
    # a report or IP left by an earlier run must not pass for this one's
    shutil.rmtree(project_dir / (HLS_COMPONENT if tool.flow == "cfg" else HLS_PROJECT), ignore_errors=True)
    zip_here = project_dir / f"{CFG.hls_top}.zip"
    if tool.flow == "cfg" and zip_here.is_file():
        zip_here.unlink()
    log = ip_dir / LOG_NAME
    with open(log, "w") as fh:
        for cmd in tool.commands:
            fh.write(f"$ {' '.join(shlex.quote(a) for a in cmd)}\n")
            fh.flush()
            proc = subprocess.run([tool.paths.get(cmd[0], cmd[0]), *cmd[1:]], cwd=project_dir, stdout=fh,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise RuntimeError(f"Vitis HLS {tool.version} failed in `{' '.join(cmd)}` (exit {proc.returncode}); "
                                   f"see {log}")
    report_path = find_report(tool.report_dirs(project_dir))
    if report_path is None:
        raise RuntimeError(f"Vitis HLS {tool.version} finished but wrote no synthesis report in "
                           f"{' or '.join(map(str, tool.report_dirs(project_dir)))}; see {log}")
    report = parse_report(report_path)
    shutil.copyfile(report_path, ip_dir / ("csynth.xml" if report_path.suffix == ".xml" else "csynth.rpt"))
    if tool.flow == "cfg":   # package.output.file is relative: the zip lands in the project folder
        zips = [zip_here, project_dir / HLS_COMPONENT / zip_here.name, project_dir / HLS_COMPONENT / "hls" / zip_here.name]
        found = next((z for z in zips if z.is_file()), None)
        if found is not None:
            shutil.copyfile(found, ip_dir / zip_here.name)
    unpacked = next((d for d in tool.ip_dirs(project_dir) if d.is_dir()), None)
    if unpacked is not None:  # the unzipped IP repository Vivado's ip_repo_paths points at
        shutil.copytree(unpacked, ip_dir / CFG.hls_top, dirs_exist_ok=True)
    if not (ip_dir / zip_here.name).is_file() and unpacked is None:
        raise RuntimeError(f"Vitis HLS {tool.version} synthesised the IP but exported none (no {zip_here.name}, no "
                           f"impl/ip folder); see {log}")
    if not quiet:
        print(report_table(report))
    return report
