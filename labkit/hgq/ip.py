"""An HGQ2 student as a drop-in for the course's IP (issue 32), proven through the emulated board.

One point of :func:`labkit.hgq.route.sweep` (its ``folder``, holding ``student.keras``) goes the way the
QKeras student goes in ``labkit hls convert`` and ``labkit bench board``:

1. hls4ml (Vitis backend, io_parallel, bit-exact precision propagation from the HGQ2 quantizers) writes
   the network as ``myproject`` with the two types the course's wrapper (``clyc_classifier.cpp``)
   static-asserts: ``input_t`` = the course's input format (ap_fixed<12,4>: the wrapper writes the
   input stage's bits straight into it) and ``result_t`` = ``CFG.logit_format`` (ap_fixed<22,10>).
   The input: the Input layer is "trusted" at the input format and hls4ml is kept from fusing the first
   layer's input quantizer into it (:func:`_keep_input_quantizer`), so that quantizer stays a layer of
   the network (its rounding and saturation happen inside ``myproject``).  The logits: bit-exact
   propagation gives the last layer the exact type of its sums; :func:`check_fits` refuses (one
   sentence) unless every value of that type is a value of the logit format, and only then is the type
   widened to it, so the final cast never rounds or saturates.
2. The course's wrapper is installed, the emulation library built and the test vectors written (HGQ2's
   logits in the place of the QKeras ones, hls4ml's C simulation as ``csim_logits``), all with the
   course's own functions, in a folder laid out like ``artifacts/``: ``hls/prj``, ``hls/emu``,
   ``hls/vectors``.
3. The board: PYNQ and the emulated overlay live in the main environment, so ``labkit bench board``
   runs there by subprocess with ``LABKIT_BOARD=emulated`` and ``LABKIT_ARTIFACTS=<folder>`` (the
   emulated overlay loads ``$LABKIT_ARTIFACTS/hls/emu/libclyc_emu.so``: no option of its own needed).

Steps 1-2 run in ``.venv-keras3`` (Keras 3, HGQ2, hls4ml; the wrapper and vector code needs numpy
only); ``scripts/hgq_deploy.py`` is the command line.  Top level: numpy and labkit only.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .. import artifacts
from ..config import CFG, project_root
from ..fixedpoint import FixedFormat
from . import route as hgq

#: what :func:`labkit.hgq.route.sweep` saves in each point's folder
MODEL_FILE = "student.keras"
#: the main environment (PYNQ, the emulated overlay) in the checkout
MAIN_VENV = ".venv"


class LogitFormatError(ValueError):
    """The HGQ2 point's logits do not all fit the IP's logit format (one sentence naming the numbers)."""


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------

def load_point(path):
    """The HGQ2 model of a sweep point: ``student.keras`` or the point folder holding it."""
    path = Path(path)
    file = path / MODEL_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: give the 'folder' of a point of "
                                f"scripts/hgq_sweep.py (holding {MODEL_FILE}) or the .keras file itself")
    keras = hgq._keras()
    import hgq as _hgq  # noqa: F401  (registers HGQ2's layers, quantizers and constraints with Keras)
    return keras.saving.load_model(file, compile=False)


def layout(folder) -> dict:
    """Where the project, the library and the vectors go in ``folder``: the course's own layout under
    ``artifacts/`` (so ``LABKIT_ARTIFACTS=<folder>`` makes every course command use them)."""
    root = artifacts.root(create=False)
    folder = Path(folder).resolve()
    rel = {"project": artifacts.hls_project(), "lib": artifacts.ip_library(), "vectors": artifacts.test_vectors()}
    return {k: folder / Path(p).relative_to(root) for k, p in rel.items()}


# ------------------------------------------------------------------------------------------
# step 1: hls4ml with the wrapper's input_t and result_t
# ------------------------------------------------------------------------------------------

def format_of(precision) -> FixedFormat:
    """hls4ml's fixed-point precision as a labkit :class:`FixedFormat` (width, integer bits with the sign)."""
    return FixedFormat(int(precision.width), int(precision.integer), bool(precision.signed))


