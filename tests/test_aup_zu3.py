"""The AUP-ZU3 as the third board (issue 15), board images as data, and a real hardware handoff:
the .hwh that Vivado 2024.1 wrote for a similar AUP-ZU3 design (../shared/vivado_reference),
parsed with pynq's own parser and refused by labkit's driver (its IP is not ours)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit import blockdesign, stream
from labkit.config import CFG

ROOT = Path(__file__).resolve().parents[1]
HWH = ROOT.parent / "shared" / "vivado_reference" / "aup_zu3_mlp_bd.hwh"
HAVE_TCLSH = shutil.which("tclsh") is not None or shutil.which("tclsh8.6") is not None
needs_tclsh = pytest.mark.skipif(not HAVE_TCLSH, reason="tclsh not found: install Tcl 8.6 (apt-get install tcl)")
BOARD = "aup-zu3"


def _env(**extra):
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


def _labkit(*args, **env):
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True, text=True,
                          timeout=300, env=_env(**env), cwd=ROOT)


# -- the board section ---------------------------------------------------------------------------

def test_board_section():
    b = CFG.board(BOARD)
    assert (b.part, b.board_part, b.ps_ip) == ("xczu3eg-sfvc784-2-e", "realdigital.org:aup-zu3-8gb:part0:1.0",
                                              "zynq_ultra_ps_e")
    assert (b.ps_master, b.hp_slave, b.clk_source) == ("M_AXI_HPM0_LPD", "S_AXI_HP0_FPD", "IOPLL")
    # M_AXI_HPM0_LPD's window below 4 GB is 0x8000_0000-0x9FFF_FFFF (UG1085)
    for base in (b.dma_base, b.ip_base):
        assert 0x80000000 <= base and base + 0x10000 <= 0xA0000000 and base % 0x10000 == 0
    assert b.device_totals() == {"lut": 70560, "ff": 141120, "dsp": 360, "carry": 8820, "bram": 216}
    assert b.dma_addr_width == 32 and b.master_enable not in b.ps_unused


@needs_tclsh
def test_structure_checks_pass():
    record = blockdesign.record_design(BOARD)
    checks = blockdesign.run_checks(record, BOARD)
    assert blockdesign.failed(checks) == []
    assert record["project"]["part"] == CFG.board(BOARD).part
    assert record["project"]["board_part"] == CFG.board(BOARD).board_part
    ps = record["cells"]["zynq_ultra_ps_e_0"]["config"]
    assert ps["PSU__USE__M_AXI_GP2"] == "1" and ps["PSU__USE__M_AXI_GP0"] == "0" and ps["PSU__USE__M_AXI_GP1"] == "0"
    assert ps["PSU__CRL_APB__PL0_REF_CTRL__SRCSEL"] == "IOPLL"
    assert blockdesign.recorded_addresses(record, BOARD) == stream.address_map(BOARD)


@needs_tclsh
def test_the_kv260_master_choice_fails_the_named_checks(tmp_path):
    """The board data matter: with the KV260's unused-master list the LPD master is switched off."""
    ini = tmp_path / "course.ini"
    text = (ROOT / "labkit" / "course.ini").read_text()
    head, _, tail = text.partition("[board:aup-zu3]")
    tail = tail.replace("ps_unused = PSU__USE__M_AXI_GP0, PSU__USE__M_AXI_GP1",
                        "ps_unused = PSU__USE__M_AXI_GP1, PSU__USE__M_AXI_GP2", 1)
    ini.write_text(head + "[board:aup-zu3]" + tail)
    record = blockdesign.run_stubbed(BOARD, ini=ini)
    failed = {c.name for c in blockdesign.failed(blockdesign.run_checks(record, BOARD))}
    assert record["exit_code"] != 0 or "ps.master_port_enabled" in failed


