"""Stage 04c, the Keras 3 route (issue 32): an HGQ2 student with learned bit widths, measured like the QKeras one.

HGQ2 (pip ``hgq2``, Keras 3) learns the bit width of every weight and of every input of every layer; its
resource regulariser adds ``beta`` x EBOPs (effective bit operations, HGQ2's own LUT proxy) to the loss,
so one ``beta`` is one point of an accuracy-versus-resources front.  Keras 3 cannot share an environment
with TensorFlow 2.15 / Keras 2 / QKeras, so this route runs in a second one, ``.venv-keras3``
(``scripts/setup_keras3.sh``: Keras 3 on JAX's CPU backend, hgq2, da4ml with its own numpy 2, hls4ml);
``scripts/hgq_sweep.py`` runs :func:`sweep` there and prints one JSON line per ``beta``.  This module's
top level needs numpy and labkit only (the main environment imports it too); Keras, HGQ2, da4ml and
hls4ml are imported inside the functions.

Same data and the same measures as the QKeras route:

* data: :func:`labkit.data.load_split` and :func:`labkit.data.prep.preprocess`
  (``x = (baseline - sample) * 2**-8``);
* accuracy: :func:`labkit.metrics.accuracy_ci` on the test split (n and the Wilson 95 % interval);
* cost: the model traced by da4ml's HGQ2/Keras tracer with its input in the course's input format
  (``CFG.input_format``, what the QKeras core reads), ``lut_estimate`` by
  :func:`labkit.training.cost.comb_cost`, the fully parallel core (fold "none") written by da4ml and
  pipelined at course.ini [rtl] clock_mhz (``latency_cycles`` = stages + 1, as :mod:`labkit.rtl.core`
  counts), LUTs from Yosys (:func:`labkit.rtl.resources.synthesize`);
* bit-exactness: HGQ2's own logits against da4ml's C++ interpreter of the traced logic
  (``CombLogic.predict``) and against hls4ml's C simulation (Vitis backend, io_parallel, bit-exact
  precision propagation), pulse by pulse on the test pulses.

The logits leave the core at the width HGQ2 gives them (no rounding to course.ini's logit format): the
HGQ2 core is not yet a drop-in for the IP of lab 05.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..config import CFG, fast_mode, project_root

#: Keras 3 backend of the route: JAX on the CPU (the smallest install that trains fast on 2 cores)
BACKEND = "jax"
#: the second environment's folder in the checkout (scripts/setup_keras3.sh makes it)
VENV = ".venv-keras3"
#: Verilog module name of the HGQ2 core (``<CORE>_wrapper`` is da4ml's top)
CORE = "hgq_core"


@dataclass(frozen=True)
class Settings:
    """How an HGQ2 student is built and trained: course.ini [hgq] (``fast_`` keys in fast mode)."""
    units: tuple             #: hidden ReLU layers (units each); the logits layer follows
    steps: int               #: optimiser steps at one beta (the epochs follow from the training pulses)
    batch_size: int          #: pulses per step
    learning_rate: float     #: Adam's, decayed along a cosine to 1 % of it
    weight_bits0: int        #: starting bits of every weight and bias (without the sign; all fraction bits at first)
    act_frac0: int           #: starting fraction bits of every hidden activation
    kd_temperature: float    #: distillation temperature T
    kd_alpha: float          #: weight of the hard-label loss; the teacher's soft targets weigh 1 - alpha, times T^2
    epochs: Optional[int] = None  #: epochs instead of ``steps`` (quick checks)

    def n_epochs(self, n_train: int) -> int:
        """Epochs over ``n_train`` pulses: ``epochs`` if set, else enough for ``steps`` steps."""
        if self.epochs:
            return int(self.epochs)
        per_epoch = max(1, int(np.ceil(n_train / self.batch_size)))
        return max(1, int(np.ceil(self.steps / per_epoch)))


def settings(**overrides) -> Settings:
    """course.ini [hgq] for the current mode with the given fields replaced (``None`` keeps the setting)."""
    h = CFG.hgq
    base = Settings(units=architectures()[-1], steps=h.steps, batch_size=h.batch_size, learning_rate=h.learning_rate,
                    weight_bits0=h.weight_bits0, act_frac0=h.act_frac0, kd_temperature=h.kd_temperature,
                    kd_alpha=h.kd_alpha)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "units" in given:
        given["units"] = tuple(int(u) for u in given["units"])
    return dataclasses.replace(base, **given)


def architectures() -> list:
    """The students' hidden layers of course.ini [hgq] hidden_layers: ``()`` linear, ``(N,)`` one layer of N units."""
    return [() if n == 0 else (int(n),) for n in CFG.hgq.hidden_layers]


