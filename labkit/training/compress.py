"""Stage 03 — compression: knowledge distillation, quantization-aware pruning, compression metrics.

* :class:`Distiller` — a ``keras.Model`` with its own ``train_step``: the student learns from the
  labels (cross-entropy on its logits) and from the teacher (KL divergence between the two
  **logit** distributions softened by the temperature T, scaled by T²).  Both models output logits;
  softmax is only for reporting.
* Quantization-aware pruning — QKeras layers wrapped by ``tfmot`` pruning in the same training;
  :func:`finalize_student` strips the wrappers and snaps weights onto the quantizer grid before saving.
* :func:`model_metrics` — parameters, nonzero parameters, bits, memory, compression ratio, BOPs.
"""
from __future__ import annotations

import contextlib
import io
import math
import warnings
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from ..config import CFG


# ------------------------------------------------------------------------------------------
# knowledge distillation
# ------------------------------------------------------------------------------------------

def distillation_loss(teacher_logits, student_logits, temperature: float, sample_weight=None):
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch (each pulse times
    its ``sample_weight``, as Keras weighs the cross-entropy).

    Takes **logits**: dividing probabilities by T would not soften anything (the mistake this
    course's reference code makes)."""
    t = tf.nn.softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    log_t = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    log_s = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature, axis=-1)
    kl = tf.reduce_sum(t * (log_t - log_s), axis=-1)
    if sample_weight is not None:
        kl = kl * tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
    return tf.reduce_mean(kl) * temperature ** 2


def _amplitude_bin(x, edges=None):
    """Amplitude bin of each preprocessed window (``edges`` in ADC counts, default the bins of the
    accuracy-by-amplitude table; the last bin includes its upper edge) and the number of bins."""
    from .. import metrics
    edges = np.asarray(edges if edges is not None else metrics.default_amplitude_edges(), dtype=np.float64)
    amplitude = np.asarray(x, dtype=np.float64).max(axis=1) * 2.0 ** CFG.input_frac_bits
    return np.clip(np.searchsorted(edges, amplitude, side="right") - 1, 0, len(edges) - 2), len(edges) - 1


def energy_balance_weights(x, y, cap: float, edges=None) -> np.ndarray:
    """Loss weight of each training pulse: in every amplitude bin (``edges`` in ADC counts, default
    the bins of the accuracy-by-amplitude table) both classes weigh the same: a pulse weighs
    ``pulses in its bin / (2 × pulses of its class there)``, at most ``cap`` (a pulse of a bin where
    the classes are even weighs 1); then all are scaled to a mean of 1.

    A network fed pulses whose energy spectra differ per class learns the pulse height as a
    shortcut: thermal neutrons sit in one high peak, so a low pulse is almost always a gamma, and the
    rare low-energy neutrons are given up. With equal weights per bin it has to learn their shape.
    ``x``: preprocessed windows (:func:`labkit.data.preprocess`), ``y``: labels."""
    b, n_bins = _amplitude_bin(x, edges)
    y = np.asarray(y).ravel()
    w = np.ones(len(y))
    for i in range(n_bins):
        in_bin = b == i
        for c in np.unique(y[in_bin]):
            sel = in_bin & (y == c)
            w[sel] = min(float(cap), in_bin.sum() / (2.0 * sel.sum()))
    return w / w.mean()


def energy_balance_table(x, y, weights, edges=None) -> str:
    """Pulses per amplitude bin and class, and the loss weight each of them trains with."""
    from .. import metrics
    edges = list(edges if edges is not None else metrics.default_amplitude_edges())
    b, _ = _amplitude_bin(x, edges)
    y, weights = np.asarray(y).ravel(), np.asarray(weights)
    names = CFG.class_names
    lines = [f"{'amplitude (counts)':<20}" + "".join(f"{n + 's':>10}{'weight':>8}" for n in names)]
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        row = f"{f'{lo:g} - {hi:g}':<20}"
        for c in range(len(names)):
            sel = (b == i) & (y == c)
            row += f"{int(sel.sum()):>10}" + (f"{weights[sel].mean():>8.2f}" if sel.any() else f"{'-':>8}")
        lines.append(row)
    return "\n".join(lines)


