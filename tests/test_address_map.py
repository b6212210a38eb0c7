"""One address map: course.ini [board:*] dma_base / ip_base == the block design that
hw/build_overlay.tcl records == the emulated overlay's ip_dict, for every board and both IP kinds.

Labs 05 and 06 print the map with labkit.stream.format_address_map from these same functions.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkit import blockdesign, emit, stream
from labkit.config import CFG, INI_PATH

BOARDS = list(CFG.boards)
HAVE_TCLSH = shutil.which("tclsh") is not None or shutil.which("tclsh8.6") is not None
needs_tclsh = pytest.mark.skipif(not HAVE_TCLSH, reason="tclsh not found: install Tcl 8.6 (apt-get install tcl)")


class _FakeIP:
    """Enough of labkit.hls.ipsim.EmulatedIP for the emulated overlay's registers (no data path)."""
    info = {"words_per_pulse": CFG.words_per_pulse, "n_out": CFG.n_classes, "max_batch": CFG.max_batch}
    path = "fake_emulation.so"

    def run(self, *args):
        raise AssertionError("the address-map test moves no data")


def _emulated(board):
    pytest.importorskip("pynq")
    from labkit.board import EmulatedOverlay
    return EmulatedOverlay(board=board, emulated_ip=_FakeIP())


def test_course_ini_bases_fit_their_windows():
    """Each base is aligned to its 64 KiB window and the two windows of a board do not overlap."""
    for board in BOARDS:
        amap = stream.address_map(board)
        assert set(amap) == {CFG.dma_name, CFG.ip_name}
        (b0, r0), (b1, r1) = sorted(amap.values())
        assert b0 % r0 == 0 and b1 % r1 == 0 and b0 + r0 <= b1, (board, amap)
        params = emit.tcl(board)
        b = CFG.board(board)
        assert f"set dma_base 0x{b.dma_base:08X}\n" in params and f"set ip_base 0x{b.ip_base:08X}\n" in params
        assert f"set dma_addr_range 0x{stream.DMA_ADDR_RANGE:X}\n" in params


@needs_tclsh
@pytest.mark.parametrize("ip_kind", blockdesign.build.IP_KINDS)
@pytest.mark.parametrize("board", BOARDS)
def test_recorded_design_equals_course_ini_equals_emulated_overlay(board, ip_kind):
    from labkit.board import overlay_board

    record = blockdesign.record_design(board, ip_kind=ip_kind)
    recorded = blockdesign.recorded_addresses(record, board)
    overlay = _emulated(board)
    assert overlay_board(overlay) == board
    emulated = {name: (d["phys_addr"], d["addr_range"]) for name, d in overlay.ip_dict.items()}   # as lab 06 reads it
    assert recorded == stream.address_map(board) == emulated
    checks = {c.name: c for c in blockdesign.run_checks(record, board)}
    for name in ("axi_lite.dma_registers_at_ini_base", "axi_lite.classifier_registers_at_ini_base"):
        assert checks[name].passed, checks[name]
    # the two labs print the same lines
    assert stream.format_address_map(recorded, board) == stream.format_address_map(emulated, board)
    assert "✗" not in stream.format_address_map(recorded, board)


@needs_tclsh
def test_automatic_assignment_alone_fails_the_named_check(tmp_path):
    """Without the explicit assign_bd_address -offset lines Vivado (and the stub) picks its own
    offsets: the named checks catch that the map no longer equals course.ini."""
    text = blockdesign.BUILD_TCL.read_text()
    cut = text.replace("    assign_bd_address -offset $base -range $range -target_address_space $ps_space $seg -force\n", "")
    assert cut != text
    tcl = tmp_path / "build_overlay.tcl"
    tcl.write_text(cut)
    board = "pynq-z1"
    record = blockdesign.run_stubbed(board, tcl=tcl)
    assert record["exit_code"] == 0, record["stderr"]
    failed = {c.name for c in blockdesign.failed(blockdesign.run_checks(record, board))}
    assert {"axi_lite.dma_registers_at_ini_base", "axi_lite.classifier_registers_at_ini_base"} <= failed
    assert "✗" in stream.format_address_map(blockdesign.recorded_addresses(record, board), board)


@needs_tclsh
@pytest.mark.parametrize("old, new, words", [
    # the KV260's HPM0_FPD master sees 0xA0000000-0xAFFFFFFF; 0x80000000 is the LPD master's window
    ("ip_base = 0xA0010000", "ip_base = 0x80000000", ["outside the window", "M_AXI_HPM0_FPD"]),
    ("ip_base = 0xA0010000", "ip_base = 0xA0008000", ["not aligned"]),
    ("ip_base = 0xA0010000", "ip_base = 0xA0000000", ["overlaps"]),
])
def test_invalid_base_stops_the_script(tmp_path, old, new, words):
    text = INI_PATH.read_text()
    assert old in text
    ini = tmp_path / "course.ini"
    ini.write_text(text.replace(old, new))
    record = blockdesign.run_stubbed("kv260", ini=ini)
    message = record["error"] + " ".join(record["stderr"])
    assert record["exit_code"] != 0 and all(w in message for w in words), message


def test_tcl_section_reads_the_script(tmp_path):
    dma = blockdesign.tcl_section("dma")
    assert "create_bd_cell -type ip -vlnv $dma_vlnv $dma_name" in dma
    assert dma.count("connect_bd_intf_net") == 5 and "CONFIG.c_sg_length_width $length_width" in dma
    addresses = blockdesign.tcl_section("addresses")
    assert "assign_bd_address -offset $base" in addresses and "$dma_base" in addresses
    broken = tmp_path / "build_overlay.tcl"
    broken.write_text(blockdesign.BUILD_TCL.read_text().replace("# [dma] end", "# dma ends here"))
    with pytest.raises(ValueError, match=r"no section 'dma'"):
        blockdesign.tcl_section("dma", tcl=broken)


def test_overlay_board_on_a_board(monkeypatch):
    """On a board the overlay's course.ini board comes from PYNQ's $BOARD (key or title), else the default."""
    pytest.importorskip("pynq")
    from types import SimpleNamespace

    from labkit.board import overlay_board

    real = SimpleNamespace(mode="board")
    for value, key in (("Pynq-Z1", "pynq-z1"), ("KV260", "kv260"), ("Kria KV260", "kv260")):
        monkeypatch.setenv("BOARD", value)
        assert overlay_board(real) == key
    monkeypatch.setenv("BOARD", "ZCU104")
    assert overlay_board(real) == CFG.default_board
    monkeypatch.delenv("BOARD")
    assert overlay_board(real) == CFG.default_board
