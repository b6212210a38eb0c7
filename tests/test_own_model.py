"""Your own QKeras student through `labkit hls convert --student` (issues 15 and 30).

The preparation and the refusals are checked without hls4ml on small models trained a few epochs on
toy pulses.  One model goes through the command line: the published ICTP-lab structure of the gallery
(tests/gallery.py: QDense + saturating quantized_bits activations, Dropout, alpha='auto_po2', softmax),
trained on raw ADC codes, converted with `labkit hls convert --student ... --input raw`: agreement 1.0,
the input transform recorded with the vectors, the board driver reading it; `labkit bench agreement`
with the wrong transform says that the input transform is the likely cause.  Every other kind of model
goes through every stage in tests/test_gallery.py.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gallery
from labkit.config import CFG

ROOT = Path(__file__).resolve().parents[1]
SEED = 4321
N_VECTORS = 96
needs_build = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (hls4ml C simulation)")


def env(artifacts):
    e = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3", LABKIT_FAST="1",
             LABKIT_ARTIFACTS=str(artifacts))
    e.pop("LABKIT_DEBUG", None)
    return e


def labkit(*args, artifacts, timeout=900):
    return subprocess.run([sys.executable, "-m", "labkit", *map(str, args)], capture_output=True, text=True,
                          env=env(artifacts), cwd=ROOT, timeout=timeout)


# ------------------------------------------------------------------------------------------
# toy data and models
# ------------------------------------------------------------------------------------------

pulses = gallery.pulses


def ictp_student():
    """As in the public ICTP hls4ml lab: a Sequential of QDense + quantized_relu, Dropout,
    alpha='auto_po2' quantizers, a softmax output."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(SEED)
    q = dict(kernel_quantizer=quantized_bits(6, 0, alpha="auto_po2"), bias_quantizer=quantized_bits(6, 0, alpha=1))
    model = tf.keras.Sequential([
        QDense(16, name="fc1", input_shape=(CFG.n_samples,), **q),
        QActivation(quantized_relu(6), name="relu1"),
        tf.keras.layers.Dropout(0.2, name="drop1"),
        QDense(8, name="fc2", **q),
        QActivation(quantized_relu(6), name="relu2"),
        tf.keras.layers.Dropout(0.2, name="drop2"),
        QDense(2, name="output", **q),
        tf.keras.layers.Activation("softmax", name="softmax"),
    ])
    return gallery.train(model, 2, loss="sparse_categorical_crossentropy")


BUILDERS = {"ictp": ictp_student, "published": gallery.published}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pytest.importorskip("qkeras")
    from labkit.training.compress import quiet_keras

    folder = tmp_path_factory.mktemp("own")
    out = {}
    for name, build in BUILDERS.items():
        with quiet_keras():
            build().save(folder / f"{name}.h5")
        out[name] = folder / f"{name}.h5"
    return out


# ------------------------------------------------------------------------------------------
# preparation (no hls4ml)
# ------------------------------------------------------------------------------------------

def test_ictp_student_is_prepared_like_hls4ml_reads_it(saved):
    from labkit.data.prep import preprocess
    from labkit.training.ownmodel import load_own_student

    original, prepared, notes = load_own_student(saved["ictp"])
    kinds = [type(l).__name__ for l in prepared.layers]
    assert kinds == ["InputLayer", "QDense", "QActivation", "QDense", "QActivation", "QDense"]
    assert all(l.kernel_quantizer_internal.alpha == 1 for l in prepared.layers if type(l).__name__ == "QDense")
    text = " | ".join(notes)
    assert "Dropout 'drop1' removed" in text and "Dropout 'drop2' removed" in text
    assert "softmax" in text and "IP outputs logits" in text and "auto_po2" in text
    X, _ = pulses(300, 2, 7)
    x = preprocess(X)
    logits = prepared.predict(x, verbose=0)
    probs = original.predict(x, verbose=0)
    e = np.exp(logits - logits.max(1, keepdims=True))      # softmax of the stripped logits = the original
    np.testing.assert_allclose(e / e.sum(1, keepdims=True), probs, atol=1e-5)