def test_overlay_cli_prints_the_vivado_command(tmp_path):
    """Without Vivado, `labkit overlay --board aup-zu3` prints the exact command it would run."""
    if shutil.which("vivado"):
        pytest.skip("Vivado is on PATH: the command would run it")
    out = tmp_path / "out"
    r = _labkit("overlay", "--board", BOARD, "--ip-repo", str(tmp_path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    cmd = " ".join(blockdesign.build_command(BOARD, tmp_path, out))
    assert r.stdout.startswith("Vivado was not found") and cmd in r.stdout and "-tclargs aup-zu3" in r.stdout


def test_package_cli(tmp_path):
    from test_package import _vectors
    art = tmp_path / "art"
    _vectors(art / "hls" / "vectors")
    r = _labkit("package", "--board", BOARD, "--out", str(tmp_path / "pkg"), LABKIT_ARTIFACTS=str(art))
    assert r.returncode == 0, r.stderr + r.stdout
    folder = tmp_path / "pkg" / BOARD
    install = (folder / "INSTALL.md").read_text()
    assert "PYNQ 3.1" in install and "xilinx@<board-ip>" in install and "--no-deps" in install
    assert "numpy<2" not in install
    with tarfile.open(tmp_path / "pkg" / f"labkit_{BOARD}.tar.gz") as tar:
        assert f"labkit_{BOARD}/INSTALL.md" in tar.getnames()


def test_emulated_overlay_and_lab06_board_choice(monkeypatch):
    pytest.importorskip("pynq")
    from labkit.board import EmulatedOverlay, overlay_board

    class FakeIP:
        info = {"words_per_pulse": CFG.words_per_pulse, "n_out": CFG.n_classes, "max_batch": CFG.max_batch}
        path = "fake_emulation.so"

    ol = EmulatedOverlay(board=BOARD, emulated_ip=FakeIP())
    assert overlay_board(ol) == BOARD
    found = {name: (d["phys_addr"], d["addr_range"]) for name, d in ol.ip_dict.items()}
    assert found == stream.address_map(BOARD)
    monkeypatch.setenv("BOARD", "AUP-ZU3")               # PYNQ's $BOARD on the image
    assert overlay_board(SimpleNamespace(mode="board")) == BOARD


# -- board images as data --------------------------------------------------------------------------

@pytest.mark.parametrize("board", sorted(CFG.boards))
def test_install_steps_fit_the_image(board):
    from labkit.course.package import install_text
    b = CFG.board(board)
    text = install_text(board, f"labkit_{board}", "labkit-0.0-py3-none-any.whl", True)
    assert b.pynq_image and b.pynq_image in text and f"Vivado {b.image_vivado}" in text
    assert f"{b.image_user}@<board-ip>" in text and b.image_notebooks in text
    assert "pip install --no-deps --force-reinstall wheel/labkit-0.0-py3-none-any.whl" in text
    pin = 'pip install "numpy<2" && pip install --no-deps'
    assert (pin in text) == (board == "kv260"), "numpy<2 exactly where the image needs it (Kria-PYNQ 3.0.1)"


def test_readme_version_table():
    text = (ROOT / "hw" / "README.md").read_text()
    for release in CFG.vivado_versions:
        assert f"| {release} |" in text
    for b in CFG.boards.values():
        assert b.title in text and b.pynq_image.split(",")[0] in text


# -- a real hardware handoff -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_hwh():
    if not HWH.is_file():
        pytest.skip("../shared/vivado_reference is absent (a real .hwh for the tests, not part of the project)")
    try:
        from pynq.pl_server.hwh_parser import _HWHUltrascale
    except Exception as err:  # noqa: BLE001 - any import failure of pynq on this host
        pytest.skip(f"pynq's .hwh parser does not import on this host ({type(err).__name__}: {err}).")
    return _HWHUltrascale(str(HWH))


def test_pynq_parses_the_real_hwh(real_hwh):
    ip = real_hwh.ip_dict
    assert ip["axi_dma_0"]["type"] == "xilinx.com:ip:axi_dma:7.1"
    assert ip["myproject_gn_accel_0"]["type"] == "xilinx.com:hls:myproject_gn_accel:1.0"


def test_overlay_checks_read_length_width_and_addresses(real_hwh):
    from labkit.board.driver import dma_length_width
    ip = real_hwh.ip_dict
    assert dma_length_width(description=ip["axi_dma_0"]) == 26
    # pynq's ip_dict also lists the PS, which has no register window (no phys_addr)
    assert "phys_addr" not in ip["zynq_ultra_ps_e_0"]
    found = stream.overlay_addresses(ip)
    assert set(found) == {"axi_dma_0", "myproject_gn_accel_0"}
    assert found["axi_dma_0"] == (0x80000000, 0x10000) == stream.address_map(BOARD)[CFG.dma_name]
    table = stream.format_address_map(found, BOARD)
    assert "0x80000000-0x8000FFFF" in table and "✓" in table
    assert f"{CFG.ip_name:<16} (not in this design)" in table


def test_driver_refuses_the_foreign_overlay(real_hwh):
    from labkit.board import BoardError, check_overlay
    overlay = SimpleNamespace(ip_dict=real_hwh.ip_dict, bitfile_name="machineLearning_bd.bit")
    with pytest.raises(BoardError) as err:
        check_overlay(overlay)
    message = str(err.value)
    assert "'myproject_gn_accel_0' (xilinx.com:hls:myproject_gn_accel:1.0)" in message
    assert f"{CFG.ip_name!r} ({CFG.vlnv})" in message
    assert message.count(". ") == 0 and "\n" not in message, "one sentence"
    # the same IP under our instance name: refused by its type, naming both VLNVs
    renamed = {CFG.ip_name if k == "myproject_gn_accel_0" else k: v for k, v in real_hwh.ip_dict.items()}
    with pytest.raises(BoardError, match="xilinx.com:hls:myproject_gn_accel:1.0.*expected"):
        check_overlay(SimpleNamespace(ip_dict=renamed, bitfile_name="machineLearning_bd.bit"))
