"""Stage 3b — hardware-aware student search: accuracy vs LUTs vs latency, and how to choose.

keras-tuner stays the engine.  The search is lab 03's (``StudentHyperModel``, Bayesian optimisation
on the validation loss) with the hardware knobs switched on (``hardware_knobs=True``: weight and
activation bits, first-layer sparsity, beside widths and depth).  After each trial the hypermodel
records the finalized student's cost from da4ml (:func:`labkit.rtl.cost.estimate`: ``lut_estimate``,
``latency_cycles``, ``nonzero``, ``weight_bits``) and its own validation result
(``val_final_correct`` of ``val_final_n``) as trial metrics, and the tuner keeps that very network
as ``trial_<id>/student.h5``.  Nothing is retrained after the choice: the network handed on is the
one whose cost and accuracy were read.

Choosing (course.ini [search] ``selection``, or ``--selection``):

* ``accuracy`` -- the lowest validation loss: the paper's choice (labs 03-04);
* ``budget`` -- the best validation accuracy (ties: lower loss, then fewer LUTs) among the trials
  with ``lut_estimate <= lut_budget`` and ``latency_cycles <= latency_budget``.  Where Yosys is run
  (``verify``), a candidate whose synthesised LUTs exceed the budget is passed over too, so the
  choice is never over budget by either count;
* ``pareto`` -- every trial is a point; the *front* is the trials that no other trial beats in
  validation accuracy with fewer LUTs; the choice is the smallest trial whose validation accuracy
  lies inside the best trial's 95 % Wilson interval (a difference the validation set cannot resolve).

``labkit bench pareto`` runs it end to end and adds Yosys LUTs, test accuracy with intervals and the
classical cuts as RTL (:mod:`labkit.rtl.baselines`) on the same axes.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from ..config import CFG, SELECTION_MODES
from ..metrics import wilson


class NoModelFitsError(ValueError):
    """No trial satisfies the selection's constraints (one sentence with the fix)."""


# ------------------------------------------------------------------------------------------
# trials -> points
# ------------------------------------------------------------------------------------------

def points(tuner) -> list:
    """One dict per completed trial that recorded its hardware cost, in trial order:
    ``trial_id, hp, objective`` (validation loss), ``val_acc, val_k, val_n, val_ci95``,
    ``lut_estimate, latency_cycles, nonzero, weight_bits, activation_bits`` and ``path`` (the
    trial's own student, or None if it was not kept)."""
    from ..training.tuning import trial_student_path
    out = []
    for t in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        m = t.metrics
        if t.status != "COMPLETED" or t.score is None or not m.exists("lut_estimate") or not m.exists("val_final_n"):
            continue
        k, n = int(m.get_last_value("val_final_correct")), int(m.get_last_value("val_final_n"))
        hp = dict(t.hyperparameters.values)
        path = trial_student_path(tuner, t.trial_id)
        out.append({
            "trial_id": t.trial_id, "hp": hp, "objective": float(t.score),
            "val_acc": k / n if n else float("nan"), "val_k": k, "val_n": n,
            "val_ci95": [round(v, 5) for v in wilson(k, n)],
            "lut_estimate": int(m.get_last_value("lut_estimate")),
            "latency_cycles": int(m.get_last_value("latency_cycles")),
            "nonzero": int(m.get_last_value("nonzero")),
            "weight_bits": int(m.get_last_value("weight_bits")) if m.exists("weight_bits") else CFG.weight_bits,
            "activation_bits": int(hp.get("activation_bits", CFG.activation_bits)),
            "path": str(path) if path.exists() else None,
        })
    return out


def front(pts) -> list:
    """The trials no other trial beats: none with more validation accuracy at no more LUTs
    (ties in LUTs: the more accurate; then the lower loss). Sorted by LUTs."""
    ordered = sorted(pts, key=lambda p: (p["lut_estimate"], -p["val_acc"], p["objective"]))
    out, best = [], -1.0
    for p in ordered:
        if p["val_acc"] > best:
            out.append(p)
            best = p["val_acc"]
    return out


# ------------------------------------------------------------------------------------------
# selection
# ------------------------------------------------------------------------------------------

def _rank_accuracy(p):
    return (-p["val_acc"], p["objective"], p["lut_estimate"])


