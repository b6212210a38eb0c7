"""Your own Keras / QKeras classifier -> the course's student contract (what :mod:`labkit.hls.convert` converts).

A participant's dense classifier on the 161-sample window (e.g. the student of the public ICTP hls4ml
lab on this case study) is rewritten into ``Input -> [QDense -> QActivation]* -> QDense`` whose
weights are ``quantized_bits(alpha=1)`` grids and whose activations are ``quantized_relu`` or a
saturating ``quantized_bits`` cast, layer by layer, so that QKeras, hls4ml's C simulation and the RTL
twin compute the same numbers bit for bit:

* weights and biases: whatever QKeras quantizer the layer has (``quantized_bits`` with any ``alpha``,
  ``keep_negative``, ``symmetric``; ``quantized_po2``; ``binary``; ``ternary`` ...), the values it
  gives for the trained weights are kept exactly, on the smallest ap_fixed grid that holds them
  (:func:`labkit.fixedpoint.grid_precision`); float weights (a plain ``Dense``, or no quantizer) become
  ``quantized_bits(CFG.float_bits, integer bits from their largest value)`` (a stated choice: the
  prepared model is then the reference, and how often it agrees with the float one is measured);
* activations: ``quantized_relu`` (not leaky, no upper bound), ``quantized_bits`` (a saturating cast),
  ``quantized_tanh`` (QKeras' hard tanh rounded to ``bits`` = ``quantized_bits(bits, 0)``),
  ``quantized_sigmoid`` (hard sigmoid ``clip(z/2 + 1/2, 0, 1)`` rounded: the halving and the offset
  go into the dense layer before it, then ``quantized_bits(bits, 0, keep_negative=False)``), a float
  ReLU (``quantized_relu(CFG.float_bits, CFG.float_integer)``, a stated choice too);
* ``Dropout`` (the identity at inference), ``Flatten`` / ``Reshape`` of the window to 161 values, and a
  ``QActivation`` on the input that changes no possible input value are removed;
* ``BatchNormalization`` right after a dense layer is folded into it (``w' = w s``, ``b' = (b - mean) s
  + beta``, ``s = gamma / sqrt(var + eps)``), re-quantized with the layer's bits;
* a final ``softmax`` / ``sigmoid`` is stripped: the IP outputs logits (softmax keeps the argmax;
  sigmoid > 0.5 <=> logit > 0).

Anything else is refused with one sentence per layer naming it and why.  A model that already
follows the contract (the course's own student) is returned as it is.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np

from ..config import CFG
from ..fixedpoint import activation_precision, grid_precision

SUPPORTED = ("Dense/QDense layers with any deterministic QKeras weight quantizer (quantized_bits, quantized_po2, "
             "binary, ternary) or float weights, activations quantized_relu, quantized_bits, quantized_tanh, "
             "quantized_sigmoid or relu, Dropout, Flatten/Reshape of the window, BatchNormalization right after a "
             "dense layer (folded into it), and a final softmax/sigmoid (stripped: the IP outputs logits)")
FINAL_ACTIVATIONS = ("softmax", "sigmoid")
SKIPPED = ("Dropout", "Flatten", "Reshape", "InputLayer")


class OwnModelError(ValueError):
    """The model has layers the conversion does not take; the message names them and why."""


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
    return _quantize(quantizer, values)[0]


def _quantize(quantizer, values):
    """(quantized values, the scales the quantizer computed for them) in eager mode."""
    import tensorflow as tf

    q = copy.copy(quantizer)
    if hasattr(q, "use_ste"):
        q.use_ste = False
    if hasattr(q, "qnoise_factor"):
        q.qnoise_factor = 1.0
    out = np.asarray(q(tf.constant(np.asarray(values, np.float32))), np.float32)
    scale = getattr(q, "scale", None)
    return out, (np.asarray(scale, np.float64) if scale is not None else np.ones(1))


def _plain(q) -> bool:
    """A ``quantized_bits`` that hls4ml reads exactly as it stands: signed, at least 2 bits, not
    symmetric, ``alpha`` 1.  Any other weight quantizer has its values rewritten onto an exact grid."""
    return (type(q).__name__ == "quantized_bits" and getattr(q, "alpha", None) in (None, 1, 1.0)
            and bool(getattr(q, "keep_negative", True)) and int(getattr(q, "bits", 8)) >= 2
            and not getattr(q, "symmetric", False) and not getattr(q, "use_stochastic_rounding", False))


def _stochastic(q) -> bool:
    return bool(getattr(q, "use_stochastic_rounding", False)) or type(q).__name__.startswith(("stochastic_", "bernoulli"))


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


# ------------------------------------------------------------------------------------------
# reading the model: a list of steps
# ------------------------------------------------------------------------------------------

class _Plan:
    """What the walk over the layers found: ``steps`` (dense / act), ``notes``, ``found`` (refusals),
    and ``changed`` (False while the model is already the contract)."""

    def __init__(self):
        self.steps, self.notes, self.found, self.changed = [], [], [], False

    def refuse(self, text: str) -> None:
        self.found.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.changed = True

    def last_dense(self):
        return self.steps[-1] if self.steps and self.steps[-1]["kind"] == "dense" else None


def _weights(layer, what: str, plan: _Plan):
    """The exact values of a dense layer's kernel or bias (None: no bias), with a note when they change form."""
    raw = layer.kernel.numpy() if what == "kernel" else (layer.bias.numpy() if layer.use_bias else None)
    if raw is None:
        return None
    q = getattr(layer, f"{what}_quantizer_internal", None)
    where = f"{type(layer).__name__} {layer.name!r} {what}"
    if q is None:
        fq = folded_quantizer(CFG.float_bits, raw)
        plan.note(f"{where}: float values quantized as quantized_bits({fq.bits},{fq.integer}) (labkit's choice "
                  f"for float weights, course.ini [quant] float_bits)")
        return exact_weights(fq, raw)
    if _stochastic(q):
        plan.refuse(f"{where} uses stochastic rounding ({q}), which has no fixed inference weights: train "
                    "with use_stochastic_rounding=False")
        return raw
    try:
        values = exact_weights(q, raw)
    except Exception as err:           # a quantizer that cannot be evaluated on its own
        plan.refuse(f"{where}: its quantizer {q} cannot be evaluated on the weights ({type(err).__name__})")
        return raw
    if not _plain(q):
        alpha = getattr(q, "alpha", None)
        scaled = "" if alpha in (None, 1, 1.0) else f" (alpha={alpha!r} scales from the trained model)"
        plan.note(f"{where}: the values {q} gives{scaled} are kept exactly, on a signed grid hls4ml "
                  "converts bit for bit")
    return values


