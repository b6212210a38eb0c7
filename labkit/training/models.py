"""Stages 02–03 — keras-tuner hypermodels for the teacher (float MLP) and the student (QKeras).

The search space is declared once, in ``build(hp)``; the final model is rebuilt from the best
``hp.values`` by that same ``build`` — never from a hand-copied list of "best" numbers.

Both models output **logits** (linear last layer).  Inputs are the preprocessed windows
(``labkit.data.preprocess``), exactly what the FPGA input stage computes.
"""
from __future__ import annotations

import keras_tuner as kt
import numpy as np
import tensorflow as tf

from . import compress
from ..config import CFG

# Learning rates of the teacher search. Not 1e-2: the inputs are all positive, so Adam's first
# sign-like steps shift every unit's pre-activation the same way by ~lr·Σx and kill ReLUs (see
# STUDENT_LEARNING_RATES; benchmarks/DECISIONS.md has the measurements behind these settings).
TEACHER_LEARNING_RATES = [3e-3, 1e-3, 3e-4]


def _compile(model: tf.keras.Model, lr: float) -> tf.keras.Model:
    model.compile(optimizer=tf.keras.optimizers.Adam(lr),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy("accuracy")])
    return model


class TeacherHyperModel(kt.HyperModel):
    """Float MLP: 1–3 ReLU layers of 32…300 units, learning rate in :data:`TEACHER_LEARNING_RATES`."""

    #: validation metric the search minimises and early stopping watches (see StudentHyperModel)
    objective = "val_loss"

    def __init__(self, n_inputs: int = CFG.n_samples, max_layers: int = 3, name="teacher", **kw):
        super().__init__(name=name, **kw)
        self.n_inputs, self.max_layers = n_inputs, max_layers

    def fit(self, hp, model, x, *args, **kwargs):
        kwargs["batch_size"] = compress.effective_batch_size(len(x), kwargs.get("batch_size") or 32)
        history = model.fit(x, *args, **kwargs)
        keep_best_epoch(model, kwargs.get("callbacks") or [], history)
        compress.refuse_dead(model, kwargs.get("validation_data"))
        self.last_history = dict(history.history)     # kept beside the trial (tuning.save_trial_student)
        return history

    def build(self, hp: kt.HyperParameters) -> tf.keras.Model:
        inputs = tf.keras.Input((self.n_inputs,), name="pulse")
        x = inputs
        for i in range(hp.Int("layers", 1, self.max_layers)):
            x = tf.keras.layers.Dense(hp.Int(f"units_{i}", 32, 300, step=4), activation="relu", name=f"dense_{i}")(x)
        logits = tf.keras.layers.Dense(CFG.n_classes, name="logits")(x)
        return _compile(tf.keras.Model(inputs, logits, name="teacher"), hp.Choice("learning_rate", TEACHER_LEARNING_RATES))


# Hidden-layer biases start slightly positive: a 1–5-unit quantized ReLU layer initialised with zero
# biases is often dead from the first step (all pre-activations < 0, no gradient).
HIDDEN_BIAS_INIT = 0.1