def select(pts, mode: Optional[str] = None, *, lut_budget: Optional[int] = None,
           latency_budget: Optional[int] = None, verify: Optional[Callable[[dict], int]] = None) -> dict:
    """The chosen point (a copy, with ``selected_by``: one sentence saying why).

    ``mode``: accuracy | budget | pareto (default course.ini [search] selection).  Budgets default to
    course.ini's ``lut_budget`` / ``latency_budget`` and apply in ``budget`` mode only.
    ``verify(point) -> LUTs`` (e.g. Yosys) is asked, in budget mode, for each candidate in rank order
    until one is within the budget by that count too; it may also be a cache of counts.
    Raises :class:`NoModelFitsError` when no trial qualifies.
    """
    pts = [p for p in pts if p.get("val_n")]
    mode = mode or CFG.search.selection
    if mode not in SELECTION_MODES:
        raise ValueError(f"selection mode {mode!r} is not one of {', '.join(SELECTION_MODES)}")
    if not pts:
        raise NoModelFitsError("no trial of the search completed with its hardware cost recorded: run the "
                               "hardware-aware search (hardware_cost=True) with more trials")
    if mode == "accuracy":
        p = min(pts, key=lambda p: (p["objective"], p["lut_estimate"]))
        return dict(p, selected_by=f"accuracy: the lowest validation loss ({p['objective']:.5f}) of {len(pts)} trials")
    if mode == "budget":
        lut_budget = int(lut_budget if lut_budget is not None else CFG.search.lut_budget)
        latency_budget = int(latency_budget if latency_budget is not None else CFG.search.latency_budget)
        if lut_budget < 1 or latency_budget < 1:
            raise ValueError(f"budgets must be at least 1 (LUTs {lut_budget}, cycles {latency_budget})")
        fits = sorted((p for p in pts if p["lut_estimate"] <= lut_budget and p["latency_cycles"] <= latency_budget),
                      key=_rank_accuracy)
        refused = []
        for p in fits:
            lut = int(verify(p)) if verify is not None else None
            if lut is not None and lut > lut_budget:
                refused.append((p["trial_id"], lut))
                continue
            extra = f"; passed over (synthesised LUTs above it): {refused}" if refused else ""
            return dict(p, selected_by=(f"budget: the best validation accuracy of the {len(fits)} of {len(pts)} trials "
                                        f"within {lut_budget} LUTs and {latency_budget} cycles{extra}"), lut_verified=lut)
        smallest = min(pts, key=lambda p: p["lut_estimate"])
        raise NoModelFitsError(
            f"no trial fits the budget of {lut_budget} LUTs and {latency_budget} cycles (the smallest has "
            f"{smallest['lut_estimate']} LUTs and {smallest['latency_cycles']} cycles"
            + (f"; over budget once synthesised: {refused}" if refused else "")
            + "): raise the budget, or search more trials (fewer bits and a higher sparsity make smaller students)")
    best = min(pts, key=_rank_accuracy)
    lo = wilson(best["val_k"], best["val_n"])[0]
    inside = [p for p in pts if p["val_acc"] >= lo]
    p = min(inside, key=lambda p: (p["lut_estimate"], -p["val_acc"], p["objective"]))
    return dict(p, selected_by=(f"pareto: the fewest LUTs among the {len(inside)} trials whose validation accuracy "
                                f"is inside the best trial's 95 % interval (>= {lo:.4f}; best {best['val_k']}/"
                                f"{best['val_n']}, trial {best['trial_id']})"))


# ------------------------------------------------------------------------------------------
# the search
# ------------------------------------------------------------------------------------------

def hardware_search(split, teacher, *, trials: Optional[int] = None, epochs: Optional[int] = None,
                    project: str = "student_hw", directory=None, overwrite: bool = False, seed: int = CFG.seed,
                    hardware_knobs: bool = True, verbose: int = 1, full: Optional[bool] = None):
    """Run (or resume) the hardware-aware student search; returns ``(tuner, points)``.

    ``hardware_knobs=False`` runs the accuracy-only search of lab 03 with the cost recorded (for
    the comparison).  Trials and epochs default to course.ini ([search] trials, [training]
    student_epochs; fast mode: their fast_ values; ``full=True``: the full ones in any mode)."""
    from ..training.models import StudentHyperModel
    from ..training.tuning import search
    training = CFG.training if full is None else (CFG.training_full if full else CFG.training_fast)
    settings = CFG.search if full is None else (CFG.search_full if full else CFG.search_fast)
    epochs = int(epochs or training.student_epochs)
    trials = int(trials or (settings.trials if hardware_knobs else training.student_trials))
    hm = StudentHyperModel(teacher, len(split.train), epochs=epochs, batch_size=training.batch_size,
                           hardware_cost=True, hardware_knobs=hardware_knobs)
    tuner, _ = search(hm, split, project, trials=trials, epochs=epochs, training=training, overwrite=overwrite,
                      directory=directory, verbose=verbose, seed=seed)
    return tuner, points(tuner)


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
    ap.add_argument("--trials", type=int, help=f"trials of the hardware-aware search (default {CFG.search_full.trials})")
    ap.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    ap.add_argument("--no-compare", action="store_true",
                    help="skip the accuracy-only search (its choice and its time are then not reported)")
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
        if not args.no_compare:
            t2 = time.time()
            acc_tuner, acc_pts = hardware_search(split, teacher, trials=args.trials or CFG.search_full.trials,
                                                 directory=directory / "student", project="student_accuracy",
                                                 hardware_knobs=False, verbose=0, full=True)
            acc_s = time.time() - t2
            acc_choice = measure(select(acc_pts, "accuracy"), split.test, board=args.board)

        cache: dict = {}

        def measured(p):
            if p["trial_id"] not in cache:
                cache[p["trial_id"]] = measure(p, split.test, board=args.board)
            return cache[p["trial_id"]]

        fr = [measured(p) for p in front(pts)]
        budget = mode == "budget"
        lut_budget = (args.lut_budget or CFG.search_full.lut_budget) if budget else None
        latency_budget = (args.latency_budget or CFG.search_full.latency_budget) if budget else None
        chosen = select(pts, mode, lut_budget=lut_budget, latency_budget=latency_budget,
                        verify=(lambda p: measured(p)["lut"]) if budget else None)
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