def test_course_student_is_left_alone():
    pytest.importorskip("qkeras")
    from labkit.training.ownmodel import prepare_student
    from labkit.training import models

    student = models.build_student([4])
    same, notes = prepare_student(student)
    assert same is student and notes == []


def test_other_layers_are_refused_in_one_sentence_listing_them(tmp_path):
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("qkeras")
    from labkit.training import models
    from labkit.training.compress import quiet_keras

    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = tf.keras.layers.BatchNormalization(name="bn_in")(inp)
    x = tf.keras.layers.Dense(4, name="float_dense")(x)            # taken (float weights: a stated choice) ...
    x = tf.keras.layers.Activation("tanh", name="float_tanh")(x)   # ... but a float tanh is no exact activation
    model = tf.keras.Model(inp, models.qdense(2, "logits")(x))
    with quiet_keras():
        model.save(tmp_path / "odd.h5")
    proc = labkit("hls", "convert", "--student", tmp_path / "odd.h5", artifacts=tmp_path / "art")
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = lines[0]
    assert "odd.h5" in line and "'bn_in'" in line and "Activation 'float_tanh'" in line    # everything found ...
    assert "lookup table" in line and "float_dense" not in line                            # ... and why
    assert "Dropout" in line and "BatchNormalization right after a dense layer" in line    # ... and what is supported
    assert not (tmp_path / "art" / "hls").exists()


def test_too_many_outputs_are_refused(tmp_path):
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("qkeras")
    from labkit.training import compress, models, modelfile

    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    with compress.quiet_keras():
        tf.keras.Model(inp, models.qdense(CFG.words_per_pulse + 1, "logits")(inp)).save(tmp_path / "wide.h5")
    with pytest.raises(modelfile.ModelFileError, match=f"1 \\(a sigmoid\\) to {CFG.words_per_pulse} logits"):
        modelfile.load_model(tmp_path / "wide.h5", outputs="any")


def test_grid_precision_holds_po2_scaled_weights():
    from labkit.fixedpoint import grid_precision
    w = np.array([0.03125, -0.046875, 0.390625, -1.5, 0.0])
    fmt = grid_precision(w)
    assert fmt.hls() == "ap_fixed<8,2>"
    np.testing.assert_array_equal(fmt.from_bits(fmt.to_bits(w)), w)


# ------------------------------------------------------------------------------------------
# conversions: one `labkit hls convert --student` per model
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def builds(saved, tmp_path_factory):
    """The published-style student (trained on raw codes) through `labkit hls convert --input raw`."""
    pytest.importorskip("hls4ml")
    if shutil.which("g++") is None:
        pytest.skip("needs g++ (hls4ml C simulation)")
    art = tmp_path_factory.mktemp("art-published")
    proc = labkit("hls", "convert", "--student", saved["published"], "--input", "raw", "--n-vectors", N_VECTORS,
                  artifacts=art)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and not proc.stderr.strip(), proc.stderr
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    notes = [l for l in proc.stdout.splitlines() if l.startswith("note: ")]
    return {"art": art, "summary": summary, "notes": notes}


@needs_build
def test_convert_with_the_raw_input_agrees_bit_for_bit(builds):
    s = builds["summary"]
    assert s["n_out"] == 2 and s["input"] == "raw"
    assert s["argmax_agreement"] == 1.0 and s["bit_exact_fraction"] == 1.0 and s["max_abs_logit_diff_ip"] == 0.0
    assert s["wrapper_words_equal"] is True and s["tlast_ok"] is True
    meta = json.loads((Path(s["vectors"]) / "meta.json").read_text())
    assert meta["n_out"] == 2 and meta["n"] == N_VECTORS
    assert meta["input"] == "raw" and meta["input_format"]["hls"] == "ap_ufixed<10,10>"
    header = (Path(s["project"]) / "firmware" / "labkit_params.h").read_text()
    assert "#define LABKIT_INPUT_BASELINE 0\n" in header