class Distiller(tf.keras.Model):
    """Train ``student`` from labels and from a frozen ``teacher``.

    loss = α · CE(y, student_logits) + (1 − α) · distillation_loss(teacher_logits, student_logits, T)
    Logged: ``loss``, ``student_loss``, ``kd_loss``, ``accuracy`` (and the ``val_`` versions).
    """

    def __init__(self, student: tf.keras.Model, teacher: tf.keras.Model, temperature: float = 4.0,
                 alpha: float = 0.3, **kw):
        super().__init__(**kw)
        check_logit_model(teacher, "teacher")
        check_logit_model(student, "student")
        if teacher.input_shape[-1] != student.input_shape[-1]:
            raise ValueError(f"teacher expects {teacher.input_shape[-1]} inputs but the student "
                             f"{student.input_shape[-1]}: train the teacher on the same windows")
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.temperature, self.alpha = float(temperature), float(alpha)
        self.ce = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.trackers = {k: tf.keras.metrics.Mean(k) for k in ("loss", "student_loss", "kd_loss")}
        self.acc = tf.keras.metrics.SparseCategoricalAccuracy("accuracy")

    @property
    def metrics(self):
        return list(self.trackers.values()) + [self.acc]

    def call(self, x, training=False):
        return self.student(x, training=training)

    def train_step(self, data):
        x, y, weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = self.teacher(x, training=False)
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            student_loss = self.ce(y, student_logits, sample_weight=weight)
            kd_loss = distillation_loss(teacher_logits, student_logits, self.temperature, weight)
            loss = self.alpha * student_loss + (1.0 - self.alpha) * kd_loss
            loss += sum(self.student.losses) if self.student.losses else 0.0
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self._update(loss, student_loss, kd_loss, y, student_logits)

    def test_step(self, data):
        x, y, weight = tf.keras.utils.unpack_x_y_sample_weight(data)   # validation weights, if given
        student_logits = self.student(x, training=False)
        student_loss = self.ce(y, student_logits, sample_weight=weight)
        kd_loss = distillation_loss(self.teacher(x, training=False), student_logits, self.temperature, weight)
        loss = self.alpha * student_loss + (1.0 - self.alpha) * kd_loss
        return self._update(loss, student_loss, kd_loss, y, student_logits)

    def _update(self, loss, student_loss, kd_loss, y, logits):
        for k, v in (("loss", loss), ("student_loss", student_loss), ("kd_loss", kd_loss)):
            self.trackers[k].update_state(v)
        self.acc.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics}