def _input_quantizer(layer, q, plan: _Plan, input: str) -> None:
    """A QActivation before any dense layer: removed when it changes no possible input value."""
    import tensorflow as tf

    t = CFG.input_transform(input)
    codes = np.arange(1 << CFG.adc_bits, dtype=np.float64)
    values = np.unique(np.concatenate([codes, -codes]) if t.baseline else codes) * 2.0 ** -t.frac_bits
    try:
        out = np.asarray(q(tf.constant(values.astype(np.float32))), np.float64)
    except Exception:                   # noqa: BLE001 -- refused below with the layer named
        out = None
    if out is not None and np.array_equal(out, values):
        plan.note(f"QActivation {layer.name!r} on the input changes no input value of the {input!r} transform: removed")
    else:
        plan.refuse(f"QActivation {layer.name!r} ({q}) quantizes the input before the first dense layer and changes "
                    f"input values of the {input!r} transform, which the IP's input stage does not do: remove it, "
                    "or train on inputs it leaves unchanged")


def _activation(act, where: str, plan: _Plan, final_ok: bool) -> None:
    """Append the activation ``act`` (a name, a Keras function or a QKeras quantizer) as a step, or refuse it."""
    from qkeras import quantized_bits, quantized_relu

    name = _activation_name(act)
    if name == "linear":
        return
    if name in FINAL_ACTIVATIONS and final_ok:
        plan.note(f"the final {name} ({where}) is stripped: the IP outputs logits"
                  + (" (argmax unchanged)" if name == "softmax" else " (class 1 <=> logit > 0)"))
        return
    if plan.last_dense() is None and not plan.steps:
        plan.refuse(f"{where}: an activation before any dense layer")
        return
    if name == "relu":
        q = quantized_relu(CFG.float_bits, CFG.float_integer)
        plan.steps.append({"kind": "act", "where": where, "quantizer": q})
        plan.note(f"{where}: float ReLU kept as quantized_relu({CFG.float_bits},{CFG.float_integer}) (labkit's "
                  "choice for float activations, course.ini [quant] float_bits, float_integer)")
        return
    if name in ("softmax", "sigmoid", "tanh"):
        plan.refuse(f"{where}: a float {name} between layers, which hls4ml computes with a lookup table that is "
                    f"not bit-exact (use QActivation(quantized_{'relu' if name == 'softmax' else name}(bits)))")
        return
    if not hasattr(act, "__call__") or isinstance(act, str):
        plan.refuse(f"{where}: activation {act!r}")
        return
    if _stochastic(act):
        plan.refuse(f"{where}: {act} uses stochastic rounding, which has no fixed inference output")
        return
    if name == "quantized_relu":
        slope, upper = getattr(act, "negative_slope", 0) or 0, getattr(act, "relu_upper_bound", None)
        if slope:
            plan.refuse(f"{where}: a leaky quantized_relu (negative_slope={slope:g}), which hls4ml does not "
                        "convert bit-exactly (train with negative_slope=0)")
        elif getattr(act, "use_sigmoid", 0):
            plan.refuse(f"{where}: quantized_relu with use_sigmoid, which hls4ml does not convert (use_sigmoid=0)")
        elif upper is not None:
            plan.refuse(f"{where}: quantized_relu with relu_upper_bound={upper}, a clip hls4ml's ReLU does not "
                        "make (drop the bound: the quantizer's own range saturates)")
        else:
            plan.steps.append({"kind": "act", "where": where, "quantizer": copy.copy(act)})
        return
    if name == "quantized_bits":
        try:
            activation_precision(act)
            plan.steps.append({"kind": "act", "where": where, "quantizer": copy.copy(act)})
        except ValueError as err:
            plan.refuse(f"{where}: {err}")
        return
    if name == "quantized_tanh":
        if getattr(act, "use_real_tanh", False) or getattr(act, "symmetric", False) or not _hard_sigmoid():
            plan.refuse(f"{where}: {act} with a real tanh or symmetric range, which hls4ml does not compute "
                        "bit-exactly (use quantized_tanh(bits) with use_real_tanh=False)")
            return
        bits = int(act.bits)
        plan.steps.append({"kind": "act", "where": where, "quantizer": quantized_bits(bits, 0, alpha=1)})
        plan.note(f"{where}: quantized_tanh({bits}) is QKeras' hard tanh rounded to {bits} bits, the same numbers "
                  f"as quantized_bits({bits}, 0)")
        return
    if name == "quantized_sigmoid":
        dense = plan.last_dense()
        if getattr(act, "use_real_sigmoid", False) or getattr(act, "symmetric", False) or not _hard_sigmoid():
            plan.refuse(f"{where}: {act} with a real sigmoid or symmetric range, which hls4ml does not compute "
                        "bit-exactly (use quantized_sigmoid(bits) with use_real_sigmoid=False)")
        elif dense is None:
            plan.refuse(f"{where}: quantized_sigmoid not right after a dense layer")
        else:
            bits = int(act.bits)
            dense["kernel"] = dense["kernel"] * 0.5
            bias = dense["bias"] if dense["bias"] is not None else np.zeros(dense["kernel"].shape[1], np.float32)
            dense["bias"] = bias * 0.5 + 0.5
            plan.steps.append({"kind": "act", "where": where,
                               "quantizer": quantized_bits(bits, 0, keep_negative=False, alpha=1)})
            plan.note(f"{where}: quantized_sigmoid({bits}) is QKeras' hard sigmoid clip(z/2 + 1/2, 0, 1) rounded: "
                      f"z/2 + 1/2 goes into {dense['name']!r}, then quantized_bits({bits}, 0, keep_negative=False)")
        return
    why = {"binary": "labkit has no bit-exact twin of hls4ml's binary_tanh in the RTL twin yet",
           "ternary": "hls4ml's ternary_tanh uses a threshold of its own, not the quantizer's",
           "quantized_po2": "hls4ml has no power-of-two activation",
           "quantized_relu_po2": "hls4ml has no power-of-two activation"}.get(name, "hls4ml has no exact twin of it")
    plan.refuse(f"{where}: the activation {act} ({why}; binary, ternary and power-of-two weights are taken)")