def default_betas() -> tuple:
    """The betas of course.ini [hgq] for the current mode (one front point each)."""
    return tuple(CFG.hgq.betas)


# ------------------------------------------------------------------------------------------
# the second environment
# ------------------------------------------------------------------------------------------

def venv_python(root: Optional[Path] = None) -> Path:
    """The second environment's interpreter (it may not exist: see :func:`missing`)."""
    return Path(root or project_root()) / VENV / "bin" / "python"


def missing() -> Optional[str]:
    """None when Keras 3, HGQ2, da4ml and hls4ml import here, else one sentence saying what to do."""
    import importlib.metadata as md
    import importlib.util

    gone = [name for name, module in (("keras", "keras"), ("hgq2", "hgq"), ("da4ml", "da4ml"), ("hls4ml", "hls4ml"))
            if importlib.util.find_spec(module) is None]
    if "keras" not in gone:
        try:
            version = md.version("keras")
        except md.PackageNotFoundError:
            version = "?"
        if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 3:
            gone.insert(0, f"Keras 3 (it has keras {version})")
    if not gone:
        return None
    lacks = ", ".join(gone[:-1]) + " and " + gone[-1] if len(gone) > 1 else gone[0]
    return (f"the HGQ2 route runs in its own environment: this one ({sys.prefix}) lacks {lacks}; run "
            f"`bash scripts/setup_keras3.sh` and use {VENV}/bin/python (scripts/hgq_sweep.py)")


def _keras():
    """Keras 3 on :data:`BACKEND` (unless KERAS_BACKEND says otherwise), or one sentence why not."""
    os.environ.setdefault("KERAS_BACKEND", BACKEND)
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    import warnings
    # JAX computes in 32 bits unless told otherwise: HGQ2's EBOPs counter asks for int64 and gets int32
    warnings.filterwarnings("ignore", message="Explicitly requested dtype int64", category=UserWarning)
    import keras
    return keras


# ------------------------------------------------------------------------------------------
# (a) build and train
# ------------------------------------------------------------------------------------------

def build_student(beta: float, s: Optional[Settings] = None, seed: int = CFG.seed):
    """HGQ2 MLP ``161 -> units... -> 2 logits`` with learned bit widths and the EBOPs regulariser ``beta``.

    Every layer is an HGQ2 ``QDense``: its weights and bias in KBI fixed point (``SAT_SYM``), its
    input through a learned per-input quantizer (KIF).  The first layer's input quantizer saturates and
    keeps at most the course's input format (``CFG.input_format``: integer and fraction bits), so
    no bit the pulse does not have is paid for; the hidden activations wrap as HGQ2 recommends.
    """
    keras = _keras()
    from hgq.config import LayerConfigScope, QuantizerConfig, QuantizerConfigScope
    from hgq.constraints import MinMax
    from hgq.layers import QDense

    s = s or settings()
    keras.utils.set_random_seed(int(seed))
    fmt = CFG.input_format
    k = 1 if fmt.signed else 0
    pulse_q = QuantizerConfig("kif", "datalane", k0=bool(k), i0=fmt.integer - k, f0=fmt.frac, overflow_mode="SAT",
                              ic=MinMax(-12, fmt.integer - k), fc=MinMax(-10, fmt.frac))
    with QuantizerConfigScope(q_type="kbi", place=("weight", "bias"), b0=s.weight_bits0, i0=0,
                              overflow_mode="SAT_SYM"), \
            QuantizerConfigScope(q_type="kif", place="datalane", f0=s.act_frac0, overflow_mode="WRAP"), \
            LayerConfigScope(enable_ebops=True, beta0=float(beta)):
        inp = keras.Input((CFG.n_samples,), name="pulse")
        x = inp
        for i, units in enumerate(s.units):
            x = QDense(int(units), activation="relu", name=f"dense_{i}", iq_conf=pulse_q if i == 0 else None)(x)
        out = QDense(CFG.n_classes, name="logits", iq_conf=None if s.units else pulse_q)(x)
        model = keras.Model(inp, out, name=f"hgq_student_beta{beta:g}")
    return model