def activation_integer(bits: int) -> int:
    """Integer bits of a ``bits``-wide quantized ReLU: course.ini's ``activation_integer`` (3 at the
    default 8 bits), but never more than half the bits, so that a narrow activation keeps as many
    fraction bits as integer bits (4 bits: 2.2; 3 bits: 1.2)."""
    return int(min(CFG.activation_integer, bits // 2))


def qdense(units: int, name: str, bias_init: float = 0.0, bits: int | None = None, l1: float = 0.0):
    """QKeras dense layer; weights and biases ``quantized_bits(bits, weight_integer)`` (course.ini
    [quant] unless ``bits`` is given); ``l1``: L1 penalty on the kernel (0 = none)."""
    from qkeras import QDense, quantized_bits
    bits = int(bits or CFG.weight_bits)
    return QDense(units, kernel_quantizer=quantized_bits(bits, CFG.weight_integer, alpha=1),
                  bias_quantizer=quantized_bits(bits, CFG.weight_integer, alpha=1),
                  kernel_regularizer=tf.keras.regularizers.L1(l1) if l1 else None,
                  bias_initializer=tf.keras.initializers.Constant(bias_init), name=name)


def qrelu(name: str, bits: int | None = None):
    """Quantized ReLU of ``bits`` (course.ini [quant] unless given); see :func:`activation_integer`."""
    from qkeras import QActivation, quantized_relu
    if bits is None:
        return QActivation(quantized_relu(CFG.activation_bits, CFG.activation_integer), name=name)
    return QActivation(quantized_relu(int(bits), activation_integer(int(bits))), name=name)


def build_student(units, *, schedule=None, weight_bits: int | None = None,
                  activation_bits: int | None = None, first_l1: float | None = None) -> tf.keras.Model:
    """QKeras MLP ``161 → units… → 2 logits``.

    ``schedule``: one pruning schedule for every QDense, or a list with one per QDense (``None``
    keeps that layer dense). ``weight_bits`` / ``activation_bits``: the quantizers' widths
    (default course.ini [quant]). ``first_l1``: L1 penalty on the kernel of the layer that reads the
    pulse (default course.ini [training] first_layer_l1). Without it Adam, whose steps are about the
    learning rate whatever the gradient's size, grows the weights of the first window samples (about
    zero after the baseline is subtracted) to the clip, and magnitude pruning then keeps those useless
    weights (benchmarks/DECISIONS.md)."""
    first_l1 = CFG.training.first_layer_l1 if first_l1 is None else float(first_l1)
    n = len(units) + 1
    schedules = list(schedule) if isinstance(schedule, (list, tuple)) else [schedule] * n
    if len(schedules) != n:
        raise ValueError(f"{len(schedules)} pruning schedules for {n} dense layers")

    def wrap(layer, i):
        return compress.prune(layer, schedules[i]) if schedules[i] is not None else layer

    inputs = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = inputs
    with compress.quiet_keras():      # QKeras re-draws the initial weights of narrow quantizers (see there)
        for i, u in enumerate(units):
            x = wrap(qdense(u, f"dense_{i}", HIDDEN_BIAS_INIT, weight_bits, l1=first_l1 if i == 0 else 0.0), i)(x)
            x = qrelu(f"relu_{i}", activation_bits)(x)
        logits = wrap(qdense(CFG.n_classes, "logits", bits=weight_bits, l1=0.0 if units else first_l1), n - 1)(x)
    return tf.keras.Model(inputs, logits, name="student")


def _dense_core(layer):
    """The QDense inside a pruning wrapper (or the layer itself)."""
    return getattr(layer, "layer", layer)


def _hidden_dense(student: tf.keras.Model) -> list:
    """The hidden QDense layers of a student (pruning-wrapped or not), input side first."""
    return [l for l in student.layers if _dense_core(l).name.startswith("dense_")]


def live_units(student: tf.keras.Model, x) -> list:
    """Per hidden layer, how many units are active (pre-activation > 0) on at least one pulse of ``x``."""
    out = []
    for layer in _hidden_dense(student):
        z = tf.keras.Model(student.input, layer.output)(x, training=False).numpy()
        out.append(int((z > 0).any(0).sum()))
    return out


def start_units_alive(student: tf.keras.Model, x) -> list:
    """Give every hidden unit that starts dead the other sign of its initial weights.

    Every input of a hidden layer is non-negative (baseline-subtracted pulses, then ReLU outputs)
    and the pulses look alike, so a freshly drawn unit can be negative on every pulse: dead from the
    start, it gets no gradient; a narrow second layer often starts with one or more such units, and
    in training such a network hangs on its live units, and when the last one dies the output is
    constant (lab 03, "dead students").  The initializer is
    symmetric, so ``-w`` is as likely a draw as ``w``; with the hidden bias ``b > 0`` a unit negative
    on every pulse (``w.h + b < 0``) is positive on every pulse after the flip (``-w.h + b > 2b``).
    Units active on at least one pulse of ``x`` are left as drawn (flipping more cost accuracy:
    benchmarks/DECISIONS.md).
    Layer by layer, input side first; returns the number of units flipped per hidden layer."""
    flipped = []
    for layer in _hidden_dense(student):
        core = _dense_core(layer)
        z = tf.keras.Model(student.input, layer.output)(x, training=False).numpy()
        flip = ~(z > 0).any(0)
        if flip.any():
            kernel = core.kernel.numpy()
            kernel[:, flip] *= -1
            core.kernel.assign(kernel)
        flipped.append(int(flip.sum()))
    return flipped


def _kernels(units):
    sizes = [CFG.n_samples] + list(units) + [CFG.n_classes]
    return [a * b for a, b in zip(sizes[:-1], sizes[1:])], sum(sizes[1:])


def student_nonzero_estimate(units, sparsity) -> int:
    """Nonzero parameters after pruning kernels to ``sparsity`` (one number, or one per layer;
    biases are not pruned)."""
    kernels, biases = _kernels(units)
    per_layer = sparsity if isinstance(sparsity, (list, tuple)) else [sparsity] * len(kernels)
    return sum(int(round(k * (1 - s))) for k, s in zip(kernels, per_layer)) + biases


def layer_sparsities(units, target: float, max_nonzero: int | None, ceiling: float = 0.98) -> list:
    """Kernel sparsity per layer so that the pruned student fits ``max_nonzero`` parameters.

    The budget is spent where the weights are: the 161-input first layer is pruned to
    ``max(target, what the budget needs)``; the small layers behind it (a few dozen weights) stay
    dense: pruned as hard as the first layer they keep a handful of output weights, and magnitude
    pruning may cut the last one that carries the class signal (lab 03, "dead students").
    Only when the small layers alone would take more than half of the budget are they pruned too,
    to fit in that half."""
    kernels, biases = _kernels(units)
    if not max_nonzero:
        return [float(target)] + [0.0] * (len(kernels) - 1)
    # pruning rounds the zero count per layer: keep one weight of slack per kernel
    budget = max_nonzero - biases - len(kernels)
    rest = sum(kernels[1:])
    rest_sparsity = 0.0 if rest <= budget / 2 else min(ceiling, 1 - (budget / 2) / rest)
    kept_rest = sum(int(round(k * (1 - rest_sparsity))) for k in kernels[1:])
    first = min(ceiling, max(target, 1 - (budget - kept_rest) / kernels[0]))
    return [float(first)] + [float(rest_sparsity)] * (len(kernels) - 1)


def overall_sparsity(units, sparsities) -> float:
    """Fraction of zero kernel weights of the whole student for per-layer ``sparsities``."""
    kernels, _ = _kernels(units)
    return float(sum(k * s for k, s in zip(kernels, sparsities)) / sum(kernels))


# Learning rates of the student search. 1e-2 is out: the inputs are all positive (baseline-subtracted
# pulses, up to ~1.5 on real data), so Adam's first sign-like steps move every weight of a unit the
# same way and shift its pre-activation by ~lr·Σx ≈ 1 per step, and narrow ReLU layers die. 1e-4 is
# too slow for a few hundred steps.
STUDENT_LEARNING_RATES = [3e-3, 1e-3]
#: widths of the student's hidden layers. At least 3: a 1- or 2-unit ReLU layer is a single point of
#: failure (its unit dies, and the network with it). At most 6 in the first layer: wider ones never
#: fitted the course's LUT budget (course.ini [search] lut_budget; benchmarks/DECISIONS.md); at most 6
#: in the second layer, so that the dense layers behind the first stay within half of the nonzero
#: budget (never pruned).
FIRST_WIDTHS, LATER_WIDTHS = (3, 6), (3, 6)
# Epochs over which the student's learning rate ramps up to its searched value. The inputs of every
# hidden layer are non-negative, so the gradient of a unit's incoming weights has one sign and Adam's
# first, sign-like steps (about lr per weight) move them all the same way: a second-layer unit behind
# a 10-unit first layer shifts by about lr times the sum of ten activations per step, and in the first
# epoch a unit that is pushed down dies (benchmarks/DECISIONS.md).
WARMUP_EPOCHS = 2


class StudentHyperModel(kt.HyperModel):
    """QKeras student trained with distillation from ``teacher`` and pruned to fit the budget.

    Searched: hidden layers (0–2; 0 is a linear student, inputs → logits), widths (3…6 each),
    learning rate, KD temperature, and α when course.ini's ``kd_alphas`` lists more than one value.
    With ``hardware_knobs`` (the default) the search also chooses ``weight_bits`` and
    ``activation_bits`` (course.ini [search] ranges) and the first layer's ``sparsity`` (from [search]
    sparsities; the nonzero budget still applies); without, the bits come from course.ini [quant]. Pruning acts on the first layer (:func:`layer_sparsities`)
    and its schedule is counted in optimizer steps (:func:`~labkit.training.compress.pruning_schedule`);
    small data sets train with smaller batches so that every epoch has enough steps
    (:func:`~labkit.training.compress.effective_batch_size`). Every hidden unit starts active
    (:func:`start_units_alive`) and the learning rate ramps up over :data:`WARMUP_EPOCHS` epochs.
    In the training loss both classes weigh the same in every amplitude bin (``balance_cap``).
    A trial is scored by the network it delivers (:data:`FINAL_LOSS`; see ``objective``).
    """

    def __init__(self, teacher: tf.keras.Model | None, n_train: int, *, epochs: int, batch_size: int,
                 target_sparsity: float = CFG.target_sparsity, max_layers: int = 2, min_layers: int = 0,
                 max_nonzero: int | None = None, hardware_cost: bool = True, hardware_knobs: bool = True,
                 balance_cap: float | None = None, cost="default", lut_penalty: float | None = None,
                 name="student", **kw):
        super().__init__(name=name, **kw)
        #: hidden layers searched: min_layers … max_layers (0 = a linear student, inputs → logits)
        self.min_layers = int(min_layers)
        #: search weight/activation bits and first-layer sparsity too (course.ini [search])
        self.hardware_knobs = bool(hardware_knobs)
        #: the last trained student, finalized (set by ``fit`` with ``hardware_cost``; the tuner
        #: saves it in the trial's folder: the very network whose cost and accuracy were recorded)
        self.last_student = self.last_history = self.last_val_pred = None
        #: record the finalized student (its validation result and, with ``cost``, its hardware cost)
        #: as trial metrics and keep it beside the trial
        self.hardware_cost = bool(hardware_cost)
        #: ``cost(student) -> {lut_estimate, latency_cycles, nonzero, weight_bits, ...}``, ~0.1 s per
        #: trial; "default": :func:`labkit.training.cost.estimate` where da4ml is installed, else None
        #: (no cost recorded: the selection then takes the lowest validation loss and says why)
        self.cost = _default_cost() if cost == "default" else cost
        self.teacher, self.n_train, self.epochs = teacher, n_train, epochs
        self.batch_size = compress.effective_batch_size(n_train, batch_size)
        self.target_sparsity, self.max_layers = target_sparsity, max_layers
        self.max_nonzero = max_nonzero if max_nonzero is not None else CFG.training.max_nonzero
        self.prune_end_epoch = 0
        self.warmup_epochs = WARMUP_EPOCHS
        #: energy balance of the training loss (:func:`~labkit.training.compress.energy_balance_weights`;
        #: course.ini [training] balance_cap, 0 = off); validation pulses weigh 1 (benchmarks/DECISIONS.md says
        #: what weighing them too did to real pulses)
        self.balance_cap = CFG.training.balance_cap if balance_cap is None else float(balance_cap)
        #: validation metric early stopping watches: the cross-entropy on the labels (accuracy ties
        #: at 1.0 on a few hundred validation pulses)
        self.monitor = "val_student_loss" if teacher is not None else "val_loss"
        #: what the search minimises: the same cross-entropy, of the network the trial delivers
        #: (finalized, at the epoch early stopping kept; :func:`record_hardware_cost`). keras-tuner
        #: would otherwise score a trial by its best epoch, which may be a dense epoch before pruning
        #: reached its target, or an epoch whose weights were not kept.
        self.objective = FINAL_LOSS if self.hardware_cost else self.monitor
        #: LUTs over course.ini [search] lut_budget cost ``lut_penalty`` per doubling on top of that
        #: cross-entropy (:data:`HW_LOSS`): the search then looks where a deployable student can be
        #: (0, or no cost function: the plain cross-entropy)
        self.lut_penalty = CFG.search.lut_penalty if lut_penalty is None else float(lut_penalty)
        if self.hardware_cost and self.cost is not None and self.lut_penalty > 0:
            self.objective = HW_LOSS

    def units(self, hp: kt.HyperParameters):
        layers = hp.Int("layers", self.min_layers, self.max_layers)
        return [hp.Int(f"units_{i}", *(FIRST_WIDTHS if i == 0 else LATER_WIDTHS)) for i in range(layers)]

    def bits(self, hp: kt.HyperParameters):
        """(weight bits, activation bits) of ``hp``: searched with ``hardware_knobs``, else course.ini's."""
        if not self.hardware_knobs:
            return CFG.weight_bits, CFG.activation_bits
        return (hp.Int("weight_bits", *CFG.search.weight_bits),
                hp.Int("activation_bits", *CFG.search.activation_bits))

    def target(self, hp: kt.HyperParameters) -> float:
        """First-layer sparsity floor: searched with ``hardware_knobs``, else the constructor's."""
        if not self.hardware_knobs:
            return self.target_sparsity
        return float(hp.Choice("sparsity", [float(v) for v in CFG.search.sparsities]))

    def sparsities(self, hp: kt.HyperParameters):
        """(kernel sparsity per layer, kernel sparsity of the whole student) for ``hp``."""
        units = self.units(hp)
        per_layer = layer_sparsities(units, self.target(hp), self.max_nonzero)
        return per_layer, overall_sparsity(units, per_layer)

    def build(self, hp: kt.HyperParameters) -> tf.keras.Model:
        units = self.units(hp)
        lr = hp.Choice("learning_rate", STUDENT_LEARNING_RATES)
        temperature = hp.Choice("temperature", list(CFG.training.kd_temperatures))
        alpha = hp.Choice("alpha", list(CFG.training.kd_alphas))
        weight_bits, activation_bits = self.bits(hp)
        self.layer_sparsity, self.sparsity = self.sparsities(hp)
        schedules, self.prune_end_epoch = compress.pruning_schedules(
            self.n_train, self.batch_size, self.epochs, self.layer_sparsity)
        self.last_student = self.last_history = self.last_val_pred = None
        student = build_student(units, schedule=schedules, weight_bits=weight_bits, activation_bits=activation_bits)
        if self.teacher is None:
            return _compile(student, lr)
        model = compress.Distiller(student, self.teacher, temperature=temperature, alpha=alpha)
        model.compile(optimizer=tf.keras.optimizers.Adam(self.learning_rate(lr)))
        return model

    def learning_rate(self, lr: float):
        """``lr``, ramped up over the first :data:`WARMUP_EPOCHS` epochs (:class:`~labkit.training.compress.WarmUp`)."""
        if not self.warmup_epochs:
            return lr
        steps_per_epoch = max(1, -(-self.n_train // self.batch_size))
        return compress.WarmUp(lr, self.warmup_epochs * steps_per_epoch)

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or []) + compress.pruning_callbacks()
        # early stopping must not end training before pruning has reached its target
        for cb in callbacks:
            if isinstance(cb, tf.keras.callbacks.EarlyStopping):
                cb.start_from_epoch = max(cb.start_from_epoch, self.prune_end_epoch)
        kwargs["batch_size"] = self.batch_size
        x = args[0] if args else kwargs.get("x")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        if self.balance_cap and x is not None and y is not None and kwargs.get("sample_weight") is None:
            kwargs["sample_weight"] = compress.energy_balance_weights(x, y, self.balance_cap)
        if x is not None:
            self.flipped_units = start_units_alive(student_of(model), x)
        history = model.fit(*args, callbacks=callbacks, **kwargs)
        epoch = keep_best_epoch(model, callbacks, history)
        compress.refuse_dead(model, kwargs.get("validation_data"))
        if self.hardware_cost:
            student = compress.finalize_student(student_of(model))
            est = record_hardware_cost(history, student, kwargs.get("validation_data"), epoch=epoch, cost=self.cost,
                                       lut_penalty=self.lut_penalty if self.objective == HW_LOSS else 0.0)
            self.last_student, self.last_history = student, dict(history.history)
            self.last_val_pred = est.get("val_pred")
        return history


def keep_best_epoch(model: tf.keras.Model, callbacks, history) -> int:
    """Give ``model`` the weights of the best epoch early stopping saw, and return that epoch.

    Keras restores ``restore_best_weights`` only when patience runs out; a training that reaches its
    last epoch keeps the last weights, which may be worse than the best. Without early stopping the
    last epoch is kept."""
    for cb in callbacks:
        if isinstance(cb, tf.keras.callbacks.EarlyStopping) and cb.restore_best_weights \
                and cb.best_weights is not None:
            if cb.stopped_epoch == 0:
                model.set_weights(cb.best_weights)
            return int(cb.best_epoch)
    return max(0, len(history.epoch) - 1)


#: trial metrics :func:`record_hardware_cost` adds to what keras-tuner stores
HARDWARE_METRICS = ("lut_estimate", "latency_cycles", "nonzero", "weight_bits")
#: ... and, with validation data, the finalized student's own validation result (correct of n)
FINAL_METRICS = ("val_final_correct", "val_final_n")
#: ... and its validation cross-entropy on the labels (the accuracy-only choice ranks by it)
FINAL_LOSS = "val_final_loss"
#: ... plus ``lut_penalty`` per doubling of LUTs over the budget: what the student search minimises
HW_LOSS = "val_hw_loss"


def _default_cost():
    """:func:`labkit.training.cost.estimate` where da4ml is installed, else None."""
    from .cost import da4ml_missing, estimate
    return None if da4ml_missing() else estimate


def record_hardware_cost(history, student, validation_data=None, epoch: int | None = None, cost="default",
                         lut_penalty: float = 0.0, lut_budget: int | None = None) -> dict:
    """Add a trained student's hardware cost to ``history`` so keras-tuner records it per trial.

    ``student``: the finalized student (:func:`~labkit.training.compress.finalize_student`);
    ``cost``: the cost function (see :class:`StudentHyperModel`; None records no cost).
    keras-tuner turns a returned ``History`` into the trial's metrics by taking every metric at the
    best epoch of the objective (``tuner_utils.convert_to_metrics_dict``), so each figure is
    appended as one value per epoch: the cost of the finalized student (it is only known after
    training), the same at every epoch.  With ``validation_data`` the finalized student's own
    validation result is recorded too (``val_final_correct`` of ``val_final_n`` pulses): the
    selection (:mod:`labkit.training.selection`) ranks the very network whose cost it read, not an earlier epoch.
    So is its validation cross-entropy (``val_final_loss``, the search's objective; weighted by the
    third element of ``validation_data`` when there is one, as Keras weighs it), at ``epoch``
    only (the epoch whose weights the student carries; default the last) and ``inf`` at the others,
    so that keras-tuner reads every other metric at that same epoch.
    """
    cost = _default_cost() if cost == "default" else cost
    est = dict(cost(student)) if cost is not None else {}
    n = max((len(v) for v in history.history.values()), default=1)
    for key in HARDWARE_METRICS:
        if key in est:
            history.history[key] = [float(est[key])] * n
    if validation_data is not None:
        xv, yv = validation_data[0], validation_data[1]
        logits = student.predict(xv, batch_size=4096, verbose=0)
        pred = logits.argmax(1)
        est["val_final_correct"], est["val_final_n"] = int((pred == yv).sum()), int(len(yv))
        est["val_pred"] = pred.astype(np.int8)
        for key in FINAL_METRICS:
            history.history[key] = [float(est[key])] * n
        weight = np.asarray(validation_data[2], dtype=np.float64) if len(validation_data) > 2 else np.ones(len(yv))
        ce = tf.keras.losses.sparse_categorical_crossentropy(yv, logits, from_logits=True).numpy()
        est[FINAL_LOSS] = float((ce * weight).sum() / weight.sum())
        at = n - 1 if epoch is None else min(max(0, int(epoch)), n - 1)
        history.history[FINAL_LOSS] = [est[FINAL_LOSS] if i == at else float("inf") for i in range(n)]
        if lut_penalty and "lut_estimate" in est:
            budget = float(lut_budget or CFG.search.lut_budget)
            est[HW_LOSS] = est[FINAL_LOSS] + float(lut_penalty) * max(0.0, float(np.log2(est["lut_estimate"] / budget)))
            history.history[HW_LOSS] = [est[HW_LOSS] if i == at else float("inf") for i in range(n)]
    return est


def student_of(model: tf.keras.Model) -> tf.keras.Model:
    """The bare student inside a :class:`~labkit.training.compress.Distiller` (or the model itself)."""
    return getattr(model, "student", model)
