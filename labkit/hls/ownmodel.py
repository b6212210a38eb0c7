"""Your own QKeras student -> the course's student contract (what :mod:`labkit.hls.convert` converts).

A participant's dense QKeras classifier on the 161-sample window (e.g. the student of the public
ICTP hls4ml lab on this case study) is rewritten into ``Input -> [QDense -> QActivation]* -> QDense``
with ``quantized_bits(alpha=1)`` weights, layer by layer, the way hls4ml reads those layers:

* ``Dropout`` is the identity at inference: removed;
* ``BatchNormalization`` right after a ``QDense`` is folded into it: ``w' = w_q * s``,
  ``b' = (b_q - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``, then quantized with the
  layer's own number of bits (integer bits enough for the folded range, :func:`folded_quantizer`).
  The folded model is the reference the C simulation is compared with bit for bit; how often it
  agrees with the unfolded model is measured (``original_class_agreement`` of ``labkit hls convert``);
* a final ``softmax`` / ``sigmoid`` (an ``Activation`` layer, or ``activation=`` of the last
  ``QDense``) is stripped: the IP outputs logits (softmax keeps the argmax; sigmoid > 0.5 <=> logit > 0);
* ``quantized_bits(..., alpha='auto_po2' | 'auto')``: the scales are the ones the trained model's
  quantizer computes from its weights (QKeras recomputes them in every forward pass); the quantized
  weights are stored as they are and described by the exact ap_fixed that holds them
  (:func:`labkit.fixedpoint.grid_precision`), with ``alpha=1``;
* ``QDense(..., activation=quantized_relu(...))`` becomes ``QDense`` + ``QActivation``.

Anything else is refused with one sentence that lists everything found and what is supported.
A model that already follows the contract (the course's own student) is returned as it is.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np

from ..fixedpoint import activation_precision, grid_precision

SUPPORTED = ("Input, QDense (quantized_bits weights of any width, signed or not, alpha 1/'auto'/'auto_po2'; "
             "activation linear or quantized_relu), QActivation(quantized_relu, not leaky; or a signed quantized_bits "
             "between layers), Dropout (removed), BatchNormalization right after "
             "a QDense (folded into it), and a final softmax/sigmoid (stripped: the IP outputs logits)")
FINAL_ACTIVATIONS = ("softmax", "sigmoid")


class OwnModelError(ValueError):
    """The model has layers the conversion does not take; the message lists them and what is supported."""


def _activation_name(act) -> str:
    """'linear', 'relu', 'softmax', 'sigmoid', or a QKeras quantizer's class name."""
    if act is None:
        return "linear"
    if isinstance(act, str):
        return act.split("(")[0]
    if isinstance(act, dict):                  # a serialised quantizer: {"class_name": ..., "config": ...}
        return str(act.get("class_name", "unknown"))
    if callable(act) and type(act).__name__ == "function":
        return act.__name__
    return type(act).__name__


def exact_weights(quantizer, values) -> np.ndarray:
    """The quantized weights the trained model computes (its own ``alpha`` scales), without the
    straight-through estimator's float noise (``x + (xq - x)`` is not always ``xq`` in float32)."""
    import tensorflow as tf

    return _quantize(quantizer, values)[0]


def _quantize(quantizer, values):
    """(quantized values, the scales the quantizer computed for them) in eager mode."""
    import tensorflow as tf

    q = copy.copy(quantizer)
    q.use_ste, q.qnoise_factor = False, 1.0
    out = np.asarray(q(tf.constant(np.asarray(values, np.float32))), np.float32)
    return out, np.asarray(q.scale, np.float64) if q.scale is not None else np.ones(1)


def _check_quantizer(q, where: str) -> None:
    if type(q).__name__ != "quantized_bits":
        raise OwnModelError(f"{where} uses the quantizer {q}: supported is quantized_bits(bits, integer, "
                            "alpha=1|'auto'|'auto_po2') (labkit.hls.ownmodel)")
    if getattr(q, "use_stochastic_rounding", False):
        raise OwnModelError(f"{where} uses stochastic rounding, which has no fixed inference weights: "
                            "train with use_stochastic_rounding=False")


def _plain(q) -> bool:
    """A ``quantized_bits`` that hls4ml reads exactly as it stands: signed, at least 2 bits, not
    symmetric, ``alpha`` 1.  Any other (``keep_negative=False``, 1 bit, ``symmetric``, ``alpha='auto'``)
    has its quantized weights rewritten onto an exact grid (:func:`_grid_quantizer`)."""
    return (getattr(q, "alpha", None) in (None, 1, 1.0) and bool(getattr(q, "keep_negative", True))
            and int(getattr(q, "bits", 8)) >= 2 and not getattr(q, "symmetric", False))


