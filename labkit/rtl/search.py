"""Stage 04b — what the student search's trials cost in hardware, measured: Yosys, test accuracy, the front.

The search and the choice are lab 03's (:mod:`labkit.training.selection`: every trial records its
da4ml cost and validation result; course.ini [search] ``selection`` picks the student every later lab
uses).  This module measures the trials on the test pulses and in Yosys, and ``labkit bench pareto``
runs the search end to end on a data set and adds the classical cuts as RTL
(:mod:`labkit.rtl.baselines`) on the same axes.  ``points``, ``front``, ``select`` and
``NoModelFitsError`` are re-exported from :mod:`labkit.training.selection`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..config import CFG
from ..training.selection import NoModelFitsError, front, points, select  # noqa: F401 (this module's API)


# ------------------------------------------------------------------------------------------
# the search
# ------------------------------------------------------------------------------------------

def hardware_search(split, teacher, *, trials: Optional[int] = None, epochs: Optional[int] = None,
                    project: str = "student", directory=None, overwrite: bool = False, seed: int = CFG.seed,
                    verbose: int = 1, full: Optional[bool] = None):
    """Run (or resume) the student search of lab 03 (:func:`labkit.training.tuning.student_search`);
    returns ``(tuner, points)``.  Trials and epochs default to course.ini ([training] student_trials,
    student_epochs; fast mode: their fast_ values; ``full=True``: the full ones in any mode)."""
    import dataclasses

    from ..training.tuning import student_search
    training = CFG.training if full is None else (CFG.training_full if full else CFG.training_fast)
    if epochs:
        training = dataclasses.replace(training, student_epochs=int(epochs))
    tuner, _, pts = student_search(split, teacher, training=training, project=project, overwrite=overwrite,
                                   directory=directory, verbose=verbose, seed=seed, trials=trials)
    return tuner, pts


def load_point(point: dict):
    """The trial's own student (finalized QKeras model)."""
    from ..training.modelfile import load_model
    if not point.get("path"):
        raise FileNotFoundError(f"trial {point['trial_id']} kept no student.h5: rerun the search with "
                                "hardware_cost=True (the default)")
    return load_model(Path(point["path"]))


def measure(point: dict, test, *, board: str = CFG.default_board, yosys: bool = True, folder=None) -> dict:
    """Test accuracy (with n and Wilson interval) and, with ``yosys``, the synthesised core's LUTs, FFs
    and DSPs and its latency (the core course.ini [rtl] fold names), of a trial's own student.  Adds
    them to a copy of ``point``."""
    import tempfile

    from ..metrics import accuracy_ci
    from ..training.compress import quiet_keras
    from ..training.tuning import logits
    model = load_point(point)
    with quiet_keras():         # one more model predicting: TF's retracing notice says nothing to act on
        pred = logits(model, test).argmax(1)
    a = accuracy_ci(test.y, pred)
    out = dict(point, acc=round(a["acc"], 5), acc_k=a["k"], acc_n=a["n"], acc_ci95=[round(v, 5) for v in a["ci95"]],
               pred=pred)
    if yosys:           # the core course.ini [rtl] fold names, as the search costed it
        from . import build, synth
        with tempfile.TemporaryDirectory(prefix="labkit_pareto_") as tmp:
            base = Path(folder) if folder is not None else Path(tmp)
            built = build(model, folder=base / f"trial_{point['trial_id']}", board=board, emulator=False)
            r = synth(built, board, ip=False)["core"]
        out.update(lut=int(r["lut"]), ff=int(r["ff"]), dsp=int(r["dsp"]), carry=int(r["carry"]),
                   latency_cycles_rtl=int(built["core"].latency_cycles), yosys_s=r.get("yosys_s"))
    return out


def parallel_core(point: dict, folder, board: str = CFG.default_board) -> dict:
    """``lut`` (Yosys) and ``latency_cycles`` of a trial's own student built as the fully parallel core
    (fold "none", in ``folder``/trial_<id>): the form HGQ2's da4ml core has (lab 04c, ``labkit bench
    pareto --route both``), whatever core course.ini [rtl] fold names."""
    from . import build, synth
    built = build(load_point(point), board=board, fold="none", emulator=False,
                  folder=Path(folder) / f"trial_{point['trial_id']}")
    return {"lut": int(synth(built, board, ip=False)["core"]["lut"]), "latency_cycles": int(built["core"].latency_cycles)}


def public(point: dict, keys=("acc", "acc_ci95", "lut", "lut_estimate", "ff", "dsp", "latency_cycles", "nonzero",
                             "weight_bits")) -> dict:
    """The JSON form of a measured point (the bench's keys, then the trial's own)."""
    out = {k: point.get(k) for k in keys}
    out.update(activation_bits=point.get("activation_bits"), acc_k=point.get("acc_k"), acc_n=point.get("acc_n"),
               val_acc=round(point["val_acc"], 5), val_k=point["val_k"], val_n=point["val_n"],
               trial_id=point["trial_id"], hp=point["hp"])
    if "selected_by" in point:
        out["selected_by"] = point["selected_by"]
    return out
