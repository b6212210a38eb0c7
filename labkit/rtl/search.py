"""Stage 04b — what the student search's trials cost in hardware, measured: Yosys, test accuracy, the front.

The search and the choice are lab 03's (:mod:`labkit.training.selection`: every trial records its
da4ml cost and validation result; course.ini [search] ``selection`` picks the student every later lab
uses).  This module measures the trials on the test pulses and in Yosys, and ``labkit bench pareto``
runs the search end to end on a data set and adds the classical cuts as RTL
(:mod:`labkit.rtl.baselines`) on the same axes.  ``points``, ``front``, ``select`` and
``NoModelFitsError`` are re-exported from :mod:`labkit.training.selection`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Optional

from ..config import CFG, SELECTION_MODES
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
    from ..training.compress import load_model
    if not point.get("path"):
        raise FileNotFoundError(f"trial {point['trial_id']} kept no student.h5: rerun the search with "
                                "hardware_cost=True (the default)")
    return load_model(Path(point["path"]))


def measure(point: dict, test, *, board: str = CFG.default_board, yosys: bool = True, folder=None) -> dict:
    """Test accuracy (with n and Wilson interval) and, with ``yosys``, the synthesised core's LUTs, FFs
    and DSPs and its latency, of a trial's own student.  Adds them to a copy of ``point``."""
    import tempfile

    from ..metrics import accuracy_ci
    from ..training.tuning import logits
    model = load_point(point)
    pred = logits(model, test).argmax(1)
    a = accuracy_ci(test.y, pred)
    out = dict(point, acc=round(a["acc"], 5), acc_k=a["k"], acc_n=a["n"], acc_ci95=[round(v, 5) for v in a["ci95"]],
               pred=pred)
    if yosys:
        from .core import build_core
        from .resources import synthesize
        with tempfile.TemporaryDirectory(prefix="labkit_pareto_") as tmp:
            base = Path(folder) if folder is not None else Path(tmp)
            core, _ = build_core(model, base / f"trial_{point['trial_id']}", board=board)
            r = synthesize([Path(core.folder) / s for s in core.sources], f"{core.name}_wrapper", board)
        out.update(lut=int(r["lut"]), ff=int(r["ff"]), dsp=int(r["dsp"]), carry=int(r["carry"]),
                   latency_cycles_rtl=int(core.latency_cycles), yosys_s=r.get("yosys_s"))
    return out


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


# ------------------------------------------------------------------------------------------
# labkit bench pareto
# ------------------------------------------------------------------------------------------

