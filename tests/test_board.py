"""Stage 5: the PYNQ driver on the emulated overlay (PYNQ's own DMA driver on emulated registers).

The emulation library + test vectors are built once per session from the stage-3 toy student
(toys.toy_build, shared with test_hls.py) into a temporary artifacts folder.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labkit.config import CFG
from labkit.fixedpoint import FixedFormat

pytest.importorskip("pynq")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Toy student -> emulation library (+ the no-TLAST variant) -> test vectors, in a tmp folder."""
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("g++ not found: the emulation library cannot be built (apt-get install g++)")
    pytest.importorskip("hls4ml", reason="hls4ml is needed to build the emulation library on the host")
    pytest.importorskip("qkeras", reason="qkeras is needed to build the toy student")
    from labkit.hls.ipsim import EmulatedIP
    from labkit.training.contract import qkeras_logits
    from labkit.hls.convert import csim_logits
    from toys import toy_build
    from toys import toy_pulses
    from labkit.hls.vectors import write_test_vectors

    b = toy_build()
    art = tmp_path_factory.mktemp("artifacts")
    X, y = toy_pulses(300, seed=7)
    vec_dir = art / "hls" / "vectors"
    write_test_vectors(X, y, qkeras_logits(b["model"], X), csim_logits(b["hls_model"], X),
                       emu=EmulatedIP(b["lib"]), folder=vec_dir)
    lib = art / "hls" / "emu" / "libclyc_emu.so"
    lib.parent.mkdir(parents=True)
    shutil.copyfile(b["lib"], lib)
    from labkit.hls.ipsim import library_record
    shutil.copyfile(library_record(b["lib"]), library_record(lib))   # its SHA-256 record goes with it
    from labkit.hls.ipsim import load_test_vectors
    return SimpleNamespace(art=art, lib=lib, no_tlast=b["bug_libs"]["no_tlast"], vectors=load_test_vectors(vec_dir))


@pytest.fixture
def overlay(built):
    from labkit.board import Overlay
    return Overlay(mode="emulated", lib_path=built.lib, stall_timeout=0.3)