def check_fits(have: FixedFormat, where, fmt: FixedFormat = CFG.logit_format) -> None:
    """Refuse (:class:`LogitFormatError`) unless every value of ``have`` is a value of ``fmt``: no more
    fraction bits, no more integer bits (without the sign), and no sign where ``fmt`` has none."""
    def bits(f: FixedFormat):
        return f.integer - int(f.signed), f.width - f.integer
    (hi, hf), (ti, tf) = bits(have), bits(fmt)
    if hf <= tf and hi <= ti and (fmt.signed or not have.signed):
        return
    raise LogitFormatError(
        f"{where}: HGQ2's logits are {have.hls()} ({hi} integer bits without the sign, {hf} fraction bits), which "
        f"the IP's logit format {fmt.hls()} ({ti} integer bits without the sign, {tf} fraction bits; course.ini "
        "[quant] logit_width/logit_integer) cannot hold exactly, so nothing was deployed: deploy another point or "
        "widen the logit format in course.ini")


@contextlib.contextmanager
def _keep_input_quantizer():
    """While converting: hls4ml must not fuse the quantizer that reads the model's input into the Input
    layer (it would replace ``input_t`` by the quantizer's type and do the quantization in the bridge's
    float conversion, outside ``myproject``); every other fusion is unchanged."""
    from hls4ml.model.layers import Input
    from hls4ml.model.optimizer.passes.bit_exact import get_input_layers
    from hls4ml.model.optimizer.passes.hgq_proxy_model import FixedPointQuantizer, FuseFixedPointQuantizer

    original = FuseFixedPointQuantizer.match

    def match(self, node):
        if isinstance(node, FixedPointQuantizer) and any(isinstance(n, Input) for n in get_input_layers(node)):
            return False
        return original(self, node)

    FuseFixedPointQuantizer.match = match
    try:
        yield
    finally:
        FuseFixedPointQuantizer.match = original


def convert(model, project_dir, where, board: str = CFG.default_board):
    """hls4ml project ``myproject`` of the HGQ2 model in ``project_dir``, written and compiled (C
    simulation), with ``input_t`` = ``CFG.input_format`` and ``result_t`` = ``CFG.logit_format``.

    Returns ``(hls_model, hgq_format)``: ``hgq_format`` is the logits' exact type before the widening
    (:func:`check_fits` has accepted it)."""
    hgq._keras()
    import hls4ml

    from ..hls.convert import PROJECT_NAME
    from ..hls.wrapper import quote_build_script

    fmt_in, fmt_out = CFG.input_format, CFG.logit_format
    if len(model.inputs) != 1 or type(model.layers[0]).__name__ != "InputLayer":
        raise ValueError(f"{where}: a functional HGQ2 model with one input is needed (as hgq.build_student makes)")
    name = model.layers[0].name          # hls4ml's Input layer takes the Keras InputLayer's name
    config = {"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
              # the wrapper writes the input stage's bits into input_t: exactly the input format, taken as is
              "LayerName": {name: {"Precision": {"result": fmt_in.hls4ml()}, "Trusted": True}}}
    with contextlib.redirect_stdout(io.StringIO()), _keep_input_quantizer():
        hm = hls4ml.converters.convert_from_keras_model(
            model, output_dir=str(project_dir), project_name=PROJECT_NAME, backend="Vitis", io_type="io_parallel",
            part=CFG.board(board).part, clock_period=1000.0 / CFG.clock_mhz, bit_exact=True, hls_config=config,
            write_weights_txt=False)    # weights compiled in: the emulation library is self-contained
    inp = hm.get_input_variables()
    if len(inp) != 1 or inp[0].type.name != "input_t" or format_of(inp[0].type.precision).hls() != fmt_in.hls():
        raise RuntimeError(f"{where}: hls4ml did not keep the network's input at {fmt_in.hls()} (input_t): "
                           "this hls4ml version converts HGQ2 models differently than labkit.hgq.ip expects")
    out = hm.get_output_variables()
    if len(out) != 1 or out[0].type.name != "result_t":
        raise RuntimeError(f"{where}: the hls4ml network has {len(out)} outputs, not one result_t array")
    precision = out[0].type.precision
    have = format_of(precision)
    check_fits(have, where, fmt_out)
    # widen the exact type of the last layer's sums to the logit format (a cast that keeps every value)
    precision.width, precision.integer, precision.signed = fmt_out.width, fmt_out.integer, fmt_out.signed
    with contextlib.redirect_stdout(io.StringIO()):
        hm.write()
        quote_build_script(project_dir)   # keeps myproject.o, which the emulation library links
        (getattr(hm, "_compile", None) or hm.compile)()
    hm.labkit_input = "course"
    return hm, have


