"""Your own QKeras student through `labkit hls convert --student` (issue 15, item 6).

Three small models, trained a few epochs on toy pulses, each converted once (module-scoped builds,
~30 s each): the ICTP-lab style student (Dropout layers, a softmax output, alpha='auto_po2'
quantizers), a 3-class student, and a student with BatchNormalization and one sigmoid output.
Each must give QKeras vs C simulation agreement 1.0 and bit-exact logits, and the emulated IP
(driven by the board driver through the emulated overlay) must emit the C simulation's words.
The fast tests check the preparation and the refusals without hls4ml.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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

def pulses(n, n_classes=2, seed=SEED):
    """Raw 10-bit CLYC-like pulses; the decay time grows with the class (gamma fast, neutron slow, ...)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    t = np.arange(CFG.n_samples, dtype=np.float64)
    onset = rng.integers(15, 25, n)[:, None]
    taus = [(6, 14), (22, 34), (45, 70), (80, 120)]
    tau = np.array([rng.uniform(*taus[c]) for c in y])[:, None]
    amp = rng.uniform(80, 500, n)[:, None]
    base = rng.uniform(700, 900, n)[:, None]
    rel = np.clip(t[None, :] - onset, 0, None)
    X = base - np.where(t[None, :] >= onset, amp * np.exp(-rel / tau), 0.0) + rng.normal(0, 2.0, (n, CFG.n_samples))
    return np.clip(np.round(X), 0, CFG.adc_max).astype(np.uint16), y.astype(np.int64)


def train(model, n_classes, loss, epochs=4):
    import tensorflow as tf
    from labkit.data.prep import preprocess

    X, y = pulses(1500, n_classes, SEED + n_classes)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss=loss)
    model.fit(preprocess(X), y.astype(np.float32) if loss == "binary_crossentropy" else y,
              epochs=epochs, batch_size=64, verbose=0)
    return model


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
    return train(model, 2, "sparse_categorical_crossentropy")


