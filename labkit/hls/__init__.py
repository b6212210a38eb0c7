"""Stage 3: QKeras student -> hls4ml C simulation -> AXI-Stream IP (+ g++ emulation, test vectors).

numpy-only at import time; TensorFlow / QKeras / hls4ml load inside the functions that need
them.  Modules:

* :mod:`labkit.hls.convert` -- hls4ml configuration (explicit precisions), convert, C simulation,
  QKeras-vs-csim agreement;
* :mod:`labkit.hls.wrapper` -- generated ``labkit_params.h``, the stream wrapper, ``libclyc_emu.so``;
* :mod:`labkit.hls.vectors` -- board test vectors;
* :mod:`labkit.hls.vitis` -- Vitis HLS TCL, IP export, csynth report parser;
* :mod:`labkit.hls.softmax` -- what hls4ml's lookup-table softmax makes of a configuration, measured;
* :mod:`labkit.hls.cli` -- ``labkit hls convert|emulate|export``.
"""
from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np

from .. import artifacts
from ..config import CFG

# QKeras quantizers sit where Keras expects constraints, so Keras 2.15 warns on every serialisation of
# the student, and hls4ml serialises it in config_from_keras_model and convert_from_keras_model. Nothing
# to act on (QKeras reads its quantizers back itself): silenced for that one message only.
warnings.filterwarnings("ignore", message=r".*keras.constraints.serialize\(\)` API.*", category=UserWarning)

__all__ = ["build_all", "reuse_table"]


def reuse_table(model, reuse_factors=(1, 2, 4, 8, 16, 32)) -> list:
    """Per dense layer and reuse factor: what hls4ml's rules give, computed from the weights.

    * ``mults`` = n_in * n_out multiplications per inference, ``nonzero`` = unpruned weights;
    * ``valid`` = whether hls4ml accepts the reuse factor for this layer shape (else it picks the
      closest valid one) -- ``FPGABackend._validate_reuse_factor``;
    * ``multiplier_limit`` = DIV_ROUNDUP(n_in*n_out, RF) - n_zeros/RF, the multiplier instances
      hls4ml's dense config allows (``#pragma HLS ALLOCATION``);
    * ``ii`` = the dense layer's initiation interval = the RF actually used (each multiplier reused RF times).
    """
    import hls4ml

    backend = hls4ml.backends.get_backend("Vitis")
    rows = []
    for layer in model.layers:
        if type(layer).__name__ != "QDense":
            continue
        w = np.asarray(layer.kernel_quantizer_internal(layer.kernel))
        n_in, n_out = w.shape
        n_zeros = int(np.sum(w == 0))
        valid = backend.get_valid_reuse_factors(n_in, n_out)
        for rf in reuse_factors:
            rows.append({
                "layer": layer.name, "n_in": n_in, "n_out": n_out, "mults": n_in * n_out,
                "nonzero": n_in * n_out - n_zeros, "reuse_factor": rf, "valid": rf in valid,
                "used_rf": rf if rf in valid else backend.get_closest_reuse_factor(valid, rf),
                "multiplier_limit": math.ceil(n_in * n_out / rf) - n_zeros // rf,
            })
    for r in rows:  # what hls4ml would actually build after snapping to a valid RF
        r["multiplier_limit_used"] = math.ceil(r["mults"] / r["used_rf"]) - (r["mults"] - r["nonzero"]) // r["used_rf"]
        r["ii"] = r["used_rf"]
    return rows


def build_all(model=None, X_raw=None, y=None, board: str = CFG.default_board, project_dir=None,
              emu_path=None, vectors_dir=None, n_vectors: int | None = None, quiet: bool = False,
              original=None, notes=(), accept_inexact: bool = False, source=None, input: str = "course") -> dict:
    """Convert + csim + agreement + emulation library + test vectors (what ``labkit hls convert`` does).

    Your own model: ``model`` is the prepared one (:func:`labkit.training.ownmodel.prepare_student`),
    ``original`` the model as trained and ``notes`` what the preparation changed; the summary then
    adds ``notes`` and, when the preparation changed the model, ``original_class_agreement`` (the
    trained model's classes vs the C simulation's).

    A C simulation that is not bit-exact with QKeras on every pulse is refused
    (:class:`~labkit.hls.convert.InexactConversionError`, naming ``source``) before the emulation
    library and the test vectors are written, unless ``accept_inexact``.

    ``input``: the input transform the network was trained on (``CFG.input_transform``: ``course`` or
    ``raw``); QKeras, the C simulation, the wrapper and the vectors' ``meta.json`` all use it."""
    from .ipsim import EmulatedIP
    from . import convert as conv
    from .vectors import write_test_vectors
    from .wrapper import build_emulation

    student = None
    if model is None:
        from ..training.checkpoints import load_student
        model, student = load_student(), artifacts.student_info().get("selection")
    if X_raw is None:
        from ..data import load_split
        split = load_split().test
        X_raw, y = split.X, split.y
    t0 = time.perf_counter()
    hls_model = conv.convert(model, output_dir=project_dir, board=board, input=input)
    compile_s = time.perf_counter() - t0
    agree = conv.agreement(model, hls_model, X_raw)
    if not accept_inexact:
        conv.refuse_inexact(agree, source or "the student", hls_model.config.get_output_dir(), model)
    t1 = time.perf_counter()
    lib = build_emulation(hls_model.config.get_output_dir(), emu_path)
    emu_s = time.perf_counter() - t1
    n = len(X_raw) if n_vectors is None else min(n_vectors, len(X_raw))   # default: the whole test split
    labels = y[:n] if y is not None else np.full(n, -1)
    vec = write_test_vectors(X_raw[:n], labels, agree["qkeras_logits"][:n], agree["csim_logits"][:n],
                             emu=EmulatedIP(lib), folder=vectors_dir, student=student)
    summary = {k: v for k, v in agree.items() if not k.endswith("_logits")}
    summary["n_out"] = int(agree["csim_logits"].shape[1])
    summary["exact"] = conv.is_exact(agree)
    if notes:
        summary["notes"] = list(notes)
    if original is not None and original is not model:     # what the preparation changed, measured
        from ..fixedpoint import predicted_classes
        from ..training.ownmodel import original_classes
        summary["original_class_agreement"] = float(np.mean(
            original_classes(original, X_raw, input) == predicted_classes(agree["csim_logits"])))
    summary.update(wrapper_words_equal=vec["wrapper_words_equal"], tlast_ok=vec["tlast_ok"],
                   compile_s=round(compile_s, 1), emulation_build_s=round(emu_s, 1),
                   project=str(hls_model.config.get_output_dir()), emulation_library=str(lib),
                   vectors=vec["folder"])
    if not quiet:
        for note in notes:
            print(f"note: {note}")
        print(json.dumps(summary, indent=1))
    return {"summary": summary, "hls_model": hls_model, "agreement": agree}
