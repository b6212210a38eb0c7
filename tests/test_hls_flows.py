"""``labkit hls export`` by Vitis version, with stub tools on PATH (no Vitis here).

Each stub (a small Python script written into tmp) prints the version banner the real tool
prints, records its arguments and working folder, and where the real tool would write them writes
a sample synthesis report and the exported IP: ``vitis_hls -f`` / ``vitis-run --tcl`` run the
generated Tcl in tclsh with the HLS commands stubbed (so the Tcl is parsed as Vitis would parse
it), ``v++ -c --mode hls`` / ``vitis-run --package`` read hls_config.cfg as v++ reads a config file
(``#`` starts a comment anywhere, a value runs to the end of the line).

Covered: vitis_hls 2023.2 / 2024.1 (Tcl), v++ 2024.2 / 2025.1 / 2025.2 (config), vitis-run 2025.2
alone (Tcl through vitis-run), both report formats, and one sentence for vivado_hls, Vitis 2022.2,
a half install and no tool at all.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.config import CFG
from labkit.hls import vitis

ROOT = Path(__file__).resolve().parents[1]
TCLSH = shutil.which("tclsh") or shutil.which("tclsh8.6")
needs_tclsh = pytest.mark.skipif(TCLSH is None, reason="needs tclsh (the Tcl flow's stub runs the script in it)")
HOSTILE = 'a b [exec touch PWNED] $HOME " ;x'

BANNERS = {
    "vitis_hls": ("****** Vitis HLS - High-Level Synthesis from C, C++ and OpenCL v{v}.2 (64-bit)\n"
                  "  **** SW Build 4101106 on Feb  9 2024\n"
                  "    ** Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.\n"),
    "v++": ("Option Map File Used: '/tools/Xilinx/Vitis/{v}/data/vitis/vpp/optMap.xml'\n\n"
            "****** v++ v{v} (64-bit)\n  **** SW Build 5238294 on 2024-11-07-22:22:22\n"
            "    ** Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.\n"),
    "vitis-run": ("****** vitis-run v{v} (64-bit)\n  **** SW Build 6295257 on 2025-11-13-08:29:27\n"
                  "  **** Start of session at: Tue Sep 29 11:23:19 2026\n"
                  "    ** Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.\n"
                  "    ** Copyright 2022-2025 Advanced Micro Devices, Inc. All Rights Reserved.\n"
                  "  **** HLS Build v{v} 6295257\n"),
    "vivado_hls": ("****** Vivado(TM) HLS - High-Level Synthesis from C, C++ and SystemC v{v} (64-bit)\n"
                   "  **** SW Build 2708876 on Wed Nov  6 21:39:14 MST 2019\n"
                   "Tool Version Limit: 2019.11\n"),
}

CSYNTH_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>{v}</Version></ReportVersion>
  <UserAssignments>
    <Part>{part}</Part><TopModelName>{top}</TopModelName><TargetClockPeriod>10.00</TargetClockPeriod>
  </UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>7.117</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <Best-caseLatency>1</Best-caseLatency><Worst-caseLatency>393216</Worst-caseLatency>
      <Interval-min>2</Interval-min><Interval-max>393217</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>0</BRAM_18K><DSP>12</DSP><FF>6120</FF><LUT>15873</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""

CSYNTH_RPT = """\
================================================================
== Vitis HLS Report for '{top}'
================================================================
* Date:           Tue Sep 29 11:40:02 2026

* Version:        {v} (Build 6295257 on Nov 13 2025)
* Project:        labkit_ip_comp
* Solution:       hls (Vivado IP Flow Target)
* Product family: zynq
* Target device:  {part}


================================================================
== Performance Estimates
================================================================
+ Timing:
    * Summary:
    +--------+----------+----------+------------+
    |  Clock |  Target  | Estimated| Uncertainty|
    +--------+----------+----------+------------+
    |ap_clk  |  10.00 ns|  7.117 ns|     2.70 ns|
    +--------+----------+----------+------------+

