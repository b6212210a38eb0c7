"""The open RTL twin (labkit.rtl): bit-exact core, latency/II, the AXI-Stream top cycle by cycle, Yosys.

A tiny student (161-4-2, ~80 % of the first layer's weights zero) is built once per session: da4ml Verilog,
its Verilator emulator and an hls4ml C simulation of the same model (tests/toys.py).  The
tools come from `make test`'s set-up; a machine without them skips with the reason.
"""
import numpy as np
import pytest

from labkit.config import CFG
from labkit.rtl import tools

pytest.importorskip("hls4ml")
_missing = tools.missing("da4ml", "verilator", "iverilog", "yosys", "g++")
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"RTL tools: {_missing}")


@pytest.fixture(scope="module")
def pulses():
    from toys import toy_pulses
    return toy_pulses(60, seed=11)


@pytest.fixture(scope="module")
def reference(tiny, pulses):
    from labkit.fixedpoint import quantize_logits
    from labkit.hls.convert import csim_logits
    from labkit.training.contract import qkeras_logits
    q = quantize_logits(qkeras_logits(tiny["model"], pulses[0]), CFG.logit_format)
    c = csim_logits(tiny["hls_model"], pulses[0])
    return {"qkeras": q, "csim": c}


def test_round_half_even_is_built_exactly():
    """da4ml has TRN/RND only; the half-to-even construction must equal np.round on every tie."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize

    from labkit.rtl.core import apply_each, round_half_even

    inp = FixedVariableArrayInput((1,), hwconf=HWConfig(1, -1, -1))
    x = quantize(inp, 1, 4, 4)                       # grid 1/16 in [-16, 16)
    y = apply_each(x, lambda v: round_half_even(v, 1, 4, 1, "SAT"))
    comb = comb_trace(inp, y)
    values = np.arange(-16 * 16, 16 * 16) / 16.0
    got = np.array([comb(np.array([v]))[0] for v in values])
    want = np.clip(np.round(values * 2) / 2, -16, 16 - 0.5)   # np.round: half to even
    np.testing.assert_array_equal(got, want)
    # plain RND (half up) would differ on the ties
    assert np.any(np.floor(values * 2 + 0.5) / 2 != want)


def test_pipeline_depth_follows_the_clock(tiny, tmp_path):
    from labkit.rtl.core import build_core
    board = CFG.board("pynq-z1")
    assert board.latency_cutoff(CFG.rtl.clock_mhz) == int(1000 / CFG.rtl.clock_mhz / board.adder_delay_ns)
    slow, _ = build_core(tiny["model"], tmp_path / "slow", clock_mhz=50)
    fast, _ = build_core(tiny["model"], tmp_path / "fast", clock_mhz=400)
    assert fast.latency_cutoff < slow.latency_cutoff
    assert fast.stages > slow.stages
    assert fast.est_ffs > slow.est_ffs


def test_core_input_format_is_the_hls_paths(tiny):
    core = tiny["built"]["core"]
    assert core.in_width == CFG.input_format.width and core.in_frac == CFG.input_format.frac
    assert core.out_frac <= CFG.logit_format.frac


def test_verilator_emulator_bit_exact(tiny, pulses, reference):
    from labkit.rtl.core import emulator_logits
    v = emulator_logits(tiny["built"]["rtl"], pulses[0])
    np.testing.assert_array_equal(v, reference["qkeras"])
    np.testing.assert_array_equal(v, reference["csim"])


def test_iverilog_core_latency_and_ii(tiny, pulses, reference):
    from labkit.rtl.sim import simulate_core
    core = tiny["built"]["core"]
    r = simulate_core(core, pulses[0], expected=reference["csim"])
    assert r["matched"], "the Icarus core stream does not reproduce the C simulation at any latency"
    np.testing.assert_array_equal(r["logits"], reference["qkeras"])
    assert r["latency_cycles"] == core.stages + 1     # an input register per stage + the output register
    assert r["ii"] == 1.0                              # a new pulse every clock, a result every clock


def _expected_last(batches):
    last = np.zeros(sum(batches) * CFG.n_classes, bool)
    last[np.cumsum(batches) * CFG.n_classes - 1] = True
    return last


@pytest.mark.parametrize("gap", [0, 35])
def test_ip_words_tlast_and_protocol(tiny, pulses, reference, gap):
    """The Verilog top, driven like the DMA (random stalls with gap > 0): words = C simulation."""
    from labkit.board import regs as R
    from labkit.stream import encode_logits
    from labkit.rtl.sim import simulate_ip

    batches = [1, 17, 42]
    r = simulate_ip(tiny["built"]["ip"], pulses[0], batches=batches, gap_percent=gap, seed=5)
    assert r["errors"] == []
    np.testing.assert_array_equal(r["words"], encode_logits(reference["csim"]))
    np.testing.assert_array_equal(r["last"], _expected_last(batches))
    assert r["ctrl_after_reset"] == R.AP_IDLE
    for run in r["runs"]:   # CTRL at the end of a run: done + idle + ready, start taken
        assert run["ctrl"] & (R.AP_DONE | R.AP_IDLE | R.AP_READY) == R.AP_DONE | R.AP_IDLE | R.AP_READY
        assert not run["ctrl"] & R.AP_START
    # streaming, the input is the bottleneck: one word per clock, words_per_pulse clocks per pulse
    if gap == 0:
        assert r["cycles_per_pulse"] < CFG.words_per_pulse + 2


def test_ip_words_equal_the_stage3_wrapper(tiny, pulses):
    """Same input words into the HLS wrapper's g++ emulation and into the Verilog top: same output words."""
    from labkit.hls.ipsim import LIB_NAME, EmulatedIP
    from labkit.hls.wrapper import build_emulation
    from labkit.stream import pack_pulses
    from labkit.rtl.sim import simulate_ip

    prj = tiny["hls_model"].config.get_output_dir()
    emu = EmulatedIP(build_emulation(prj, tiny["tmp"] / "emu" / LIB_NAME))
    X = pulses[0][:20]
    words, last, _ = emu.run(len(X), pack_pulses(X))
    r = simulate_ip(tiny["built"]["ip"], X)
    np.testing.assert_array_equal(r["words"], words)
    np.testing.assert_array_equal(r["last"], last)