def _hard_sigmoid() -> bool:
    """QKeras' internal sigmoid is its hard sigmoid (the default; ``set_internal_sigmoid`` may change it)."""
    from qkeras import quantizers

    return getattr(quantizers, "_sigmoid", None) is quantizers.hard_sigmoid


def _fold_bn(layer, plan: _Plan) -> None:
    dense = plan.last_dense()
    if dense is None:
        plan.refuse(f"BatchNormalization {layer.name!r} not right after a dense layer without activation")
        return
    kernel, bias = dense["kernel"], dense["bias"]
    units = kernel.shape[1]
    gamma = layer.gamma.numpy() if layer.scale else np.ones(units, np.float32)
    beta = layer.beta.numpy() if layer.center else np.zeros(units, np.float32)
    s = gamma / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
    b0 = bias if bias is not None else np.zeros(units, np.float32)
    kernel_f, bias_f = kernel * s[None, :], (b0 - layer.moving_mean.numpy()) * s + beta
    bits = dense["bits"] if dense["bits"] >= 2 else CFG.float_bits
    kq, bq = folded_quantizer(bits, kernel_f), folded_quantizer(bits, bias_f)
    dense["kernel"], dense["bias"] = exact_weights(kq, kernel_f), exact_weights(bq, bias_f)
    plan.note(f"BatchNormalization {layer.name!r} folded into {dense['kind_name']} {dense['name']!r}: weights "
              f"re-quantized as quantized_bits({kq.bits},{kq.integer}), bias as quantized_bits({bq.bits},{bq.integer})")