# ------------------------------------------------------------------------------------------
# step 3: the emulated board, in the main environment
# ------------------------------------------------------------------------------------------

def main_python(root=None) -> Path:
    """The main environment's interpreter (PYNQ and the emulated overlay live there)."""
    return Path(root or project_root()) / MAIN_VENV / "bin" / "python"


def board_command(folder, python=None) -> tuple:
    """``(argv, env)`` of ``labkit bench board`` on the emulated overlay with ``folder``'s library and vectors."""
    where = layout(folder)
    argv = [str(python or main_python()), "-m", "labkit", "bench", "board", "--vectors", str(where["vectors"])]
    return argv, {"LABKIT_BOARD": "emulated", "LABKIT_ARTIFACTS": str(Path(folder).resolve())}


def shell_line(argv, env) -> str:
    """The command as one line to paste into a shell (from the checkout)."""
    import shlex
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), *map(shlex.quote, argv)])


def stream_on_board(folder, python=None, timeout: float = 600) -> dict:
    """Run :func:`board_command` and return its JSON line (``n``, ``words_equal_to_csim``, ``accuracy``...)."""
    argv, extra = board_command(folder, python)
    if not Path(argv[0]).is_file():
        raise FileNotFoundError(f"{argv[0]} not found: the emulated board runs in the main environment (make setup); "
                                "or deploy with --no-board and run the board step where PYNQ is installed")
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KERAS_BACKEND", "JAX_PLATFORMS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    r = subprocess.run(argv, cwd=project_root(), env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"`{shell_line(argv, extra)}` printed no result (exit {r.returncode}): "
                           f"{(r.stderr.strip().splitlines() or ['no message'])[-1]}")
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------------
# all of it
# ------------------------------------------------------------------------------------------

def _pulses(test_pulses):
    """(X raw, labels) of the test pulses: the course's test split, a Pulses-like object or ``(X, y)``."""
    if test_pulses is None:
        from ..data import load_split
        test_pulses = load_split().test
    if isinstance(test_pulses, tuple):
        X, y = test_pulses
    else:
        X, y = test_pulses.X, test_pulses.y
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != CFG.n_samples or len(X) == 0:
        raise ValueError(f"test pulses of shape {X.shape}: give raw pulses of {CFG.n_samples} samples each")
    return X, np.asarray(y, np.int64)