def _leaky(q) -> str:
    """'' or the sentence part naming a leaky quantized_relu and the fix (hls4ml has no exact twin of it)."""
    slope = getattr(q, "negative_slope", 0) or 0
    return (f"a leaky quantized_relu (negative_slope={slope:g}), which hls4ml does not convert bit-exactly "
            "(train with negative_slope=0)") if slope else ""


def folded_quantizer(bits: int, values):
    """``quantized_bits(bits, integer, alpha=1)`` with the fewest integer bits that hold ``values``."""
    from qkeras import quantized_bits

    top = float(np.max(np.abs(values))) if np.size(values) else 0.0
    integer = max(0, math.ceil(math.log2(top))) if top > 0 else 0
    if top >= 2.0 ** integer - 2.0 ** -(bits - 1 - integer):      # the positive end is one LSB short
        integer += 1
    return quantized_bits(bits, integer, alpha=1)


def _grid_quantizer(values, where: str):
    """``quantized_bits(alpha=1)`` whose grid and range hold ``values`` exactly."""
    from qkeras import quantized_bits

    fmt = grid_precision(values, where)
    return quantized_bits(fmt.width, fmt.integer - 1, alpha=1)


def _chain(model) -> list:
    """The layers in order; a model that is not a single chain (branches, several inputs) is refused."""
    layers = list(model.layers)
    for prev, layer in zip(layers, layers[1:]):
        inbound = []
        for node in getattr(layer, "_inbound_nodes", [])[:1]:
            inbound = node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]
        if [x.name for x in inbound] not in ([prev.name], []):
            raise OwnModelError(f"layer {layer.name!r} does not take the output of {prev.name!r}: the "
                                f"conversion takes a chain of layers ({SUPPORTED})")
    return layers


def prepare_student(model):
    """``(model in the course's contract, [notes])``; ``model`` itself when nothing needs changing."""
    from ..training.compress import quiet_keras

    with quiet_keras():            # a QDense's get_config() warns about its quantizers (not Keras constraints)
        return _prepare(model)


