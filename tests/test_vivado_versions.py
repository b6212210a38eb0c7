"""Vivado 2023.2-2025.2 (issue 15): the build script under emulated releases, the [vivado:*] table,
and every CONFIG name the script sets on the Zynq UltraScale+ PS and the AXI DMA checked against
real Vivado output (../shared/vivado_reference: a Vivado 2024.1 write_bd_tcl and .hwh)."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labkit import blockdesign, emit
from labkit.config import CFG

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "vivado_reference"
HAVE_TCLSH = shutil.which("tclsh") is not None or shutil.which("tclsh8.6") is not None
needs_tclsh = pytest.mark.skipif(not HAVE_TCLSH, reason="tclsh not found: install Tcl 8.6 (apt-get install tcl)")
needs_reference = pytest.mark.skipif(not (REFERENCE / "aup_zu3_mlp_bd.tcl").is_file(),
                                     reason="../shared/vivado_reference is absent (real Vivado output, not part of the project)")
ZYNQMP_BOARDS = [k for k, b in CFG.boards.items() if b.ps_ip == "zynq_ultra_ps_e"]


def test_every_supported_release_has_a_table_entry():
    assert set(CFG.vivado_versions) >= {"2023.2", "2024.1", "2024.2", "2025.1", "2025.2"}
    for release in CFG.vivado_versions:
        row = CFG.vivado[release]
        assert {"axi_dma", "zynq_ultra_ps_e", "processing_system7", "smartconnect", "proc_sys_reset"} <= \
            {v.split(":")[0] for v in row.ip_versions}
        assert row.hls_tool in ("vitis_hls", "vitis-run")
    assert CFG.vivado["2024.1"].hls_tool == "vitis_hls" and CFG.vivado["2025.1"].hls_tool == "vitis-run"


def test_script_creates_xilinx_ips_without_versions():
    """Every Xilinx IP is created by a version-less VLNV (Vivado picks its catalogue's version)."""
    text = blockdesign.BUILD_TCL.read_text()
    for vlnv in re.findall(r"-vlnv\s+(xilinx\.com:ip:\S+)", text):
        assert vlnv.count(":") == 2, vlnv
    for value in (emit.course_values()["dma_vlnv"], *(b.ps_vlnv for b in CFG.boards.values())):
        assert value.count(":") == 2, value


@needs_tclsh
@pytest.mark.parametrize("version", ["2023.2", "2024.2", "2025.1", "2025.2"])
@pytest.mark.parametrize("board", sorted(CFG.boards))
def test_build_under_each_release(board, version):
    """The stubs answer `version -short` with the release and resolve version-less VLNVs from its
    catalogue; the design passes every structure check and names the VLNVs Vivado picked."""
    record = blockdesign.run_stubbed(board, vivado_version=version)
    assert record["exit_code"] == 0, record["stderr"]
    assert record["vivado_version"] == version and f"with Vivado {version}" in record["stdout"]
    assert blockdesign.failed(blockdesign.run_checks(record, board)) == []
    table = CFG.vivado[version]
    dma = record["cells"][CFG.dma_name]["vlnv"]
    assert dma == f"xilinx.com:ip:axi_dma:{table.ip_version('axi_dma')}"
    assert f"labkit: {CFG.dma_name} is {dma}" in record["stdout"] and "WARNING" not in record["stdout"]


@needs_tclsh
def test_an_ip_version_change_is_named():
    """A release whose catalogue has another IP version: the build goes on and warns with the names."""
    record = blockdesign.run_stubbed("aup-zu3", vivado_version="2025.2", ip_versions={"axi_dma": "7.2"})
    assert record["exit_code"] == 0
    assert record["cells"][CFG.dma_name]["vlnv"] == "xilinx.com:ip:axi_dma:7.2"
    warning = [l for l in record["stdout"].splitlines() if l.startswith("WARNING")]
    assert len(warning) == 1 and "axi_dma 7.2" in warning[0] and "[vivado:2025.2] lists axi_dma 7.1" in warning[0]


@needs_tclsh
def test_unknown_release_names_the_supported_ones():
    record = blockdesign.run_stubbed("kv260", vivado_version="2026.1")
    assert record["exit_code"] == 1
    message = " ".join(record["stderr"])
    assert "Vivado 2026.1 is not supported" in message and "2025.2" in message and "2023.2" in message


@needs_tclsh
def test_stub_refuses_a_dma_parameter_it_does_not_have(tmp_path):
    """The name the script used to set (c_sg_include_stscntrl_str) is not an axi_dma parameter."""
    tcl = tmp_path / "build_overlay.tcl"
    tcl.write_text(blockdesign.BUILD_TCL.read_text().replace("c_sg_include_stscntrl_strm", "c_sg_include_stscntrl_str"))
    record = blockdesign.run_stubbed("pynq-z1", tcl=tcl)
    assert record["exit_code"] == 1 and "c_sg_include_stscntrl_str' is not a parameter" in record["error"]


# -- CONFIG names against real Vivado output ---------------------------------------------------

def _reference_config(cell: str):
    """VLNV and CONFIG names of ``cell`` in the real write_bd_tcl output."""
    text = (REFERENCE / "aup_zu3_mlp_bd.tcl").read_text()
    m = re.search(rf"create_bd_cell -type ip -vlnv (\S+) {cell} \]\n(.*?)\] \${cell}", text, re.S)
    assert m, cell
    return m.group(1), set(re.findall(r"CONFIG\.(\w+)", m.group(2)))


def _hwh_parameters(modtype: str) -> dict:
    root = ET.parse(REFERENCE / "aup_zu3_mlp_bd.hwh").getroot()
    mod = next(m for m in root.iter("MODULE") if m.get("MODTYPE") == modtype)
    return {p.get("NAME"): p.get("VALUE") for p in mod.iter("PARAMETER")}


def _ps_names(board: str) -> set:
    b = CFG.board(board)
    return {b.master_enable, b.hp_enable, b.pl_clk_freq_property, b.clk_source_property, *b.ps_unused} - {""}


def _dma_names() -> set:
    return set(re.findall(r"CONFIG\.(\w+)", blockdesign.tcl_section("dma")))


# Names our script sets that the reference's write_bd_tcl does not write, and why: write_bd_tcl
# writes only values that differ from the IP's defaults, so a name at its default is missing there.
# Each must still be a parameter of the IP (the .hwh lists them all, with the value it had).
DMA_NOT_IN_REFERENCE_TCL = {
    "c_sg_include_stscntrl_strm": "default 1 in axi_dma, reset to 0 by Vivado once c_include_sg is 0 (the .hwh says 0)",
    "c_include_mm2s": "default 1: both channels are on in the reference too",
    "c_include_s2mm": "default 1",
    "c_addr_width": "default 32: the reference keeps it, the KV260 sets 40",
    "c_m_axi_s2mm_data_width": "default 32, which is our word width",
    "c_s_axis_s2mm_tdata_width": "default 32",
}


@needs_reference
@pytest.mark.parametrize("board", ZYNQMP_BOARDS)
def test_ps_config_names_exist_in_real_vivado(board):
    vlnv, ref_tcl = _reference_config("zynq_ultra_ps_e_0")
    assert vlnv.rsplit(":", 1)[0] == CFG.board(board).ps_vlnv
    hwh = _hwh_parameters("zynq_ultra_ps_e")
    ours = _ps_names(board)
    assert ours <= set(hwh), f"not PS parameters in real Vivado: {ours - set(hwh)}"
    assert ours <= ref_tcl, f"not in the reference write_bd_tcl: {ours - ref_tcl}"


@needs_reference
def test_aup_zu3_ps_values_as_in_the_reference_design():
    """The AUP-ZU3 section asks for what the real design has: LPD master, HP0, FPD masters off, IOPLL."""
    hwh = _hwh_parameters("zynq_ultra_ps_e")
    b = CFG.board("aup-zu3")
    assert hwh[b.master_enable] == "1" and hwh[b.hp_enable] == "1"
    assert all(hwh[p] == "0" for p in b.ps_unused)
    assert hwh[b.clk_source_property] == b.clk_source == "IOPLL"
    assert float(hwh[b.pl_clk_freq_property]) == CFG.clock_mhz


@needs_reference
def test_dma_config_names_exist_in_real_vivado():
    vlnv, ref_tcl = _reference_config("axi_dma_0")
    assert vlnv == f"xilinx.com:ip:axi_dma:{CFG.vivado['2024.1'].ip_version('axi_dma')}"
    hwh = _hwh_parameters("axi_dma")
    ours = _dma_names()
    assert ours <= set(hwh), f"not axi_dma parameters in real Vivado: {ours - set(hwh)}"
    assert ours - ref_tcl == set(DMA_NOT_IN_REFERENCE_TCL), "explain each name the reference does not set"
    assert hwh["c_sg_include_stscntrl_strm"] == "0" and hwh["c_include_sg"] == "0"