class WarmUp(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate rising linearly from ``lr / steps`` to ``lr`` over the first ``steps`` optimizer
    steps, then constant (Goyal et al. 2017). Adam's first steps are about ``lr`` per weight
    whatever the gradient's size; see :data:`~labkit.training.models.WARMUP_EPOCHS` for why the
    student needs the ramp."""

    def __init__(self, lr: float, steps: int):
        self.lr, self.steps = float(lr), max(1, int(steps))

    def __call__(self, step):
        ramp = (tf.cast(step, tf.float32) + 1.0) / float(self.steps)
        return self.lr * tf.minimum(1.0, ramp)

    def get_config(self):
        return {"lr": self.lr, "steps": self.steps}


def check_logit_model(model: tf.keras.Model, what: str) -> None:
    """Both models must output logits (linear last layer), not probabilities."""
    last = model.layers[-1]
    while hasattr(last, "layer"):  # pruning wrapper
        last = last.layer
    act = getattr(last, "activation", None)
    name = getattr(act, "__name__", "") or str(getattr(act, "get_config", lambda: act)())
    if act is not None and "linear" not in name:
        raise ValueError(f"the {what} must output logits (linear last layer), but its last layer "
                         f"{last.name!r} applies {name!r}: remove that activation; softmax is for reporting only")


# ------------------------------------------------------------------------------------------
# pruning (tensorflow-model-optimization)
# ------------------------------------------------------------------------------------------

#: small data sets train with smaller batches so that an epoch has at least this many optimizer steps
MIN_STEPS_PER_EPOCH = 16
#: pruning masks are updated this many times during the ramp (not at every step)
MASK_UPDATES = 16


def effective_batch_size(n_train: int, batch_size: int, min_batch: int = 16) -> int:
    """The configured batch, made smaller for small training sets so that every epoch has at least
    :data:`MIN_STEPS_PER_EPOCH` optimizer steps (628 real training pulses: batch 39, not 256).

    With batch 256 such a set gives 3 steps per epoch, ~120 in a whole training: too few to
    learn and to recover from the pruning masks (lab 03, "dead students")."""
    return int(max(1, min(batch_size, n_train, max(min_batch, n_train // MIN_STEPS_PER_EPOCH))))


def pruning_schedule(n_train: int, batch_size: int, epochs: int, target_sparsity: float):
    """Polynomial ramp from 0 to ``target_sparsity``, counted in optimizer steps.

    Pruning starts after the first epoch, updates the masks :data:`MASK_UPDATES` times at equal
    step intervals (the network adapts between two updates) and reaches the target exactly at the
    last update, at about half of training; the rest fine-tunes the surviving weights.
    Returns the schedule and the epoch after which the target holds."""
    import tensorflow_model_optimization as tfmot

    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    total = steps_per_epoch * epochs
    begin = steps_per_epoch if epochs > 2 else 0
    frequency = max(1, (total // 2 - begin) // MASK_UPDATES)
    end = begin + frequency * MASK_UPDATES if total // 2 > begin else begin + 1
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=float(target_sparsity), begin_step=begin, end_step=end,
        frequency=frequency), math.ceil((end + 1) / steps_per_epoch)


def pruning_schedules(n_train: int, batch_size: int, epochs: int, sparsities):
    """One schedule per layer (``None`` for a layer kept dense) and the epoch the targets hold."""
    out, end_epoch = [], 0
    for s in sparsities:
        if s > 0:
            schedule, end_epoch = pruning_schedule(n_train, batch_size, epochs, s)
            out.append(schedule)
        else:
            out.append(None)
    return out, end_epoch


# ------------------------------------------------------------------------------------------
# dead networks
# ------------------------------------------------------------------------------------------

class DeadModelError(RuntimeError):
    """A trained network that predicts one class for every pulse (or no better than the prior)."""


def dead_reason(model: tf.keras.Model, x, y) -> Optional[str]:
    """Why ``model`` is dead on ``(x, y)``, or ``None`` if it is alive.

    Dead = the same predicted class for every pulse, or an accuracy within 1 % of the largest
    class fraction (what always guessing that class would reach)."""
    y = np.asarray(y)
    pred = np.argmax(np.asarray(model.predict(x, batch_size=4096, verbose=0)), axis=1)
    acc = float((pred == y).mean())
    prior = float(np.bincount(y, minlength=CFG.n_classes).max() / max(len(y), 1))
    if len(np.unique(pred)) == 1:
        return (f"it predicts {CFG.class_names[int(pred[0])]!r} for all {len(y)} validation pulses "
                f"(accuracy {acc:.3f}, class prior {prior:.3f})")
    if acc <= prior + 0.01:
        return f"its validation accuracy {acc:.3f} is at the class prior {prior:.3f}"
    return None


DEAD_PREFIX = "dead network: "


def refuse_dead(model: tf.keras.Model, validation_data) -> None:
    """Raise keras-tuner's ``FailedTrialError`` (the search records the trial as FAILED and never
    selects it) when ``model`` is dead on ``validation_data``."""
    if validation_data is None:
        return
    reason = dead_reason(model, *validation_data[:2])
    if reason:
        import keras_tuner as kt
        raise kt.errors.FailedTrialError(DEAD_PREFIX + reason)


def prune(layer, schedule):
    import tensorflow_model_optimization as tfmot
    return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)


def pruning_callbacks():
    import tensorflow_model_optimization as tfmot
    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip(model: tf.keras.Model) -> tf.keras.Model:
    """Remove the pruning wrappers (the pruned weights stay exactly zero)."""
    import tensorflow_model_optimization as tfmot
    return tfmot.sparsity.keras.strip_pruning(model)


@contextlib.contextmanager
def quiet_keras():
    """Keras/TF notices that say nothing a participant can act on, silenced around a save or clone:
    .h5 is on purpose (QKeras and hls4ml read it), QKeras quantizers are not Keras constraints, an
    uncompiled model has no compiled metrics, and QKeras's ``QInitializer`` calls the layer's
    initializer a second time (rescaled) when the quantizer is coarse next to the initial weights
    (3-5-bit weights), which Keras reports as an unseeded initializer "called multiple times"; and
    TF's retracing notice when one loop predicts with many different models (each its own graph)."""
    logger = tf.get_logger()
    level = logger.level
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*saving your model as an HDF5 file.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*keras.constraints.serialize\(\)` API.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"The initializer \w+ is unseeded and being called multiple times",
                                category=UserWarning)
        logger.setLevel("ERROR")
        try:
            yield
        finally:
            logger.setLevel(level)


def finalize_student(model: tf.keras.Model) -> tf.keras.Model:
    """Strip pruning wrappers and put every weight on its quantizer grid (what hls4ml will see)."""
    from qkeras.utils import model_save_quantized_weights

    stripped = strip(model)
    # strip_pruning reuses the layers it did not wrap (only the first layer is pruned): they would
    # keep a second inbound node in the training graph, and `layer.output` (hls4ml profiling, Trace)
    # would point there. A clone gives every layer one node, in this model only.
    with quiet_keras():
        fresh = tf.keras.models.clone_model(stripped)
    fresh.set_weights(stripped.get_weights())
    with contextlib.redirect_stdout(io.StringIO()):        # QKeras prints '... quantizing model'
        model_save_quantized_weights(fresh)
    return fresh


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------

def _dense_layers(model):
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if hasattr(inner, "kernel"):
            yield inner


def _bits(quantizer, default: int) -> int:
    return int(getattr(quantizer, "bits", default)) if quantizer is not None else default


def model_metrics(model: tf.keras.Model, teacher: Optional[tf.keras.Model] = None, *,
                  float_bits: int = 32) -> Dict[str, object]:
    """Size and cost of a dense model (QKeras or float).

    memory_bits = Σ nonzero weights × weight bits + biases × bias bits;
    BOPs (Baskin et al.) = Σ_layers n_in·n_out·[(1−s)·b_a·b_w + b_a + b_w + log2 n_in];
    compression_ratio = teacher memory_bits / this model's memory_bits.
    """
    params = nonzero = mem = bops = 0
    per_layer = {}
    act_bits = float_bits
    wbits_seen = []
    for layer in _dense_layers(model):
        k = np.asarray(layer.get_weights()[0])
        b = np.asarray(layer.get_weights()[1]) if len(layer.get_weights()) > 1 else np.zeros(0)
        qk = getattr(layer, "kernel_quantizer_internal", None)
        qb = getattr(layer, "bias_quantizer_internal", None)
        if qk is not None:
            k = np.asarray(qk(k))
        if qb is not None and b.size:
            b = np.asarray(qb(b))
        wb, bb = _bits(qk, float_bits), _bits(qb, float_bits)
        wbits_seen.append(wb)
        nz_k, nz_b = int(np.count_nonzero(k)), int(np.count_nonzero(b))
        n_in, n_out = k.shape
        sparsity = 1 - nz_k / k.size
        params += k.size + b.size
        nonzero += nz_k + nz_b
        mem += nz_k * wb + b.size * bb
        bops += n_in * n_out * ((1 - sparsity) * act_bits * wb + act_bits + wb + math.log2(n_in))
        per_layer[layer.name] = {"shape": [int(n_in), int(n_out)], "sparsity": round(sparsity, 4),
                                 "weight_bits": wb, "nonzero": nz_k + nz_b}
        act_bits = CFG.activation_bits if qk is not None else float_bits
    out = {"params": params, "nonzero": nonzero, "weight_bits": max(wbits_seen) if wbits_seen else float_bits,
           "memory_bits": mem, "bops": int(round(bops)), "layers": per_layer}
    if teacher is not None:
        out["compression_ratio"] = round(model_metrics(teacher)["memory_bits"] / max(mem, 1), 1)
    return out


def kernel_sparsity(model: tf.keras.Model) -> float:
    """Fraction of exact zeros over all kernels (pruning acts on kernels, not biases)."""
    ks = [np.asarray(layer.get_weights()[0]) for layer in _dense_layers(model)]
    total = sum(k.size for k in ks)
    return float(sum((k == 0).sum() for k in ks) / total)
