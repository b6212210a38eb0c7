"""hls4ml conversion: explicit precisions, bit-exact C simulation, IP export script and report.

The hls4ml project is compiled once per session (toys.toy_build, shared with
test_stream_wrapper.py).
"""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from labkit.config import CFG

hls4ml = pytest.importorskip("hls4ml")


# -- precisions ----------------------------------------------------------------------------------

def test_quantizer_to_ap_fixed():
    from qkeras import quantized_bits, quantized_relu
    from labkit.fixedpoint import bits_precision, relu_precision
    # QKeras' integer excludes the sign bit; ap_fixed's includes it
    assert bits_precision(quantized_bits(8, 0, alpha=1)).hls4ml() == "fixed<8,1>"
    assert bits_precision(quantized_bits(6, 2, alpha=1)).hls4ml() == "fixed<6,3>"
    # round half to even + clip = RND_CONV + SAT
    assert relu_precision(quantized_relu(8, 3)).hls4ml() == "ufixed<8,3,RND_CONV,SAT>"
    from qkeras import quantized_bits as qb
    from labkit.fixedpoint import activation_precision
    assert activation_precision(quantized_relu(8, 3)) == relu_precision(quantized_relu(8, 3))
    assert activation_precision(qb(8, 2)).hls4ml() == "fixed<8,3,RND_CONV,SAT>"      # a saturating linear activation
    assert activation_precision(qb(6, 2, keep_negative=False)).hls4ml() == "ufixed<6,2,RND_CONV,SAT>"
    with pytest.raises(ValueError, match="plain quantized_bits"):
        activation_precision(qb(8, 2, symmetric=True))
    with pytest.raises(ValueError, match="alpha=1"):
        bits_precision(quantized_bits(8, 0, alpha="auto_po2"))
    # the grids really coincide: every ap_fixed<8,1> value is a fixed point of the quantizer
    grid = np.arange(-128, 128) / 128.0
    np.testing.assert_array_equal(np.asarray(quantized_bits(8, 0, alpha=1)(grid.astype(np.float32))), grid)


def test_exact_accumulator_bounds():
    from labkit.fixedpoint import FixedFormat, exact_accumulator
    x, w = FixedFormat.of(CFG.input_format), FixedFormat(8, 1)
    acc = exact_accumulator(x, w, FixedFormat(8, 1), CFG.n_samples)
    assert acc.frac == x.frac + w.frac
    worst = CFG.n_samples * 2.0 ** (x.integer - 1) * 1.0 + 1.0
    assert 2.0 ** (acc.integer - 1) > worst


def test_config_is_fully_explicit(build):
    from labkit.hls.convert import hls_config
    cfg = hls_config(build["model"])
    text = repr(cfg)
    assert "auto" not in text, "every precision must be explicit (no hls4ml 'auto')"
    layers = cfg["LayerName"]
    assert layers["pulse"]["Precision"]["result"] == f"fixed<{CFG.input_format.width},{CFG.input_format.integer}>"
    lf = CFG.logit_format
    assert layers["logits"]["Precision"]["result"] == f"fixed<{lf.width},{lf.integer},RND_CONV,SAT>"
    assert layers["fc1"]["Precision"]["weight"] == f"fixed<{CFG.weight_bits},{CFG.weight_integer + 1}>"


def test_written_types(build):
    defines = (build["project"] / "firmware" / "defines.h").read_text()
    assert f"typedef {CFG.input_format.hls()} input_t;" in defines
    lf = CFG.logit_format
    assert f"typedef ap_fixed<{lf.width},{lf.integer},AP_RND_CONV,AP_SAT,0> result_t;" in defines
    assert "ap_ufixed<8,3,AP_RND_CONV,AP_SAT,0>" in defines


def test_reserved_input_name_is_refused():
    import tensorflow as tf
    from labkit.training.contract import describe_layers
    from qkeras import QDense, quantized_bits
    inp = tf.keras.Input((CFG.n_samples,), name="input")
    m = tf.keras.Model(inp, QDense(2, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                                   bias_quantizer=quantized_bits(8, 0, alpha=1))(inp))
    with pytest.raises(ValueError, match="rename"):
        describe_layers(m)


# -- bit-exactness -------------------------------------------------------------------------------

def test_qkeras_vs_csim_agreement(build):
    from labkit.hls.convert import agreement
    from toys import toy_pulses
    X, _ = toy_pulses(3000, seed=99)
    a = agreement(build["model"], build["hls_model"], X)
    print({k: v for k, v in a.items() if not k.endswith("_logits")})
    assert a["argmax_agreement"] == 1.0
    # the only difference is the final rounding to CFG.logit_format: at most half an lsb ...
    assert a["max_abs_logit_diff"] <= CFG.logit_format.lsb / 2
    # ... and the C simulation equals QKeras rounded to the logit format, bit for bit
    assert a["bit_exact_fraction"] == 1.0
    # the logits are not degenerate (the constant [0.5, 0.5] trap)
    assert np.unique(a["csim_logits"].argmax(1)).size == CFG.n_classes
    assert a["csim_logits"].std(0).min() > 10 * CFG.logit_format.lsb