+ Latency:
    * Summary:
    +---------+---------+-----------+----------+-----+--------+---------+
    |  Latency (cycles) |   Latency (absolute)  |    Interval    | Pipeline|
    |   min   |   max   |    min    |    max   | min |   max  |   Type  |
    +---------+---------+-----------+----------+-----+--------+---------+
    |        1|   393216|  10.000 ns|  3.932 ms|    2|  393217|       no|
    +---------+---------+-----------+----------+-----+--------+---------+

================================================================
== Utilization Estimates
================================================================
* Summary:
+-----------------+---------+-------+--------+--------+-----+
|       Name      | BRAM_18K|  DSP  |   FF   |   LUT  | URAM|
+-----------------+---------+-------+--------+--------+-----+
|DSP              |        -|      -|       -|       -|    -|
|Instance         |        0|     12|    5120|   14873|    -|
|Register         |        -|      -|    1000|       -|    -|
+-----------------+---------+-------+--------+--------+-----+
|Total            |        0|     12|    6120|   15873|    0|
+-----------------+---------+-------+--------+--------+-----+
|Available        |      280|    220|  106400|   53200|    0|
+-----------------+---------+-------+--------+--------+-----+
|Utilization (%)  |        0|      5|       5|      29|    0|
+-----------------+---------+-------+--------+--------+-----+
"""

EXPECTED = {"latency_best": 1, "latency_worst": 393216, "interval_min": 2, "interval_max": 393217,
            "LUT": 15873, "FF": 6120, "DSP": 12, "BRAM_18K": 0, "target_clock_ns": 10.0, "estimated_clock_ns": 7.117}

#: the Tcl prelude of the Tcl-flow stubs: every HLS command records its words, exit prints them
TCL_PRELUDE = r"""
set calls {}
foreach c {open_project set_top add_files open_solution set_part create_clock csynth_design export_design} {
    proc $c args "lappend ::calls \[linsert \$args 0 $c\]"
}
rename exit real_exit
proc exit args { foreach c $::calls { puts [join $c \x1f] }; real_exit 0 }
source [lindex $argv 0]
"""

#: the stub tool; NAME, VERSION, BANNER, LOG, REPORT ("xml" / "rpt"), FAIL, TCLSH, PRELUDE filled in
STUB = r'''#!{python}
import json, os, sys, subprocess, zipfile
from pathlib import Path
NAME, VERSION, LOG, REPORT, FAIL = {name!r}, {version!r}, {log!r}, {report!r}, {fail!r}
TCLSH, PRELUDE, BANNER = {tclsh!r}, {prelude!r}, {banner!r}
XML, RPT = {xml!r}, {rpt!r}
args = sys.argv[1:]
entry = {{"tool": NAME, "args": args, "cwd": os.getcwd()}}

def record():
    with open(LOG, "a") as fh:
        fh.write(json.dumps(entry) + "\n")

def opt(flag):
    return args[args.index(flag) + 1]

def report(folder, top, part):
    folder.mkdir(parents=True, exist_ok=True)
    if REPORT == "xml":
        (folder / "csynth.xml").write_text(XML.format(v=VERSION, top=top, part=part))
    (folder / (top + "_csynth.rpt")).write_text(RPT.format(v=VERSION, top=top, part=part))

def ip(zip_path, ip_dir):
    ip_dir.mkdir(parents=True, exist_ok=True)
    (ip_dir / "component.xml").write_text("<!-- stub IP -->\n")
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("component.xml", "<!-- stub IP -->\n")

def read_cfg(path):
    """as v++ reads a config file: '#' starts a comment anywhere, key=value, [section] prefixes keys"""
    out, section = {{}}, ""
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1] + "."
            continue
        key, _, value = line.partition("=")
        out.setdefault(section + key.strip(), []).append(value.strip())
    return out

if args in (["--version"], ["-version"], ["-v"]):
    record()
    print(BANNER, end="")
    sys.exit(0)
if FAIL:
    record()
    print("ERROR: [HLS 200-70] stub failure", file=sys.stderr)
    sys.exit(1)
if (NAME == "vitis_hls" and args[:1] == ["-f"]) or (NAME == "vitis-run" and "--tcl" in args):
    script = opt("-f") if NAME == "vitis_hls" else opt("--tcl")
    out = subprocess.run([TCLSH, PRELUDE, script], capture_output=True, text=True, check=True).stdout
    calls = [line.split("\x1f") for line in out.splitlines()]
    entry["tcl_calls"] = calls
    first = {{c[0]: c[1:] for c in reversed(calls)}}
    prj = Path(first["open_project"][-1])
    sol = prj / [a for a in first["open_solution"] if not a.startswith("-")][0]
    top, part = first["set_top"][0], first["set_part"][0]
    if "csynth_design" in first:
        report(sol / "syn" / "report", top, part)
    exp = first.get("export_design")
    if exp:
        ip(Path(exp[exp.index("-output") + 1]), sol / "impl" / "ip")
    record()
    sys.exit(0)
if NAME == "v++" and args[:4] == ["-c", "--mode", "hls", "--config"] or NAME == "vitis-run" and "--package" in args:
    cfg = read_cfg(opt("--config"))
    entry["cfg"] = cfg
    work = Path(opt("--work_dir"))
    top, part = cfg["hls.syn.top"][0], cfg["part"][0]
    for f in cfg["hls.syn.file"]:
        assert Path(f).is_file(), f          # relative to the config's folder = the working folder
    if NAME == "v++":
        report(work / "hls" / "syn" / "report", top, part)
    else:
        if not (work / "hls" / "syn").is_dir():
            print("ERROR: no synthesized HLS component in " + str(work), file=sys.stderr)
            sys.exit(1)
        assert cfg["hls.package.output.format"] == ["ip_catalog"]
        ip(Path(cfg["hls.package.output.file"][0]), work / "hls" / "impl" / "ip")
    record()
    sys.exit(0)
record()
print("stub " + NAME + ": unexpected arguments " + repr(args), file=sys.stderr)
sys.exit(2)
'''


def make_stubs(folder: Path, tools: dict, report: str = "xml", fail=()) -> Path:
    """Stub executables ``{name: version}`` in ``folder``/bin; returns the log they append to."""
    bindir = folder / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.jsonl"
    prelude = folder / "prelude.tcl"
    prelude.write_text(TCL_PRELUDE)
    for name, version in tools.items():
        exe = bindir / name
        exe.write_text(STUB.format(python=sys.executable, name=name, version=version, log=str(log),
                                   report=report, fail=name in fail, tclsh=TCLSH, prelude=str(prelude),
                                   banner=BANNERS[name].format(v=version), xml=CSYNTH_XML, rpt=CSYNTH_RPT))
        exe.chmod(0o755)
    return log


def calls(log: Path) -> list:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def make_project(folder: Path) -> Path:
    prj = folder / "prj"
    (prj / "firmware").mkdir(parents=True)
    for name in (f"{CFG.hls_top}.cpp", "myproject.cpp"):
        (prj / "firmware" / name).write_text("// stub source\n")
    return prj


def labkit_export(prj, stubs: Path, artifacts: Path, *extra):
    """``labkit hls export`` as a user runs it, with only the stub folder on PATH."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0", LABKIT_FAST="1",
               LABKIT_ARTIFACTS=str(artifacts), PATH=str(stubs / "bin"))
    env.pop("LABKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "labkit", "hls", "export", "--project", str(prj), *extra],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def one_sentence(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# ------------------------------------------------------------------------------------------
# the table, the version banners, the config format
# ------------------------------------------------------------------------------------------

def test_every_course_vivado_release_has_an_hls_flow():
    assert set(CFG.vivado_versions) <= set(vitis.HLS_FLOWS)
    assert {"2023.2", "2024.1", "2024.2", "2025.1", "2025.2"} <= set(vitis.HLS_FLOWS)
    assert set(vitis.HLS_FLOWS.values()) == {"tcl", "cfg"}
    assert vitis.supported_versions() == "2023.2, 2024.1, 2024.2, 2025.1 or 2025.2"


@pytest.mark.parametrize("name,version", [("vitis_hls", "2023.2"), ("v++", "2024.2"), ("vitis-run", "2025.2"),
                                          ("vivado_hls", "2019.2")])
def test_version_banner(tmp_path, name, version):
    """v2023.2.2 is release 2023.2; 'Copyright 1986-2022' and 'Tool Version Limit: 2019.11' are not versions."""
    make_stubs(tmp_path, {name: version})
    flag = dict(vitis.TOOLS)[name]
    assert vitis.tool_version(str(tmp_path / "bin" / name), flag) == version


def test_cfg_value_refuses_what_the_config_format_cannot_hold():
    assert vitis.cfg_value("xc7z020clg400-1") == "xc7z020clg400-1"
    for bad in ("a#b", "a\nb", " lead", "trail ", ""):
        with pytest.raises(ValueError, match="hls_config.cfg"):
            vitis.cfg_value(bad)


def test_generated_scripts_from_course_ini():
    tcl = vitis.build_tcl("kv260", "/tmp/ip")
    assert f"set_part {CFG.board('kv260').part}" in tcl and "export_design -format ip_catalog" in tcl
    cfg = vitis.build_cfg("kv260")
    lines = [ln for ln in cfg.splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == f"part={CFG.board('kv260').part}" and lines[1] == "[hls]"
    for line in ("flow_target=vivado", f"clock={1000 / CFG.clock_mhz:g}ns", f"syn.top={CFG.hls_top}",
                 f"syn.file=firmware/{CFG.hls_top}.cpp", "syn.file=firmware/myproject.cpp",
                 "syn.cflags=-std=c++14 -Ifirmware -DLABKIT_VITIS_HEADERS", "package.output.format=ip_catalog",
                 f"package.output.file={CFG.hls_top}.zip", f"package.ip.vendor={CFG.vendor}",
                 f"package.ip.library={CFG.library}", f"package.ip.name={CFG.hls_top}",
                 f"package.ip.version={CFG.ip_version}"):
        assert line in lines, line
    assert "@" not in "".join(lines)
    values = [ln.partition("=")[2] for ln in lines if "=" in ln]
    assert not any(v.startswith("/") or " /" in v or "-I/" in v for v in values)   # no absolute path


def test_rpt_and_xml_parse_to_the_same_dict(tmp_path):
    values = dict(v="2025.1", top=CFG.hls_top, part="xc7z020-clg400-1")
    (tmp_path / "csynth.xml").write_text(CSYNTH_XML.format(**values))
    (tmp_path / "top_csynth.rpt").write_text(CSYNTH_RPT.format(**values))
    xml = vitis.parse_report(tmp_path / "csynth.xml")
    rpt = vitis.parse_report(tmp_path / "top_csynth.rpt")
    assert xml == rpt
    assert {k: xml[k] for k in EXPECTED} == EXPECTED and xml["top"] == CFG.hls_top
    assert xml["available"]["LUT"] == 53200
    (tmp_path / "not.rpt").write_text("hello\n")
    with pytest.raises(ValueError, match="not a Vitis HLS synthesis report"):
        vitis.parse_report(tmp_path / "not.rpt")


# ------------------------------------------------------------------------------------------
# the three flows, run as a user runs them
# ------------------------------------------------------------------------------------------

FLOWS = [
    # tools on PATH, report format, expected flow, the commands labkit runs (after the version probe)
    ({"vitis_hls": "2023.2"}, "xml", "tcl", [("vitis_hls", ["-f", "build_ip.tcl"])]),
    # a 2024.1 install has all three; vitis_hls runs the Tcl
    ({"vitis-run": "2024.1", "v++": "2024.1", "vitis_hls": "2024.1"}, "xml", "tcl",
     [("vitis_hls", ["-f", "build_ip.tcl"])]),
    ({"vitis-run": "2024.2", "v++": "2024.2"}, "xml", "cfg", None),
    ({"vitis-run": "2025.1", "v++": "2025.1"}, "rpt", "cfg", None),
    ({"vitis-run": "2025.2", "v++": "2025.2"}, "xml", "cfg", None),
    # vitis-run alone: the Tcl through vitis-run (as hls4ml >= 1.2 builds)
    ({"vitis-run": "2025.2"}, "xml", "tcl", [("vitis-run", ["--mode", "hls", "--tcl", "build_ip.tcl"])]),
]
CFG_RUNS = [("v++", ["-c", "--mode", "hls", "--config", "hls_config.cfg", "--work_dir", "labkit_ip_comp"]),
            ("vitis-run", ["--mode", "hls", "--package", "--config", "hls_config.cfg", "--work_dir", "labkit_ip_comp"])]


@needs_tclsh
@pytest.mark.parametrize("tools,report,flow,runs", FLOWS,
                         ids=["+".join(f"{k}-{v}" for k, v in f[0].items()) + f"-{f[1]}" for f in FLOWS])
def test_export_flow(tmp_path, tools, report, flow, runs):
    log = make_stubs(tmp_path / "stubs", tools, report=report)
    prj = make_project(tmp_path)
    art = tmp_path / "art"
    proc = labkit_export(prj, tmp_path / "stubs", art, "--board", "kv260")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    version = next(iter(tools.values()))
    first = next(exe for exe, _ in vitis.TOOLS if exe in tools)
    recorded = calls(log)
    # one version probe of the first tool found, then the runs of this release's flow
    assert (recorded[0]["tool"], recorded[0]["args"]) == (first, [dict(vitis.TOOLS)[first]])
    runs = runs or CFG_RUNS
    assert [(c["tool"], c["args"]) for c in recorded[1:]] == runs
    assert all(Path(c["cwd"]) == prj for c in recorded[1:])
    head = proc.stdout.splitlines()[0]
    assert head.startswith(f"Vitis HLS {version} ({'build_ip.tcl' if flow == 'tcl' else 'hls_config.cfg'}):")
    # both scripts are written whatever runs
    assert (prj / "build_ip.tcl").is_file() and (prj / "hls_config.cfg").is_file()
    ip = art / "hls" / "ip"
    if flow == "tcl":
        tcl_calls = {c[0]: c[1:] for c in recorded[-1]["tcl_calls"]}
        assert tcl_calls["set_part"] == [CFG.board("kv260").part]
        assert tcl_calls["set_top"] == [CFG.hls_top]
        exp = tcl_calls["export_design"]
        assert exp[exp.index("-output") + 1] == str((ip / f"{CFG.hls_top}.zip").resolve())
        assert exp[exp.index("-format") + 1] == "ip_catalog"
    else:
        cfg = recorded[1]["cfg"]
        assert cfg["part"] == [CFG.board("kv260").part] and cfg["hls.syn.top"] == [CFG.hls_top]
        assert cfg["hls.syn.file"] == [f"firmware/{CFG.hls_top}.cpp", "firmware/myproject.cpp"]
        assert cfg["hls.clock"] == [f"{1000 / CFG.clock_mhz:g}ns"]
        assert cfg["hls.package.output.format"] == ["ip_catalog"]
        assert cfg["hls.package.output.file"] == [f"{CFG.hls_top}.zip"]
    # the parsed report is printed, copied beside the IP, and the IP is where Vivado looks
    assert "393216" in proc.stdout and "15873 / 53200 (29.8 %)" in proc.stdout
    assert (ip / ("csynth.xml" if report == "xml" else "csynth.rpt")).is_file()
    assert (ip / f"{CFG.hls_top}.zip").is_file() and (ip / CFG.hls_top / "component.xml").is_file()
    assert "$ " in (ip / vitis.LOG_NAME).read_text()


@pytest.mark.parametrize("tools,sentence", [
    ({"vivado_hls": "2019.2"}, "vivado_hls 2019.2 found at"),
    ({"vitis_hls": "2022.2"}, "vitis_hls 2022.2 found at"),
    ({"vitis-run": "2026.1", "v++": "2026.1"}, "vitis-run 2026.1 found at"),
])
def test_unsupported_release_is_one_sentence(tmp_path, tools, sentence):
    log = make_stubs(tmp_path / "stubs", tools)
    prj = make_project(tmp_path)
    proc = labkit_export(prj, tmp_path / "stubs", tmp_path / "art")
    assert proc.returncode == 1
    line = one_sentence(proc.stderr)
    assert sentence in line and "2023.2, 2024.1, 2024.2, 2025.1 or 2025.2" in line and "settings64.sh" in line
    assert [c["args"] for c in calls(log)] == [[dict(vitis.TOOLS)[next(iter(tools))]]]   # only the probe ran


def test_no_vitis_is_one_sentence_and_the_course_goes_on(tmp_path):
    (tmp_path / "stubs" / "bin").mkdir(parents=True)
    prj = make_project(tmp_path)
    proc = labkit_export(prj, tmp_path / "stubs", tmp_path / "art")
    assert proc.returncode == 0 and proc.stderr == ""
    line = one_sentence(proc.stdout)
    assert line == vitis.skip_sentence()
    assert line.startswith("Vitis HLS not found:") and "the course continues with the C simulation" in line
    assert (prj / "build_ip.tcl").is_file() and (prj / "hls_config.cfg").is_file()


def test_half_install_and_failed_run(tmp_path):
    log = make_stubs(tmp_path / "a", {"v++": "2025.1"})
    prj = make_project(tmp_path)
    proc = labkit_export(prj, tmp_path / "a", tmp_path / "art")
    assert proc.returncode == 1 and "vitis-run (which packages the IP" in one_sentence(proc.stderr)
    log = make_stubs(tmp_path / "b", {"vitis-run": "2025.1", "v++": "2025.1"}, fail=("v++",))
    proc = labkit_export(prj, tmp_path / "b", tmp_path / "art")
    assert proc.returncode == 1
    line = one_sentence(proc.stderr)
    assert "failed in `v++ -c --mode hls --config hls_config.cfg --work_dir labkit_ip_comp` (exit 1)" in line
    assert "stub failure" in (tmp_path / "art" / "hls" / "ip" / vitis.LOG_NAME).read_text()
    assert [c["tool"] for c in calls(log)] == ["vitis-run", "v++"]     # packaging never ran


def test_lab_prints_the_unsupported_sentence_and_returns_none(tmp_path, capsys):
    """In lab 04 (export_ip without strict) an unsupported Vitis is printed, not raised."""
    make_stubs(tmp_path / "stubs", {"vitis_hls": "2022.2"})
    prj = make_project(tmp_path)
    which = lambda name: str(tmp_path / "stubs" / "bin" / name) if (tmp_path / "stubs" / "bin" / name).exists() else None
    assert vitis.export_ip(prj, ip_dir=tmp_path / "ip", which=which) is None
    assert "vitis_hls 2022.2 found at" in one_sentence(capsys.readouterr().out)


@needs_tclsh
def test_config_flow_under_a_hostile_path(tmp_path):
    """Project and artifacts under a folder name with blanks, brackets, $ and quotes: the config holds
    no path of the user's, the tools run in the project, and the IP reaches the artifacts."""
    base = tmp_path / HOSTILE
    log = make_stubs(tmp_path / "stubs", {"vitis-run": "2025.2", "v++": "2025.2"})
    prj = make_project(base)
    art = base / "art"
    proc = labkit_export(prj, tmp_path / "stubs", art)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert HOSTILE not in (prj / "hls_config.cfg").read_text()
    assert all(Path(c["cwd"]) == prj for c in calls(log)[1:])
    assert (art / "hls" / "ip" / f"{CFG.hls_top}.zip").is_file()
    assert not list(tmp_path.rglob("PWNED"))