def _prepare(model):
    layers = _chain(model)
    found, plan, notes = [], [], []
    n = len(layers)
    last_compute = max((i for i, l in enumerate(layers) if type(l).__name__ not in ("Dropout", "InputLayer")
                        and not (type(l).__name__ in ("Activation", "QActivation")
                                 and _activation_name(l.get_config().get("activation")) in FINAL_ACTIVATIONS)),
                       default=0)
    for i, layer in enumerate(layers):
        kind = type(layer).__name__
        cfg = layer.get_config()
        if kind == "InputLayer":
            plan.append(("input", layer))
        elif kind == "Dropout":
            plan.append(("drop", layer))
            notes.append(f"Dropout {layer.name!r} removed (the identity at inference)")
        elif kind == "QDense":
            act = _activation_name(cfg.get("activation"))
            if act not in ("linear", "quantized_relu") and not (act in FINAL_ACTIVATIONS and i == last_compute):
                found.append(f"QDense {layer.name!r} with activation {act!r}")
            elif act == "quantized_relu" and _leaky(layer.activation):
                found.append(f"QDense {layer.name!r} with {_leaky(layer.activation)}")
            plan.append(("dense", layer))
        elif kind == "QActivation":
            act = _activation_name(layer.quantizer if hasattr(layer, "quantizer") else cfg.get("activation"))
            if act in FINAL_ACTIVATIONS and i > last_compute:
                plan.append(("final", layer))
            elif act == "quantized_relu" and _leaky(layer.quantizer):
                found.append(f"QActivation {layer.name!r}, {_leaky(layer.quantizer)}")
            elif act == "quantized_relu":
                plan.append(("relu", layer))
            elif act == "quantized_bits" and i < last_compute:
                # a saturating linear quantizer between layers (no ReLU): hls4ml reads it as a linear
                # activation of the quantizer's precision (the one rule, fixedpoint.activation_precision,
                # refuses the kinds it has no format for); the conversion's bit-exact check decides
                try:
                    activation_precision(layer.quantizer)
                    plan.append(("relu", layer))
                except ValueError as err:
                    found.append(f"QActivation {layer.name!r}: {err}")
            else:
                found.append(f"QActivation {layer.name!r} ({act})")
        elif kind == "Activation":
            act = _activation_name(cfg.get("activation"))
            if act in FINAL_ACTIVATIONS and i > last_compute:
                plan.append(("final", layer))
            elif act == "linear":
                plan.append(("drop", layer))
            else:
                found.append(f"Activation {layer.name!r} ({act})")
        elif kind == "BatchNormalization":
            prev = [p for p in plan if p[0] != "drop"]
            if not prev or prev[-1][0] != "dense" or _activation_name(prev[-1][1].get_config().get("activation")) != "linear":
                found.append(f"BatchNormalization {layer.name!r} not right after a linear QDense")
            plan.append(("bn", layer))
        elif kind == "PruneLowMagnitude":
            found.append(f"pruning wrapper {layer.name!r} (strip it: tfmot's strip_pruning)")
        else:
            found.append(f"{kind} {layer.name!r}")
    if found:
        raise OwnModelError(f"the model has {'; '.join(found)}; the conversion takes {SUPPORTED}")
    if type(model).__name__ == "Sequential" and plan and plan[0][0] != "input":
        plan.insert(0, ("input", None))         # a Sequential model lists no InputLayer
    if plan[0][0] != "input" or not any(p[0] == "dense" for p in plan):
        raise OwnModelError(f"the model must start with an Input and contain QDense layers; the conversion takes {SUPPORTED}")
    last_dense = max(i for i, p in enumerate(plan) if p[0] == "dense")
    if any(p[0] == "relu" for p in plan[last_dense:]):
        raise OwnModelError("the model ends with a quantized_relu after its last QDense, so it has no logits: "
                            f"end it with a linear QDense (optionally + softmax/sigmoid); the conversion takes {SUPPORTED}")

    def needs_change(kind, layer) -> bool:
        if kind in ("drop", "bn", "final"):
            return True
        if kind == "input":
            return layer is None or layer.name == "input"
        if kind == "dense":
            qs = [layer.kernel_quantizer_internal] + ([layer.bias_quantizer_internal] if layer.use_bias else [])
            for q in qs:
                _check_quantizer(q, f"QDense {layer.name!r}")
            return (_activation_name(layer.get_config().get("activation")) != "linear"
                    or not all(_plain(q) for q in qs))
        return False

    if not any(needs_change(kind, layer) for kind, layer in plan):
        return model, []
    return _rebuild(model, plan, notes), notes