# -- the data path -------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 37, 300])
def test_emulated_words_equal_csim(built, overlay, batch_size):
    from labkit.board import Classifier
    from labkit.stream import decode_logits

    vec = built.vectors
    run = Classifier(overlay).classify(vec["inputs"], batch_size=batch_size)
    assert run.mode == "emulated" and run.n == len(vec["inputs"]) == vec["meta"]["n"]
    assert run.words.dtype == np.uint32
    assert np.array_equal(run.words, vec["expected_words"])          # every word, full set
    assert np.array_equal(run.logits, vec["csim_logits"])             # C simulation logits exactly
    assert np.array_equal(decode_logits(vec["expected_words"]), vec["csim_logits"])
    assert run.accuracy(vec["labels"]) == pytest.approx(np.mean(vec["csim_logits"].argmax(1) == vec["labels"]))
    assert len(run.batch_latency_s) == -(-run.n // batch_size) and run.inferences_per_s > 0


def test_pynq_slides_recipe_on_emulated_device(built, overlay):
    """allocate / register_map / transfer / wait exactly as in the PYNQ slides, on pynq's own objects."""
    import pynq
    from labkit.board import EmulatedDevice
    from labkit.stream import pack_pulses

    assert pynq.Device.active_device is EmulatedDevice.instance()
    dma, ip = overlay.axi_dma_0, overlay.clyc_classifier
    assert type(dma).__name__ == "DMA" and type(dma).__module__.endswith("dma")   # PYNQ's driver
    in_buf = pynq.allocate(shape=(2 * CFG.words_per_pulse,), dtype=np.uint32)
    out_buf = pynq.allocate(shape=(2 * CFG.n_classes,), dtype=np.uint32)
    in_buf[:] = pack_pulses(built.vectors["inputs"][:2])
    ip.register_map.batch = 2
    ip.register_map.CTRL.AP_START = 1
    dma.recvchannel.transfer(out_buf)
    dma.sendchannel.transfer(in_buf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    assert np.array_equal(out_buf, built.vectors["expected_words"][:4])
    assert dma.recvchannel.transferred == out_buf.nbytes
    ctrl = ip.read(0x00)
    assert ctrl & 0x2 and ctrl & 0x4                       # ap_done, ap_idle
    assert not ip.read(0x00) & 0x2                         # ap_done is clear-on-read


def test_bench_board_json_line(built):
    env = dict(os.environ, LABKIT_ARTIFACTS=str(built.art), LABKIT_BOARD="emulated")
    proc = subprocess.run([sys.executable, "-m", "labkit", "bench", "board", "--batch-size", "64"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["n"] == 300 and line["words_equal_to_csim"] is True and line["mode"] == "emulated"
    assert 0 <= line["accuracy"] <= 1 and line["inferences_per_s"] > 0


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda X: X[:, :160], r"shape \(n, 161\)"),
    (lambda X: X.astype(np.float32) + 0.5, "raw integer ADC codes"),
    (lambda X: X > 500, "integer ADC codes"),
    (lambda X: np.where(np.arange(161) == 40, 1024, X), r"0…1023"),
    (lambda X: X.astype(np.int64) - 900, r"0…1023"),
    (lambda X: X[:0], "no pulses"),
])
def test_bad_pulses_are_refused(built, overlay, make, match):
    from labkit.board import Classifier
    with pytest.raises(ValueError, match=match):
        Classifier(overlay).classify(make(built.vectors["inputs"][:4]))


def test_batch_larger_than_dma_length_register(built):
    from labkit.board import Classifier, Overlay

    ol = Overlay(mode="emulated", lib_path=built.lib, dma_length_width=14)   # PYNQ's default width
    clf = Classifier(ol)
    assert clf.length_width == 14 and clf.max_batch == (2 ** 14 - 1) // (4 * CFG.words_per_pulse) == 50
    with pytest.raises(ValueError, match=r"14-bit length register.*batch_size <= 50.*c_sg_length_width"):
        clf.classify(built.vectors["inputs"][:64], batch_size=64)
    run = clf.classify(built.vectors["inputs"][:60], batch_size=50)
    assert np.array_equal(run.words, built.vectors["expected_words"][:120])
    with pytest.raises(ValueError, match="max_batch") as err:
        Classifier(Overlay(mode="emulated", lib_path=built.lib)).check_batch_size(CFG.max_batch + 1)
    # the IP's limit is said in pulses; bytes belong to the length-register case only
    assert "pulses the IP takes per run" in str(err.value) and "bytes" not in str(err.value)


def test_saturating_pulses_are_counted(built, overlay):
    from labkit.board import Classifier, InputSaturationWarning, count_saturating

    X = built.vectors["inputs"]
    assert count_saturating(X) == 0                       # ap_fixed<12,4> holds every 10-bit difference
    narrow = FixedFormat(8, 0)                            # holds |baseline - sample| < 128 codes only
    n_sat = count_saturating(X, narrow)
    assert 0 < n_sat <= len(X)
    with pytest.warns(InputSaturationWarning, match=f"{n_sat} of {len(X)} pulses"):
        run = Classifier(overlay, input_format=narrow).classify(X, batch_size=100)
    assert run.n_saturated == n_sat


# -- the overlay ---------------------------------------------------------------------------------

def _fake_overlay(ip_dict):
    return SimpleNamespace(ip_dict=ip_dict, bitfile_name="/home/xilinx/base.bit")


def test_overlay_without_expected_ip(overlay):
    from labkit.board import BoardError, check_overlay

    check_overlay(overlay)
    good = overlay.ip_dict
    with pytest.raises(BoardError, match="wrong bitstream"):
        check_overlay(_fake_overlay({"axi_gpio_0": {"type": "xilinx.com:ip:axi_gpio:2.0"}}))
    renamed = {"classifier_0" if k == CFG.ip_name else k: v for k, v in good.items()}
    with pytest.raises(BoardError, match="called 'classifier_0'"):
        check_overlay(_fake_overlay(renamed))
    with pytest.raises(BoardError, match=f"no '{CFG.dma_name}'"):
        check_overlay(_fake_overlay({CFG.ip_name: good[CFG.ip_name]}))
    sg = dict(good, **{CFG.dma_name: dict(good[CFG.dma_name], parameters={"c_include_sg": "1"})})
    with pytest.raises(BoardError, match="scatter-gather"):
        check_overlay(_fake_overlay(sg))
    with pytest.raises(BoardError, match=".hwh"):
        check_overlay(_fake_overlay({}))


def test_bitstream_lookup_names_the_fix(tmp_path, monkeypatch):
    from labkit.board import board_mode, find_bitstream

    bit = tmp_path / f"{CFG.overlay_name}.bit"
    with pytest.raises(FileNotFoundError, match="LABKIT_BOARD=emulated"):
        find_bitstream(str(bit))
    bit.write_bytes(b"\0")
    with pytest.raises(FileNotFoundError, match="same basename"):
        find_bitstream(str(bit))
    (tmp_path / "design_1.hwh").write_text("<xml/>")
    with pytest.raises(FileNotFoundError, match=f"rename it to {CFG.overlay_name}.hwh"):
        find_bitstream(str(bit))
    (tmp_path / f"{CFG.overlay_name}.hwh").write_text("<xml/>")
    assert find_bitstream(str(bit)) == bit
    monkeypatch.setenv("LABKIT_BOARD", "emulated")
    assert board_mode() == "emulated"
    monkeypatch.setenv("LABKIT_BOARD", "board")
    assert board_mode() == "board"
    monkeypatch.setenv("LABKIT_BOARD", "fpga-please")
    with pytest.raises(ValueError, match="board, emulated or auto"):
        board_mode()


# -- transfers that never complete: clear errors in seconds, never a hang -------------------------

def test_ip_never_started_times_out(built, overlay):
    """PYNQ-slides recipe without AP_START: on a board sendchannel.wait() hangs forever."""
    from labkit.board import DMATimeoutError, allocate
    from labkit.stream import pack_pulses

    dma = overlay.axi_dma_0
    in_buf = allocate(shape=(CFG.words_per_pulse,), dtype=np.uint32)
    out_buf = allocate(shape=(CFG.n_classes,), dtype=np.uint32)
    in_buf[:] = pack_pulses(built.vectors["inputs"][:1])
    dma.recvchannel.transfer(out_buf)
    dma.sendchannel.transfer(in_buf)
    t0 = time.monotonic()
    with pytest.raises(DMATimeoutError, match="never started.*ap_start"):
        dma.sendchannel.wait()
    assert time.monotonic() - t0 < 3


def test_missing_tlast_times_out_then_reload_recovers(built):
    """The stage-3 wrapper built with LABKIT_BUG_NO_TLAST: S2MM never completes."""
    from labkit.board import Classifier, DMATimeoutError, Overlay

    ol = Overlay(mode="emulated", lib_path=built.no_tlast, stall_timeout=10)
    clf = Classifier(ol, timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(DMATimeoutError, match="receive did not complete.*TLAST"):
        clf.classify(built.vectors["inputs"][:8], batch_size=8)
    assert time.monotonic() - t0 < 3
    good = Overlay(mode="emulated", lib_path=built.lib)
    run = Classifier(good).classify(built.vectors["inputs"][:8])
    assert np.array_equal(run.words, built.vectors["expected_words"][:16])


def test_early_tlast_is_a_short_transfer(built, overlay):
    from labkit.board import BoardError, Classifier

    overlay.ip_model.early_tlast_at = 3                      # TLAST on output beat 3 of 16
    with pytest.raises(BoardError, match="short transfer: received 16 of 64 bytes"):
        Classifier(overlay, timeout_s=0.5).classify(built.vectors["inputs"][:8], batch_size=8)


def test_batch_register_larger_than_data_times_out(built, overlay):
    from labkit.board import Classifier, DMATimeoutError

    clf = Classifier(overlay, timeout_s=0.3)
    dma = overlay.axi_dma_0
    in_buf, out_buf = clf._buffers(2)
    overlay.clyc_classifier.launch(2)                         # batch = 2 ...
    dma.recvchannel.transfer(out_buf, nbytes=2 * CFG.n_classes * 4)
    dma.sendchannel.transfer(in_buf, nbytes=CFG.words_per_pulse * 4)   # ... but one pulse sent
    t0 = time.monotonic()
    with pytest.raises(DMATimeoutError, match="waiting for input: it has 81 of the 162 words"):
        clf._wait(dma.recvchannel, "receive", time.perf_counter() + 0.3, 2)
    assert time.monotonic() - t0 < 3


def test_dma_register_model_matches_hardware_rules(built, overlay):
    """Length truncated to the register width; a buffer that is not from allocate() is a decode error."""
    from labkit.board import regs as R

    dma = overlay.axi_dma_0
    model = overlay.dma_model
    dma.mmio.write(R.MM2S + R.ADDR, 0x0)                      # not an allocated buffer
    dma.mmio.write(R.MM2S + R.LENGTH, 64)
    status = dma.mmio.read(R.MM2S + R.DMASR)
    assert status & R.SR_DEC_ERR and status & R.SR_HALTED      # PG021: errors halt the channel
    assert dma.sendchannel.error and not dma.sendchannel.running
    with pytest.raises(RuntimeError, match="not started"):
        dma.sendchannel.wait()                                 # what PYNQ says on a board, too
    overlay.download()
    dma = overlay.axi_dma_0
    buf = __import__("pynq").allocate(shape=(16,), dtype=np.uint32)
    dma.mmio.write(R.MM2S + R.ADDR, buf.physical_address)
    dma.mmio.write(R.MM2S + R.LENGTH, (1 << overlay.dma_model.length_width) + 64)   # high bits dropped
    assert overlay.dma_model.mm2s.length == 64 and model is not overlay.dma_model


# (the board modules import without TensorFlow: tests/test_environment.py::test_imports_without_the_training_stack)