@needs_build
def test_convert_prints_what_it_changed(builds):
    text = " ".join(builds["notes"])
    assert "Dropout 'drop0' removed" in text and "softmax" in text and "IP outputs logits" in text
    assert "auto_po2" in text


@needs_build
def test_emulated_ip_through_the_board_driver(builds, monkeypatch):
    """The board driver, on the emulated overlay, reads n_out and the input transform from the vectors'
    meta.json and gets exactly the C simulation's words; a transform the IP does not have is refused."""
    pytest.importorskip("pynq")
    art = builds["art"]
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    from labkit.board import BoardError, Classifier, EmulatedOverlay, input_from_metadata, n_out_from_metadata
    from labkit.stream import load_test_vectors

    vec = load_test_vectors(art / "hls" / "vectors")
    overlay = EmulatedOverlay(lib_path=art / "hls" / "emu" / "libclyc_emu.so")
    clf = Classifier(overlay, n_out=n_out_from_metadata(vec["meta"]), input=input_from_metadata(vec["meta"]))
    assert clf.input == "raw" and Classifier(overlay).input == "raw"      # the emulated IP knows its own
    run = clf.classify(vec["inputs"], batch_size=32)
    np.testing.assert_array_equal(run.words, vec["expected_words"])
    np.testing.assert_array_equal(run.logits, vec["csim_logits"])
    with pytest.raises(BoardError, match="input stage is 'raw' but input = 'course'"):
        Classifier(overlay, input="course")
    with pytest.raises(Exception, match="logits per pulse"):
        Classifier(overlay, n_out=vec["meta"]["n_out"] + 1)


