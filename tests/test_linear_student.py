"""A linear student (no hidden layer: 161 inputs -> logits, 5-bit weights, most of them zero) goes the
whole way: hls4ml conversion with a bit-exact C simulation, the da4ml RTL core bit-exact against
QKeras, and Yosys synthesis with no DSP.  The student search offers depth 0 (issue 26)."""
import numpy as np
import pytest

from labkit.config import CFG
from labkit.rtl import tools

pytest.importorskip("hls4ml")
_missing = tools.missing("da4ml", "verilator", "yosys", "g++")
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"RTL tools: {_missing}")


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    import tensorflow as tf
    from toys import fit_and_prune

    from labkit.hls import convert
    from labkit.rtl import build
    from labkit.training.models import build_student

    tf.keras.utils.set_random_seed(3)
    model = fit_and_prune(build_student([], weight_bits=5, activation_bits=5), epochs=3, sparsity=0.85, seed=3)
    tmp = tmp_path_factory.mktemp("linear")
    return {"model": model, "built": build(model, folder=tmp / "rtl", fold="none"),
            "folded": build(model, folder=tmp / "rtl_fold", fold="stream", emulator=False),
            "hls_model": convert.convert(model, output_dir=tmp / "hls")}


def test_linear_student_has_no_hidden_layer(linear):
    from labkit.training.contract import describe_layers
    kinds = [kind for kind, _ in describe_layers(linear["model"])]
    assert kinds == ["InputLayer", "QDense"]
    kernel = linear["model"].layers[-1].get_weights()[0]
    assert kernel.shape == (CFG.n_samples, CFG.n_classes) and np.mean(kernel == 0) >= 0.8


def test_linear_student_converts_bit_exactly(linear):
    from toys import toy_pulses

    from labkit.hls.convert import agreement
    from labkit.rtl.core import emulator_logits
    X, _ = toy_pulses(80, seed=21)
    a = agreement(linear["model"], linear["hls_model"], X)
    assert a["bit_exact_fraction"] == 1.0 and a["argmax_agreement"] == 1.0
    np.testing.assert_array_equal(emulator_logits(linear["built"]["rtl"], X), a["csim_logits"])


def test_linear_student_cost_and_synthesis(linear):
    from pathlib import Path

    from labkit.rtl.cost import estimate
    from labkit.rtl.resources import synthesize
    core = linear["built"]["core"]
    est = estimate(linear["model"], fold="none")
    assert est["latency_cycles"] == core.stages + 1 and est["nonzero"] > 0
    r = synthesize([Path(core.folder) / s for s in core.sources], f"{core.name}_wrapper", CFG.default_board)
    assert r["dsp"] == 0 and 0 < r["lut"] < 2000


def test_linear_student_traces_layer_by_layer(linear):
    """Lab 04's per-layer trace takes a network of one layer too (Keras returns one output unlisted)."""
    from toys import toy_pulses

    from labkit.hls.profile import keras_trace
    X, _ = toy_pulses(40, seed=22)
    trace = keras_trace(linear["model"], X)
    assert list(trace) == ["logits"] and trace["logits"].shape == (40, CFG.n_classes)


def test_linear_student_folded(linear):
    """The folded core of a linear student: the IP's words equal the parallel IP's, no DSP."""
    from toys import toy_pulses

    from labkit.rtl import synth
    from labkit.rtl.sim import simulate_ip
    X, _ = toy_pulses(40, seed=23)
    fold = simulate_ip(linear["folded"]["ip"], X, gap_percent=25)
    par = simulate_ip(linear["built"]["ip"], X, gap_percent=25)
    assert fold["errors"] == [] and np.array_equal(fold["words"], par["words"])
    r = synth(linear["folded"], CFG.default_board, ip=False)["core"]
    assert r["dsp"] == 0 and 0 < r["lut"] < 2000