def ebops(model) -> int:
    """The model's EBOPs (HGQ2's resource figure) as of its last training step."""
    from hgq.layers import QLayerBase
    keras = _keras()
    return int(sum(float(keras.ops.convert_to_numpy(layer.ebops)) for layer in model._flatten_layers()
                   if isinstance(layer, QLayerBase) and layer.enable_ebops))


def teacher_logits(teacher, X_raw) -> np.ndarray:
    """The teacher's logits for raw pulses: ``teacher`` is a saved Keras model (the course's Keras 2
    ``teacher.h5`` loads in Keras 3 as it is: Dense layers only) or a ``.npy`` of logits already computed."""
    path = Path(teacher)
    if path.suffix == ".npy":
        out = np.load(path)
        if out.ndim != 2 or len(out) != len(X_raw):
            raise ValueError(f"{path}: {out.shape} teacher logits for {len(X_raw)} training pulses; write them "
                             "again for this split")
        return out.astype(np.float32)
    keras = _keras()
    from ..data.prep import preprocess
    model = keras.saving.load_model(str(path), compile=False)
    return np.asarray(model.predict(preprocess(X_raw), batch_size=4096, verbose=0), np.float32)


def distillation_loss(temperature: float, alpha: float):
    """Keras 3 loss of the packed target ``[label, teacher logits...]``: ``alpha`` x cross-entropy on
    the label + (1 - ``alpha``) x T^2 x cross-entropy between the teacher's and the student's softened
    outputs (Hinton et al.; the course's QKeras student is distilled the same way)."""
    keras = _keras()
    ops = keras.ops
    t = float(temperature)

    def loss(y_true, y_pred):
        label = ops.cast(y_true[:, 0], "int32")
        hard = keras.losses.sparse_categorical_crossentropy(label, y_pred, from_logits=True)
        soft = -ops.sum(ops.softmax(y_true[:, 1:] / t, axis=-1) * ops.log_softmax(y_pred / t, axis=-1), axis=-1)
        return alpha * hard + (1.0 - alpha) * t * t * soft

    return loss


def train_student(split, beta: float, s: Optional[Settings] = None, seed: int = CFG.seed, verbose: int = 0,
                  teacher=None):
    """Build (:func:`build_student`) and train on ``split.train`` (validation: ``split.val``, measured
    after training; nothing is chosen on the test pulses).

    ``teacher``: logits of the teacher on ``split.train`` (an array, see :func:`teacher_logits`); with
    them and [hgq] kd_alpha < 1 the student is distilled (:func:`distillation_loss`), else it learns
    the labels alone.  Returns ``(model, info)``: ``info`` has the epochs, seconds, final EBOPs, the
    validation accuracy and cross-entropy (``val_loss``) and ``val_pred`` (the argmax on every
    validation pulse, for paired tests).
    """
    keras = _keras()
    from hgq.utils.sugar import FreeEBOPs

    from ..data.prep import preprocess
    from ..metrics import accuracy_ci

    s = s or settings()
    model = build_student(beta, s, seed)
    x, y = preprocess(split.train.X), np.asarray(split.train.y, np.int32)
    distil = teacher is not None and s.kd_alpha < 1
    if distil:
        teacher = np.asarray(teacher, np.float32)
        target = np.concatenate([y[:, None].astype(np.float32), teacher], axis=1)
        loss = distillation_loss(s.kd_temperature, s.kd_alpha)
    else:
        target, loss = y, keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    epochs = s.n_epochs(len(x))
    steps = max(1, int(np.ceil(len(x) / s.batch_size))) * epochs
    lr = keras.optimizers.schedules.CosineDecay(s.learning_rate, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    t0 = time.perf_counter()
    hist = model.fit(x, target, epochs=epochs, batch_size=int(s.batch_size), shuffle=True, verbose=verbose,
                     callbacks=[FreeEBOPs()])
    train_s = time.perf_counter() - t0
    val_logits = logits(model, split.val.X)
    val_pred = val_logits.argmax(1)
    val = accuracy_ci(split.val.y, val_pred)
    # the validation cross-entropy on the labels (the QKeras search's objective), from the logits
    z = val_logits - val_logits.max(axis=1, keepdims=True)
    val_loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), np.asarray(split.val.y, int)]))
    sampled = np.unique(np.linspace(0, epochs - 1, 21).astype(int))     # 21 epochs, the first to the last
    info = {"epochs": epochs, "steps": steps, "train_s": round(train_s, 1), "ebops": ebops(model),
            "loss": round(float(hist.history["loss"][-1]), 5),
            # the training curves (is the front still moving when training stops?)
            "curve": {"epoch": [int(i) + 1 for i in sampled],
                      **{key: [round(float(hist.history[key][int(i)]), 4) for i in sampled]
                         for key in ("loss", "ebops") if key in hist.history}},
            "distilled": bool(distil),
            "kd_temperature": s.kd_temperature if distil else None, "kd_alpha": s.kd_alpha if distil else None,
            "val_acc": round(val["acc"], 5), "val_k": val["k"], "val_n": val["n"], "val_loss": round(val_loss, 6),
            "val_pred": val_pred.tolist()}
    return model, info