@needs_build
def test_bench_agreement_with_the_wrong_input_transform_says_so(builds, saved, tmp_path):
    """A model trained on raw codes, fed the course's transform: still exact (the IP computes what the
    model computes), but near chance, and one sentence names the input transform and --input raw."""
    from labkit.data.formats import write_windows

    X, y = pulses(200, 2, 99)
    write_windows(tmp_path / "w.csv", X, y)
    proc = labkit("bench", "agreement", "--student", saved["published"], "--test", tmp_path / "w.csv",
                  artifacts=builds["art"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("n", "argmax_agreement", "max_abs_logit_diff", "bit_exact_fraction", "wrapper_words_equal", "compile_s"):
        assert key in line
    assert line["n"] == 200 and line["argmax_agreement"] == 1.0 and line["bit_exact_fraction"] == 1.0
    assert line["wrapper_words_equal"] is True and line["input"] == "course"
    lo, hi = line["accuracy_ci95"]
    assert lo <= line["accuracy"] <= hi and line["accuracy_k"] == round(line["accuracy"] * 200)
    if hi < 0.6:                    # near chance: the sentence
        assert "input transform" in proc.stderr and "--input raw" in proc.stderr


def test_a_leaky_relu_is_refused_before_anything_is_written(tmp_path):
    """hls4ml has no exact twin of a leaky quantized_relu: one sentence naming the layer and the fix."""
    pytest.importorskip("qkeras")
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from labkit.training.compress import quiet_keras

    q = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = QActivation(quantized_relu(8, 3, negative_slope=0.25), name="leaky")(QDense(4, name="fc1", **q)(inp))
    with quiet_keras():
        tf.keras.Model(inp, QDense(2, name="out", **q)(x)).save(tmp_path / "leaky.h5")
    proc = labkit("hls", "convert", "--student", tmp_path / "leaky.h5", artifacts=tmp_path / "art")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    msg = proc.stderr.strip()
    assert len(msg.splitlines()) == 1 and "leaky.h5" in msg and "'leaky'" in msg and "negative_slope=0" in msg
    assert not (tmp_path / "art" / "hls").exists()


def test_an_inexact_conversion_writes_no_vectors(monkeypatch, tmp_path):
    """A C simulation that differs from QKeras is refused before the emulation library and the test
    vectors are written (they would make `labkit bench board` compare against a wrong reference)."""
    from types import SimpleNamespace
    from labkit.hls import build_all, convert as conv

    prj = tmp_path / "prj"
    fake = SimpleNamespace(config=SimpleNamespace(get_output_dir=lambda: str(prj)))
    monkeypatch.setattr(conv, "convert", lambda *a, **k: fake)
    z = np.zeros((4, 2))
    monkeypatch.setattr(conv, "agreement", lambda *a, **k: {
        "n": 4, "argmax_agreement": 0.75, "max_abs_logit_diff": 9.97, "bit_exact_fraction": 0.0,
        "logit_lsb": 2 ** -11, "qkeras_logits": z, "csim_logits": z + 1})
    X = np.zeros((4, CFG.n_samples), np.uint16)
    with pytest.raises(conv.InexactConversionError, match=r"my\.h5: .*bit-exact on 0\.0% .*--accept-inexact"):
        build_all(model=object(), X_raw=X, y=np.zeros(4, int), vectors_dir=tmp_path / "vec",
                  emu_path=tmp_path / "emu" / "lib.so", source="my.h5", quiet=True)
    assert not (tmp_path / "vec").exists() and not (tmp_path / "emu").exists()


def test_an_inexact_conversion_names_float32_when_qkeras_itself_rounds():
    """16-bit weights on 161 inputs: QKeras' float32 sums cannot be exact, and the refusal says so."""
    pytest.importorskip("qkeras")
    import tensorflow as tf
    from qkeras import QDense, quantized_bits
    from labkit.hls import convert as conv

    q = dict(kernel_quantizer=quantized_bits(16, 0, alpha=1), bias_quantizer=quantized_bits(16, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    model = tf.keras.Model(inp, QDense(2, name="wide16", **q)(inp))
    agree = {"n": 10, "argmax_agreement": 1.0, "max_abs_logit_diff": 0.001, "bit_exact_fraction": 0.9, "input": "course"}
    with pytest.raises(conv.InexactConversionError, match=r"m\.h5: .*'wide16' in float32.*--accept-inexact"):
        conv.refuse_inexact(agree, "m.h5", model=model)
    narrow = tf.keras.Model(inp, QDense(2, name="n4", kernel_quantizer=quantized_bits(4, 0, alpha=1),
                                        bias_quantizer=quantized_bits(4, 0, alpha=1))(inp))
    assert conv.float32_cause(narrow) == ""


def test_near_chance_accuracy_names_the_input_transform():
    from labkit.course.bench import near_chance
    from labkit.metrics import accuracy_ci
    y = np.array([0, 1] * 100)
    assert near_chance(accuracy_ci(y, y), 2, "m.h5", "w.csv") == ""
    msg = near_chance(accuracy_ci(y, np.zeros_like(y)), 2, "m.h5", "w.csv")
    assert msg.startswith("m.h5: 50.0% on w.csv is near chance (50%)") and "input transform" in msg


def test_an_activation_quantizer_without_a_format_is_refused_in_the_model_check():
    """A quantized_bits activation the fixed-point rules have no format for is refused by the model
    check, naming the layer (not later, from the fixed-point module)."""
    pytest.importorskip("qkeras")
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits
    from labkit.training.ownmodel import OwnModelError, prepare_student

    q = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = QActivation(quantized_bits(8, 2, symmetric=True), name="sym")(QDense(4, name="fc1", **q)(inp))
    with pytest.raises(OwnModelError, match=r"QActivation 'sym': .*plain quantized_bits"):
        prepare_student(tf.keras.Model(inp, QDense(2, name="out", **q)(x)))
