"""labkit.rtl.cost: the LUT / latency / nonzero estimate of a student, and its keras-tuner trial metrics."""
import numpy as np
import pytest

pytest.importorskip("da4ml")

from labkit.config import CFG  # noqa: E402
from labkit.rtl import cost  # noqa: E402
from labkit.training import cost as training_cost  # noqa: E402


def _tiny_comb():
    """y = x0 + 2*x1 + 4*x2 with x unsigned 4-bit integers (0..15)."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize
    inp = FixedVariableArrayInput((3,), hwconf=HWConfig(1, -1, -1))
    h = quantize(inp, 0, 4, 0)
    return comb_trace(inp, h @ np.array([[1.0], [2.0], [4.0]]))


def test_tiny_network_by_hand():
    """Two adders.  x0 + 2*x1 is in [0, 45]: 6 output bits, its LSB comes from x0 alone (x1 is
    shifted by one) -> 5 LUTs.  Adding 4*x2 gives [0, 105]: 7 bits, the two lowest are wires -> 5 LUTs.
    da4ml builds it as x2 + (x0 + 2*x1)/4 with the output shifted by 2: the same bits."""
    c = cost.comb_cost(_tiny_comb())
    assert c["adders"] == 2
    assert c["adder_luts"] == 10 and c["lut_estimate"] == 10
    assert c["ops"].get(7, 0) == 0 and c["ops"].get(8, 0) == 0        # no multiplier, no table


def test_constant_addition_counts_bits_above_the_constants_lowest_set_bit():
    from da4ml.types import Op, QInterval
    x = Op(0, -1, -1, 0, QInterval(0.0, 15.0, 1.0), 0.0, 0.0)
    # x + 4 in [4, 19]: 5 bits; the constant's lowest set bit is bit 2 -> bits 2..4 need LUTs
    plus4 = Op(0, -1, 4, 4, QInterval(4.0, 19.0, 1.0), 1.0, 0.0)
    assert cost.op_luts(plus4, [x, plus4]) == 3.0


def _student(kernel_entries):
    """A 2-unit student whose first kernel has only ``kernel_entries`` nonzero (output layer: 2)."""
    from labkit.training import compress, models
    m = models.build_student([2])
    W0, b0, W1, b1 = m.get_weights()
    W0[:] = 0.0
    for (r, c), v in kernel_entries.items():
        W0[r, c] = v
    b0[:] = 0.0
    W1[:] = np.array([[0.5, 0.0], [0.0, 0.25]])
    b1[:] = 0.0
    m.set_weights([W0, b0, W1, b1])
    return compress.finalize_student(m)


def test_estimate_of_a_student():
    pytest.importorskip("qkeras")
    m = _student({(0, 0): 0.5, (1, 0): 0.25, (2, 1): 0.5})
    e = cost.estimate(m, fold="none")
    assert e["nonzero"] == 3 + 2
    assert e["weight_bits"] == CFG.weight_bits
    assert e["adders"] >= 1 and e["lut_estimate"] > 0
    assert e["latency_cycles"] == e["stages"] + 1 >= 1
    assert e["latency_cutoff"] == CFG.board(CFG.default_board).latency_cutoff(CFG.rtl.clock_mhz)
    assert e["estimate_s"] < 5
    # more nonzero weights in the first layer: more adders
    bigger = cost.estimate(_student({(r, r % 2): 0.5 for r in range(12)}), fold="none")
    assert bigger["nonzero"] == 12 + 2 and bigger["lut_estimate"] > e["lut_estimate"]
    # a slower clock fits more adder levels per stage: never more cycles
    assert cost.estimate(bigger_m := _student({(r, r % 2): 0.5 for r in range(12)}), clock_mhz=50,
                         fold="none")["latency_cycles"] <= cost.estimate(bigger_m, clock_mhz=400, fold="none")["latency_cycles"]


def test_estimate_of_the_folded_core():
    """The folded core's estimate: its own LUT model, four more clock edges than the rest's stages."""
    pytest.importorskip("qkeras")
    m = _student({(20, 0): 0.5, (21, 0): 0.25, (40, 1): 0.5})
    e = cost.estimate(m, fold="stream")
    assert e["fold"] == "stream" and e["lut_estimate"] == e["lut_estimate_fold"] == training_cost.fold_cost(m)["lut_estimate"]
    assert e["latency_cycles"] == e["stages"] + 4
    assert e["lut_estimate_parallel"] == cost.estimate(m, fold="none")["lut_estimate"]
    parts = e["fold_parts"]
    assert parts["lut_estimate"] == sum(parts[k] for k in ("rom", "products", "accumulators", "lanes",
                                                           "correction", "rest"))


def test_bad_arguments_are_one_sentence():
    with pytest.raises(ValueError, match="at least one"):
        cost.calibrate([])
    with pytest.raises(ValueError, match="Yosys LUT count of 0"):
        cost.calibrate([({"lut_estimate": 10}, 0)])
    assert cost.calibrate([({"lut_estimate": 110}, 100), ({"lut_estimate": 90}, 100)])["ratio"] == 1.0
    pytest.importorskip("qkeras")
    with pytest.raises(ValueError, match="clock_mhz"):
        cost.estimate(_student({(0, 0): 0.5}), clock_mhz=-5)


def test_trial_metrics_recorded_by_keras_tuner(tmp_path, monkeypatch):
    """A 1-trial search: keras-tuner stores lut_estimate, latency_cycles and nonzero for the trial."""
    pytest.importorskip("keras_tuner")
    pytest.importorskip("qkeras")
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    from labkit.data import Split
    from labkit.data import formats
    from labkit.training import models, tuning
    rng = np.random.default_rng(0)
    n = 500
    y = rng.integers(0, 2, n)
    t = np.arange(CFG.n_samples)
    rise = np.where(y == 1, 40.0, 15.0)
    pulse = rng.uniform(50, 300, n)[:, None] * (1 - np.exp(-np.clip(t[None, :] - 20, 0, None) / rise[:, None]))
    X = np.clip(np.round(400 - pulse), 0, 1023).astype(np.uint16)
    p = formats.Pulses(X, y)
    split = Split(train=p.subset(slice(0, 350)), val=p.subset(slice(350, 425)), test=p.subset(slice(425, 500)))
    # course.ini's bits and sparsity (hardware_knobs=False): this test is about what a trial records
    hm = models.StudentHyperModel(None, 350, epochs=8, batch_size=64, hardware_knobs=False)
    assert hm.hardware_cost
    tuner, _ = tuning.search(hm, split, "cost", trials=1, epochs=8, training=CFG.training_fast,
                             directory=tmp_path, verbose=0)
    trial = tuner.oracle.get_best_trials(1)[0]
    assert trial.status == "COMPLETED", trial.message
    got = {k: trial.metrics.get_last_value(k) for k in models.HARDWARE_METRICS}
    assert all(v is not None and v >= 0 for v in got.values()), got
    assert got["latency_cycles"] >= 1 and got["nonzero"] >= 1
    off = models.StudentHyperModel(None, 140, epochs=2, batch_size=64, hardware_cost=False)
    assert not off.hardware_cost
