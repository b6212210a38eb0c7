"""Stage 4: hw/build_overlay.tcl, checked without Vivado.

The real build script runs in plain tclsh against recording Vivado stubs (hw/stubs); the
recorded block design is checked for both boards with labkit.blockdesign.run_checks (named checks,
the same lab 05 and ``labkit overlay`` use; the tests match on check names, never on message
text), plus negative tests: a copy of the script with one connection removed must fail the
specific named check.  The same for the RTL twin in place of the HLS IP (4th script argument
rtl): a module-reference cell, its Verilog files from sources.f, the same wiring.  The real build
runs only where Vivado is on PATH.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labkit import blockdesign
from labkit import artifacts
from labkit.config import CFG, INI_PATH, artifacts_dir, load

BOARDS = list(CFG.boards)
HAVE_TCLSH = shutil.which("tclsh") is not None or shutil.which("tclsh8.6") is not None
needs_tclsh = pytest.mark.skipif(not HAVE_TCLSH, reason="tclsh not found: install Tcl 8.6 (apt-get install tcl)")


@pytest.fixture(scope="module", params=BOARDS)
def recorded(request):
    if not HAVE_TCLSH:
        pytest.skip("tclsh not found: install Tcl 8.6 (apt-get install tcl)")
    board = request.param
    return board, blockdesign.record_design(board)


def _net_driver(record, pin):
    for net in record["nets"]:
        if pin in net["pins"]:
            return net["driver"]
    return None


def _failed(record, board):
    """The failed checks of a record, by name."""
    return {c.name: c for c in blockdesign.failed(blockdesign.run_checks(record, board))}


def _is_sentence(text):
    return isinstance(text, str) and len(text.split()) >= 3 and text.rstrip().endswith(".")


def _copy_hw(tmp_path: Path) -> Path:
    """A private copy of hw/build_overlay.tcl to edit."""
    dst = tmp_path / "hw"
    dst.mkdir()
    for name in ("build_overlay.tcl",):
        shutil.copy(blockdesign.HW_DIR / name, dst / name)
    return dst / "build_overlay.tcl"


# -- the recorded design, both boards -----------------------------------------------------------

def test_design_passes_all_checks(recorded):
    board, record = recorded
    assert record["exit_code"] == 0, record["stderr"]
    assert _failed(record, board) == {}


NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def test_checks_are_named_records(recorded):
    """One record per check, passed or not: stable snake_case <group>.<check> names, the same list
    for every design (also a broken one), groups in GROUPS order; a passed check has no fix."""
    board, record = recorded
    checks = blockdesign.run_checks(record, board)
    names = [c.name for c in checks]
    assert len(names) == len(set(names)) and all(NAME.match(n) for n in names), names
    groups = [g for g, _, _ in blockdesign.GROUPS]
    assert [g for g in groups if any(c.group == g for c in checks)] == groups
    assert [c.group for c in checks] == sorted((c.group for c in checks), key=groups.index)
    assert "dma.length_width_fits_batch" in names
    for c in checks:
        assert c.passed and _is_sentence(c.message) and c.fix == "", c
    assert [c.name for c in blockdesign.run_checks(blockdesign.record_design("kv260"), "kv260")] == names
    broken = dict(record, cells={k: v for k, v in record["cells"].items() if k != CFG.dma_name}, intf_nets=[])
    assert [c.name for c in blockdesign.run_checks(broken, board)] == names
    with pytest.raises(KeyError, match="choose one of"):
        blockdesign.run_checks(record, "zedboard")


def test_project_part_and_board_part_from_ini(recorded):
    board, record = recorded
    b = CFG.board(board)
    assert record["project"]["part"] == b.part
    assert record["project"]["board_part"] == b.board_part
    assert record["project"]["ip_repo_paths"], "the IP repository must be added"
    assert record["catalog_updates"] >= 1


def test_cells_and_vlnvs(recorded):
    board, record = recorded
    cells = record["cells"]
    assert cells[CFG.ip_name]["vlnv"] == CFG.vlnv
    assert cells[CFG.dma_name]["vlnv"].startswith("xilinx.com:ip:axi_dma")
    ps = blockdesign.cell_roles(record, board)["ps"]
    assert cells[ps]["vlnv"].startswith(CFG.board(board).ps_vlnv)
    assert any(c["vlnv"].startswith("xilinx.com:ip:proc_sys_reset") for c in cells.values())


def test_streams_between_dma_and_ip(recorded):
    _, record = recorded
    nets = {(n["master"], n["slave"]) for n in record["intf_nets"]}
    assert (f"{CFG.dma_name}/M_AXIS_MM2S", f"{CFG.ip_name}/{CFG.ip_in_stream}") in nets
    assert (f"{CFG.ip_name}/{CFG.ip_out_stream}", f"{CFG.dma_name}/S_AXIS_S2MM") in nets


def test_registers_reachable_from_ps_master(recorded):
    board, record = recorded
    ps = blockdesign.cell_roles(record, board)["ps"]
    reach = blockdesign.checks._reachable(record, f"{ps}/{CFG.board(board).ps_master}")
    assert f"{CFG.dma_name}/S_AXI_LITE" in reach
    assert f"{CFG.ip_name}/{CFG.ip_ctrl}" in reach


def test_dma_memory_ports_reach_hp_slave(recorded):
    board, record = recorded
    ps = blockdesign.cell_roles(record, board)["ps"]
    for master in ("M_AXI_MM2S", "M_AXI_S2MM"):
        assert f"{ps}/{CFG.board(board).hp_slave}" in blockdesign.checks._reachable(record, f"{CFG.dma_name}/{master}")


def test_every_clock_and_reset_pin_driven(recorded):
    board, record = recorded
    ps = blockdesign.cell_roles(record, board)["ps"]
    pl_clk = f"{ps}/{CFG.board(board).pl_clk}"
    checked = 0
    for cell, info in record["cells"].items():
        for name, pin in info["pins"].items():
            if pin["dir"] != "in" or not pin["required"]:
                continue
            driver = _net_driver(record, f"{cell}/{name}")
            if pin["type"] == "clk":
                assert driver == pl_clk, f"{cell}/{name} driven by {driver}"
                checked += 1
            elif pin["type"] == "rst":
                assert driver is not None, f"{cell}/{name} undriven"
                checked += 1
    # PS master + HP clocks, 3 DMA clocks, ap_clk, 2 interconnect clocks, slowest_sync_clk = 9 clocks;
    # axi_resetn, ap_rst_n, 2 interconnect resets, ext_reset_in = 5 resets
    assert checked == 14
    assert _net_driver(record, f"{CFG.ip_name}/{CFG.ip_resetn}").endswith("/peripheral_aresetn")
    assert _net_driver(record, "rst_pl/ext_reset_in") == f"{ps}/{CFG.board(board).pl_resetn}"


def test_addresses_for_both_control_slaves(recorded):
    board, record = recorded
    ps = blockdesign.cell_roles(record, board)["ps"]
    ps_space = [a for a in record["addresses"] if a["space"] == f"{ps}/Data"]
    slaves = {a["slave"].rsplit("/", 1)[0] for a in ps_space}
    assert slaves == {f"{CFG.dma_name}/S_AXI_LITE", f"{CFG.ip_name}/{CFG.ip_ctrl}"}
    assert len({a["offset"] for a in ps_space}) == 2
    for space in ("Data_MM2S", "Data_S2MM"):
        assert any(a["space"] == f"{CFG.dma_name}/{space}" for a in record["addresses"])


def test_dma_configuration(recorded):
    board, record = recorded
    cfg = record["cells"][CFG.dma_name]["config"]
    assert cfg["c_include_sg"] == "0"
    assert cfg["c_sg_include_stscntrl_strm"] == "0"
    assert int(cfg["c_sg_length_width"]) == CFG.dma_length_width
    assert int(cfg["c_addr_width"]) == CFG.board(board).dma_addr_width
    for key in ("c_m_axi_mm2s_data_width", "c_m_axis_mm2s_tdata_width", "c_s_axis_s2mm_tdata_width"):
        assert int(cfg[key]) == CFG.word_bits == 32
    assert "m_axi_sg_aclk" not in record["cells"][CFG.dma_name]["pins"]
    assert f"DMA length register {CFG.dma_length_width} bits" in record["stdout"]


def test_ps_clock_and_enables(recorded):
    board, record = recorded
    b = CFG.board(board)
    ps = blockdesign.cell_roles(record, board)["ps"]
    cfg = record["cells"][ps]["config"]
    assert float(cfg[b.pl_clk_freq_property]) == CFG.clock_mhz
    assert cfg[b.master_enable] == "1" and cfg[b.hp_enable] == "1"
    assert any(a["target"] == ps and 'apply_board_preset "1"' in a["config"] for a in record["automation"])


def test_iopll_on_kria():
    if not HAVE_TCLSH:
        pytest.skip("tclsh not found: install Tcl 8.6 (apt-get install tcl)")
    b = CFG.board("kv260")
    assert b.clk_source == "IOPLL"
    record = blockdesign.record_design("kv260")
    cfg = record["cells"]["zynq_ultra_ps_e_0"]["config"]
    assert cfg[b.clk_source_property] == "IOPLL"
    # the preset's second FPD master is switched off, so no clock pin is left undriven
    assert "maxihpm1_fpd_aclk" not in record["cells"]["zynq_ultra_ps_e_0"]["pins"]


def test_bitstream_flow_and_output_names(recorded):
    _, record = recorded
    assert record["validated"] and record["saved"]
    assert record["top"] == f"{record['bd_design']}_wrapper"
    runs = [(r["run"], r["to_step"]) for r in record["runs"]]
    assert ("impl_1", "write_bitstream") in runs
    assert "impl_1" in record["waited"]
    assert record["calls"].index("wait_on_run") > record["calls"].index("launch_runs")
    name = CFG.overlay_name
    assert {f"{name}.bit", f"{name}.hwh", f"{name}.xsa"} <= set(record["outputs"])
    assert Path(record["hw_platform"]).name == f"{name}.xsa"


# -- version check -------------------------------------------------------------------------------

@needs_tclsh
def test_unsupported_vivado_version_stops_with_clear_message():
    record = blockdesign.run_stubbed("pynq-z1", vivado_version="2022.1")
    assert record["exit_code"] != 0 and record["returncode"] != 0
    message = " ".join(record["stderr"])
    assert "Vivado 2022.1 is not supported" in message
    for v in CFG.vivado_versions:
        assert v in message
    assert "create_project" not in record["calls"], "must stop before touching the project"
    with pytest.raises(RuntimeError, match="2022.1 is not supported"):
        blockdesign.record_design("pynq-z1", vivado_version="2022.1")


@needs_tclsh
@pytest.mark.parametrize("version", ["2023.2", "2024.1.1"])
def test_supported_versions_accepted(version):
    record = blockdesign.run_stubbed("kv260", vivado_version=version)
    assert record["exit_code"] == 0, record["stderr"]


# -- negative tests: a broken script must fail the checks ---------------------------------------

NEGATIVE_EDITS = [
    # (what, regex of the line(s) to delete or edit, replacement,
    #  {name of a check that must fail: the pin its message must name (aggregate checks), or None})
    ("out_stream -> S2MM removed",
     r"^[ \t]*connect_bd_intf_net[^\n]*\$ip_out_stream[^\n]*S_AXIS_S2MM[^\n]*\n", "",
     {"axi_stream.classifier_to_dma": None}),
    ("IP control removed from the interconnect",
     r"^[ \t]*connect_bd_intf_net[^\n]*M01_AXI[^\n]*\$ip_ctrl[^\n]*\n", "",
     {"axi_lite.classifier_registers_reachable": None}),
    ("interconnect clock dropped",
     r"\[pin ctrl_interconnect/aclk\] ", "",
     {"clocks_resets.clock_pins_on_pl_clock": "ctrl_interconnect/aclk"}),
    ("scatter-gather left on",
     r"^[ \t]*CONFIG\.c_include_sg 0 \\\n", "",
     {"clocks_resets.clock_pins_on_pl_clock": f"{CFG.dma_name}/m_axi_sg_aclk", "dma.no_scatter_gather": None}),
]


@needs_tclsh
@pytest.mark.parametrize("what,pattern,replacement,expected", NEGATIVE_EDITS, ids=[e[0] for e in NEGATIVE_EDITS])
def test_checker_catches_broken_script(tmp_path, what, pattern, replacement, expected):
    tcl = _copy_hw(tmp_path)
    text = tcl.read_text()
    edited, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == 1, f"the edit '{what}' matched {count} places: update the pattern to the script"
    assert edited != text
    tcl.write_text(edited)
    for board in BOARDS:
        record = blockdesign.run_stubbed(board, tcl=tcl)
        bad = _failed(record, board)
        assert bad, f"{what}: the checks passed a broken design"
        for name, item in expected.items():
            assert name in bad, (name, sorted(bad))
            check = bad[name]
            assert _is_sentence(check.message) and _is_sentence(check.fix), check
            if item is not None:   # an aggregate check (all clock pins): it names the pin that is wrong
                assert item in check.message, check


@needs_tclsh
def test_unmodified_copy_passes(tmp_path):
    """The negative tests' copy mechanism itself does not break the script."""
    tcl = _copy_hw(tmp_path)
    assert _failed(blockdesign.run_stubbed("kv260", tcl=tcl), "kv260") == {}