def logits(model, X_raw) -> np.ndarray:
    """HGQ2's own logits (float64) of raw pulses, through the course's input transform."""
    from ..data.prep import preprocess
    x = preprocess(X_raw)
    return np.asarray(model.predict(x, batch_size=4096, verbose=0), np.float64).reshape(len(x), -1)


def weight_stats(model) -> dict:
    """Nonzero quantized weights and biases, and their mean bit width (HGQ2's per-weight bits)."""
    from hgq.layers import QDense
    keras = _keras()
    nonzero, bits = 0, []
    for layer in model._flatten_layers():
        if isinstance(layer, QDense):
            for q, w in ((layer.kq, layer.qkernel), (layer.bq, layer.qbias)):
                if w is None:
                    continue
                w = keras.ops.convert_to_numpy(w)
                nonzero += int(np.count_nonzero(w))
                bits.append(np.asarray(keras.ops.convert_to_numpy(q.bits_(keras.ops.shape(w)))).ravel())
    b = np.concatenate(bits) if bits else np.zeros(0)
    return {"nonzero": nonzero, "weights": int(b.size), "mean_weight_bits": round(float(b.mean()), 3) if b.size else 0.0}


# ------------------------------------------------------------------------------------------
# (b) da4ml: trace, emulate, Verilog, Yosys
# ------------------------------------------------------------------------------------------

def trace(model):
    """The model as da4ml combinational logic (``CombLogic``): da4ml's HGQ2/Keras tracer applied to an
    input in the course's input format (``CFG.input_format``), like the QKeras core's."""
    _keras()
    from da4ml.converter import trace_model
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize

    from ..training.cost import fixed_kif

    if tuple(model.input_shape[1:]) != (CFG.n_samples,):
        raise ValueError(f"HGQ2 student input shape {model.input_shape[1:]} != ({CFG.n_samples},) of course.ini")
    inp = FixedVariableArrayInput((CFG.n_samples,), hwconf=HWConfig(1, -1, -1))
    h = quantize(inp, *fixed_kif(CFG.input_format))
    _, out = trace_model(model, hwconf=HWConfig(1, -1, -1), inputs=h)
    return comb_trace(inp, out)


def emulate(comb, X_raw) -> np.ndarray:
    """Logits of the traced logic for raw pulses: da4ml's C++ interpreter, bit for bit what the Verilog computes."""
    from ..data.prep import preprocess
    x = np.ascontiguousarray(preprocess(X_raw), dtype=np.float64)
    return np.asarray(comb.predict(x, n_threads=1), np.float64).reshape(len(x), -1)


