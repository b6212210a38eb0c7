"""Toy students and their compiled builds, shared by the tests (never shipped in the wheel).

* :func:`toy_build` — a small QKeras student, one compiled hls4ml project and the emulation
  libraries (+ deliberately broken wrapper variants), for tests/test_hls.py, test_stream_wrapper.py
  and test_board.py;
* :func:`tiny_build` — a tiny student and its RTL twin (da4ml Verilog + Verilator), for test_rtl.py.

Each build is cached in the process (a pytest session compiles each C++/Verilog artifact once) in a
temporary folder that is removed at exit.
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from labkit.config import CFG
from labkit.hls.ipsim import LIB_NAME

SEED = 1234
#: deliberately broken wrapper variants (compiled with -D<macro>) the checks must catch
BUG_VARIANTS = {"no_tlast": "LABKIT_BUG_NO_TLAST", "int_logits": "LABKIT_BUG_INT_LOGITS"}


def toy_pulses(n: int, seed: int = SEED):
    """Raw 10-bit codes of CLYC-like pulses: class 0 (gamma) fast decay, class 1 (neutron) slow."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CFG.n_classes, n)
    t = np.arange(CFG.n_samples, dtype=np.float64)
    onset = rng.integers(15, 25, n)[:, None]
    tau = np.where(y == 0, rng.uniform(8, 20, n), rng.uniform(25, 60, n))[:, None]
    amp = rng.uniform(60, 500, n)[:, None]
    base = rng.uniform(700, 900, n)[:, None]
    rel = np.clip(t[None, :] - onset, 0, None)
    pulse = np.where(t[None, :] >= onset, amp * np.exp(-rel / tau), 0.0)
    X = base - pulse + rng.normal(0, 2.0, (n, CFG.n_samples))
    return np.clip(np.round(X), 0, CFG.adc_max).astype(np.uint16), y.astype(np.int64)


def toy_student(hidden=(16, 8), epochs: int = 2, sparsity: float = 0.5, seed: int = SEED):
    """The stage-2 contract in miniature: QDense/quantized_relu layers, logits out, ~half the weights zero."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    wq = dict(kernel_quantizer=quantized_bits(CFG.weight_bits, CFG.weight_integer, alpha=1),
              bias_quantizer=quantized_bits(CFG.weight_bits, CFG.weight_integer, alpha=1))
    inp = tf.keras.Input((CFG.n_samples,), name="pulse")
    x = inp
    for i, units in enumerate(hidden):
        x = QDense(units, name=f"fc{i + 1}", **wq)(x)
        x = QActivation(quantized_relu(CFG.activation_bits, CFG.activation_integer), name=f"relu{i + 1}")(x)
    out = QDense(CFG.n_classes, name="logits", **wq)(x)
    model = tf.keras.Model(inp, out)
    return fit_and_prune(model, epochs, sparsity, seed)


def fit_and_prune(model, epochs: int, sparsity: float, seed: int = SEED):
    """A few epochs on toy pulses, then magnitude pruning: zero the smallest ``sparsity`` of every kernel."""
    import tensorflow as tf

    from labkit.data.prep import preprocess

    X, y = toy_pulses(2000, seed + 1)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(preprocess(X), y, epochs=epochs, batch_size=64, verbose=0)
    weights = model.get_weights()
    for i, layer_w in enumerate(weights):
        if layer_w.ndim == 2:
            cut = np.quantile(np.abs(layer_w), sparsity)
            weights[i] = np.where(np.abs(layer_w) <= cut, 0.0, layer_w).astype(layer_w.dtype)
    model.set_weights(weights)
    return model


@functools.lru_cache(maxsize=None)
def toy_build(bugs: bool = True):
    """Student + hls4ml project (compiled) + emulation library (+ broken variants), built once.

    Returns a dict: model, hls_model, project, lib, bug_libs {name: path}, tmp, timings.
    """
    from labkit.hls import convert
    from labkit.hls.wrapper import build_emulation

    tmp = Path(tempfile.mkdtemp(prefix="labkit_hls_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    t0 = time.perf_counter()
    model = toy_student()
    hls_model = convert.convert(model, output_dir=tmp / "prj", compile=False)
    prj = tmp / "prj"
    jobs = {"csim": functools.partial(convert.compile_written, hls_model), "emu": lambda: build_emulation(prj, tmp / "emu" / LIB_NAME)}
    if bugs:
        for name, macro in BUG_VARIANTS.items():
            jobs[name] = functools.partial(build_emulation, prj, tmp / name / LIB_NAME, (macro,))
    timings = {"student_s": time.perf_counter() - t0}
    results = {}
    with ThreadPoolExecutor(max_workers=2) as pool:  # g++ runs release the GIL; 2 cores
        t1 = time.perf_counter()
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        for name, fut in futures.items():
            results[name] = fut.result()
        timings["compile_all_s"] = time.perf_counter() - t1
    return {
        "model": model, "hls_model": hls_model, "project": prj, "tmp": tmp,
        "lib": results["emu"], "bug_libs": {k: results[k] for k in BUG_VARIANTS if k in results},
        "timings": timings,
    }


# --- the RTL twin's tiny student -------------------------------------------------------------

TINY_SEED = 1


def tiny_student(hidden=(4,), sparsity: float = 0.8, epochs: int = 3, seed: int = TINY_SEED):
    """The course's student builder at toy size, trained a little on toy pulses, then most weights zeroed."""
    import tensorflow as tf

    from labkit.training.models import build_student

    tf.keras.utils.set_random_seed(seed)
    return fit_and_prune(build_student(list(hidden)), epochs, sparsity, seed)