def three_class_student():
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(SEED + 1)
    q = dict(kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 1, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = QDense(12, name="fc1", activation=quantized_relu(8, 3), **q)(inp)   # relu inside the QDense
    out = QDense(3, name="logits", **q)(x)
    return train(tf.keras.Model(inp, out), 3,
                 tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def batchnorm_student():
    """QDense -> BatchNormalization -> quantized_relu -> QDense(1, sigmoid): folded, one logit out."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(SEED + 2)
    q = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = QDense(16, name="fc1", **q)(inp)
    x = tf.keras.layers.BatchNormalization(name="bn1")(x)
    x = QActivation(quantized_relu(8, 3), name="relu1")(x)
    out = QDense(1, name="out", activation="sigmoid", **q)(x)
    return train(tf.keras.Model(inp, out), 2, "binary_crossentropy")


def odd_quantizer_student():
    """As published models differ (issue 30): a 1-bit kernel (``quantized_bits(1, 0, alpha=1)``) and an
    unsigned one (``keep_negative=False``), which hls4ml does not read exactly as they stand, and a
    saturating linear ``QActivation('quantized_bits(8, 2)')`` between the layers (no ReLU)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(SEED + 3)
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = QDense(8, name="fc1", kernel_quantizer=quantized_bits(1, 0, alpha=1),
               bias_quantizer=quantized_bits(6, 2, alpha=1))(inp)
    x = QActivation("quantized_bits(8, 2)", name="q1")(x)
    x = tf.keras.layers.Dropout(0.2, name="drop1")(x)
    out = QDense(2, name="out", kernel_quantizer=quantized_bits(6, 0, keep_negative=False, alpha=1),
                 bias_quantizer=quantized_bits(6, 0, alpha=1))(x)
    return train(tf.keras.Model(inp, out), 2, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))


BUILDERS = {"ictp": ictp_student, "three": three_class_student, "bn": batchnorm_student, "odd": odd_quantizer_student}


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
    from labkit.hls.ownmodel import load_own_student

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
    from labkit.hls.ownmodel import prepare_student
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
    pytest.importorskip("hls4ml")
    if shutil.which("g++") is None:
        pytest.skip("needs g++ (hls4ml C simulation)")
    out, data = {}, None
    for name, path in saved.items():
        art = tmp_path_factory.mktemp(f"art-{name}")
        if data is not None:                       # the synthetic set, written once
            shutil.copytree(data, art / "data", dirs_exist_ok=True)
        proc = labkit("hls", "convert", "--student", path, "--n-vectors", N_VECTORS, artifacts=art)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr and not proc.stderr.strip(), proc.stderr
        summary = json.loads(proc.stdout[proc.stdout.index("{"):])
        notes = [l for l in proc.stdout.splitlines() if l.startswith("note: ")]
        out[name] = {"art": art, "summary": summary, "notes": notes}
        data = data or art / "data"
    return out


@needs_build
@pytest.mark.parametrize("name, n_out", [("ictp", 2), ("three", 3), ("bn", 1), ("odd", 2)])
def test_convert_own_model_agrees_bit_for_bit(builds, name, n_out):
    s = builds[name]["summary"]
    assert s["n_out"] == n_out
    assert s["argmax_agreement"] == 1.0
    assert s["bit_exact_fraction"] == 1.0
    assert s["wrapper_words_equal"] is True and s["tlast_ok"] is True
    meta = json.loads((Path(s["vectors"]) / "meta.json").read_text())
    assert meta["n_out"] == n_out and meta["n"] == N_VECTORS


@needs_build
def test_convert_prints_what_it_changed(builds):
    ictp = " ".join(builds["ictp"]["notes"])
    assert "Dropout 'drop1' removed" in ictp and "softmax" in ictp and "IP outputs logits" in ictp
    assert "auto_po2" in ictp
    bn = " ".join(builds["bn"]["notes"])
    assert "BatchNormalization 'bn1' folded into QDense 'fc1'" in bn and "sigmoid" in bn
    # the folded model is the reference; how often it agrees with the trained, unfolded one is measured
    assert 0.9 <= builds["bn"]["summary"]["original_class_agreement"] <= 1.0
    assert "quantized_relu activation became QActivation" in " ".join(builds["three"]["notes"])
    odd = " ".join(builds["odd"]["notes"])
    assert "'fc1' kernel" in odd and "'out' kernel" in odd and "kept exactly" in odd


@needs_build
@pytest.mark.parametrize("name", ["ictp", "three", "bn"])
def test_emulated_ip_through_the_board_driver(builds, name, monkeypatch):
    """The board driver, on the emulated overlay, reads n_out from the vectors' meta.json and gets
    exactly the C simulation's words."""
    pytest.importorskip("pynq")
    art = builds[name]["art"]
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    from labkit.board import Classifier, EmulatedOverlay, n_out_from_metadata
    from labkit.stream import load_test_vectors

    vec = load_test_vectors(art / "hls" / "vectors")
    overlay = EmulatedOverlay(lib_path=art / "hls" / "emu" / "libclyc_emu.so")
    clf = Classifier(overlay, n_out=n_out_from_metadata(vec["meta"]))
    run = clf.classify(vec["inputs"], batch_size=32)
    np.testing.assert_array_equal(run.words, vec["expected_words"])
    np.testing.assert_array_equal(run.logits, vec["csim_logits"])
    assert run.logits.shape == (N_VECTORS, vec["meta"]["n_out"])
    with pytest.raises(Exception, match="logits per pulse"):
        Classifier(overlay, n_out=vec["meta"]["n_out"] + 1)


@needs_build
def test_bench_agreement_with_own_model_and_test_windows(builds, saved, tmp_path):
    from labkit.data.formats import write_windows

    X, y = pulses(200, 2, 99)
    write_windows(tmp_path / "w.csv", X, y)
    art = builds["ictp"]["art"]
    proc = labkit("bench", "agreement", "--student", saved["ictp"], "--test", tmp_path / "w.csv", artifacts=art)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("n", "argmax_agreement", "max_abs_logit_diff", "bit_exact_fraction", "wrapper_words_equal", "compile_s"):
        assert key in line
    assert line["n"] == 200 and line["argmax_agreement"] == 1.0 and line["bit_exact_fraction"] == 1.0
    assert line["wrapper_words_equal"] is True
    lo, hi = line["accuracy_ci95"]
    assert lo <= line["accuracy"] <= hi and line["accuracy_k"] == round(line["accuracy"] * 200)


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
    from labkit.hls.ownmodel import OwnModelError, prepare_student

    q = dict(kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = QActivation(quantized_bits(8, 2, symmetric=True), name="sym")(QDense(4, name="fc1", **q)(inp))
    with pytest.raises(OwnModelError, match=r"QActivation 'sym': .*plain quantized_bits"):
        prepare_student(tf.keras.Model(inp, QDense(2, name="out", **q)(x)))
