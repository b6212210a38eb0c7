"""A gallery of classifiers as people publish them (issue 30), built here, trained a few epochs on toy pulses.

Each entry is ``name -> (builder, input, n_classes)``: ``input`` is the transform the model is
trained on (``raw``: the ADC codes as the CSV columns hold them; ``course``: baseline minus sample,
scaled, the course's normalised pulses).  Together they cover Sequential and functional models, every
weight quantizer kind QKeras offers for dense layers (quantized_bits plain / alpha='auto_po2' /
unsigned / symmetric / 1 bit, quantized_po2, binary, ternary, float), activations (quantized_relu,
quantized_bits signed and unsigned, quantized_tanh, quantized_sigmoid, float ReLU), a lossless input
quantizer, Dropout, Flatten,
BatchNormalization, a final softmax or sigmoid, mixed bit widths, 1 to 5 hidden layers, wide and
narrow layers, 1, 2 and 3 outputs.
"""
from __future__ import annotations

import numpy as np

from labkit.config import CFG

SEED = 4321


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


def train(model, n_classes, input="course", loss=None, epochs=4, n=1500, lr=3e-3):
    """Fit on toy pulses through the input transform ``input``; the loss follows the output."""
    import tensorflow as tf
    from labkit.data.prep import transform

    X, y = pulses(n, n_classes, SEED + n_classes)
    x = transform(X, input).reshape((-1,) + tuple(model.input_shape[1:]))
    if loss is None:
        last = model.layers[-1]
        probs = type(last).__name__ == "Activation" or getattr(getattr(last, "activation", None), "__name__", "") == "softmax"
        loss = ("binary_crossentropy" if model.output_shape[-1] == 1 else
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=not probs))
    model.compile(optimizer=tf.keras.optimizers.Adam(lr), loss=loss)
    model.fit(x, y.astype(np.float32) if model.output_shape[-1] == 1 else y, epochs=epochs, batch_size=64, verbose=0)
    return model


def _q():
    import qkeras
    return qkeras