def bench_pareto(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit bench pareto", description=(
        "Hardware-aware student search (full settings): accuracy vs LUTs vs latency. Prints one JSON line: "
        "front, chosen, baselines, wall_s; writes the front plot beside the bench's trials."))
    ap.add_argument("--train", default="synthetic", help="'synthetic' or a window CSV (header 120,…,280,class)")
    ap.add_argument("--test", help="window CSV used as the test set (default: the 15 %% test split of --train)")
    ap.add_argument("--lut-budget", type=int, help="budget mode: most LUTs (implies --selection budget)")
    ap.add_argument("--latency-budget", type=int,
                    help=f"budget mode: most cycles at {CFG.rtl.clock_mhz:g} MHz (default course.ini's "
                         f"{CFG.search_full.latency_budget})")
    ap.add_argument("--selection", choices=SELECTION_MODES,
                    help="how to choose (default: budget with --lut-budget, else course.ini's "
                         f"{CFG.search_full.selection})")
    ap.add_argument("--trials", type=int, help=f"trials of the student search (default {CFG.training_full.student_trials})")
    ap.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    ap.add_argument("--no-compare", action="store_true",
                    help="do not measure the accuracy-only choice (the lowest validation loss of the same search)")
    ap.add_argument("--fresh", action="store_true", help="start the searches over instead of resuming "
                    "(search times are only meaningful then: searches_fresh in the JSON)")
    args = ap.parse_args(argv)
    for name in ("lut_budget", "latency_budget", "trials"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    mode = args.selection or ("budget" if args.lut_budget is not None else CFG.search_full.selection)
    from . import tools
    reason = tools.missing("da4ml", "yosys", "iverilog")
    if reason:
        print(json.dumps({"skipped": reason}))
        return 1

    # the JSON line is the bench's only stdout: training chatter (a dead trial's sentence) goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        from ..training.tuning import bench_data, dead_trials, teacher_stage
        from . import baselines
        from .cost import calibrate

        t0 = time.time()
        directory, split = bench_data("pareto", args.train, args.test, fresh=args.fresh)
        fresh = not (directory / "student").exists()        # resumed searches reuse trials: their times mean little
        teacher, *_ = teacher_stage(split, training=CFG.training_full, directory=directory / "teacher", verbose=0)

        t1 = time.time()
        tuner, pts = hardware_search(split, teacher, trials=args.trials, directory=directory / "student", verbose=0,
                                     full=True)
        hw_s = time.time() - t1
        acc_s, acc_choice = None, None
        if not args.no_compare:           # the paper's choice among the same trials (no second search)
            acc_choice = measure(select(pts, "accuracy"), split.test, board=args.board)

        cache: dict = {}

        def measured(p):
            if p["trial_id"] not in cache:
                cache[p["trial_id"]] = measure(p, split.test, board=args.board)
            return cache[p["trial_id"]]

        fr = [measured(p) for p in front(pts)]
        budget = mode == "budget"
        lut_budget = (args.lut_budget or CFG.search_full.lut_budget) if budget else None
        latency_budget = (args.latency_budget or CFG.search_full.latency_budget) if budget else None
        from ..training.selection import cut_floor
        chosen = select(pts, mode, lut_budget=lut_budget, latency_budget=latency_budget,
                        verify=(lambda p: measured(p)["lut"]) if budget else None,
                        y_val=split.val.y, floor=cut_floor(split))
        chosen = dict(measured(chosen), selected_by=chosen["selected_by"])
        bl = baselines.report(split.train, split.test, board=args.board)
        ratio = calibrate([(p, p["lut"]) for p in cache.values()])

        from ..course import plots
        png = directory / "front.png"
        plots.pareto(pts, list(cache.values()), bl, chosen=chosen, accuracy_choice=acc_choice,
                     lut_budget=lut_budget, path=png)
        from .. import metrics as mx
        out = {
            "front": [public(p) for p in fr],
            "chosen": public(chosen),
            "baselines": [{"name": b["name"], "acc": round(b["acc"]["acc"], 5),
                           "acc_ci95": [round(v, 5) for v in b["acc"]["ci95"]],
                           "lut": b["lut"], "ff": b["ff"], "dsp": b["dsp"], "latency_cycles": b["latency_cycles"]}
                          for b in bl],
            "wall_s": round(time.time() - t0, 1),
            "selection": mode, "lut_budget": lut_budget, "latency_budget": latency_budget,
            "accuracy_choice": public(acc_choice) if acc_choice else None,
            "chosen_vs_accuracy_choice": (mx.mcnemar(split.test.y, chosen["pred"], acc_choice["pred"])
                                          if acc_choice else None),
            "lut_estimate_ratio": ratio["ratio"], "lut_estimate_ratios": ratio["ratios"],
            "trials": len(tuner.oracle.trials), "dead_trials": dead_trials(tuner),
            "points": [{k: p[k] for k in ("trial_id", "val_acc", "lut_estimate", "latency_cycles", "nonzero",
                                          "weight_bits", "activation_bits")} for p in pts],
            "hw_search_s": round(hw_s, 1), "accuracy_search_s": round(acc_s, 1) if acc_s is not None else None,
            "search_time_ratio": round(hw_s / acc_s, 2) if acc_s else None, "searches_fresh": fresh,
            "n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
            "board": args.board, "clock_mhz": CFG.rtl.clock_mhz, "train": args.train, "test": args.test or "split",
            "plot": str(png),
        }
    print(json.dumps(out))
    return 0
