"""QKeras student -> hls4ml project (Vitis backend), C simulation and the agreement check.

Every precision is set explicitly (granularity ``name``):

* input          = ``CFG.input_format`` (ap_fixed<12,4>): what the IP's input stage produces;
* weights/biases = the QKeras ``quantized_bits(bits, integer)`` -> ``ap_fixed<bits, integer+1>``
  (QKeras' ``integer`` excludes the sign bit, ap_fixed's includes it);
* dense accumulators and pre-activation results are wide enough to be *exact* (derived from
  the operand ranges and the fan-in below), so no rounding happens inside a layer;
* ``quantized_relu(bits, integer)`` -> ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``:
  QKeras rounds with ``tf.round`` (round half to even = AP_RND_CONV) and clips at the top
  (= AP_SAT);
* the logits = ``CFG.logit_format`` with AP_RND_CONV (same rule as the numpy reference below)
  and AP_SAT (an out-of-range logit saturates instead of wrapping around and flipping sign).

hls4ml's 'auto' precision is never used: with a float model it once produced constant
[0.5, 0.5] outputs here.  TensorFlow / QKeras / hls4ml are imported inside the functions.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import CFG, FixedFormat, artifacts_dir

PROJECT_NAME = "myproject"  # hls4ml's default; the wrapper calls myproject()


# ------------------------------------------------------------------------------------------
# precisions
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Precision:
    """ap_fixed / ap_ufixed with optional rounding and saturation modes."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = ""     # '' = TRN (truncate, the default)
    saturation: str = ""   # '' = WRAP (the default)

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def max_abs(self) -> float:
        return 2.0 ** (self.integer - 1 if self.signed else self.integer)

    def hls4ml(self) -> str:
        """hls4ml precision string, e.g. ``fixed<16,7,RND_CONV,SAT>``."""
        kind = "fixed" if self.signed else "ufixed"
        modes = [m for m in (self.rounding, self.saturation) if m]
        if self.saturation and not self.rounding:
            modes = ["TRN", self.saturation]
        return f"{kind}<{self.width},{self.integer}{''.join(',' + m for m in modes)}>"

    def fmt(self) -> FixedFormat:
        return FixedFormat(self.width, self.integer, self.signed)

    @classmethod
    def of(cls, fmt: FixedFormat, rounding="", saturation="") -> "Precision":
        return cls(fmt.width, fmt.integer, fmt.signed, rounding, saturation)


def bits_precision(quantizer) -> Precision:
    """QKeras ``quantized_bits`` -> the ap_fixed holding exactly its grid."""
    name = type(quantizer).__name__
    if name != "quantized_bits":
        raise ValueError(f"weight quantizer {quantizer} is not quantized_bits: the student must use "
                         "quantized_bits(bits, integer, alpha=1) (see lab 03)")
    alpha = getattr(quantizer, "alpha", None)
    if alpha not in (None, 1, 1.0):
        raise ValueError(f"quantized_bits alpha={alpha!r} scales the weights by a learned factor hls4ml "
                         "cannot fold exactly here: train the student with alpha=1")
    bits, integer = int(quantizer.bits), int(quantizer.integer)
    signed = bool(getattr(quantizer, "keep_negative", True))
    return Precision(bits, integer + (1 if signed else 0), signed)


def relu_precision(quantizer) -> Precision:
    """QKeras ``quantized_relu(bits, integer)`` -> ap_ufixed<bits, integer, RND_CONV, SAT>."""
    name = type(quantizer).__name__
    if name != "quantized_relu" or getattr(quantizer, "negative_slope", 0.0) or \
            getattr(quantizer, "use_sigmoid", False):
        raise ValueError(f"activation quantizer {quantizer} is not a plain quantized_relu(bits, integer)")
    # tf.round is round-half-to-even = AP_RND_CONV; the clip at 2**integer - lsb = AP_SAT
    return Precision(int(quantizer.bits), int(quantizer.integer), False, "RND_CONV", "SAT")


def exact_accumulator(x: Precision, w: Precision, b: Precision | None, fan_in: int) -> Precision:
    """Smallest signed ap_fixed holding sum(x*w) + b exactly for every operand value."""
    frac = x.frac + w.frac
    if b is not None:
        frac = max(frac, b.frac)
    bound = fan_in * x.max_abs * w.max_abs + (b.max_abs if b is not None else 0.0)
    integer = math.ceil(math.log2(bound)) + 1 + 1  # magnitude bits + sign + one guard bit
    return Precision(integer + frac, integer, True)


# ------------------------------------------------------------------------------------------
# the student
# ------------------------------------------------------------------------------------------

def load_student(path=None):
    """The saved, pruning-stripped QKeras student (``artifacts/student/student.h5``)."""
    from ..training.checkpoints import student_path
    from ..training.compress import load_model

    return load_model(Path(path) if path is not None else student_path())


