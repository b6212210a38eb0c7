"""Stages 2–3 — keras-tuner hypermodels for the teacher (float MLP) and the student (QKeras).

The search space is declared once, in ``build(hp)``; the final model is rebuilt from the best
``hp.values`` by that same ``build`` — never from a hand-copied list of "best" numbers.

Both models output **logits** (linear last layer).  Inputs are the preprocessed windows
(``labkit.data.preprocess``), exactly what the FPGA input stage computes.
"""
from __future__ import annotations

import keras_tuner as kt
import tensorflow as tf

from . import compress
from .config import CFG

LEARNING_RATES = [1e-2, 1e-3, 1e-4]


def _compile(model: tf.keras.Model, lr: float) -> tf.keras.Model:
    model.compile(optimizer=tf.keras.optimizers.Adam(lr),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy("accuracy")])
    return model


class TeacherHyperModel(kt.HyperModel):
    """Float MLP: 1–3 ReLU layers of 32…300 units, learning rate in {1e-2, 1e-3, 1e-4}."""

    def __init__(self, n_inputs: int = CFG.n_samples, max_layers: int = 3, name="teacher", **kw):
        super().__init__(name=name, **kw)
        self.n_inputs, self.max_layers = n_inputs, max_layers

    def build(self, hp: kt.HyperParameters) -> tf.keras.Model:
        inputs = tf.keras.Input((self.n_inputs,), name="pulse")
        x = inputs
        for i in range(hp.Int("layers", 1, self.max_layers)):
            x = tf.keras.layers.Dense(hp.Int(f"units_{i}", 32, 300, step=4), activation="relu", name=f"dense_{i}")(x)
        logits = tf.keras.layers.Dense(CFG.n_classes, name="logits")(x)
        return _compile(tf.keras.Model(inputs, logits, name="teacher"), hp.Choice("learning_rate", LEARNING_RATES))


# Hidden-layer biases start slightly positive: a 1–5-unit quantized ReLU layer initialised with zero
# biases is often dead from the first step (all pre-activations < 0, no gradient). Measured here on
# a 161-5-1-2 student: 5 of 6 seeds never left 50 % accuracy with 0.0, all 6 learnt with 0.1.
HIDDEN_BIAS_INIT = 0.1


def qdense(units: int, name: str, bias_init: float = 0.0):
    from qkeras import QDense, quantized_bits
    q = quantized_bits(CFG.weight_bits, CFG.weight_integer, alpha=1)
    return QDense(units, kernel_quantizer=q, bias_quantizer=quantized_bits(CFG.weight_bits, CFG.weight_integer, alpha=1),
                  bias_initializer=tf.keras.initializers.Constant(bias_init), name=name)


def qrelu(name: str):
    from qkeras import QActivation, quantized_relu
    return QActivation(quantized_relu(CFG.activation_bits, CFG.activation_integer), name=name)


def build_student(units, *, schedule=None) -> tf.keras.Model:
    """QKeras MLP ``161 → units… → 2 logits``; ``schedule`` wraps every QDense in pruning."""
    wrap = (lambda layer: compress.prune(layer, schedule)) if schedule is not None else (lambda layer: layer)
    inputs = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = inputs
    for i, u in enumerate(units):
        x = wrap(qdense(u, f"dense_{i}", HIDDEN_BIAS_INIT))(x)
        x = qrelu(f"relu_{i}")(x)
    logits = wrap(qdense(CFG.n_classes, "logits"))(x)
    return tf.keras.Model(inputs, logits, name="student")


def _sizes(units):
    sizes = [CFG.n_samples] + list(units) + [CFG.n_classes]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:])), sum(sizes[1:])


def student_nonzero_estimate(units, sparsity: float) -> int:
    """Nonzero parameters after pruning kernels to ``sparsity`` (biases are not pruned)."""
    kernels, biases = _sizes(units)
    return int(round(kernels * (1 - sparsity))) + biases


def sparsity_for(units, target: float, max_nonzero: int | None, ceiling: float = 0.98) -> float:
    """Kernel sparsity for a student: the config target, raised when needed so the pruned
    network fits ``max_nonzero`` parameters (wide layers are pruned harder)."""
    kernels, biases = _sizes(units)
    # pruning rounds the zero count per layer: keep one weight of slack per kernel
    slack = len(units) + 1
    need = 1 - (max_nonzero - biases - slack) / kernels if max_nonzero else 0.0
    return float(min(ceiling, max(target, need)))


class StudentHyperModel(kt.HyperModel):
    """QKeras student trained with distillation from ``teacher`` and pruned to the target sparsity.

    Searched: layers (1–2), widths per layer (1…20), learning rate, KD temperature and α.
    Bits come from ``course.ini`` ([quant]); the pruning schedule from the data size, batch size and
    epochs.  The kernel sparsity is the config target, raised for wide layers so that every
    candidate fits the ``max_nonzero`` budget (:func:`sparsity_for`).
    """

    def __init__(self, teacher: tf.keras.Model | None, n_train: int, *, epochs: int, batch_size: int,
                 target_sparsity: float = CFG.target_sparsity, max_layers: int = 2,
                 max_nonzero: int | None = None, name="student", **kw):
        super().__init__(name=name, **kw)
        self.teacher, self.n_train, self.epochs, self.batch_size = teacher, n_train, epochs, batch_size
        self.target_sparsity, self.max_layers = target_sparsity, max_layers
        self.max_nonzero = max_nonzero if max_nonzero is not None else CFG.training.max_nonzero
        self.prune_end_epoch = 0

    def units(self, hp: kt.HyperParameters):
        return [hp.Int(f"units_{i}", 1, 20) for i in range(hp.Int("layers", 1, self.max_layers))]

    def build(self, hp: kt.HyperParameters) -> tf.keras.Model:
        units = self.units(hp)
        lr = hp.Choice("learning_rate", LEARNING_RATES)
        temperature = hp.Choice("temperature", list(CFG.training.kd_temperatures))
        alpha = hp.Choice("alpha", list(CFG.training.kd_alphas))
        self.sparsity = sparsity_for(units, self.target_sparsity, self.max_nonzero)
        schedule, self.prune_end_epoch = compress.pruning_schedule(
            self.n_train, self.batch_size, self.epochs, self.sparsity)
        student = build_student(units, schedule=schedule)
        if self.teacher is None:
            return _compile(student, lr)
        model = compress.Distiller(student, self.teacher, temperature=temperature, alpha=alpha)
        model.compile(optimizer=tf.keras.optimizers.Adam(lr))
        return model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or []) + compress.pruning_callbacks()
        # early stopping must not end training before pruning has reached its target
        for cb in callbacks:
            if isinstance(cb, tf.keras.callbacks.EarlyStopping):
                cb.start_from_epoch = max(cb.start_from_epoch, self.prune_end_epoch)
        return model.fit(*args, callbacks=callbacks, **kwargs)


def student_of(model: tf.keras.Model) -> tf.keras.Model:
    """The bare student inside a :class:`~labkit.compress.Distiller` (or the model itself)."""
    return getattr(model, "student", model)