def deploy(model_or_point, test_pulses=None, folder=None, board: str = CFG.default_board, stream: bool = True,
           python=None) -> dict:
    """Build the course's IP around one HGQ2 point and stream its test vectors through the emulated board.

    ``model_or_point``: a Keras model or a point folder / ``student.keras`` (:func:`load_point`);
    ``test_pulses``: the course's test split by default (or an object with ``X``/``y``, or ``(X, y)``);
    ``folder``: default ``<point>/ip`` (a model object: ``artifacts/hgq/ip``); ``stream``: run the
    board step (``python``: the main environment's interpreter, default ``.venv/bin/python``).

    Returns JSON-able ``words_equal_to_csim`` (the board's words = the emulation's expected words, from
    ``labkit bench board``), ``n``, ``csim_exact`` (hls4ml's C simulation = HGQ2's logits, every pulse),
    ``argmax_equal`` (the classes of the board's words = HGQ2's, every pulse), ``wrapper_words_equal``,
    ``tlast_ok``, ``logit_format``, ``hgq_logit_format``, ``vectors``, ``lib``, ``project``,
    ``board_command`` and the seconds; raises :class:`LogitFormatError` when the logits do not fit.
    """
    from ..fixedpoint import predicted_classes
    from ..hls.ipsim import EmulatedIP
    from ..hls.vectors import write_test_vectors
    from ..hls.wrapper import build_emulation
    from ..stream import decode_logits

    t0 = time.perf_counter()
    if isinstance(model_or_point, (str, os.PathLike)):
        point = Path(model_or_point)
        model = load_point(point)
        where = point if point.is_dir() else point.parent
        folder = Path(folder) if folder is not None else where / "ip"
    else:
        model, where = model_or_point, getattr(model_or_point, "name", "the HGQ2 model")
        folder = Path(folder) if folder is not None else artifacts.hgq("ip")
    X, y = _pulses(test_pulses)
    paths = layout(folder)
    out = {"point": str(where), "folder": str(paths["project"].parents[1]), "board": board}

    ref = hgq.logits(model, X)
    hm, have = convert(model, paths["project"], where, board=board)
    out.update(logit_format=CFG.logit_format.hls(), hgq_logit_format=have.hls())
    from ..hls.convert import csim_logits
    csim = csim_logits(hm, X, "course")
    agree = hgq.compare(ref, csim)
    out.update(csim_exact=bool(agree["exact"]), csim_mismatch=agree["mismatch"],
               hls_s=round(time.perf_counter() - t0, 1))

    lib = build_emulation(paths["project"], out_path=paths["lib"])
    info = {"route": "hgq2", "model": str(where), "logits": have.hls()}
    vec = write_test_vectors(X, y, ref, csim, emu=EmulatedIP(lib), folder=paths["vectors"], student=info)
    out.update(n=int(vec["n"]), wrapper_words_equal=bool(vec["wrapper_words_equal"]), tlast_ok=bool(vec["tlast_ok"]),
               vectors=str(paths["vectors"]), lib=str(lib), project=str(paths["project"]))
    argv, env = board_command(folder, python)
    out["board_command"] = shell_line(argv, env)
    out["build_s"] = round(time.perf_counter() - t0, 1)
    if not stream:
        out.update(words_equal_to_csim=None, argmax_equal=None, ok=None)
        return out

    t1 = time.perf_counter()
    line = stream_on_board(folder, python)
    expected = np.load(paths["vectors"] / "expected_words.npy")
    # the board's words ARE the expected words when words_equal_to_csim: their classes vs HGQ2's
    board_classes = predicted_classes(decode_logits(expected, n_out=ref.shape[1]))
    words_equal = bool(line.get("words_equal_to_csim")) and int(line.get("n", -1)) == len(X)
    out.update(words_equal_to_csim=words_equal,
               argmax_equal=bool(words_equal and np.array_equal(board_classes, predicted_classes(ref))),
               board_n=line.get("n"), board_accuracy=line.get("accuracy"), board_mode=line.get("mode"),
               board_s=round(time.perf_counter() - t1, 1))
    out["ok"] = bool(out["csim_exact"] and out["wrapper_words_equal"] and out["tlast_ok"] and out["argmax_equal"])
    out["total_s"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv=None) -> int:
    """``scripts/hgq_deploy.py``: :func:`deploy` of one saved point, one JSON line on stdout."""
    from ..stream import int_arg

    p = argparse.ArgumentParser(prog="hgq_deploy.py", description="Build the course's IP around one HGQ2 point of "
                                "scripts/hgq_sweep.py and stream its test vectors through the emulated board "
                                "(run with .venv-keras3/bin/python; the board step runs .venv/bin/python).")
    p.add_argument("point", help="the 'folder' of a point of scripts/hgq_sweep.py (holding student.keras) "
                   "or the .keras file")
    p.add_argument("--folder", default=None, help="where the hls4ml project, library and vectors go "
                   "(default <point>/ip)")
    p.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    p.add_argument("--train", default="synthetic", help="the sweep's --train: its test split is streamed "
                   "(default synthetic)")
    p.add_argument("--test", default=None, help="the sweep's --test: a window CSV streamed as the test set")
    p.add_argument("--max-test", type=int_arg(1), default=None, help="only the first N test pulses (default: all of them)")
    p.add_argument("--no-board", action="store_true", help="stop after the vectors; print the board command instead")
    p.add_argument("--python", default=None, help="the main environment's interpreter (default .venv/bin/python)")
    a = p.parse_args(argv)
    reason = hgq.missing()
    if reason:
        print(f"hgq_deploy.py: {reason}", file=sys.stderr)
        return 2
    try:
        from ..data import load_split
        test = load_split(a.train, test=a.test, progress=False).test     # the pulses the sweep measured
        pulses = (test.X[:a.max_test], test.y[:a.max_test])
        result = deploy(a.point, pulses, a.folder, board=a.board, stream=not a.no_board, python=a.python)
    except (LogitFormatError, FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"hgq_deploy.py: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    if a.no_board:
        return 0 if result["csim_exact"] and result["wrapper_words_equal"] else 1
    return 0 if result["ok"] else 1