def _walk(model, input: str) -> _Plan:
    layers = _chain(model)
    plan = _Plan()
    computes = [i for i, l in enumerate(layers) if type(l).__name__ not in SKIPPED
                and not (type(l).__name__ in ("Activation", "QActivation")
                         and _activation_name(_layer_activation(l)) in FINAL_ACTIVATIONS)]
    last_compute = max(computes, default=0)
    for i, layer in enumerate(layers):
        kind = type(layer).__name__
        where = f"{kind} {layer.name!r}"
        if kind == "InputLayer":
            continue
        if kind in ("Dropout", "Flatten", "Reshape"):
            if kind != "Dropout" and (any(s["kind"] == "dense" for s in plan.steps)
                                      or tuple(layer.output_shape[1:]) != (CFG.n_samples,)):
                plan.refuse(f"{where}: a {kind} that does not flatten the input window to {CFG.n_samples} values")
            else:
                plan.note(f"{where} removed" + (" (the identity at inference)" if kind == "Dropout" else
                                                 f" (the window is already {CFG.n_samples} values)"))
            continue
        if kind in ("QDense", "Dense"):
            kernel = _weights(layer, "kernel", plan)
            bias = _weights(layer, "bias", plan)
            if kind == "Dense":
                plan.changed = True
            if kind == "QDense" and not all(_plain(q) for q in (layer.kernel_quantizer_internal,
                                                                layer.bias_quantizer_internal if layer.use_bias else None)
                                            if q is not None):
                plan.changed = True
            kq = getattr(layer, "kernel_quantizer_internal", None)
            plan.steps.append({"kind": "dense", "name": layer.name, "kind_name": kind, "kernel": kernel, "bias": bias,
                               "bits": int(getattr(kq, "bits", 0) or 0) if kq is not None else 0})
            act = layer.activation
            if _activation_name(act) != "linear":
                plan.changed = True
                n = len(plan.steps)
                _activation(act, f"the activation of {where}", plan, final_ok=i == last_compute)
                for st in plan.steps[n:]:
                    st["name"] = f"{layer.name}_act"
                    plan.note(f"{where}: its {_activation_name(act)} activation became QActivation {st['name']!r}")
            continue
        if kind == "BatchNormalization":
            _fold_bn(layer, plan)
            continue
        if kind in ("QActivation", "Activation", "ReLU"):
            act = _layer_activation(layer)
            if kind == "ReLU" and (layer.max_value is not None or float(layer.negative_slope) != 0
                                   or float(layer.threshold) != 0):
                plan.refuse(f"{where}: a ReLU with max_value, negative_slope or threshold (use QActivation(quantized_relu))")
                continue
            if kind == "QActivation" and not any(s["kind"] == "dense" for s in plan.steps) and \
                    _activation_name(act) not in ("linear",):
                _input_quantizer(layer, act, plan, input)
                continue
            if kind != "QActivation" or _activation_name(act) not in ("quantized_relu", "quantized_bits"):
                plan.changed = True
            n = len(plan.steps)
            _activation(act, where, plan, final_ok=i > last_compute)
            for st in plan.steps[n:]:
                st["name"] = layer.name
            continue
        if kind == "PruneLowMagnitude":
            plan.refuse(f"pruning wrapper {layer.name!r} (strip it: tfmot's strip_pruning)")
            continue
        plan.refuse(f"{where} (not a layer of a dense classifier)")
    return plan