# -- the TCL reads course.ini's export (params.tcl), the values labkit.config computes --------------

@needs_tclsh
@pytest.mark.parametrize("board", sorted(CFG.boards))
def test_params_tcl_holds_what_python_computes(tmp_path, board):
    from labkit import emit
    params = emit.write_tcl(board, tmp_path / "params.tcl")
    want = {**emit.course_values(), **emit.board_values(board)}
    script = tmp_path / "dump.tcl"
    script.write_text(f"source {{{params}}}\n"
                      + "".join(f"puts \"{k}\\t[set {k}]\"\n" for k in want))
    out = subprocess.run([shutil.which("tclsh") or "tclsh8.6", str(script)], capture_output=True, text=True,
                         check=True).stdout
    tcl = dict(line.split("\t", 1) for line in out.splitlines())
    # a list prints as a Tcl list: an element with spaces (vivado_ip_versions' dicts) in braces
    as_tcl = lambda v: " ".join(f"{{{x}}}" if " " in x else x for x in v)
    assert tcl == {k: as_tcl(v) if isinstance(v, list) else str(v) for k, v in want.items()}
    assert int(tcl["dma_length_width"]) == CFG.dma_length_width and tcl["dma_vlnv"] == "xilinx.com:ip:axi_dma"
    assert "ini::" not in blockdesign.BUILD_TCL.read_text() and not (blockdesign.HW_DIR / "ini.tcl").exists()