def test_ip_folder_lists_its_sources(tiny):
    from labkit.rtl.sim import read_sources
    files = read_sources(tiny["built"]["ip"])
    assert files[-1].name == f"{CFG.rtl.top}.v" and all(f.is_file() for f in files)
    top = files[-1].read_text()
    for port in (CFG.ip_in_stream, CFG.ip_out_stream, CFG.ip_ctrl, CFG.ip_clk, CFG.ip_resetn):
        assert f"{port} " in top, f"the RTL top lacks the HLS IP's interface {port}"
    assert f"module {CFG.rtl.top} (" in top


def test_read_sources_names_the_fix(tmp_path):
    from labkit.rtl.sim import read_sources
    with pytest.raises(FileNotFoundError, match="labkit rtl build"):
        read_sources(tmp_path)


def test_yosys_resources(tiny):
    from pathlib import Path
    from labkit.rtl.resources import synthesize
    core = tiny["built"]["core"]
    r = synthesize([Path(core.folder) / s for s in core.sources], f"{core.name}_wrapper", "pynq-z1")
    assert r["family"] == "xc7" and r["lut"] > 0 and r["ff"] > 0 and r["carry"] > 0
    assert r["dsp"] == 0                       # distributed arithmetic: shifts and adds only
    assert r["lut_pct"] == pytest.approx(100 * r["lut"] / CFG.board("pynq-z1").device_luts, abs=0.01)


def test_parse_stat():
    from labkit.rtl.resources import parse_stat, summarize
    text = """
=== clyc_core_wrapper ===
   Number of cells:               20
     CARRY4                          3
     FDRE                            5
     FDSE                            1
     INV                             1
     LUT2                            6
     LUT6                            2
     DSP48E1                         1
     MUXF7                           1
"""
    s = summarize(parse_stat(text), "pynq-z1")
    assert (s["lut"], s["ff"], s["carry"], s["dsp"]) == (9, 6, 3, 1)


def test_missing_tool_is_one_sentence(monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    msg = tools.missing("iverilog")
    assert msg.count(".") >= 1 and "apt-get install iverilog" in msg and "\n" not in msg
