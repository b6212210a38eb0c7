"""The folded core (labkit.rtl.fold): the first layer beat by beat, the same words as the parallel core.

The session's tiny student (tests/toys.py, 161-4-2) is built both ways; the IP tops are driven like
the DMA (with and without random stalls on both streams) on synthetic pulses and on the real
development file when ../shared is present.  A hand-made linear network checks the LUT model.
"""
from pathlib import Path

import numpy as np
import pytest

from labkit.config import CFG
from labkit.rtl import tools

pytest.importorskip("hls4ml")
_missing = tools.missing("da4ml", "verilator", "iverilog", "yosys", "g++")
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"RTL tools: {_missing}")

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "clyc_real_windows_dev.csv"


@pytest.fixture(scope="module")
def pulses():
    from toys import toy_pulses
    return toy_pulses(60, seed=11)[0]


def _qkeras_words(model, X):
    from labkit.fixedpoint import quantize_logits
    from labkit.stream import encode_logits
    from labkit.training.contract import qkeras_logits
    return encode_logits(quantize_logits(qkeras_logits(model, X), CFG.logit_format))


@pytest.mark.parametrize("gap", [0, 35])
def test_folded_words_equal_parallel_and_qkeras(tiny, pulses, gap):
    """Same pulses through both IP tops (stalls on both streams with gap > 0): the same words as QKeras."""
    from labkit.rtl.sim import simulate_ip
    batches = [1, 23, 36]
    fold = simulate_ip(tiny["folded"]["ip"], pulses, batches=batches, gap_percent=gap, seed=3)
    par = simulate_ip(tiny["built"]["ip"], pulses, batches=batches, gap_percent=gap, seed=3)
    assert fold["errors"] == [] and par["errors"] == []
    np.testing.assert_array_equal(fold["words"], _qkeras_words(tiny["model"], pulses))
    np.testing.assert_array_equal(fold["words"], par["words"])
    np.testing.assert_array_equal(fold["last"], par["last"])


def test_folded_words_on_real_and_synthetic_pulses(tiny):
    """Every synthetic test pulse and every window of the real development file (when ../shared is here), stalled."""
    from labkit.data import load, load_split
    from labkit.rtl.sim import simulate_ip
    X = [load_split().test.X]                   # the course's synthetic test pulses (its test vectors)
    if DEV.is_file():
        X.append(load(DEV).X)                   # every window of the real development file
    for x in X:
        r = simulate_ip(tiny["folded"]["ip"], x, gap_percent=20, seed=9)
        assert r["errors"] == []
        np.testing.assert_array_equal(r["words"], _qkeras_words(tiny["model"], x))


def test_folded_rate_and_latency(tiny, pulses):
    """Back to back: one pulse per words_per_pulse beats, the result a few clocks after the last beat."""
    from labkit.rtl.sim import simulate_ip
    r = simulate_ip(tiny["folded"]["ip"], pulses)
    assert r["cycles_per_pulse"] < CFG.words_per_pulse + 0.5
    assert r["latency_after_last_beat"] == tiny["folded"]["core"].latency_cycles + 1   # + the output register
    assert r["latency_after_last_beat"] <= 10


def test_folded_verilator_equals_qkeras(tiny, pulses):
    """The da4ml part, Verilated, fed with the folded layer's exact sums: QKeras's logits."""
    from labkit.fixedpoint import quantize_logits
    from labkit.rtl.fold import emulator_logits
    from labkit.training.contract import qkeras_logits
    core = tiny["folded"]["core"]
    assert core.emulator_compiled
    got = emulator_logits(core, tiny["folded"]["rtl"], tiny["model"], pulses)
    np.testing.assert_array_equal(got, quantize_logits(qkeras_logits(tiny["model"], pulses), CFG.logit_format))


def test_z_integers_are_the_first_layer(tiny, pulses):
    """Z * 2**-(F+8) is the first dense layer's output in float (the input stage is exact)."""
    from labkit.data.prep import preprocess
    from labkit.rtl.fold import z_integers
    from labkit.training.cost import first_layer, layer_steps
    W, b = layer_steps(tiny["model"])[0][2]
    _, _, F, _ = first_layer(tiny["model"])
    want = preprocess(pulses).astype(np.float64) @ W + b
    np.testing.assert_array_equal(z_integers(tiny["model"], pulses) * 2.0 ** -(F + CFG.input_frac_bits), want)


def _hand_linear():
    """161 -> 2, two nonzero weights: W[40, 0] = 0.5, W[41, 1] = -0.25, no bias."""
    from labkit.training.models import build_student
    model = build_student([])
    dense = [layer for layer in model.layers if type(layer).__name__ == "QDense"][0]
    W = np.zeros(dense.kernel.shape, np.float32)
    W[40, 0], W[41, 1] = 0.5, -0.25
    dense.set_weights([W, np.zeros(dense.bias.shape, np.float32)])
    return model


def test_hand_linear_network_lut_count(tmp_path):
    """A network whose folded cost can be counted by hand.

    Integer weights on the grid 2**-2: +2 (unit 0, beat 20 lane 0) and -1 (unit 1, beat 20 lane 1);
    3-bit signed.  ROM bits that differ between beats: 010 -> 1 bit, 111 -> 3 bits; 81 beats need two
    LUT6 per ROM bit: 8.  Products: unit 0 one term (no adder), unit 1 three terms (two adders) of
    13 bits (|2| * 1023 * 2 = 4092 < 2**12): 26.  Two 13-bit accumulators: 26.  Two 12-bit lane
    subtractors (x = baseline - s): 24.  No weight on a baseline sample: no correction.  Total 84
    plus the logits' rounding (``rest``, da4ml's part).
    """
    from labkit.rtl import build, synth
    from labkit.training.cost import fold_cost
    model = _hand_linear()
    c = fold_cost(model)
    assert (c["rom"], c["products"], c["accumulators"], c["lanes"], c["correction"]) == (8, 26, 26, 24, 0)
    assert c["lut_estimate"] == 84 + c["rest"]
    built = build(model, folder=tmp_path, fold="stream", emulator=False)
    y = synth(built, "pynq-z1", ip=False)["core"]
    assert y["dsp"] == 0
    assert 0.5 * c["lut_estimate"] <= y["lut"] <= 1.6 * c["lut_estimate"] + 10, (y["lut"], c)


def test_fold_choice_is_checked():
    from labkit.rtl import build
    with pytest.raises(ValueError, match="stream"):
        build(object(), fold="diagonal")


def test_block_design_with_the_folded_ip(tiny):
    """The folded IP folder drops into the block design: the stub recording passes every check."""
    from labkit.blockdesign import record_design, run_checks
    from labkit.blockdesign.checks import failed
    board = CFG.default_board
    record = record_design(board, ip_kind="rtl", ip_repo=tiny["folded"]["ip"])
    assert [c.name for c in failed(run_checks(record, board))] == []
    cell = next(c for c in record["cells"].values() if c.get("reference") == CFG.rtl.top)
    assert cell["type"] == "module"


def test_overlay_ip_choices():
    from labkit.blockdesign.build import IP_CHOICES
    assert IP_CHOICES["rtl-fold"] == "stream" and IP_CHOICES["rtl-parallel"] == "none"
    assert IP_CHOICES["rtl"] == CFG.rtl.fold