def rtl_core(comb, folder, board: str = CFG.default_board, clock_mhz: Optional[float] = None,
             yosys: bool = True) -> dict:
    """Write the fully parallel, pipelined Verilog core of ``comb`` into ``folder`` and (``yosys``) synthesise it.

    Returns ``lut_estimate`` and the counts of :func:`labkit.training.cost.comb_cost`, ``stages``,
    ``latency_cycles`` (stages + 1, as :mod:`labkit.rtl.core`), ``in_width``/``out_width`` (bits of the
    core's ports) and, with ``yosys``, ``lut``, ``ff``, ``carry``, ``dsp`` and ``yosys_s``.
    """
    from ..rtl.core import _uniform_layout, verilog_sources, write_rtl
    from ..rtl.resources import synthesize
    from ..training.cost import comb_cost

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    b = CFG.board(board)
    clock_mhz = float(clock_mhz or CFG.rtl.clock_mhz)
    cutoff = int(b.latency_cutoff(clock_mhz))
    out = comb_cost(comb)
    in_w, _ = _uniform_layout(comb.inp_qint)
    out_w, out_f = _uniform_layout(comb.out_qint)
    out.update(board=board, clock_mhz=clock_mhz, latency_cutoff=cutoff, in_width=int(in_w), out_width=int(out_w),
               out_frac=int(out_f))
    if in_w == 0 or not any(op.opcode not in (-1, 5) for op in comb.ops):
        out.update(stages=0, latency_cycles=0, lut=0, ff=0, carry=0, dsp=0,
                   note="the logits depend on no input (every bit width learned to zero): no circuit")
        return out
    t0 = time.perf_counter()
    rtl, _, _ = write_rtl(comb, CORE, folder, board, clock_mhz, cutoff)
    stages = len(rtl._pipe.solutions)
    out.update(stages=stages, latency_cycles=stages + 1, write_s=round(time.perf_counter() - t0, 1))
    if yosys:
        sources = [str(folder / p) for p in verilog_sources(folder)]
        r = synthesize(sources, f"{CORE}_wrapper", board=board, workdir=folder / "yosys")
        out.update(lut=int(r["lut"]), ff=int(r["ff"]), carry=int(r["carry"]), dsp=int(r["dsp"]),
                   lut_pct=r.get("lut_pct"), yosys_s=r["yosys_s"])
    return out


# ------------------------------------------------------------------------------------------
# (c) hls4ml C simulation
# ------------------------------------------------------------------------------------------