@functools.lru_cache(maxsize=None)
def tiny_build():
    """Tiny student -> RTL cores (parallel and folded, + Verilator emulators) -> IP folders, and its hls4ml C simulation."""
    from labkit.hls import convert
    from labkit.rtl import build

    tmp = Path(tempfile.mkdtemp(prefix="labkit_rtl_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    model = tiny_student()
    built = build(model, folder=tmp / "rtl", fold="none")
    folded = build(model, folder=tmp / "rtl_fold", fold="stream")
    hls_model = convert.convert(model, output_dir=tmp / "hls")
    return {"model": model, "built": built, "folded": folded, "hls_model": hls_model, "tmp": tmp}


# ------------------------------------------------------------------------------------------
# a stand-in for Zenodo (no network): replaces labkit.data.fetch._urlopen
# ------------------------------------------------------------------------------------------

class FakeZenodo:
    """Serves a record listing and its files from memory, with HTTP Range support.

    ``files``: {name: bytes}; ``checksums``/``links``/``sizes``: per-name overrides of what the
    listing says (default: the right md5, an https link, the right size); ``fail_after``: bytes
    after which the next download stops early (an interrupted connection).  Install it with
    ``monkeypatch.setattr(labkit.data.fetch, "_urlopen", fake.urlopen)``, or in a subprocess with
    :data:`FETCH_DRIVER`."""

    def __init__(self, files, checksums=None, links=None, sizes=None, fail_after=None):
        import hashlib

        self.files = dict(files)
        self.listing = [{"key": k, "size": (sizes or {}).get(k, len(v)),
                         "checksum": (checksums or {}).get(k, "md5:" + hashlib.md5(v).hexdigest()),
                         "links": {"self": (links or {}).get(k, f"https://zenodo.test/api/files/{k}")}}
                        for k, v in self.files.items()]
        self.fail_after = fail_after
        self.requests = []

    def urlopen(self, req, timeout):
        import io
        import json
        import urllib.request

        url = req.full_url if isinstance(req, urllib.request.Request) else req
        headers = dict(req.header_items()) if isinstance(req, urllib.request.Request) else {}
        self.requests.append(url)
        if "/records/" in url:
            body, status = json.dumps({"files": self.listing}).encode(), 200
        else:
            blob = self.files[url.rsplit("/", 1)[-1]]
            start = int(headers.get("Range", "bytes=0-")[6:].split("-")[0] or 0)
            body, status = blob[start:], 206 if start else 200
            if self.fail_after is not None:
                body, self.fail_after = body[: self.fail_after], None
        resp = io.BytesIO(body)
        resp.status = status
        return resp

    def spec(self) -> dict:
        import base64

        return {"files": {k: base64.b64encode(v).decode() for k, v in self.files.items()},
                "listing": self.listing, "fail_after": self.fail_after}

    @classmethod
    def from_spec(cls, spec: dict) -> "FakeZenodo":
        import base64

        fake = cls({k: base64.b64decode(v) for k, v in spec["files"].items()}, fail_after=spec.get("fail_after"))
        fake.listing = spec["listing"]
        return fake


#: ``python -c FETCH_DRIVER SPEC.json PINNED labkit-args…``: runs the labkit CLI as a user would,
#: with Zenodo replaced by the FakeZenodo in SPEC.json and datasets/SHA256SUMS by PINNED
FETCH_DRIVER = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from toys import FakeZenodo
import labkit.data.fetch as fetch
fetch._urlopen = FakeZenodo.from_spec(json.loads(Path(sys.argv[1]).read_text())).urlopen
fetch.PINNED = Path(sys.argv[2])
from labkit.course.cli import main
sys.exit(main(sys.argv[3:]))
""".format(tests=str(Path(__file__).resolve().parent))


# --- softmax in HLS (lab 04's measurement, on the toy student) ---------------------------------

#: lab 04's two softmax configurations: the natural-looking one and the one tuned to the tables' inputs
SOFTMAX_CONFIGS = {
    "naive": {"Implementation": "stable", "TableSize": 1024, "Precision": {"result": "ufixed<16,0>"}},
    "tuned": {"Implementation": "stable", "TableSize": 1024, "inp_norm_t": "ufixed<10,4,TRN,SAT>",
              "exp_table_t": "ufixed<18,1,RND,SAT>", "inv_inp_t": "ufixed<18,2,RND,SAT>",
              "inv_table_t": "ufixed<18,1,RND,SAT>",
              "Precision": {"result": "ufixed<16,0,RND,SAT>", "accum": "ufixed<18,2,RND,SAT>"}},
}


@functools.lru_cache(maxsize=None)
def softmax_student():
    return toy_student(epochs=4, sparsity=0.3)


@functools.lru_cache(maxsize=None)
def toy_softmax(name: str, compile: bool = True):
    """The toy student + a softmax layer configured as SOFTMAX_CONFIGS[name], converted (and compiled)."""
    import hls4ml
    import tensorflow as tf

    from labkit.hls import convert

    model = softmax_student()
    with_softmax = tf.keras.Model(model.input, tf.keras.layers.Activation("softmax", name="softmax")(model.output))
    cfg = convert.hls_config(model)
    cfg["LayerName"]["softmax"] = SOFTMAX_CONFIGS[name]
    tmp = Path(tempfile.mkdtemp(prefix="labkit_softmax_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    hls_model = hls4ml.converters.convert_from_keras_model(
        with_softmax, hls_config=cfg, output_dir=str(tmp / name), backend="Vitis", io_type="io_parallel",
        part=CFG.board(CFG.default_board).part, write_weights_txt=False)
    if compile:
        hls_model.compile()
    else:
        hls_model.write()
    return {"model": model, "hls_model": hls_model}