def _rebuild(model, plan, notes):
    import tensorflow as tf
    from qkeras import QActivation, QDense

    inp_layer = plan[0][1]
    name = inp_layer.name if inp_layer is not None and inp_layer.name != "input" else "pulse"
    if inp_layer is None:
        notes.append("the Sequential model gets an Input layer named 'pulse'")
    elif name != inp_layer.name:
        notes.append("Input 'input' renamed 'pulse' (hls4ml reserves the name 'input')")
    inp = tf.keras.Input(tuple(model.input_shape[1:]), name=name)
    x = inp
    weights = []                      # (new layer, kernel, bias) set after the model is built
    steps = [p for p in plan[1:] if p[0] != "drop"]
    i = 0
    while i < len(steps):
        kind, layer = steps[i]
        if kind == "dense":
            kq = layer.kernel_quantizer_internal
            kernel = exact_weights(kq, layer.kernel.numpy())
            bq = layer.bias_quantizer_internal if layer.use_bias else None
            bias = exact_weights(bq, layer.bias.numpy()) if bq is not None else None
            for q, what, values in ((kq, "kernel", layer.kernel.numpy()), (bq, "bias", layer.bias.numpy() if bq else None)):
                if q is not None and getattr(q, "alpha", None) in (None, 1, 1.0) and not _plain(q):
                    notes.append(f"QDense {layer.name!r} {what}: the values {q} gives are kept exactly, on a "
                                 "signed grid hls4ml converts bit for bit")
                if q is not None and getattr(q, "alpha", None) not in (None, 1, 1.0):
                    scale = np.unique(_quantize(q, values)[1])
                    notes.append(f"QDense {layer.name!r} {what}: alpha={q.alpha!r} scales from the trained "
                                 f"model ({', '.join(f'{s:g}' for s in scale[:6])}{' ...' if scale.size > 6 else ''}) "
                                 "kept in the weights")
            bn = steps[i + 1][1] if i + 1 < len(steps) and steps[i + 1][0] == "bn" else None
            if bn is not None:
                gamma = bn.gamma.numpy() if bn.scale else np.ones(kernel.shape[1], np.float32)
                beta = bn.beta.numpy() if bn.center else np.zeros(kernel.shape[1], np.float32)
                s = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
                b0 = bias if bias is not None else np.zeros(kernel.shape[1], np.float32)
                kernel_f, bias_f = kernel * s[None, :], (b0 - bn.moving_mean.numpy()) * s + beta
                kq_new = folded_quantizer(int(kq.bits), kernel_f)
                bq_new = folded_quantizer(int(bq.bits if bq is not None else kq.bits), bias_f)
                kernel = exact_weights(kq_new, kernel_f)
                bias = exact_weights(bq_new, bias_f)
                notes.append(f"BatchNormalization {bn.name!r} folded into QDense {layer.name!r}: weights "
                             f"re-quantized as quantized_bits({kq_new.bits},{kq_new.integer}), bias as "
                             f"quantized_bits({bq_new.bits},{bq_new.integer})")
                i += 1
            kq_new = _grid_quantizer(kernel, f"QDense {layer.name!r} kernel")
            bq_new = _grid_quantizer(bias, f"QDense {layer.name!r} bias") if bias is not None else None
            act = layer.get_config().get("activation")
            new = QDense(kernel.shape[1], name=layer.name, kernel_quantizer=kq_new, bias_quantizer=bq_new,
                         use_bias=bias is not None)
            x = new(x)
            weights.append((new, kernel, bias))
            act_name = _activation_name(act)
            if act_name == "quantized_relu":
                q = layer.activation
                x = QActivation(copy.copy(q), name=f"{layer.name}_relu")(x)
                notes.append(f"QDense {layer.name!r}: its quantized_relu activation became QActivation "
                             f"{layer.name + '_relu'!r}")
            elif act_name in FINAL_ACTIVATIONS:
                notes.append(f"the final {act_name} of QDense {layer.name!r} is stripped: the IP outputs logits")
        elif kind == "relu":
            x = QActivation(copy.copy(layer.quantizer), name=layer.name)(x)
        elif kind == "final":
            act = _activation_name(layer.get_config().get("activation"))
            notes.append(f"the final {act} ({type(layer).__name__} {layer.name!r}) is stripped: the IP outputs "
                         "logits" + (" (argmax unchanged)" if act == "softmax" else " (class 1 <=> logit > 0)"))
        i += 1
    new_model = tf.keras.Model(inp, x, name=model.name)
    for layer, kernel, bias in weights:
        layer.set_weights([kernel] + ([bias] if bias is not None else []))
        for q, values in ((layer.kernel_quantizer_internal, kernel), (layer.bias_quantizer_internal, bias)):
            if values is not None and not np.array_equal(exact_weights(q, values), values):
                raise RuntimeError(f"labkit bug: the weights of {layer.name!r} are not on the grid of {q}")
    return new_model


def output_kind(model) -> str:
    """'softmax', 'sigmoid' or 'logits': what the (original) model's last step outputs."""
    last = model.layers[-1]
    act = _activation_name(getattr(last, "quantizer", None) if type(last).__name__ == "QActivation"
                           else getattr(last, "activation", None))
    return act if act in FINAL_ACTIVATIONS else "logits"


def original_classes(original, X_raw) -> np.ndarray:
    """The classes the model as trained (before :func:`prepare_student`) predicts for raw pulses:
    argmax of its outputs, or its one sigmoid probability > 0.5 (logit > 0)."""
    from ..fixedpoint import predicted_classes
    from ..training.contract import network_input

    out = np.asarray(original.predict(network_input(X_raw), batch_size=4096, verbose=0), np.float64)
    if out.shape[1] == 1 and output_kind(original) == "sigmoid":
        return (out[:, 0] > 0.5).astype(np.int64)
    return predicted_classes(out)


def load_own_student(path=None):
    """``(original, prepared, notes)`` for ``labkit hls convert --student PATH`` (default: the course's
    student); one sentence naming the file for a model the conversion does not take."""
    from ..training.contract import describe_layers
    from ..training.checkpoints import student_path
    from ..training.modelfile import ModelFileError, load_model

    path = Path(path) if path is not None else student_path()
    original = load_model(path, outputs="any")
    try:
        prepared, notes = prepare_student(original)
        describe_layers(prepared, outputs="any")
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None
    return original, prepared, notes