def hls_logits(model, X_raw, folder, board: str = CFG.default_board, clock_mhz: Optional[float] = None) -> tuple:
    """Convert with hls4ml (Vitis backend, io_parallel, bit-exact precision propagation from the HGQ2
    quantizers), compile its C simulation and return ``(logits float64, seconds)`` for raw pulses."""
    import contextlib
    import io

    _keras()
    import hls4ml

    from ..data.prep import preprocess

    clock_mhz = float(clock_mhz or CFG.rtl.clock_mhz)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        hm = hls4ml.converters.convert_from_keras_model(
            model, output_dir=str(folder), project_name="hgq_student", backend="Vitis", io_type="io_parallel",
            part=CFG.board(board).part, clock_period=1000.0 / clock_mhz, bit_exact=True,
            hls_config={"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}})
        hm.compile()
        x = np.ascontiguousarray(preprocess(X_raw), dtype=np.float32)
        pred = np.asarray(hm.predict(x), np.float64).reshape(len(x), -1)
    return pred, time.perf_counter() - t0


def compare(reference, other) -> dict:
    """Pulse-by-pulse agreement of two logit arrays: ``exact``, ``mismatch`` (pulses with any logit
    different), ``max_abs_diff`` and ``n``."""
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if a.shape != b.shape:
        return {"exact": False, "mismatch": int(len(a)), "max_abs_diff": None, "n": int(len(a)),
                "note": f"shapes differ: {a.shape} vs {b.shape}"}
    diff = np.abs(a - b)
    bad = int(np.sum(np.any(diff != 0, axis=1))) if a.ndim == 2 else int(np.sum(diff != 0))
    return {"exact": bad == 0, "mismatch": bad, "max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "n": int(len(a))}


# ------------------------------------------------------------------------------------------
# (d) one point, and the sweep
# ------------------------------------------------------------------------------------------

def measure(model, test, folder, board: str = CFG.default_board, yosys: bool = True, hls: bool = True) -> dict:
    """Test accuracy (n, Wilson 95 % interval), the core's cost (:func:`rtl_core`) and the bit-exactness
    of da4ml's emulation and hls4ml's C simulation against HGQ2's own logits on ``test``'s pulses."""
    from ..metrics import accuracy_ci

    folder = Path(folder)
    ref = logits(model, test.X)
    a = accuracy_ci(test.y, ref.argmax(1))
    out = {"acc": round(a["acc"], 5), "acc_k": a["k"], "acc_n": a["n"], "acc_ci95": [round(v, 5) for v in a["ci95"]],
           "pred": ref.argmax(1).tolist()}
    out.update(weight_stats(model))
    t0 = time.perf_counter()
    comb = trace(model)
    out["trace_s"] = round(time.perf_counter() - t0, 1)
    out["da4ml"] = compare(ref, emulate(comb, test.X))
    out.update(rtl_core(comb, folder / "rtl", board=board, yosys=yosys))
    if hls:
        pred, secs = hls_logits(model, test.X, folder / "hls", board=board)
        out["hls"] = compare(ref, pred)
        out["hls_s"] = round(secs, 1)
    return out


def _head(pulses, n: Optional[int]):
    """The first ``n`` pulses of an (already shuffled) part of the split, or all of them."""
    return pulses if not n or n >= len(pulses) else pulses.subset(np.arange(int(n)))


def sweep(betas: Optional[Sequence[float]] = None, *, split=None, units=None, steps: Optional[int] = None,
          epochs: Optional[int] = None,
          weight_bits0: Optional[int] = None, board: str = CFG.default_board, yosys: bool = True, hls: bool = True,
          folder=None, max_train: Optional[int] = None, max_test: Optional[int] = None, seed: int = CFG.seed,
          teacher=None, kd_alpha: Optional[float] = None, verbose: int = 0, emit=None, progress: bool = False) -> list:
    """Train one HGQ2 student per ``beta`` (default course.ini [hgq] betas) on the course's split and
    measure each (:func:`measure`).

    ``units``: one student shape (hidden layer sizes; ``()`` linear); default: each shape of course.ini
    [hgq] hidden_layers (:func:`architectures`), every beta for each.

    Returns one dict per shape and beta: ``beta``, ``seed``, ``units``, ``epochs``, ``ebops``, ``acc`` / ``acc_k`` /
    ``acc_n`` / ``acc_ci95`` and ``pred`` (test split), ``val_acc`` / ``val_k`` / ``val_n`` / ``val_pred``,
    ``lut`` (Yosys), ``lut_estimate`` (labkit's da4ml cost model), ``ff``, ``carry``, ``dsp``,
    ``latency_cycles``, ``nonzero``, ``mean_weight_bits``, ``distilled``, ``da4ml`` and ``hls``
    (:func:`compare` against HGQ2's logits) and the seconds of each step.  ``split``: default
    :func:`labkit.data.load_split`; ``teacher``: a saved Keras teacher or a ``.npy`` of its logits on
    the training pulses (:func:`teacher_logits`; default: none, labels only); ``max_train`` /
    ``max_test``: use only the first pulses of the training / test part (quick checks); ``steps``,
    ``epochs``, ``weight_bits0``, ``kd_alpha``: replace :func:`settings`' fields; ``emit``: called with
    each point as soon as it is measured; ``progress``: a progress bar over the betas (stderr).
    """
    from .. import artifacts
    from ..data import load_split

    _keras()
    shapes = architectures() if units is None else [tuple(int(u) for u in units)]
    betas = default_betas() if betas is None else tuple(betas)
    split = split if split is not None else load_split()
    split = dataclasses.replace(split, train=_head(split.train, max_train), test=_head(split.test, max_test))
    soft = teacher_logits(teacher, split.train.X) if teacher is not None else None
    root = Path(folder) if folder is not None else artifacts.hgq(create=True)
    points = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(betas) * len(shapes), desc="HGQ2 students (one per shape and beta)", unit="student",
                   file=sys.stderr)
    for shape in shapes:
        s = settings(units=shape, steps=steps, epochs=epochs, weight_bits0=weight_bits0, kd_alpha=kd_alpha)
        for beta in betas:
            beta = float(beta)
            t0 = time.perf_counter()
            model, info = train_student(split, beta, s, seed=seed, verbose=verbose, teacher=soft)
            name = ("linear" if not shape else "h" + "-".join(map(str, shape))) + f"_beta_{beta:g}"
            where = root / (name if seed == CFG.seed else f"seed{seed}_{name}")
            where.mkdir(parents=True, exist_ok=True)
            model.save(where / "student.keras")
            point = {"beta": beta, "seed": int(seed), "units": list(s.units), "weight_bits0": s.weight_bits0,
                     "n_train": len(split.train), "teacher": str(teacher) if teacher is not None else None}
            point.update(info)
            point.update(measure(model, split.test, where, board=board, yosys=yosys, hls=hls))
            point["total_s"] = round(time.perf_counter() - t0, 1)
            point["folder"] = str(where)
            (where / "point.json").write_text(json.dumps(point, indent=1) + "\n")
            points.append(point)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(units=",".join(map(str, shape)) or "linear", beta=f"{beta:g}", acc=point["acc"],
                                lut=point.get("lut"))
            if emit is not None:
                emit(point)
    if bar is not None:
        bar.close()
    return points


def main(argv=None) -> int:
    """``scripts/hgq_sweep.py``: :func:`sweep`, one JSON line per beta on stdout."""
    from ..stream import float_arg, int_arg

    s = settings()
    p = argparse.ArgumentParser(prog="hgq_sweep.py", description="Train and measure HGQ2 students, one per beta "
                                "(run with .venv-keras3/bin/python; LABKIT_FAST=1 for the quick settings).")
    p.add_argument("--betas", default=None, help="comma-separated betas (EBOPs regulariser strengths; default "
                   "course.ini [hgq]: %s)" % ",".join(f"{b:g}" for b in default_betas()))
    p.add_argument("--train", default="synthetic", help="'synthetic' or a window CSV (header 120,...,280,class), "
                   "split as the benches split it")
    p.add_argument("--test", default=None, help="window CSV used as the test set (default: the 15 %% test split of --train)")
    p.add_argument("--seed", type=int_arg(0), default=CFG.seed, help=f"the students' seed (default {CFG.seed})")
    p.add_argument("--teacher", default=None, help="a saved Keras teacher (.h5/.keras, e.g. artifacts/teacher/teacher.h5) "
                   "or a .npy of its logits on the training pulses: distil from it (default: the labels alone)")
    p.add_argument("--kd-alpha", type=float_arg(0.0, 1.0), default=None,
                   help=f"weight of the hard-label loss with --teacher (default {s.kd_alpha:g})")
    p.add_argument("--units", default=None, help="one student shape: hidden layer sizes, comma-separated, '' = linear "
                   "(default: each of course.ini [hgq] hidden_layers: %s)"
                   % "; ".join(",".join(map(str, u)) or "linear" for u in architectures()))
    p.add_argument("--steps", type=int_arg(1), default=None, help=f"optimiser steps per beta (default {s.steps})")
    p.add_argument("--epochs", type=int_arg(1), default=None, help="epochs per beta instead of --steps (quick checks)")
    p.add_argument("--weight-bits0", type=int_arg(1), default=None,
                   help=f"starting bits of every weight (default {s.weight_bits0}); HGQ2 learns them from there")
    p.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    p.add_argument("--max-train", type=int_arg(1), default=None, help="train on the first N training pulses only")
    p.add_argument("--max-test", type=int_arg(1), default=None, help="measure on the first N test pulses only")
    p.add_argument("--no-yosys", action="store_true", help="skip Yosys (no 'lut' figure)")
    p.add_argument("--no-hls", action="store_true", help="skip the hls4ml C simulation")
    p.add_argument("--folder", default=None, help="where each point's model, Verilog and hls4ml project go "
                   "(default artifacts/hgq)")
    p.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    a = p.parse_args(argv)
    try:
        betas = [float(b) for b in a.betas.split(",") if b.strip()] if a.betas is not None else None
        units = [int(u) for u in a.units.split(",") if u.strip()] if a.units is not None else None
    except ValueError as err:
        p.error(f"--betas and --units take comma-separated numbers ({err})")
    if betas is not None and (not betas or any(not np.isfinite(b) or b < 0 for b in betas)):
        p.error("--betas: give one or more non-negative numbers")
    if units is not None and any(u < 1 for u in units):
        p.error("--units: every layer needs at least one unit")
    if a.teacher is not None and not Path(a.teacher).is_file():
        p.error(f"--teacher {a.teacher}: no such file (the course's teacher is artifacts/teacher/teacher.h5 after lab 02)")
    reason = missing()
    if reason:
        print(f"hgq_sweep.py: {reason}", file=sys.stderr)
        return 2
    from ..data import load_split
    try:
        split = load_split(a.train, test=a.test, progress=False)
    except (FileNotFoundError, ValueError) as err:
        print(f"hgq_sweep.py: {err}", file=sys.stderr)
        return 2

    def emit(point):
        print(json.dumps(point), flush=True)

    sweep(betas, split=split, units=units, steps=a.steps, epochs=a.epochs, weight_bits0=a.weight_bits0, board=a.board,
          yosys=not a.no_yosys, hls=not a.no_hls, folder=a.folder, max_train=a.max_train, max_test=a.max_test,
          seed=a.seed, teacher=a.teacher, kd_alpha=a.kd_alpha, verbose=a.verbose, emit=emit)
    return 0