def describe_layers(model):
    """[(kind, keras_layer)] for the supported student architecture; raises on anything else."""
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "QDense", "QActivation"):
            rows.append((kind, layer))
        else:
            raise ValueError(f"layer {layer.name!r} ({kind}) is not part of the student contract "
                             "(Input -> [QDense -> QActivation(quantized_relu)]* -> QDense logits)")
    if rows[0][0] != "InputLayer" or rows[-1][0] != "QDense":
        raise ValueError("the student must start with an Input and end with the QDense logits layer")
    if rows[0][1].name == "input":
        raise ValueError("hls4ml reserves the layer name 'input': rename the student's Input layer "
                         "(e.g. tf.keras.Input(..., name='pulse')) and save it again")
    return rows


def layer_precisions(model, logit_format: FixedFormat = CFG.logit_format) -> dict:
    """{layer name: {precision key: Precision}} for every layer, derived from the quantizers."""
    rows = describe_layers(model)
    in_shape = model.input_shape[1:]
    if in_shape != (CFG.n_samples,):
        raise ValueError(f"student input shape {in_shape} != ({CFG.n_samples},) of course.ini")
    current = Precision.of(CFG.input_format)  # what flows into the next layer
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
            result = Precision.of(logit_format, "RND_CONV", "SAT") if last else acc
            out[layer.name] = {"weight": w, "accum": acc, "result": result}
            if b is not None:
                out[layer.name]["bias"] = b
            # hls4ml inserts a '<name>_linear' activation after a QDense; keep it exact
            out[layer.name + "_linear"] = {"result": result}
            current = result
        else:  # QActivation
            current = relu_precision(layer.quantizer)
            out[layer.name] = {"result": current}
    return out


def hls_config(model, reuse_factor: int = 1, strategy: str = "Latency", trace: bool = False,
               logit_format: FixedFormat = CFG.logit_format) -> dict:
    """The hls4ml configuration (granularity 'name') with every precision set explicitly."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    precisions = layer_precisions(model, logit_format)
    cfg["Model"]["Precision"] = Precision.of(CFG.input_format).hls4ml()  # unused: every layer is explicit
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

def convert(model, output_dir=None, board: str = "pynq-z1", io_type: str = "io_parallel",
            reuse_factor: int = 1, strategy: str = "Latency", trace: bool = False,
            logit_format: FixedFormat = CFG.logit_format, compile: bool = True, install_wrapper: bool = True):
    """Convert, ``write()`` and (by default) ``compile()`` the hls4ml project; returns the model."""
    import hls4ml

    output_dir = Path(output_dir) if output_dir is not None else artifacts_dir("hls", "prj", create=False)
    config = hls_config(model, reuse_factor, strategy, trace, logit_format)
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
    hls_model.write()
    if install_wrapper:
        from .wrapper import install_wrapper as _install
        _install(output_dir)
    if compile:
        t0 = time.perf_counter()
        hls_model.compile()
        hls_model.labkit_compile_s = time.perf_counter() - t0
    return hls_model


def network_input(X_raw) -> np.ndarray:
    from ..data.prep import preprocess
    return preprocess(X_raw)


def qkeras_logits(model, X_raw, batch_size: int = 4096) -> np.ndarray:
    return np.asarray(model.predict(network_input(X_raw), batch_size=batch_size, verbose=0), dtype=np.float64)


def csim_logits(hls_model, X_raw) -> np.ndarray:
    x = np.ascontiguousarray(network_input(X_raw), dtype=np.float64)
    y = np.asarray(hls_model.predict(x), dtype=np.float64)
    return y.reshape(len(x), -1)


def quantize_logits(logits, fmt: FixedFormat = CFG.logit_format) -> np.ndarray:
    """The numpy twin of ap_fixed<..., AP_RND_CONV, AP_SAT>: round half to even, saturate."""
    q = np.round(np.asarray(logits, np.float64) / fmt.lsb) * fmt.lsb  # np.round = half to even
    return np.clip(q, fmt.min, fmt.max)


def agreement(model, hls_model, X_raw, fmt: FixedFormat = CFG.logit_format) -> dict:
    """QKeras vs C simulation on raw pulses: argmax agreement, max |Δlogit|, bit-exactness."""
    q = qkeras_logits(model, X_raw)
    c = csim_logits(hls_model, X_raw)
    ref = quantize_logits(q, fmt)
    return {
        "n": int(len(q)),
        "argmax_agreement": float(np.mean(q.argmax(1) == c.argmax(1))),
        "max_abs_logit_diff": float(np.max(np.abs(q - c))) if len(q) else 0.0,
        # the C simulation must equal QKeras' logits rounded to the logit format, bit for bit
        "bit_exact_fraction": float(np.mean(np.all(ref == c, axis=1))),
        "logit_lsb": fmt.lsb,
        "qkeras_logits": q,
        "csim_logits": c,
    }