def test_trace_matches_keras_layer_by_layer(build):
    """hls4ml trace vs keras trace: the quantized_relu outputs are identical."""
    from labkit.hls import convert, profile
    from toys import toy_pulses
    X = toy_pulses(200, seed=5)[0]
    traced = convert.convert(build["model"], output_dir=build["tmp"] / "trace_prj", trace=True, compile=False)
    # hls_model.trace() (re)compiles the project with tracing itself: no compile() before it
    rows = {r["layer"]: r for r in profile.trace_table(build["model"], traced, X)}
    for name in ("fc1", "relu1", "fc2", "relu2"):  # exact accumulators, identical rounding
        assert rows[name]["max_abs_diff"] == 0.0, rows[name]
    assert rows["logits"]["max_abs_diff"] <= CFG.logit_format.lsb / 2


def test_reuse_table(build):
    from labkit.hls import reuse_table
    rows = reuse_table(build["model"], (1, 2, 4))
    fc1 = [r for r in rows if r["layer"] == "fc1"]
    assert fc1[0]["mults"] == CFG.n_samples * 16 and fc1[0]["ii"] == 1
    w = np.asarray(build["model"].get_layer("fc1").kernel_quantizer_internal(build["model"].get_layer("fc1").kernel))
    assert fc1[0]["nonzero"] == int(np.count_nonzero(w))
    assert fc1[0]["multiplier_limit"] == fc1[0]["nonzero"]  # RF 1: one multiplier per nonzero weight
    assert fc1[1]["multiplier_limit"] <= fc1[0]["multiplier_limit"]


# -- export -------------------------------------------------------------------------------------

def test_build_tcl_from_cfg(tmp_path):
    from labkit.hls.vitis import build_tcl
    tcl = build_tcl("kv260", tmp_path)
    assert f"set_top {CFG.hls_top}" in tcl
    assert f"set_part {CFG.board('kv260').part}" in tcl
    assert f"create_clock -period {1000 / CFG.clock_mhz:g}" in tcl
    assert (f"-vendor {CFG.vendor} -library {CFG.library} -version {CFG.ip_version}" in tcl
            and f"-ipname {CFG.hls_top}" in tcl)
    assert "export_design -format ip_catalog" in tcl and "csynth_design" in tcl and "@" not in tcl


def test_export_without_vitis_prints_one_sentence(build, tmp_path, monkeypatch, capsys):
    from labkit.hls import vitis
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert vitis.export_ip(build["project"], ip_dir=tmp_path) is None
    out = capsys.readouterr().out.strip()
    assert out == vitis.skip_sentence() and out.count(".") >= 1 and "\n" not in out
    assert (build["project"] / "build_ip.tcl").is_file()


CSYNTH_SAMPLE = textwrap.dedent("""\
    <?xml version="1.0" encoding="UTF-8"?>
    <profile>
      <ReportVersion><Version>2023.2</Version></ReportVersion>
      <UserAssignments>
        <unit>ns</unit>
        <ProductFamily>zynq</ProductFamily>
        <Part>xc7z020-clg400-1</Part>
        <TopModelName>clyc_classifier</TopModelName>
        <TargetClockPeriod>10.00</TargetClockPeriod>
        <ClockUncertainty>2.70</ClockUncertainty>
        <FlowTarget>vivado</FlowTarget>
      </UserAssignments>
      <PerformanceEstimates>
        <SummaryOfTimingAnalysis>
          <unit>ns</unit>
          <EstimatedClockPeriod>7.117</EstimatedClockPeriod>
        </SummaryOfTimingAnalysis>
        <SummaryOfOverallLatency>
          <unit>clock cycles</unit>
          <Best-caseLatency>1</Best-caseLatency>
          <Average-caseLatency>undef</Average-caseLatency>
          <Worst-caseLatency>393216</Worst-caseLatency>
          <Interval-min>2</Interval-min>
          <Interval-max>393217</Interval-max>
        </SummaryOfOverallLatency>
      </PerformanceEstimates>
      <AreaEstimates>
        <Resources>
          <BRAM_18K>0</BRAM_18K>
          <DSP>12</DSP>
          <FF>6120</FF>
          <LUT>15873</LUT>
          <URAM>0</URAM>
        </Resources>
        <AvailableResources>
          <BRAM_18K>280</BRAM_18K>
          <DSP>220</DSP>
          <FF>106400</FF>
          <LUT>53200</LUT>
          <URAM>0</URAM>
        </AvailableResources>
      </AreaEstimates>
    </profile>
    """)


def test_parse_csynth_xml(tmp_path):
    from labkit.hls.vitis import parse_csynth_xml, report_table
    path = tmp_path / "csynth.xml"
    path.write_text(CSYNTH_SAMPLE)
    r = parse_csynth_xml(path)
    assert r["top"] == "clyc_classifier" and r["part"] == "xc7z020-clg400-1"
    assert (r["latency_best"], r["latency_worst"], r["interval_min"], r["interval_max"]) == (1, 393216, 2, 393217)
    assert (r["LUT"], r["FF"], r["DSP"], r["BRAM_18K"]) == (15873, 6120, 12, 0)
    assert r["target_clock_ns"] == 10.0 and r["estimated_clock_ns"] == 7.117
    assert r["available"]["LUT"] == 53200
    table = report_table(r)
    assert "LUT" in table and "29.8 %" in table