def published():
    """The structure of the published ICTP-lab student (issue 30): QDense(linear) + QActivation('quantized_bits(8)')
    (a saturating linear quantizer, no ReLU), Dropout, alpha='auto_po2' kernels, a 16-bit output layer, a separate
    softmax; Sequential; trained on raw ADC codes."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED)
    k = dict(kernel_quantizer=q.quantized_bits(8, 0, alpha="auto_po2"), bias_quantizer=q.quantized_bits(8, 0, alpha=1))
    model = tf.keras.Sequential([
        q.QDense(8, input_shape=(CFG.n_samples,), name="fc1", **k),
        q.QActivation("quantized_bits(8)", name="relu0"),
        tf.keras.layers.Dropout(0.1, name="drop0"),
        q.QDense(4, name="fc2", **k),
        q.QActivation("quantized_bits(8)", name="relu1"),
        tf.keras.layers.Dropout(0.1, name="drop1"),
        q.QDense(2, name="output", kernel_quantizer=q.quantized_bits(16, 6, alpha=1),
                 bias_quantizer=q.quantized_bits(16, 6, alpha=1)),
        tf.keras.layers.Activation("softmax", name="softmax"),
    ])
    return train(model, 2, "raw", lr=1e-3)


def three_classes_inline():
    """3 classes; the ReLU inside the QDense (activation=quantized_relu)."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 2)
    k = dict(kernel_quantizer=q.quantized_bits(8, 1, alpha=1), bias_quantizer=q.quantized_bits(8, 1, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = q.QDense(6, name="fc1", activation=q.quantized_relu(8, 3), **k)(inp)
    x = q.QDense(4, name="fc2", activation=q.quantized_relu(6, 2), **k)(x)
    return train(tf.keras.Model(inp, q.QDense(3, name="logits", **k)(x)), 3)


def batchnorm_sigmoid():
    """QDense -> BatchNormalization -> quantized_relu -> QDense(1, sigmoid): folded, one logit out."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 3)
    k = dict(kernel_quantizer=q.quantized_bits(8, 0, alpha=1), bias_quantizer=q.quantized_bits(8, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = q.QDense(8, name="fc1", **k)(inp)
    x = tf.keras.layers.BatchNormalization(name="bn1")(x)
    x = q.QActivation(q.quantized_relu(8, 3), name="relu1")(x)
    return train(tf.keras.Model(inp, q.QDense(1, name="out", activation="sigmoid", **k)(x)), 2)


def po2_weights():
    """quantized_po2 kernels (signed powers of two), quantized_bits biases."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 4)
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = q.QDense(6, name="fc1", kernel_quantizer=q.quantized_po2(4, 1), bias_quantizer=q.quantized_bits(8, 2, alpha=1))(inp)
    x = q.QActivation(q.quantized_relu(6, 2), name="r1")(x)
    out = q.QDense(2, name="out", kernel_quantizer=q.quantized_po2(5, 2), bias_quantizer=q.quantized_bits(8, 2, alpha=1))(x)
    return train(tf.keras.Model(inp, out), 2)


def binary_ternary():
    """A binary first layer, a ternary second one, unsigned quantized_bits activations between."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 5)
    model = tf.keras.Sequential([
        q.QDense(8, input_shape=(CFG.n_samples,), name="bin", kernel_quantizer=q.binary(alpha=1),
                 bias_quantizer=q.quantized_bits(8, 3, alpha=1)),
        q.QActivation(q.quantized_bits(6, 2, keep_negative=False), name="u1"),
        q.QDense(4, name="ter", kernel_quantizer=q.ternary(alpha=1), bias_quantizer=q.quantized_bits(8, 3, alpha=1)),
        q.QActivation(q.quantized_bits(6, 2, keep_negative=False), name="u2"),
        q.QDense(2, name="out", kernel_quantizer=q.quantized_bits(8, 0, alpha=1), bias_quantizer=q.quantized_bits(8, 0, alpha=1)),
    ])
    return train(model, 2)


def tanh_sigmoid():
    """quantized_tanh and quantized_sigmoid (QKeras' hard versions) as hidden activations."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 6)
    k = dict(kernel_quantizer=q.quantized_bits(8, 0, alpha=1), bias_quantizer=q.quantized_bits(8, 0, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = q.QActivation(q.quantized_tanh(6), name="tanh1")(q.QDense(6, name="fc1", **k)(inp))
    x = q.QActivation(q.quantized_sigmoid(6), name="sig2")(q.QDense(4, name="fc2", **k)(x))
    return train(tf.keras.Model(inp, q.QDense(2, name="out", **k)(x)), 2)


def float_keras():
    """Plain Keras: Dense + Activation('relu'), Dense(activation='relu'), Dense + softmax (float weights)."""
    import tensorflow as tf
    tf.keras.utils.set_random_seed(SEED + 7)
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(6, input_shape=(CFG.n_samples,), name="d1"),
        tf.keras.layers.Activation("relu", name="a1"),
        tf.keras.layers.Dense(4, activation="relu", name="d2"),
        tf.keras.layers.Dense(2, activation="softmax", name="d3"),
    ])
    return train(model, 2)


def deep_narrow_mixed():
    """Five hidden layers of 4 to 6 units, a different bit width on every layer (4 ... 10 bits)."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 8)
    widths, bits = (6, 5, 4, 5, 4), (6, 4, 8, 5, 10)
    layers = []
    for j, (u, b) in enumerate(zip(widths, bits)):
        extra = dict(input_shape=(CFG.n_samples,)) if j == 0 else {}
        layers += [q.QDense(u, name=f"fc{j}", kernel_quantizer=q.quantized_bits(b, 1, alpha=1),
                            bias_quantizer=q.quantized_bits(b + 2, 3, alpha=1), **extra),
                   q.QActivation(q.quantized_relu(b, 2), name=f"r{j}")]
    layers.append(q.QDense(3, name="out", kernel_quantizer=q.quantized_bits(7, 1, alpha=1),
                           bias_quantizer=q.quantized_bits(7, 1, alpha=1)))
    return train(tf.keras.Sequential(layers), 3, epochs=6)


def wide_flatten_raw():
    """A (161, 1) input flattened, a lossless input quantizer (11-bit integers hold every ADC code), one wide
    hidden layer (16 units, symmetric alpha='auto_po2' kernel) with a saturating linear activation; raw codes."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 9)
    inp = tf.keras.Input((CFG.n_samples, 1), name="trace")
    x = tf.keras.layers.Flatten(name="flat")(inp)
    x = q.QActivation(q.quantized_bits(11, 10, alpha=1), name="adc")(x)
    x = q.QDense(16, name="wide", kernel_quantizer=q.quantized_bits(8, 0, alpha="auto_po2", symmetric=True),
                 bias_quantizer=q.quantized_bits(8, 0, alpha=1))(x)
    x = q.QActivation("quantized_bits(8)", name="q1")(x)
    x = tf.keras.layers.Dropout(0.2, name="drop")(x)
    out = q.QDense(2, name="out", kernel_quantizer=q.quantized_bits(8, 2, alpha=1),
                   bias_quantizer=q.quantized_bits(8, 3, alpha=1))(x)
    return train(tf.keras.Model(inp, out), 2, "raw", lr=1e-3)


def one_bit_linear():
    """A 1-bit kernel, a saturating linear QActivation('quantized_bits(8, 2)') (no ReLU), an unsigned output kernel."""
    import tensorflow as tf
    q = _q()
    tf.keras.utils.set_random_seed(SEED + 10)
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = q.QDense(6, name="fc1", kernel_quantizer=q.quantized_bits(1, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 2, alpha=1))(inp)
    x = q.QActivation("quantized_bits(8, 2)", name="q1")(x)
    x = tf.keras.layers.Dropout(0.2, name="drop1")(x)
    out = q.QDense(2, name="out", kernel_quantizer=q.quantized_bits(6, 0, keep_negative=False, alpha=1),
                   bias_quantizer=q.quantized_bits(6, 0, alpha=1))(x)
    return train(tf.keras.Model(inp, out), 2)


#: name -> (builder, input transform, classes)
GALLERY = {
    "published": (published, "raw", 2),
    "three_classes_inline": (three_classes_inline, "course", 3),
    "batchnorm_sigmoid": (batchnorm_sigmoid, "course", 2),
    "po2_weights": (po2_weights, "course", 2),
    "binary_ternary": (binary_ternary, "course", 2),
    "tanh_sigmoid": (tanh_sigmoid, "course", 2),
    "float_keras": (float_keras, "course", 2),
    "deep_narrow_mixed": (deep_narrow_mixed, "course", 3),
    "wide_flatten_raw": (wide_flatten_raw, "raw", 2),
    "one_bit_linear": (one_bit_linear, "course", 2),
}


def run(name, folder, n_test=200, n_vectors=48, rtl=True) -> dict:
    """One gallery model through everything, in this process: saved as .h5 and read back as
    ``labkit hls convert --student`` reads it, converted (hls4ml C simulation vs QKeras on ``n_test``
    held-out toy pulses), the emulation library and ``n_vectors`` test vectors, the RTL twin (the course's
    fold; Icarus runs the whole IP on the vectors) and the board driver on the emulated overlay.
    Returns the figures (one row of the gallery table)."""
    import time
    from pathlib import Path

    from labkit.board import Classifier, EmulatedOverlay, input_from_metadata, n_out_from_metadata
    from labkit.fixedpoint import predicted_classes
    from labkit.hls import build_all
    from labkit.training.ownmodel import load_own_student
    from labkit.metrics import accuracy_ci
    from labkit.stream import load_test_vectors
    from labkit.training.compress import quiet_keras

    build, input, n_classes = GALLERY[name]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with quiet_keras():
        build().save(folder / f"{name}.h5")
    t_train = time.perf_counter() - t0
    original, model, notes = load_own_student(folder / f"{name}.h5", input)
    X, y = pulses(n_test, n_classes, seed=SEED + 100 + n_classes)          # held out: another seed
    out = build_all(model, X_raw=X, y=y, project_dir=folder / "prj", emu_path=folder / "emu" / "libclyc_emu.so",
                    vectors_dir=folder / "vectors", n_vectors=n_vectors, quiet=True, original=original,
                    notes=notes, source=folder / f"{name}.h5", input=input)
    s, agree = out["summary"], out["agreement"]
    acc = accuracy_ci(y, predicted_classes(agree["csim_logits"]))
    row = {"model": name, "input": input, "n_out": s["n_out"], "n": s["n"], "argmax_agreement": s["argmax_agreement"],
           "max_abs_logit_diff": s["max_abs_logit_diff"], "max_abs_logit_diff_ip": s["max_abs_logit_diff_ip"],
           "bit_exact_fraction": s["bit_exact_fraction"],
           "wrapper_words_equal": s["wrapper_words_equal"], "accuracy": round(acc["acc"], 4),
           "accuracy_ci95": [round(v, 4) for v in acc["ci95"]], "notes": notes,
           "original_class_agreement": s.get("original_class_agreement"), "train_s": round(t_train, 1),
           "hls_s": round(time.perf_counter() - t0 - t_train, 1)}
    vec = load_test_vectors(folder / "vectors")
    overlay = EmulatedOverlay(lib_path=folder / "emu" / "libclyc_emu.so")
    clf = Classifier(overlay, n_out=n_out_from_metadata(vec["meta"]), input=input_from_metadata(vec["meta"]))
    run_ = clf.classify(vec["inputs"], batch_size=16)
    row["board_words_equal"] = bool(np.array_equal(run_.words, vec["expected_words"]))
    row["board_input"] = clf.input
    if rtl:
        from labkit.rtl import build as rtl_build, check
        t1 = time.perf_counter()
        built = rtl_build(model, folder=folder / "rtl", emulator=False, input=input)
        res = check(built, model, vec["inputs"], csim_logits=vec["csim_logits"])
        row.update(rtl_words_equal=res["rtl_words_equal"], rtl_equal_qkeras=res["iverilog_core_equal_qkeras"],
                   rtl_latency_cycles=res["latency_cycles"], rtl_s=round(time.perf_counter() - t1, 1))
    return row