@needs_tclsh
def test_params_tcl_quotes_paths_and_values(tmp_path):
    """A value with spaces or [...] stays one word and is never run as a command."""
    from labkit import emit
    script = tmp_path / "q.tcl"
    hostile = "/tmp/a b/[exec touch PWNED]/$x;{"
    script.write_text(f"set v {emit.tcl_word(hostile)}\nputs $v\n")
    out = subprocess.run([shutil.which("tclsh") or "tclsh8.6", str(script)], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert out.rstrip("\n") == hostile and not (tmp_path / "PWNED").exists()


@needs_tclsh
@pytest.mark.parametrize("max_batch", [1, 64, 1000, 4096, 100000])
def test_dma_length_width_formula_matches_python(tmp_path, max_batch):
    ini = tmp_path / "course.ini"
    ini.write_text(re.sub(r"^max_batch = \d+", f"max_batch = {max_batch}", INI_PATH.read_text(), flags=re.M))
    want = load(ini).dma_length_width
    record = blockdesign.run_stubbed("pynq-z1", ini=ini)
    assert record["exit_code"] == 0, record["stderr"]
    assert int(record["cells"][CFG.dma_name]["config"]["c_sg_length_width"]) == want


@needs_tclsh
def test_batch_too_big_for_dma_is_refused(tmp_path):
    ini = tmp_path / "course.ini"
    ini.write_text(re.sub(r"^max_batch = \d+", "max_batch = 1000000", INI_PATH.read_text(), flags=re.M))
    with pytest.raises(ValueError, match="lower max_batch"):      # course.ini itself is refused ...
        blockdesign.run_stubbed("pynq-z1", ini=ini)
    tcl = _copy_hw(tmp_path)                                      # ... and so is a hand-edited params.tcl
    params = tmp_path / "params.tcl"
    from labkit import emit
    params.write_text(emit.tcl("pynq-z1").replace(f"set dma_length_width {CFG.dma_length_width}",
                                                    "set dma_length_width 27"))
    record = _run_with_params(tcl, params, "pynq-z1")
    assert record["exit_code"] == 1
    assert "lower max_batch" in " ".join(record["stderr"])


def _run_with_params(tcl, params, board):
    """The stub run of ``tcl`` with a given params.tcl (LABKIT_PARAMS) instead of labkit's emit."""
    return blockdesign.build.run_stubbed(board, tcl=tcl, params=params)


@needs_tclsh
def test_unknown_board_and_missing_ip_repo_name_the_fix(tmp_path):
    with pytest.raises(KeyError, match="pynq-z1"):                 # no params.tcl for an unknown board
        blockdesign.run_stubbed("zedboard")
    from labkit import emit                                         # params.tcl of another board
    params = emit.write_tcl("kv260", tmp_path / "params.tcl")
    record = _run_with_params(None, params, "pynq-z1")
    assert record["exit_code"] == 1 and "written for board 'kv260'" in " ".join(record["stderr"])
    record = blockdesign.run_stubbed("pynq-z1", ip_repo=tmp_path / "nowhere")
    assert record["exit_code"] == 1 and "make ip" in " ".join(record["stderr"])
    empty = tmp_path / "empty"
    empty.mkdir()
    record = blockdesign.run_stubbed("pynq-z1", ip_repo=empty)
    assert record["exit_code"] == 1 and "make ip" in " ".join(record["stderr"])


@needs_tclsh
def test_draw_design_headless(recorded):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    board, record = recorded
    ax = blockdesign.draw_design(record)
    assert len(ax.patches) > len(record["cells"])  # boxes + arrows
    plt.close(ax.figure)


# -- labkit overlay (command line) ---------------------------------------------------------------

def test_build_command_shape(tmp_path):
    cmd = blockdesign.build_command("kv260", tmp_path / "ip", tmp_path / "out")
    assert cmd[:3] == ["vivado", "-mode", "batch"]
    assert cmd[cmd.index("-source") + 1] == str(blockdesign.BUILD_TCL)
    assert cmd[cmd.index("-tclargs") + 1:] == ["kv260", str((tmp_path / "ip").resolve()), str((tmp_path / "out").resolve())]
    with pytest.raises(KeyError, match="choose one of"):
        blockdesign.build_command("zedboard", tmp_path, tmp_path)


def test_main_without_vivado_prints_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(blockdesign.build, "vivado_available", lambda: (False, "not on PATH"))
    out = tmp_path / "out"
    assert blockdesign.main(["--board", "pynq-z1", "--ip-repo", str(tmp_path), "--out", str(out)]) == 0
    text = capsys.readouterr().out.strip()
    assert len(text.splitlines()) == 1
    assert text.startswith("Vivado was not found") and "-tclargs pynq-z1" in text
    assert not out.exists(), "nothing is created when Vivado is missing"


@needs_tclsh
def test_main_stops_on_failed_checks(tmp_path, monkeypatch, capsys):
    """labkit overlay records the script with the stubs first and prints each failed check as
    `name: message — fix`, before any Vivado command."""
    tcl = _copy_hw(tmp_path)
    edited, count = re.subn(NEGATIVE_EDITS[0][1], "", tcl.read_text(), flags=re.M)
    assert count == 1
    tcl.write_text(edited)
    monkeypatch.setattr(blockdesign.build, "BUILD_TCL", tcl)
    monkeypatch.setattr(blockdesign.build, "vivado_available", lambda: (False, "not on PATH"))
    assert blockdesign.main(["--board", "pynq-z1", "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "", "stopped before the Vivado step (not even its one sentence)"
    lines = {line.split(": ", 1)[0]: line for line in captured.err.splitlines()}
    message, fix = lines["axi_stream.classifier_to_dma"].split(": ", 1)[1].split(" — ")
    assert _is_sentence(message) and _is_sentence(fix)
    assert not (tmp_path / "out").exists()


def test_main_dry_run_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert blockdesign.main(["--board", "kv260", "--out", str(out), "--dry-run"]) == 0
    assert "would run: vivado -mode batch" in capsys.readouterr().out
    out.mkdir()
    (out / f"{CFG.overlay_name}.bit").write_text("old")
    assert blockdesign.main(["--board", "kv260", "--out", str(out), "--dry-run"]) == 2
    assert "--force" in capsys.readouterr().err
    assert blockdesign.main(["--board", "kv260", "--out", str(out), "--dry-run", "--force"]) == 0


# -- the RTL twin instead of the HLS IP (4th script argument / --ip rtl) ---------------------------

def _rtl_folder(root: Path) -> Path:
    """An RTL folder as `labkit rtl build` writes it: Verilog files + sources.f (comments, blank lines)."""
    rtl = root / "rtl"
    (rtl / "core").mkdir(parents=True)
    (rtl / f"{CFG.rtl.top}.v").write_text(f"module {CFG.rtl.top} (input wire ap_clk);\nendmodule\n")
    (rtl / "core" / f"{CFG.rtl.core}.v").write_text(f"module {CFG.rtl.core} ();\nendmodule\n")
    (rtl / "sources.f").write_text(f"# labkit rtl build\n\ncore/{CFG.rtl.core}.v\n  {CFG.rtl.top}.v\n")
    return rtl


@pytest.fixture(scope="module", params=BOARDS)
def recorded_rtl(request, tmp_path_factory):
    if not HAVE_TCLSH:
        pytest.skip("tclsh not found: install Tcl 8.6 (apt-get install tcl)")
    board = request.param
    rtl = _rtl_folder(tmp_path_factory.mktemp(f"rtl-{board}"))
    return board, rtl, blockdesign.run_stubbed(board, ip_repo=rtl, ip_kind="rtl")


def _structure(record):
    """Connections and address map, independent of the classifier's kind and segment names."""
    return ({(n["master"], n["slave"]) for n in record["intf_nets"]},
            {(n["driver"], tuple(sorted(n["pins"]))) for n in record["nets"]},
            {(a["space"], a["slave"].rsplit("/", 1)[0]) for a in record["addresses"]},
            {name: (sorted(c["pins"]), sorted(c["intfs"])) for name, c in record["cells"].items()})


def test_rtl_design_passes_all_checks(recorded_rtl):
    board, _, record = recorded_rtl
    assert record["exit_code"] == 0, record["stderr"]
    assert _failed(record, board) == {}
    assert _failed(blockdesign.record_design(board, ip_kind="rtl"), board) == {}  # stub's own folder


def test_rtl_classifier_is_module_reference(recorded_rtl):
    board, _, record = recorded_rtl
    cell = record["cells"][CFG.ip_name]
    assert cell["type"] == "module" and cell["reference"] == CFG.rtl.top
    assert cell["vlnv"] == f"xilinx.com:module_ref:{CFG.rtl.top}:1.0"
    assert blockdesign.cell_roles(record, board)["ip"] == CFG.ip_name
    assert blockdesign.classifier_kind(cell) == "rtl"
    assert not any(c["vlnv"].startswith(CFG.vlnv) for c in record["cells"].values())
    assert not record["project"]["ip_repo_paths"] and record["catalog_updates"] == 0, "no HLS IP repository"


def test_rtl_sources_added_before_the_cell(recorded_rtl):
    _, rtl, record = recorded_rtl
    added = [Path(f).resolve() for f in record["added_files"] if f != record["wrapper"]]
    assert added == [(rtl / "core" / f"{CFG.rtl.core}.v").resolve(), (rtl / f"{CFG.rtl.top}.v").resolve()]
    calls = record["calls"]
    assert calls.index("add_files") < calls.index("update_compile_order") < calls.index("create_bd_design")


def test_rtl_same_wiring_as_hls(recorded_rtl):
    board, _, record = recorded_rtl
    assert _structure(record) == _structure(blockdesign.record_design(board))


@needs_tclsh
@pytest.mark.parametrize("case", ["no folder", "no sources.f", "missing file", "empty sources.f"])
def test_rtl_folder_problems_name_the_fix(tmp_path, case):
    rtl = _rtl_folder(tmp_path)
    if case == "no folder":
        rtl = tmp_path / "nowhere"
    elif case == "no sources.f":
        (rtl / "sources.f").unlink()
    elif case == "missing file":
        with open(rtl / "sources.f", "a") as f:
            f.write("gone.v\n")
    else:
        (rtl / "sources.f").write_text("# nothing yet\n\n")
    record = blockdesign.run_stubbed("pynq-z1", ip_repo=rtl, ip_kind="rtl")
    assert record["exit_code"] == 1
    assert len(record["stderr"]) == 1, record["stderr"]
    message = record["stderr"][0]
    assert "labkit rtl build" in message and "make rtl" in message
    assert {"no folder": "does not exist", "no sources.f": "no sources.f", "missing file": "gone.v",
            "empty sources.f": "lists no Verilog files"}[case] in message
    assert "create_project" not in record["calls"], "must stop before touching the project"


@needs_tclsh
def test_rtl_module_must_be_in_the_sources(tmp_path):
    """The stubs, like Vivado, refuse a module reference no added file defines."""
    rtl = _rtl_folder(tmp_path)
    (rtl / f"{CFG.rtl.top}.v").write_text("module something_else ();\nendmodule\n")
    record = blockdesign.run_stubbed("kv260", ip_repo=rtl, ip_kind="rtl")
    assert record["exit_code"] == 1 and CFG.rtl.top in record["error"]


@needs_tclsh
def test_bad_ip_kind_lists_the_choices():
    record = blockdesign.run_stubbed("pynq-z1", ip_kind="vhdl")
    assert record["exit_code"] == 1
    message = " ".join(record["stderr"])
    assert "'vhdl'" in message and "hls" in message and "rtl" in message
    assert "create_project" not in record["calls"]
    with pytest.raises(ValueError, match="hls or rtl"):
        blockdesign.build_command("pynq-z1", "ip", "out", ip_kind="vhdl")
    with pytest.raises(SystemExit):
        blockdesign.main(["--board", "pynq-z1", "--ip", "vhdl", "--dry-run"])


@needs_tclsh
def test_explicit_hls_argument_is_the_default(tmp_path):
    """-tclargs <board> <ip_repo> <out_dir> hls builds the same design as without the 4th argument."""
    ip = tmp_path / "ip"
    ip.mkdir()
    (ip / "component.xml").write_text("<!-- stub -->\n")
    record_path = tmp_path / "design.json"
    from labkit import emit
    params = emit.write_tcl("kv260", tmp_path / "out" / "params.tcl")     # where labkit overlay writes it
    subprocess.run([shutil.which("tclsh") or "tclsh8.6", str(blockdesign.STUB_RUNNER), "-record", str(record_path), "--",
                    str(blockdesign.BUILD_TCL), "kv260", str(ip), str(tmp_path / "out"), "hls"],
                   capture_output=True, text=True, check=True, env=dict(os.environ, LABKIT_PARAMS=str(params)))
    explicit = json.loads(record_path.read_text())
    default = blockdesign.run_stubbed("kv260")
    assert explicit["argv"][3] == "hls" and len(default["argv"]) == 3
    assert _structure(explicit) == _structure(default)
    assert explicit["cells"][CFG.ip_name]["vlnv"] == CFG.vlnv
    assert _failed(dict(explicit, ip_kind="hls"), "kv260") == {}


@needs_tclsh
def test_checks_want_the_kind_asked_for(recorded):
    board, record = recorded
    bad = _failed(dict(record, ip_kind="rtl"), board)
    assert {"ip_kind.classifier_is_kind_asked_for", "ip_kind.rtl_sources_added"} <= set(bad), sorted(bad)
    for check in bad.values():
        assert _is_sentence(check.message) and _is_sentence(check.fix), check
    # the check that does not apply to the kind asked for passes and says why
    checks = {c.name: c for c in blockdesign.run_checks(dict(record, ip_kind="rtl"), board)}
    skipped = checks["ip_kind.ip_repository_added"]
    assert skipped.passed and skipped.message.startswith("Does not apply") and skipped.fix == ""
    renamed = dict(record, cells={**record["cells"], CFG.ip_name: dict(record["cells"][CFG.ip_name], vlnv="x:y:z:1.0")})
    assert "cells.classifier_present" in _failed(renamed, board)


def test_build_command_rtl(tmp_path):
    cmd = blockdesign.build_command("pynq-z1", tmp_path / "rtl", tmp_path / "out", ip_kind="rtl")
    assert cmd[cmd.index("-tclargs") + 1:] == ["pynq-z1", str((tmp_path / "rtl").resolve()),
                                               str((tmp_path / "out").resolve()), "rtl"]


def test_main_rtl_defaults_to_the_rtl_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert blockdesign.main(["--board", "kv260", "--ip", "rtl", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert str(artifacts.rtl_ip(CFG.rtl.fold)) in text and text.rstrip().endswith(" rtl")
    for choice, fold in (("rtl-parallel", "none"), ("rtl-fold", "stream")):
        assert blockdesign.main(["--board", "kv260", "--ip", choice, "--out", str(out), "--dry-run"]) == 0
        text = capsys.readouterr().out
        assert str(artifacts.rtl_ip(fold)) in text and text.rstrip().endswith(" rtl")
    monkeypatch.setattr(blockdesign.build, "vivado_available", lambda: (False, "not on PATH"))
    assert blockdesign.main(["--board", "pynq-z1", "--ip", "rtl", "--ip-repo", str(tmp_path), "--out", str(out)]) == 0
    text = capsys.readouterr().out.strip()
    assert len(text.splitlines()) == 1 and f"-tclargs pynq-z1 {tmp_path.resolve()}" in text and text.endswith(" rtl")


@needs_tclsh
def test_draw_design_rtl_headless(recorded_rtl):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, record = recorded_rtl
    ax = blockdesign.draw_design(record)
    assert len(ax.patches) > len(record["cells"])
    plt.close(ax.figure)


# -- the real build (only with Vivado) -----------------------------------------------------------

@pytest.mark.vivado
@pytest.mark.skipif(shutil.which("vivado") is None, reason="Vivado is not on PATH: the real bitstream build is skipped")
@pytest.mark.parametrize("board", BOARDS)
def test_real_vivado_build(board, tmp_path):
    ip_repo = artifacts_dir("hls", "ip", create=False)
    if not ip_repo.is_dir():
        pytest.skip(f"no exported IP in {ip_repo}: run make ip first")
    out = tmp_path / board
    assert blockdesign.main(["--board", board, "--ip-repo", str(ip_repo), "--out", str(out)]) == 0
    for ext in ("bit", "hwh", "xsa"):
        path = out / f"{CFG.overlay_name}.{ext}"
        assert path.stat().st_size > 1000, f"{path} missing or a placeholder"