def test_parse_csynth_xml_old_dsp_name(tmp_path):
    from labkit.hls.vitis import parse_csynth_xml
    path = tmp_path / "csynth.xml"
    path.write_text(CSYNTH_SAMPLE.replace("<DSP>", "<DSP48E>").replace("</DSP>", "</DSP48E>"))
    assert parse_csynth_xml(path)["DSP"] == 12


@pytest.mark.vitis
def test_vitis_export(build, tmp_path):
    from labkit.hls.vitis import VitisUnsupported, export_ip, find_vitis
    try:
        find_vitis()
    except (FileNotFoundError, VitisUnsupported) as err:
        pytest.skip(str(err))
    report = export_ip(build["project"], ip_dir=tmp_path)
    assert report["top"] == CFG.hls_top and isinstance(report["LUT"], int)
    assert (tmp_path / f"{CFG.hls_top}.zip").is_file()


# -- softmax in HLS (lab 04's measurement) --------------------------------------------------------

@pytest.fixture(scope="module")
def softmax_runs():
    """The toy student + softmax, naive and tuned (tests/toys.py), C-simulated on toy pulses."""
    from toys import toy_pulses, toy_softmax
    from labkit.data.prep import preprocess
    from labkit.training.contract import qkeras_logits
    X, _ = toy_pulses(300, seed=5)
    out = {}
    for name in ("naive", "tuned"):
        b = toy_softmax(name)
        p = b["hls_model"].predict(np.ascontiguousarray(preprocess(X), dtype=np.float64)).reshape(len(X), -1)
        out[name] = {"hls_model": b["hls_model"], "p": p, "logits": qkeras_logits(b["model"], X)}
    return out


def test_softmax_tables_are_read_from_the_generated_project(softmax_runs):
    from labkit.hls import softmax
    naive = {r["table"]: r for r in softmax.tables(softmax_runs["naive"]["hls_model"])}
    tuned = {r["table"]: r for r in softmax.tables(softmax_runs["tuned"]["hls_model"])}
    # hls4ml's default inv_inp_t ap_fixed<18,8>: 1024 entries address -128 ... 128 in steps of 1/4
    assert naive["1/x"]["address type"] == "ap_fixed<18,8,AP_RND,AP_SAT>" and naive["1/x"]["bin width"] == 0.25
    assert naive["1/x"]["covers"] == "-128 … 128"
    assert tuned["1/x"]["bin width"] == 2.0 ** -8 and tuned["exp"]["bin width"] == 2.0 ** -6
    assert all(r["bits"] == 1024 * 18 for r in tuned.values())
    cfg = softmax.config_of(softmax_runs["naive"]["hls_model"])
    assert cfg["implementation"] == "stable" and cfg["result_t"] == "ap_ufixed<16,0>"
    assert softmax.config_of(softmax_runs["tuned"]["hls_model"])["inp_norm_t"] == "ap_ufixed<10,4,AP_TRN,AP_SAT,0>"


def test_naive_softmax_wraps_confident_decisions_to_zero(softmax_runs):
    """p = 1 does not fit ap_ufixed<16,0> (AP_WRAP): the confident winner gets 0 and the decision flips."""
    from labkit.hls import softmax
    r = softmax_runs["naive"]
    c = softmax.compare(r["p"], r["logits"])
    assert c["flipped"] > 0
    winner = r["logits"].argmax(1)
    zero = r["p"][np.arange(len(winner)), winner] == 0
    margin = np.abs(r["logits"][:, 1] - r["logits"][:, 0])
    assert zero.any() and margin[zero].min() > 1.0          # confident pulses, not near-ties


def test_tuned_softmax_flips_only_near_ties(softmax_runs):
    from labkit.hls import softmax
    r = softmax_runs["tuned"]
    c = softmax.compare(r["p"], r["logits"])
    exp_bin = softmax.tables(r["hls_model"])[0]["bin width"]
    assert c["flipped"] == 0 or c["margin_max"] < exp_bin       # only near-ties: both exps in one bin
    assert c["max_abs_dp"] < 0.01 and 0.99 < c["sum_min"] <= c["sum_max"] < 1.01


def test_softmax_parse_type():
    from labkit.hls.softmax import parse_type
    f = parse_type("ap_ufixed<18,1,AP_RND,AP_SAT,0>")
    assert (f.width, f.integer, f.signed, f.rounding, f.saturation) == (18, 1, False, "RND", "SAT")
    f = parse_type("ap_fixed<22, 10>")
    assert (f.width, f.integer, f.signed, f.rounding, f.saturation) == (22, 10, True, "", "")
    with pytest.raises(ValueError, match="not an ap_fixed"):
        parse_type("float")