def _layer_activation(layer):
    """What an activation layer applies: a QActivation's quantizer, an Activation's function, 'relu' for ReLU."""
    kind = type(layer).__name__
    if kind == "QActivation":
        return layer.quantizer if hasattr(layer, "quantizer") else layer.get_config().get("activation")
    if kind == "ReLU":
        return "relu"
    return layer.get_config().get("activation")


def prepare_student(model, input: str = "course"):
    """``(model in the course's contract, [notes])``; ``model`` itself when nothing needs changing.

    ``input``: the input transform the model was trained on (``CFG.input_transform``); it decides
    whether a quantizer on the input changes anything."""
    from ..training.compress import quiet_keras

    with quiet_keras():            # a QDense's get_config() warns about its quantizers (not Keras constraints)
        return _prepare(model, input)


def _prepare(model, input: str):
    plan = _walk(model, input)
    if plan.found:
        raise OwnModelError(f"the model has {'; '.join(plan.found)}; the conversion takes {SUPPORTED}")
    denses = [i for i, s in enumerate(plan.steps) if s["kind"] == "dense"]
    if not denses:
        raise OwnModelError(f"the model has no dense layer; the conversion takes {SUPPORTED}")
    if any(s["kind"] == "act" for s in plan.steps[denses[-1]:]):
        raise OwnModelError("the model ends with an activation after its last dense layer, so it has no logits: "
                            f"end it with a linear dense layer (optionally + softmax/sigmoid); the conversion takes {SUPPORTED}")
    first = model.layers[0]
    in_name = first.name if type(first).__name__ == "InputLayer" else None
    flat = tuple(model.input_shape[1:]) == (CFG.n_samples,)
    if not plan.changed and flat and in_name not in (None, "input"):
        return model, []
    return _rebuild(model, plan, in_name), plan.notes


def _rebuild(model, plan: _Plan, in_name):
    import tensorflow as tf
    from qkeras import QActivation, QDense

    notes = plan.notes
    name = in_name if in_name not in (None, "input") else "pulse"
    if in_name is None:
        notes.append("the Sequential model gets an Input layer named 'pulse'")
    elif name != in_name:
        notes.append("Input 'input' renamed 'pulse' (hls4ml reserves the name 'input')")
    if tuple(model.input_shape[1:]) != (CFG.n_samples,):
        notes.append(f"the input of shape {tuple(model.input_shape[1:])} becomes ({CFG.n_samples},)")
    inp = tf.keras.Input((CFG.n_samples,), name=name)
    x, weights, used = inp, [], {name}
    for st in plan.steps:
        base = st["name"] if st["kind"] == "dense" else st.get("name", "act")
        layer_name, k = base, 1
        while layer_name in used or layer_name == "input":
            layer_name, k = f"{base}_{k}", k + 1
        used.add(layer_name)
        if st["kind"] == "dense":
            kernel, bias = st["kernel"], st["bias"]
            kq = _grid_quantizer(kernel, f"dense {st['name']!r} kernel")
            bq = _grid_quantizer(bias, f"dense {st['name']!r} bias") if bias is not None else None
            new = QDense(kernel.shape[1], name=layer_name, kernel_quantizer=kq, bias_quantizer=bq,
                         use_bias=bias is not None)
            x = new(x)
            weights.append((new, kernel, bias))
        else:
            x = QActivation(st["quantizer"], name=layer_name)(x)
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


def original_classes(original, X_raw, input: str = "course") -> np.ndarray:
    """The classes the model as trained (before :func:`prepare_student`) predicts for raw pulses:
    argmax of its outputs, or its one sigmoid probability > 0.5 (logit > 0)."""
    from ..fixedpoint import predicted_classes
    from ..training.contract import network_input

    x = network_input(X_raw, input).reshape((-1,) + tuple(original.input_shape[1:]))
    out = np.asarray(original.predict(x, batch_size=4096, verbose=0), np.float64)
    if out.shape[1] == 1 and output_kind(original) == "sigmoid":
        return (out[:, 0] > 0.5).astype(np.int64)
    return predicted_classes(out)


def load_own_student(path=None, input: str = "course"):
    """``(original, prepared, notes)`` for ``labkit hls convert --student PATH`` (default: the course's
    student); one sentence naming the file for a model the conversion does not take."""
    from ..training.contract import describe_layers
    from ..training.checkpoints import student_path
    from ..training.modelfile import ModelFileError, load_model

    path = Path(path) if path is not None else student_path()
    original = load_model(path, outputs="any")
    try:
        prepared, notes = prepare_student(original, input)
        describe_layers(prepared, outputs="any")
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None
    return original, prepared, notes
