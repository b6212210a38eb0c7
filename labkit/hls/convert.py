"""QKeras student -> hls4ml project (Vitis backend), C simulation and the agreement check.

Every precision is set explicitly (granularity ``name``):

* input          = the input transform's format (``CFG.input_transform``: ap_fixed<12,4> for the
  course's baseline-subtracted pulses, ap_ufixed<10,10> for raw codes): what the IP's input stage produces;
* weights/biases = the QKeras ``quantized_bits(bits, integer)`` -> ``ap_fixed<bits, integer+1>``
  (QKeras' ``integer`` excludes the sign bit, ap_fixed's includes it);
* dense accumulators and pre-activation results are wide enough to be *exact* (derived from
  the operand ranges and the fan-in below), so no rounding happens inside a layer;
* ``quantized_relu(bits, integer)`` -> ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``:
  QKeras rounds with ``tf.round`` (round half to even = AP_RND_CONV) and clips at the top
  (= AP_SAT);
* the logits = ``CFG.logit_format`` with AP_RND_CONV (same rule as the numpy reference
  :func:`labkit.fixedpoint.quantize_logits`)
  and AP_SAT (an out-of-range logit saturates instead of wrapping around and flipping sign).

The quantizer -> ap_fixed rules and the reference logits live in :mod:`labkit.fixedpoint` (shared
with the RTL twin).  hls4ml's 'auto' precision is never used: with a float model it once produced
constant [0.5, 0.5] outputs here.  TensorFlow / QKeras / hls4ml are imported inside the functions.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import artifacts
from ..config import CFG
from ..fixedpoint import (FixedFormat, activation_precision, bits_precision, exact_accumulator, predicted_classes,
                          quantize_logits)
from ..training.contract import describe_layers, network_input, qkeras_logits

PROJECT_NAME = "myproject"  # hls4ml's default; the wrapper calls myproject()


def layer_precisions(model, logit_format: FixedFormat = CFG.logit_format, input: str = "course") -> dict:
    """{layer name: {precision key: FixedFormat}} for every layer, derived from the quantizers.

    Any number of logits (your own model after :func:`labkit.training.ownmodel.prepare_student`); the
    input is the format of the input transform ``input`` (``CFG.input_transform``)."""
    rows = describe_layers(model, outputs="any")
    in_shape = model.input_shape[1:]
    if in_shape != (CFG.n_samples,):
        raise ValueError(f"student input shape {in_shape} != ({CFG.n_samples},) of course.ini")
    current = CFG.input_transform(input).format  # what flows into the next layer
    out = {rows[0][1].name: {"result": current}}
    for i, (kind, layer) in enumerate(rows[1:], start=1):
        if kind == "QDense":
            w = bits_precision(layer.kernel_quantizer_internal)
            b = bits_precision(layer.bias_quantizer_internal) if layer.use_bias else None
            act = layer.get_config().get("activation", "linear")
            if act not in ("linear", None):
                raise ValueError(f"QDense {layer.name!r} has activation {act!r}: use a separate "
                                 "QActivation(quantized_relu(...)) layer")
            acc = exact_accumulator(current, w, b, int(layer.input_shape[-1]))
            last = i == len(rows) - 1
            result = FixedFormat.of(logit_format, "RND_CONV", "SAT") if last else acc
            out[layer.name] = {"weight": w, "accum": acc, "result": result}
            if b is not None:
                out[layer.name]["bias"] = b
            # hls4ml inserts a '<name>_linear' activation after a QDense; keep it exact
            out[layer.name + "_linear"] = {"result": result}
            current = result
        else:  # QActivation
            current = activation_precision(layer.quantizer)
            out[layer.name] = {"result": current}
    return out


def quote_hls4ml_paths() -> None:
    """Make every hls4ml project written from now on build from any folder name: after hls4ml's
    writer writes ``build_lib.sh`` (also inside ``write()`` / ``compile()`` called in a notebook), its
    one unquoted path becomes a C literal (:func:`labkit.hls.wrapper.quote_build_script`)."""
    from hls4ml.writer.vivado_writer import VivadoWriter
    from .wrapper import quote_build_script

    if getattr(VivadoWriter.write_build_script, "labkit_quoted", False):
        return
    original = VivadoWriter.write_build_script

    def write_build_script(self, model):
        original(self, model)
        quote_build_script(model.config.get_output_dir())

    write_build_script.labkit_quoted = True
    VivadoWriter.write_build_script = write_build_script


def hls_config(model, reuse_factor: int = 1, strategy: str = "Latency", trace: bool = False,
               logit_format: FixedFormat = CFG.logit_format, input: str = "course") -> dict:
    """The hls4ml configuration (granularity 'name') with every precision set explicitly."""
    import hls4ml

    quote_hls4ml_paths()

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    precisions = layer_precisions(model, logit_format, input)
    cfg["Model"]["Precision"] = CFG.input_transform(input).format.hls4ml()  # unused: every layer is explicit
    cfg["Model"]["ReuseFactor"] = reuse_factor
    cfg["Model"]["Strategy"] = strategy
    for name, layer_cfg in cfg["LayerName"].items():
        if name not in precisions:
            raise ValueError(f"hls4ml layer {name!r} has no explicit precision: extend layer_precisions()")
        layer_cfg["Precision"] = {k: p.hls4ml() for k, p in precisions[name].items()}
        if "ReuseFactor" in layer_cfg:
            layer_cfg["ReuseFactor"] = reuse_factor
        layer_cfg["Trace"] = trace
    return cfg


# ------------------------------------------------------------------------------------------
# conversion and C simulation
# ------------------------------------------------------------------------------------------

def convert(model, output_dir=None, board: str = CFG.default_board, io_type: str = "io_parallel",
            reuse_factor: int = 1, strategy: str = "Latency", trace: bool = False,
            logit_format: FixedFormat = CFG.logit_format, compile: bool = True, install_wrapper: bool = True,
            input: str = "course"):
    """Convert, ``write()`` and (by default) ``compile()`` the hls4ml project; returns the model.

    ``input``: the input transform the network was trained on (``CFG.input_transform``); the stream
    wrapper applies it to the ADC codes (``labkit_params.h``), and ``hls_model.labkit_input`` records it."""
    import hls4ml

    from ..training.compress import quiet_keras

    output_dir = Path(output_dir) if output_dir is not None else artifacts.hls_project()
    with quiet_keras():     # reading a QDense's configuration warns that its quantizers are no Keras constraints
        config = hls_config(model, reuse_factor, strategy, trace, logit_format, input)
        hls_model = hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=config,
            output_dir=str(output_dir),
            project_name=PROJECT_NAME,
            backend="Vitis",
            io_type=io_type,
            part=CFG.board(board).part,
            clock_period=1000.0 / CFG.clock_mhz,
            write_weights_txt=False,  # weights compiled in: the emulation library is self-contained
        )
        hls_model.write()   # writes the Keras model's configuration too
    hls_model.labkit_input = CFG.input_transform(input).name
    if install_wrapper:
        from .wrapper import install_wrapper as _install
        _install(output_dir)
    if compile:
        compile_written(hls_model)
    return hls_model


def compile_written(hls_model):
    """Compile an hls4ml project that :func:`convert` has already written (g++, C simulation).

    ``ModelGraph.compile()`` writes the whole project again before compiling; that rewrite is wasted
    time and races with anything reading the project meanwhile (the emulation library's g++ build
    includes the same ``firmware/`` headers). hls4ml 1.3 splits the two steps, so only the compile runs.
    """
    t0 = time.perf_counter()
    compile_only = getattr(hls_model, "_compile", None)
    (compile_only or hls_model.compile)()
    hls_model.labkit_compile_s = time.perf_counter() - t0
    return hls_model


def csim_logits(hls_model, X_raw, input: str | None = None) -> np.ndarray:
    """The C simulation's logits of raw pulses, through the input transform the project was converted
    with (``input`` default: ``hls_model.labkit_input``, else the course's)."""
    input = input or getattr(hls_model, "labkit_input", "course")
    x = np.ascontiguousarray(network_input(X_raw, input), dtype=np.float64)
    y = np.asarray(hls_model.predict(x), dtype=np.float64)
    return y.reshape(len(x), -1)


class InexactConversionError(ValueError):
    """The C simulation does not reproduce the QKeras model bit for bit (one sentence with the fix)."""


def is_exact(agree: dict) -> bool:
    """Every pulse's C-simulation logits equal QKeras' (rounded to the logit format), so every class agrees."""
    return agree["bit_exact_fraction"] == 1.0 and agree["argmax_agreement"] == 1.0


def float32_cause(model, input: str = "course") -> str:
    """'' or why QKeras itself may round: the widest layer whose exact sums (worst case) need more bits than
    float32's 24-bit significand, in which QKeras (TensorFlow) sums a layer."""
    try:
        precisions = layer_precisions(model, input=input)
    except Exception:          # noqa: BLE001 -- only a hint in a refusal: no hint rather than a second error
        return ""
    wide = [(p["accum"].width, name) for name, p in precisions.items() if "accum" in p and p["accum"].width > 24]
    if not wide:
        return ""
    width, name = max(wide)
    return (f"QKeras sums layer {name!r} in float32, whose 24-bit significand cannot hold every exact sum of it "
            f"(up to {width} bits), so QKeras itself may round there (fewer weight or activation bits avoid it); ")


def refuse_inexact(agree: dict, source, project=None, model=None) -> None:
    """Raise :class:`InexactConversionError` unless :func:`is_exact`: one sentence naming the model file,
    the figures, what was (not) written, the likely cause and the two ways on."""
    if is_exact(agree):
        return
    kept = f"; the hls4ml project in {project} is kept for inspection" if project else ""
    cause = (float32_cause(model, agree.get("input", "course")) if model is not None else "") or (
        "the model uses something labkit's model check does not yet make exact or refuse (please report it); ")
    raise InexactConversionError(
        f"{source}: hls4ml's C simulation does not reproduce this model exactly (bit-exact on "
        f"{agree['bit_exact_fraction']:.1%} of {agree['n']} pulses, classes agree on {agree['argmax_agreement']:.1%}, "
        f"max |Δlogit| {agree['max_abs_logit_diff']:.3g}), so no emulation library or test vectors were written{kept}: "
        f"{cause}pass --accept-inexact to go on with a C simulation that differs")


def agreement(model, hls_model, X_raw, fmt: FixedFormat = CFG.logit_format) -> dict:
    """QKeras vs C simulation on raw pulses, both through the project's input transform: class
    agreement (argmax; the sign of one sigmoid logit), max |Δlogit|, bit-exactness."""
    input = getattr(hls_model, "labkit_input", "course")
    q = qkeras_logits(model, X_raw, input=input)
    c = csim_logits(hls_model, X_raw, input)
    ref = quantize_logits(q, fmt)
    return {
        "n": int(len(q)),
        "argmax_agreement": float(np.mean(predicted_classes(q) == predicted_classes(c))),
        "max_abs_logit_diff": float(np.max(np.abs(q - c))) if len(q) else 0.0,
        # ... the same against QKeras' logits rounded to the IP's logit format (0 when bit-exact)
        "max_abs_logit_diff_ip": float(np.max(np.abs(ref - c))) if len(q) else 0.0,
        # the C simulation must equal QKeras' logits rounded to the logit format, bit for bit
        "bit_exact_fraction": float(np.mean(np.all(ref == c, axis=1))),
        "logit_lsb": fmt.lsb,
        "input": input,
        "qkeras_logits": q,
        "csim_logits": c,
    }
