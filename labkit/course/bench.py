"""``labkit bench <name>``: benchmarks that print one JSON line of figures.

Speed and accuracy targets live here, not in tests (tests check behaviour, not timings).  Each bench
runs the stages through their packages' functions; like the rest of ``labkit.course`` it may import
every stage, and no stage imports it.  Heavy imports stay inside the benches (``labkit bench board``
runs on the board, with numpy and pynq only).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import CFG, INPUT_HELP, INPUTS, SELECTION_MODES
from ..stream import int_arg

BENCHES = {
    "accuracy": "bench_accuracy",     # teacher + student workflow, full settings
    "agreement": "bench_agreement",   # QKeras vs C simulation vs stream wrapper
    "board": "bench_board",           # DMA streaming, emulated or on a board
    "pareto": "bench_pareto",         # the student search: accuracy vs LUTs vs latency
    "recipe": "bench_recipe",         # fixed students, one setting varied, scored without the test split
    "rtl": "bench_rtl",               # da4ml RTL twin: bit-exact, latency, Yosys resources
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHES:
        print("usage: labkit bench {" + "|".join(BENCHES) + "} [options]", file=sys.stderr)
        return 2
    return int(globals()[BENCHES[argv[0]]](argv[1:]) or 0)


# ------------------------------------------------------------------------------------------
# labkit bench accuracy (stages 02-03, with the delivered student's cost)
# ------------------------------------------------------------------------------------------

def _workflow(split, training, directory: Path, seed: int, yosys: bool = False) -> dict:
    """One seed of the full teacher + student workflow; predictions and counts for the bench, and the
    delivered student's cost (da4ml estimate; with ``yosys`` its synthesised core)."""
    from ..training import compress
    from ..training.tuning import dead_trials, logits, neutron_score, student_stage, teacher_stage
    teacher, _, t_hist, t_tuner = teacher_stage(split, training=training, directory=directory / "teacher",
                                                verbose=0, seed=seed)
    student, hp, s_hist, s_tuner, _ = student_stage(split, teacher, training=training,
                                                    directory=directory / "student", verbose=0, seed=seed)
    zt, zs = logits(teacher, split.test), logits(student, split.test)
    return {"seed": seed, "teacher_pred": zt.argmax(1), "student_pred": zs.argmax(1), "student_score": neutron_score(zs),
            "metrics": compress.model_metrics(student, teacher), "hp": hp.values,
            "selection": getattr(s_hist, "selection", None),
            "cost": _student_cost(student, getattr(s_hist, "selection", None), directory, yosys),
            "dead": dead_trials(t_tuner) + dead_trials(s_tuner) + t_hist.dead_runs + s_hist.dead_runs,
            "trials": len(t_tuner.oracle.trials) + len(s_tuner.oracle.trials)}


def _student_cost(student, selection, directory: Path, yosys: bool) -> dict:
    """``student_lut_estimate`` and ``student_latency_cycles`` (da4ml: what the chosen trial recorded,
    estimated here only for a student the search did not choose), and with ``yosys`` the synthesised
    core's ``student_lut``, ``student_ff``, ``student_dsp`` (the core course.ini [rtl] fold names, on
    course.ini's default board)."""
    if selection is None:
        from ..training.cost import estimate
        selection = estimate(student)
    out = {"student_lut_estimate": selection["lut_estimate"], "student_latency_cycles": selection["latency_cycles"]}
    if yosys:
        from ..rtl import build, synth
        built = build(student, folder=directory / "rtl", fold=CFG.rtl.fold, emulator=False)
        r = synth(built, CFG.default_board, ip=False)["core"]
        out.update(student_lut=int(r["lut"]), student_ff=int(r["ff"]), student_dsp=int(r["dsp"]),
                   student_latency_cycles=int(built["core"].latency_cycles), student_fold=CFG.rtl.fold)
    return out


def bench_data(bench: str, train: str, test: Optional[str] = None, *, fresh: bool = False):
    """(the bench's resumable folder, the split) for ``--train`` / ``--test`` of a training bench:
    ``artifacts/bench/<bench>/<train>[-test-<test>]``, emptied first with ``fresh``."""
    from .. import artifacts
    from ..data import load_split
    tag = "synthetic" if train == "synthetic" else Path(train).stem
    if test:
        tag += "-test-" + Path(test).stem
    directory = artifacts.bench(bench, tag)
    if fresh:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    return directory, load_split(train, test=test, progress=False)


def bench_accuracy(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit bench accuracy", description=(
        "Teacher + student workflow with full (not fast) settings, once per seed; prints one JSON line."))
    ap.add_argument("--train", default="synthetic", help="'synthetic' or a window CSV (header 120,…,280,class)")
    ap.add_argument("--test", help="window CSV used as the test set (default: the 15 %% test split of --train)")
    ap.add_argument("--seeds", type=int_arg(1), default=1, help="independent runs of the workflow (seeds differ; default 1)")
    ap.add_argument("--fresh", action="store_true", help="start the searches over instead of resuming")
    ap.add_argument("--yosys", action="store_true",
                    help="also synthesise each seed's delivered student with Yosys (student_lut, xc7 of the default board)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    if args.yosys:
        from ..rtl import tools
        reason = tools.missing("da4ml", "yosys")
        if reason:
            ap.error(f"--yosys: {reason}")

    # the JSON line is the bench's only stdout: training chatter (a dead trial's sentence) goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        from .. import metrics as mx
        from ..data import baselines
        t0 = time.time()
        training = CFG.training_full
        directory, split = bench_data("accuracy", args.train, args.test, fresh=args.fresh)
        y = split.test.y
        runs = [_workflow(split, training, directory / f"seed{CFG.seed + k}", CFG.seed + k, yosys=args.yosys)
                for k in range(args.seeds)]
        acc = [float((r["student_pred"] == y).mean()) for r in runs]
        acc_median = float(np.median(acc))
        med = runs[int(np.argsort(acc, kind="stable")[(len(acc) - 1) // 2])]   # the median seed (lower middle)
        t_acc = [float((r["teacher_pred"] == y).mean()) for r in runs]
        t_ci = mx.accuracy_ci(y, med["teacher_pred"])["ci95"]

        cuts = baselines.fit_all(split.train)
        best_cut = baselines.best_on_train(cuts)
        psd = next(c for c in cuts if c.feature == "tail_total")
        amp = baselines.amplitude(split.test.X)
        phys = mx.physics_report(med["student_score"], y, med["student_pred"], amp)
        e3, e2 = phys["eff_at_1e-3"], phys["eff_at_1e-2"]
        out = {
            "teacher_acc": round(float(np.median(t_acc)), 5),
            "student_acc": round(acc_median, 5),
            "student_acc_min": round(min(acc), 5),
            "student_acc_ci95": [round(v, 5) for v in phys["accuracy"]["ci95"]],
            "student_acc_seeds": [round(a, 5) for a in acc],
            "teacher_acc_seeds": [round(a, 5) for a in t_acc],
            "teacher_acc_ci95": [round(v, 5) for v in t_ci],   # the median seed's teacher
            # the synthetic target of issue 11: the median student inside that teacher's interval
            "student_in_teacher_ci95": bool(t_ci[0] <= acc_median <= t_ci[1]),
            "student_nonzero": max(r["metrics"]["nonzero"] for r in runs),
            "weight_bits": max(r["metrics"]["weight_bits"] for r in runs),
            "dead_trials": sum(r["dead"] for r in runs),
            "trials": sum(r["trials"] for r in runs),
            "baseline_acc": round(best_cut.accuracy(split.test.X, y), 5),
            "baseline": best_cut.name,
            "student_vs_baseline": mx.mcnemar(y, med["student_pred"], best_cut.predict(split.test.X)),
            "student_vs_teacher": mx.mcnemar(y, med["student_pred"], med["teacher_pred"]),
            "fom_student": round(phys["fom"], 3) if phys["fom"] is not None else None,
            "fom_baseline": round(mx.figure_of_merit(psd.score(split.test.X), y), 3),
            "neutron_eff_at_1e-3": e3["neutron_eff"], "neutron_eff_at_1e-3_ci95": e3["ci95"],
            "neutron_eff_at_1e-3_resolved": e3["resolved"],
            "neutron_eff_at_1e-2": e2["neutron_eff"], "neutron_eff_at_1e-2_ci95": e2["ci95"],
            "neutron_eff_at_1e-2_resolved": e2["resolved"],
            "acc_by_amplitude": [{k: b[k] for k in ("lo", "hi", "n", "acc")} for b in phys["by_amplitude"]],
            "n_train": len(split.train), "n_test": len(split.test), "seeds": args.seeds,
            "student_params": med["metrics"]["params"], "compression_ratio": med["metrics"]["compression_ratio"],
            "student_hp": med["hp"], "train": args.train, "test": args.test or "split",
            "baselines": {c.name: round(c.accuracy(split.test.X, y), 5) for c in cuts},
            "per_seed": [dict(seed=r["seed"], acc=round(a, 5), **r["cost"],
                              trial_id=(r["selection"] or {}).get("trial_id"),
                              layers=(r["selection"] or {}).get("layers"), nonzero=r["metrics"]["nonzero"],
                              weight_bits=r["metrics"]["weight_bits"]) for r, a in zip(runs, acc)],
            "student_lut_max": max((r["cost"].get("student_lut") for r in runs if "student_lut" in r["cost"]),
                                   default=None),
            "student_lut_estimate_max": max(r["cost"]["student_lut_estimate"] for r in runs),
            "student_latency_max": max(r["cost"]["student_latency_cycles"] for r in runs),
            "selection": {"mode": CFG.search.selection,
                          "sentences": [(r["selection"] or {}).get("selected_by") for r in runs]},
            "wall_s": round(time.time() - t0, 1),
        }
    print(json.dumps(out))
    return 0


# ------------------------------------------------------------------------------------------
# labkit bench pareto (the student search, measured: test accuracy, Yosys, classical cuts)
# ------------------------------------------------------------------------------------------

#: the routes ``labkit bench pareto --route`` measures: lab 03's QKeras search, the HGQ2 sweep (Keras 3, in
#: .venv-keras3, labkit.hgq.route), or both on the same split and the same axes
PARETO_ROUTES = ("qkeras", "hgq2", "both")


def keras3_missing() -> Optional[str]:
    """None when the Keras 3 environment's Python is here, else one sentence with the fix."""
    from ..hgq.route import VENV, venv_python
    exe = venv_python()
    if exe.exists():
        return None
    return (f"the HGQ2 route runs in the second environment {VENV}, and {exe} does not exist: run "
            "`bash scripts/setup_keras3.sh .venv` (or `make setup`) to make it")


def bench_pareto(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit bench pareto", description=(
        "Hardware-aware student search (full settings): accuracy vs LUTs vs latency. Prints one JSON line: "
        "front, chosen, baselines, wall_s; writes the front plot beside the bench's trials."))
    ap.add_argument("--train", default="synthetic", help="'synthetic' or a window CSV (header 120,…,280,class)")
    ap.add_argument("--test", help="window CSV used as the test set (default: the 15 %% test split of --train)")
    ap.add_argument("--route", choices=PARETO_ROUTES, default="qkeras",
                    help="qkeras: lab 03's search (default); hgq2: HGQ2 students, one per course.ini [hgq] beta, "
                         "trained and measured in .venv-keras3 (scripts/hgq_sweep.py); both: the two on one plot")
    ap.add_argument("--lut-budget", type=int_arg(1), help="budget mode: most LUTs (implies --selection budget)")
    ap.add_argument("--latency-budget", type=int_arg(1),
                    help=f"budget mode: most cycles at {CFG.rtl.clock_mhz:g} MHz (default course.ini's "
                         f"{CFG.search_full.latency_budget})")
    ap.add_argument("--selection", choices=SELECTION_MODES,
                    help="how to choose (default: budget with --lut-budget, else course.ini's "
                         f"{CFG.search_full.selection})")
    ap.add_argument("--trials", type=int_arg(1), help=f"trials of the student search (default {CFG.training_full.student_trials})")
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
    from ..rtl import tools
    reason = tools.missing("da4ml", "yosys", "iverilog") or (keras3_missing() if args.route != "qkeras" else None)
    if reason:
        print(json.dumps({"skipped": reason}))
        return 1

    # the JSON line is the bench's only stdout: training chatter (a dead trial's sentence) goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        from ..rtl import baselines
        from ..training.selection import cut_floor
        from ..training.tuning import teacher_stage

        t0 = time.time()
        directory, split = bench_data("pareto", args.train, args.test, fresh=args.fresh)
        teacher, *_ = teacher_stage(split, training=CFG.training_full, directory=directory / "teacher", verbose=0)
        budget = mode == "budget"
        lut_budget = (args.lut_budget or CFG.search_full.lut_budget) if budget else None
        latency_budget = (args.latency_budget or CFG.search_full.latency_budget) if budget else None
        rule = dict(mode=mode, lut_budget=lut_budget, latency_budget=latency_budget, floor=cut_floor(split))
        routes = {}
        if args.route in ("qkeras", "both"):
            routes["qkeras"] = _pareto_qkeras(args, split, teacher, directory, rule, parallel=args.route == "both")
        if args.route in ("hgq2", "both"):
            from ..training.tuning import logits
            routes["hgq2"] = _pareto_hgq2(args, split, logits(teacher, split.train), directory, rule)
        bl = baselines.report(split.train, split.test, board=args.board)
        cuts = [{"name": b["name"], "acc": round(b["acc"]["acc"], 5),
                 "acc_ci95": [round(v, 5) for v in b["acc"]["ci95"]],
                 "lut": b["lut"], "ff": b["ff"], "dsp": b["dsp"], "latency_cycles": b["latency_cycles"]} for b in bl]
        from . import plots
        for name, r in routes.items():
            if name == "qkeras":
                plots.pareto(r["pts"], r["measured"], bl, chosen=r["chosen"], accuracy_choice=r["acc_choice"],
                             lut_budget=lut_budget, path=r["plot"])
            else:
                plots.two_routes({"HGQ2, parallel core (da4ml)": r["measured"]}, cuts, path=r["plot"],
                                 title="HGQ2 students: test accuracy against LUTs")
        lead = routes["qkeras" if "qkeras" in routes else "hgq2"]     # the route whose choice is "chosen"
        out = {
            "route": args.route,
            "front": lead["out"]["front"],
            "chosen": lead["out"]["chosen"],
            "baselines": cuts,
            "wall_s": None,
            "selection": mode, "lut_budget": lut_budget, "latency_budget": latency_budget,
        }
        out.update({k: v for k, v in lead["out"].items() if k not in out})
        out.update({"n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
                    "board": args.board, "clock_mhz": CFG.rtl.clock_mhz, "train": args.train,
                    "test": args.test or "split", "plot": str(lead["plot"])})
        if args.route == "both":
            out.update(_both(routes, cuts, split, directory))
        out["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(out))
    return 0


def _pareto_qkeras(args, split, teacher, directory: Path, rule: dict, parallel: bool = False) -> dict:
    """Lab 03's search on the bench's split, its front and choices measured on the test pulses and in
    Yosys (the core course.ini [rtl] fold names; with ``parallel`` also the fully parallel core)."""
    from .. import metrics as mx
    from ..rtl.cost import calibrate
    from ..rtl.search import hardware_search, measure, parallel_core, public
    from ..training.selection import front, select
    from ..training.tuning import dead_trials

    fresh = not (directory / "student").exists()        # resumed searches reuse trials: their times mean little
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
    budget = rule["mode"] == "budget"
    chosen = select(pts, rule["mode"], lut_budget=rule["lut_budget"], latency_budget=rule["latency_budget"],
                    verify=(lambda p: measured(p)["lut"]) if budget else None,
                    y_val=split.val.y, floor=rule["floor"])
    chosen = dict(measured(chosen), selected_by=chosen["selected_by"])
    if parallel:                      # like for like with HGQ2's da4ml core: the same students, fully parallel
        for p in [*cache.values(), chosen]:
            core = parallel_core(p, directory / "parallel", args.board)
            p.update(lut_parallel=core["lut"], latency_cycles_parallel=core["latency_cycles"])
    ratio = calibrate([(p, p["lut"]) for p in cache.values()])

    def pub(p):
        out = dict(public(p), route="qkeras")
        if parallel:
            out.update(fold=CFG.rtl.fold, lut_parallel=p.get("lut_parallel"),
                       latency_cycles_parallel=p.get("latency_cycles_parallel"))
        return out

    out = {
        "front": [pub(p) for p in fr],
        "chosen": pub(chosen),
        "accuracy_choice": pub(acc_choice) if acc_choice else None,
        "chosen_vs_accuracy_choice": (mx.mcnemar(split.test.y, chosen["pred"], acc_choice["pred"])
                                      if acc_choice else None),
        "lut_estimate_ratio": ratio["ratio"], "lut_estimate_ratios": ratio["ratios"],
        "trials": len(tuner.oracle.trials), "dead_trials": dead_trials(tuner),
        "points": [dict({k: p[k] for k in ("trial_id", "val_acc", "lut_estimate", "latency_cycles", "nonzero",
                                           "weight_bits", "activation_bits")}, route="qkeras") for p in pts],
        "hw_search_s": round(hw_s, 1), "accuracy_search_s": round(acc_s, 1) if acc_s is not None else None,
        "search_time_ratio": round(hw_s / acc_s, 2) if acc_s else None, "searches_fresh": fresh,
    }
    return {"out": out, "pts": pts, "measured": list(cache.values()), "chosen": chosen, "acc_choice": acc_choice,
            "plot": directory / "front.png"}


def hgq2_command(args, directory: Path, teacher_npy: Path, seed: int = CFG.seed) -> list:
    """The command line of the HGQ2 sweep in the Keras 3 environment: the bench's data and seed, the
    teacher's logits on the training pulses; betas, shapes and epochs from course.ini [hgq] (the sweep
    runs in this process's mode, so that it loads the same split: full settings unless LABKIT_FAST=1)."""
    from ..config import project_root
    from ..hgq.route import venv_python
    cmd = [str(venv_python()), str(project_root() / "scripts" / "hgq_sweep.py"), "--train", str(args.train)]
    if args.test:
        cmd += ["--test", str(args.test)]
    return cmd + ["--seed", str(seed), "--teacher", str(teacher_npy), "--folder", str(directory / "hgq2"),
                  "--board", args.board]


def _run_hgq2(cmd: list) -> list:
    """Run the sweep, its stderr (progress, Keras) through to ours; its stdout's JSON lines, one per beta."""
    import os
    import subprocess
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    points = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env) as proc:
        for line in proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                print(line, file=sys.stderr)
                continue
            p = json.loads(line)
            points.append(p)
            print(f"  hgq2 beta {p['beta']:g}: validation {p['val_k']}/{p['val_n']}, test {p['acc']}, "
                  f"{p.get('lut')} LUT, {p.get('latency_cycles')} cycles", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the HGQ2 sweep failed (exit {proc.returncode}; its messages are above): {' '.join(cmd)}")
    return points


def hgq2_points(raw: list, split) -> list:
    """The sweep's JSON points as the selection rule's points (labkit.training.selection): ``trial_id``
    ``<shape>_beta_<beta>`` (``linear_beta_1e-05``, ``h16_beta_0.001``: the sweep's folder names),
    ``objective`` = the validation loss when the sweep recorded one, else the validation error;
    predictions as arrays.  Refuses points measured on other pulses than ``split``'s."""
    from ..metrics import wilson
    out = []
    for p in raw:
        if p.get("val_n") != len(split.val) or p.get("acc_n") != len(split.test):
            raise RuntimeError(f"the HGQ2 sweep measured beta {p.get('beta')} on {p.get('val_n')} validation and "
                               f"{p.get('acc_n')} test pulses, the bench's split has {len(split.val)} and "
                               f"{len(split.test)}: run both in the same mode (LABKIT_FAST) on the same --train/--test")
        shape = "h" + "-".join(str(u) for u in p["units"]) if p.get("units") else "linear"
        q = dict(p, route="hgq2", trial_id=f"{shape}_beta_{p['beta']:g}",
                 objective=p.get("val_loss", 1.0 - p["val_k"] / p["val_n"]),
                 val_acc=p["val_k"] / p["val_n"], val_ci95=[round(v, 5) for v in wilson(p["val_k"], p["val_n"])],
                 weight_bits=p.get("mean_weight_bits"), activation_bits=None,
                 hp={"beta": p["beta"], "units": p.get("units"), "epochs": p.get("epochs")},
                 val_pred=np.asarray(p["val_pred"]) if p.get("val_pred") is not None else None,
                 pred=np.asarray(p["pred"]) if p.get("pred") is not None else None)
        out.append(q)
    return out


def lut_front(pts) -> list:
    """The points no other point beats: none with more validation accuracy at no more Yosys LUTs (ties in
    LUTs: the more accurate); points without a circuit (no LUT count) are left out.  Sorted by LUTs."""
    from ..training.selection import front
    return front([p for p in pts if p.get("lut")], cost="lut")


def _public_hgq2(p: dict) -> dict:
    from ..rtl.search import public
    return dict(public(p), route="hgq2", beta=p["beta"], ebops=p.get("ebops"),
                mean_weight_bits=p.get("mean_weight_bits"), da4ml_exact=(p.get("da4ml") or {}).get("exact"),
                hls_exact=(p.get("hls") or {}).get("exact"), fold="none")


def _pareto_hgq2(args, split, teacher_logits, directory: Path, rule: dict) -> dict:
    """HGQ2 students in the Keras 3 environment, distilled from the bench's teacher (its logits on the
    training pulses); the front by validation accuracy and Yosys LUTs, the choice by the QKeras route's
    rule (validation only)."""
    from .. import metrics as mx
    from ..rtl.cost import calibrate
    from ..training.selection import select

    npy = directory / "teacher_logits_train.npy"
    np.save(npy, np.asarray(teacher_logits, np.float32))
    t1 = time.time()
    pts = hgq2_points(_run_hgq2(hgq2_command(args, directory, npy)), split)
    sweep_s = time.time() - t1
    if not pts:
        raise RuntimeError("the HGQ2 sweep printed no point: see its messages above")
    fr = lut_front(pts)
    budget = rule["mode"] == "budget"
    chosen = select(pts, rule["mode"], lut_budget=rule["lut_budget"], latency_budget=rule["latency_budget"],
                    verify=(lambda p: p.get("lut") or 0) if budget else None, y_val=split.val.y,
                    floor=rule["floor"])
    acc_choice = None if args.no_compare else select(pts, "accuracy")
    ratio = calibrate([(p, p["lut"]) for p in pts if p.get("lut")])
    out = {
        "front": [_public_hgq2(p) for p in fr],
        "chosen": _public_hgq2(chosen),
        "accuracy_choice": _public_hgq2(acc_choice) if acc_choice else None,
        "chosen_vs_accuracy_choice": (mx.mcnemar(split.test.y, chosen["pred"], acc_choice["pred"])
                                      if acc_choice else None),
        "lut_estimate_ratio": ratio["ratio"], "lut_estimate_ratios": ratio["ratios"],
        "trials": len(pts), "dead_trials": sum(1 for p in pts if not p.get("lut")),
        "points": [{"trial_id": p["trial_id"], "val_acc": round(p["val_acc"], 5), "lut_estimate": p["lut_estimate"],
                    "latency_cycles": p["latency_cycles"], "nonzero": p["nonzero"], "weight_bits": p["weight_bits"],
                    "activation_bits": None, "route": "hgq2", "beta": p["beta"], "lut": p.get("lut")} for p in pts],
        "hw_search_s": round(sweep_s, 1), "accuracy_search_s": None, "search_time_ratio": None,
        "searches_fresh": True,
    }
    return {"out": out, "pts": pts, "measured": pts, "chosen": chosen, "acc_choice": acc_choice,
            "plot": directory / "front_hgq2.png"}


def _both(routes: dict, cuts: list, split, directory: Path) -> dict:
    """What ``--route both`` adds: the union of the fronts and points, each route's choice, the two choices
    compared on the same test pulses (McNemar), and the plot of both routes on the same axes."""
    from .. import metrics as mx
    from . import plots
    qk, hg = routes["qkeras"], routes["hgq2"]
    png = directory / "two_routes.png"
    plots.two_routes({"HGQ2, parallel core (da4ml)": hg["measured"],
                      "QKeras, parallel core": [dict(p, lut=p.get("lut_parallel"),
                                                     latency_cycles=p.get("latency_cycles_parallel"))
                                                for p in qk["measured"]],
                      f"QKeras, {CFG.rtl.fold} core (the course's IP)": [dict(p, latency_cycles=p["latency_cycles_rtl"])
                                                                         for p in qk["measured"]]},
                     cuts, path=png, title="two routes: test accuracy against LUTs")
    return {
        "front": qk["out"]["front"] + hg["out"]["front"],
        "points": qk["out"]["points"] + hg["out"]["points"],
        "chosen_by_route": {"qkeras": qk["out"]["chosen"], "hgq2": hg["out"]["chosen"]},
        "accuracy_choice_by_route": {"qkeras": qk["out"]["accuracy_choice"], "hgq2": hg["out"]["accuracy_choice"]},
        "chosen_qkeras_vs_hgq2": mx.mcnemar(split.test.y, qk["chosen"]["pred"], hg["chosen"]["pred"]),
        "hgq2": {k: hg["out"][k] for k in ("lut_estimate_ratio", "lut_estimate_ratios", "trials", "dead_trials",
                                           "hw_search_s", "chosen_vs_accuracy_choice")},
        "plot_two_routes": str(png),
    }


# ------------------------------------------------------------------------------------------
# labkit bench agreement (stage 04)
# ------------------------------------------------------------------------------------------

# ------------------------------------------------------------------------------------------
# labkit bench recipe (a setting of the student's recipe, measured without the test pulses)
# ------------------------------------------------------------------------------------------

#: what ``--student`` may set, with its default (a linear student with course.ini's bits)
RECIPE_DEFAULTS = {"layers": [], "weight_bits": CFG.weight_bits, "activation_bits": CFG.activation_bits,
                   "sparsity": 0.9, "learning_rate": 3e-3, "temperature": 4.0, "alpha": 0.9,
                   "student_epochs": None, "balance_cap": None}
#: the teacher every fold distils from (fixed, so that the varied setting is the only change)
RECIPE_TEACHER = {"layers": [64, 32], "learning_rate": 1e-3}


def recipe_parts(split, folds: int, seed: int = CFG.seed) -> list:
    """(name, split) per part of the recipe bench.  ``folds`` 1: the course's split, scored on its
    validation pulses.  ``folds`` k ≥ 2: the training and validation pulses together, cut into k
    stratified folds; each fold is scored once, trained on the rest (split 70:15 into training and
    validation as the course splits).  The test pulses are never used."""
    from ..data import Split, _two_way
    from ..data.formats import concat
    if folds == 1:
        return [("validation", Split(split.train, split.val, split.val))]
    pool = concat([split.train, split.val], source="train+val")
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(pool), int)
    for c in np.unique(pool.y):
        idx = rng.permutation(np.flatnonzero(pool.y == c))
        fold_of[idx] = np.arange(len(idx)) % folds
    tr, va = CFG.split[0], CFG.split[1]
    out = []
    for k in range(folds):
        train, val = _two_way(pool.subset(np.flatnonzero(fold_of != k)), tr / (tr + va), seed=seed + k)
        out.append((f"fold {k + 1}/{folds}", Split(train, val, pool.subset(np.flatnonzero(fold_of == k)))))
    return out


def _fixed_hp(values: dict):
    import keras_tuner as kt
    hp = kt.HyperParameters()
    for k, v in values.items():
        hp.Fixed(k, v)
    return hp


def recipe_student(part, teacher, config: dict, seed: int) -> dict:
    """Train one fixed student (``config``: :data:`RECIPE_DEFAULTS` keys) on ``part.train`` with
    ``part.val`` for early stopping, as the course trains a trial; its errors on ``part.test``."""
    import dataclasses

    from ..training import compress
    from ..training.cost import da4ml_missing, estimate
    from ..training.models import StudentHyperModel
    from ..training.tuning import logits, train_final
    c = {**RECIPE_DEFAULTS, **config}
    training = CFG.training_full
    training = dataclasses.replace(training, **{k: c[k] for k in ("student_epochs", "balance_cap")
                                                if c[k] is not None})
    hm = StudentHyperModel(teacher, len(part.train), epochs=training.student_epochs, batch_size=training.batch_size,
                           balance_cap=training.balance_cap, cost=None)
    hp = {"layers": len(c["layers"]), **{f"units_{i}": int(u) for i, u in enumerate(c["layers"])},
          **{k: c[k] for k in ("learning_rate", "temperature", "alpha", "weight_bits", "activation_bits", "sparsity")}}
    row = {"seed": seed}
    try:
        train_final(hm, _fixed_hp(hp), part, epochs=training.student_epochs, training=training, progress=False,
                    seed=seed)
    except compress.DeadModelError as dead:
        return {**row, "dead": str(dead)}
    student = hm.last_student          # the finalized network the fit validated (hardware_cost is on)
    pred = logits(student, part.test).argmax(1)
    row.update(errors=int((pred != part.test.y).sum()), n=int(len(part.test.y)))
    if not da4ml_missing():
        e = estimate(student)
        row.update(lut_estimate_fold=e["lut_estimate_fold"], lut_estimate_parallel=e["lut_estimate_parallel"],
                   nonzero=e["nonzero"])
    return row


def bench_recipe(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit bench recipe", description=(
        "Fixed students (one setting varied), each trained as a trial is and scored on pulses the course "
        "never tests on: the validation split (--folds 1) or k folds of the training and validation pulses; "
        "prints one JSON line. This is how a recipe setting in course.ini is chosen without the test pulses."))
    ap.add_argument("--train", default="synthetic", help="'synthetic' or a window CSV (header 120,…,280,class)")
    ap.add_argument("--folds", type=int_arg(1), default=5, help="1: score on the validation split; k ≥ 2: k-fold over "
                    "training + validation pulses (default 5)")
    ap.add_argument("--student", default="{}", help="JSON object of the fixed student, keys: "
                    + ", ".join(RECIPE_DEFAULTS) + " (default: a linear student with course.ini's bits)")
    ap.add_argument("--vary", required=True, metavar="KEY=V1,V2,...",
                    help="the setting to vary and its values, e.g. sparsity=0.5,0.7,0.9 or layers=[],[3],[3,3]")
    ap.add_argument("--seeds", type=int_arg(1), default=1, help="students per value and fold (seeds differ; default 1)")
    args = ap.parse_args(argv)
    try:
        base = json.loads(args.student)
        assert isinstance(base, dict)
    except (ValueError, AssertionError):
        ap.error(f"--student must be a JSON object, e.g. '{{\"weight_bits\": 4}}'; got {args.student!r}")
    key, _, values = args.vary.partition("=")
    unknown = sorted(set(base) - set(RECIPE_DEFAULTS)) + ([key] if key not in RECIPE_DEFAULTS else [])
    if unknown:
        ap.error(f"unknown student setting(s) {unknown}: use {', '.join(RECIPE_DEFAULTS)}")
    try:
        values = json.loads(f"[{values}]")
    except ValueError:
        ap.error(f"--vary {args.vary!r}: the values must be JSON separated by commas, e.g. sparsity=0.5,0.7")
    if not values or args.folds < 1 or args.seeds < 1:
        ap.error("--vary needs at least one value; --folds and --seeds at least 1")

    with contextlib.redirect_stdout(sys.stderr):
        from .. import metrics as mx
        from ..data import load_split
        from ..training.models import TeacherHyperModel
        from ..training.tuning import logits, train_final
        t0 = time.time()
        training = CFG.training_full
        split = load_split(args.train, progress=False)
        parts = recipe_parts(split, args.folds)
        rows = {json.dumps(v): [] for v in values}
        teacher_errors = 0
        for name, part in parts:
            hp = {"layers": len(RECIPE_TEACHER["layers"]), "learning_rate": RECIPE_TEACHER["learning_rate"],
                  **{f"units_{i}": u for i, u in enumerate(RECIPE_TEACHER["layers"])}}
            teacher, _ = train_final(TeacherHyperModel(), _fixed_hp(hp), part, epochs=training.teacher_epochs,
                                     training=training, progress=False)
            teacher_errors += int((logits(teacher, part.test).argmax(1) != part.test.y).sum())
            for v in values:
                for s in range(args.seeds):
                    r = recipe_student(part, teacher, {**base, key: v}, CFG.seed + s)
                    rows[json.dumps(v)].append({"part": name, **r})
                    print(f"{name} {key}={v} seed {s}: {r.get('errors', 'dead')}", file=sys.stderr)
        n_scored = sum(len(p.test) for _, p in parts)
        out = []
        for v in values:
            rs = rows[json.dumps(v)]
            live = [r for r in rs if "errors" in r]
            err, n = sum(r["errors"] for r in live), sum(r["n"] for r in live)
            med = lambda k: (float(np.median([r[k] for r in live])) if live and k in live[0] else None)
            out.append({key: v, "errors": err, "n": n, "acc": round(1 - err / n, 5) if n else None,
                        "acc_ci95": [round(x, 5) for x in mx.wilson(n - err, n)] if n else None,
                        "errors_per_part": [r.get("errors") for r in rs], "dead": len(rs) - len(live),
                        "lut_estimate_fold": med("lut_estimate_fold"),
                        "lut_estimate_parallel": med("lut_estimate_parallel"), "nonzero": med("nonzero")})
    print(json.dumps({"bench": "recipe", "train": args.train, "folds": args.folds,
                      "scored_on": "validation split" if args.folds == 1 else
                      f"{args.folds}-fold held-out parts of the training + validation pulses",
                      "test_pulses_used": False, "student": {**RECIPE_DEFAULTS, **base}, "vary": key,
                      "seeds": args.seeds, "teacher": RECIPE_TEACHER, "teacher_errors": teacher_errors,
                      "n_scored_per_student": n_scored, "results": out, "wall_s": round(time.time() - t0, 1)}))
    return 0


def near_chance(acc: dict, n_out: int, student, test, input: str = "course") -> str:
    """One sentence when an accuracy (:func:`labkit.metrics.accuracy_ci`) is no better than guessing among
    the classes (its 95 % interval's upper end below chance + 10 points), else ''."""
    chance = 1.0 / max(2, n_out)
    if acc["ci95"][1] >= chance + 0.1:
        return ""
    seen = ("baseline minus sample, scaled as course.ini [input_stage] says" if input == "course"
            else "the ADC codes unchanged")
    other = " or ".join(f"--input {k}" for k in INPUTS if k != input)
    return (f"{student}: {acc['acc']:.1%} on {test} is near chance ({chance:.0%}): the likely cause is the input "
            f"transform (with --input {input} the network sees {seen}; a model trained on other inputs reads them "
            f"differently: try {other})")


def bench_agreement(argv=None) -> int:
    """``labkit bench agreement [--student PATH] [--test W.csv]``: one JSON line on the test windows
    (default: the course's test split): agreement, wrapper words, and the accuracy with its 95 % CI."""
    p = argparse.ArgumentParser(prog="labkit bench agreement",
                                description="QKeras vs hls4ml C simulation vs stream-wrapper emulation, and the "
                                            "C simulation's accuracy on the test windows")
    p.add_argument("--student", default=None, help="student .h5, the course's or your own "
                   "(default artifacts/student/student.h5)")
    p.add_argument("--test", default=None, help="window CSV (header 120,…,280,class) used as the test windows "
                   "(default: the course's test split)")
    p.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    p.add_argument("--input", choices=INPUTS, default="course", help=INPUT_HELP)
    p.add_argument("--accept-inexact", action="store_true", help="print the line and exit 0 even when the C "
                   "simulation is not bit-exact with QKeras on every test window (default: the line, then exit 1)")
    args = p.parse_args(argv)

    from .. import artifacts
    from ..data import load, load_split
    from ..fixedpoint import predicted_classes
    from ..hls import convert as conv
    from ..hls.ipsim import LIB_NAME, EmulatedIP
    from ..training.ownmodel import load_own_student
    from ..hls.wrapper import build_emulation
    from ..metrics import accuracy_ci
    from ..stream import encode_logits, pack_pulses

    _, model, _ = load_own_student(args.student, args.input)
    test = load(args.test, progress=False) if args.test else load_split().test
    if len(test.X) == 0:
        raise ValueError(f"{args.test}: no test windows in it: give a window CSV with at least one row")
    prj = artifacts.hls_bench("prj")
    t0 = time.perf_counter()
    hls_model = conv.convert(model, output_dir=prj, board=args.board, input=args.input)
    compile_s = time.perf_counter() - t0
    agree = conv.agreement(model, hls_model, test.X)
    emu = EmulatedIP(build_emulation(prj, artifacts.hls_bench("emu", create=True) / LIB_NAME))
    words = []
    for start in range(0, len(test.X), CFG.max_batch):
        chunk = test.X[start:start + CFG.max_batch]
        words.append(emu.run(len(chunk), pack_pulses(chunk))[0])
    equal = bool(np.array_equal(np.concatenate(words), encode_logits(agree["csim_logits"])))
    acc = accuracy_ci(test.y, predicted_classes(agree["csim_logits"]))
    print(json.dumps({
        "n": agree["n"],
        "argmax_agreement": agree["argmax_agreement"],
        "max_abs_logit_diff": agree["max_abs_logit_diff"],
        "max_abs_logit_diff_ip": agree["max_abs_logit_diff_ip"],
        "bit_exact_fraction": agree["bit_exact_fraction"],
        "wrapper_words_equal": equal,
        "compile_s": round(compile_s, 1),
        "accuracy": round(acc["acc"], 5),
        "accuracy_k": acc["k"],
        "accuracy_ci95": [round(v, 5) for v in acc["ci95"]],
        "n_out": int(agree["csim_logits"].shape[1]),
        "exact": conv.is_exact(agree),
        "input": args.input,
    }))
    who = args.student or "the course student"
    warning = near_chance(acc, int(agree["csim_logits"].shape[1]), who, args.test or "the test split", args.input)
    if warning:
        print(warning, file=sys.stderr)
    if not conv.is_exact(agree) and not args.accept_inexact:
        print(f"{who}: the C simulation is not bit-exact with QKeras on every test "
              "window (see the line above); pass --accept-inexact to accept it", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------------------
# labkit bench rtl (stage 04b)
# ------------------------------------------------------------------------------------------

def _stage04_vectors(model, folder=None, input=None):
    """Lab 04's test vectors of this student: raw pulses, their hls4ml C-simulation logits and the
    input transform they were written with (``meta.json``; ``input`` given and different is refused).

    Written by ``labkit hls convert`` (by default the whole test split); refused when they were
    written for another student (QKeras logits more than half a logit LSB apart).
    """
    from ..stream import input_from_metadata, load_test_vectors
    from ..training.contract import qkeras_logits

    vec = load_test_vectors(folder)
    recorded = input_from_metadata(vec.get("meta")) or "course"
    if input is not None and input != recorded:
        raise ValueError(f"--input {input}, but the test vectors were written with the {recorded!r} input "
                         f"transform: write them again with `labkit hls convert --input {input}` or drop --input")
    missing = [k for k in ("csim_logits", "qkeras_logits") if k not in vec]
    if missing:
        raise FileNotFoundError(f"the test vectors lack {', '.join(k + '.npy' for k in missing)}: "
                                "rewrite them with `labkit hls convert`")
    X = vec["inputs"]
    if not np.allclose(qkeras_logits(model, X, input=recorded), vec["qkeras_logits"], rtol=0,
                       atol=CFG.logit_format.lsb / 2):
        raise ValueError("the test vectors were written for another student: run `labkit hls convert` "
                         "with the same --student first")
    return X, vec["csim_logits"], recorded


def _ultrascale_board() -> str:
    """The first board of course.ini on an UltraScale+ part (Yosys family xcup)."""
    return next((k for k, b in CFG.boards.items() if b.yosys_family == "xcup"), CFG.default_board)


def _rtl_variant(model, fold: str, X, csim, board: str, input: str = "course") -> tuple:
    """Build, check (no stalls), run the IP again with random stalls on both streams, and synthesise one core."""
    from ..rtl import build, check, synth
    from ..rtl.sim import simulate_ip
    from ..stream import encode_logits

    t0 = time.perf_counter()
    built = build(model, board=board, fold=fold, input=input)
    res = check(built, model, X, csim_logits=csim)
    stalled_words = simulate_ip(built["ip"], X, gap_percent=25)["words"]
    stalled_equal = bool(np.array_equal(stalled_words, encode_logits(csim)))
    figs = synth(built, board, ip=True)
    us = synth(built, _ultrascale_board(), ip=True)
    c, ipr = figs["core"], figs["ip"]
    row = {"fold": fold, "lut": c["lut"], "ff": c["ff"], "dsp": c["dsp"],
           "ip_lut": ipr["lut"], "ip_ff": ipr["ff"], "ip_dsp": ipr["dsp"],
           "latency_cycles": res["ip_latency_after_last_beat"],
           "beats_per_pulse": round(res["ip_cycles_per_pulse"], 2),
           "rtl_words_equal": bool(res["rtl_words_equal"] and stalled_equal),
           "rtl_words_equal_stalled": stalled_equal,
           "device": c["device"],
           "ultrascale": {"device": us["core"]["device"], "lut": us["core"]["lut"], "ff": us["core"]["ff"],
                          "dsp": us["core"]["dsp"], "ip_lut": us["ip"]["lut"], "ip_ff": us["ip"]["ff"],
                          "ip_dsp": us["ip"]["dsp"]},
           "wall_s": round(time.perf_counter() - t0, 1)}
    return row, built, res, figs


def bench_rtl(argv=None) -> int:
    """``labkit bench rtl``: one JSON line on lab 04's test vectors (``labkit hls convert``: the whole test split).

    The top-level keys describe the core the course builds (course.ini [rtl] fold); ``variants`` holds
    one row per core (parallel and folded) on the same student: Yosys LUT/FF/DSP of the core and of
    the whole AXI IP on the board's part and on an UltraScale+ part, clock edges from a pulse's last
    input beat to its first logit, sustained beats per pulse, and bit-exactness with and without stalls.
    """
    p = argparse.ArgumentParser(prog="labkit bench rtl", description="RTL twin: bit-exactness, latency, resources")
    p.add_argument("--student", default=None, help="student .h5, the course's or your own, prepared as `labkit "
                   "hls convert --student` does (default artifacts/student/student.h5)")
    p.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    p.add_argument("--vectors", default=None, help="test-vector folder with the C simulation's logits "
                                                   "(default artifacts/hls/vectors, written by `labkit hls convert`)")
    p.add_argument("--input", choices=INPUTS, default=None, help="default: the one the test vectors' meta.json "
                   "records; " + INPUT_HELP)
    args = p.parse_args(argv)
    from ..rtl import FOLDS, synth, tools
    reason = tools.missing("da4ml", "verilator", "iverilog", "yosys", "g++")
    if reason:
        print(json.dumps({"skipped": reason}))
        return 1
    from ..training.ownmodel import load_own_student

    t0 = time.perf_counter()
    _, model, _ = load_own_student(args.student, args.input or "course")
    X, csim, input = _stage04_vectors(model, args.vectors, args.input)
    course_fold = CFG.rtl.fold
    variants, main = [], None
    for fold in (course_fold,) + tuple(f for f in FOLDS if f != course_fold):
        row, built, res, figs = _rtl_variant(model, fold, X, csim, args.board, input)
        variants.append(row)
        if fold == course_fold:
            main = (built, res, figs)
    built, res, figs = main
    c, ipr = figs["core"], figs["ip"]
    # lut_pct_xc7z020: the share of the course's reference device (the board in course.ini with that part)
    ref = next(k for k, b in CFG.boards.items() if b.part.startswith("xc7z020"))
    xc7 = figs["core"] if CFG.board(args.board).part == CFG.board(ref).part else synth(built, ref, ip=False)["core"]
    core = built["core"]
    stages = core.rest_latency - 1 if course_fold == "stream" else core.stages
    print(json.dumps({
        "n": res["n"], "rtl_words_equal": res["rtl_words_equal"], "latency_cycles": res["latency_cycles"],
        "ii": res["ii"], "lut": c["lut"], "ff": c["ff"], "dsp": c["dsp"], "lut_pct_xc7z020": xc7["lut_pct"],
        "wall_s": round(time.perf_counter() - t0, 1),
        "carry": c["carry"], "clock_mhz": core.clock_mhz, "latency_ns": res["latency_ns"], "stages": stages,
        "verilator_equal_qkeras": res.get("verilator_equal_qkeras"),
        "iverilog_core_equal_qkeras": res["iverilog_core_equal_qkeras"], "csim_equal_qkeras": res.get("csim_equal_qkeras"),
        "tlast_ok": res["tlast_ok"], "protocol_errors": len(res["protocol_errors"]),
        "ip_lut": ipr["lut"], "ip_ff": ipr["ff"], "ip_dsp": ipr["dsp"], "ip_cycles_per_pulse": round(res["ip_cycles_per_pulse"], 2),
        "nonzero": core.nonzero, "board": args.board, "yosys_family": c["family"],
        "verilator_s": built["timings"].get("verilator_s"), "yosys_s": c["yosys_s"],
        "fold": course_fold, "variants": variants, "input": input, "n_out": core.n_out,
    }))
    return 0


# ------------------------------------------------------------------------------------------
# labkit bench board (stage 06)
# ------------------------------------------------------------------------------------------

def load_vectors(folder=None) -> dict:
    """Test vectors written by stage 04 (``labkit.hls.ipsim.load_test_vectors``)."""
    from ..hls.ipsim import load_test_vectors

    return load_test_vectors(folder)


def _cli_number(check, what: str):
    """An argparse ``type`` that parses a number and refuses it with ``check``'s one sentence."""
    def parse(text: str):
        try:
            from ..board.regs import whole_number
            value = int(text) if check is whole_number else float(text)
        except ValueError:
            value = text
        try:
            return check(value, what)
        except ValueError as err:       # argparse already says "argument --x:"
            raise argparse.ArgumentTypeError(str(err).removeprefix(what).strip()) from None
    parse.__name__ = what
    return parse


BENCH_BATCH = 256      # default pulses per transfer of `labkit bench board` (fewer when the DMA holds fewer)


def bench_board(argv=None) -> int:
    """``labkit bench board``: one JSON line over the full test vectors."""
    ap = argparse.ArgumentParser(prog="labkit bench board",
                                 description="stream the test vectors through the IP (board or emulated)")
    from ..board.regs import positive_seconds, whole_number
    ap.add_argument("--batch-size", type=_cli_number(whole_number, "--batch-size"), default=None,
                    help=f"pulses per DMA transfer, 1 ... what the DMA holds (default {BENCH_BATCH}, "
                         "or fewer when the DMA's length register holds fewer)")
    ap.add_argument("--vectors", default=None, help="test-vector folder (default artifacts/hls/vectors)")
    ap.add_argument("--bitfile", default=None, help=f"overlay .bit on a board (default: search {CFG.overlay_name}.bit)")
    ap.add_argument("--timeout", type=_cli_number(positive_seconds, "--timeout"), default=5.0,
                    help="seconds before a DMA transfer is declared stuck (finite, > 0)")
    ap.add_argument("--input", choices=INPUTS, default=None, help="the IP's input transform (default: the one the "
                    "test vectors' meta.json records, else course); " + INPUT_HELP)
    args = ap.parse_args(argv)
    from ..board import Classifier, Overlay, input_from_metadata, n_out_from_metadata
    from ..metrics import accuracy_ci
    vec = load_vectors(args.vectors)
    recorded = input_from_metadata(vec.get("meta"))
    if args.input and recorded and args.input != recorded:
        print(f"labkit bench board: --input {args.input}, but the test vectors were written for an IP with the "
              f"{recorded!r} input stage (their meta.json): drop --input or write the vectors again with "
              f"labkit hls convert --input {args.input}", file=sys.stderr)
        return 2
    overlay = Overlay(args.bitfile)
    clf = Classifier(overlay, timeout_s=args.timeout, n_out=n_out_from_metadata(vec.get("meta")),
                     input=args.input or recorded)
    batch_size = (min(BENCH_BATCH, clf.max_batch) if args.batch_size is None
                  else clf.check_batch_size(args.batch_size, "--batch-size"))
    t0 = time.perf_counter()
    run = clf.classify(vec["inputs"], batch_size=batch_size)
    wall = time.perf_counter() - t0
    expected = np.asarray(vec["expected_words"], dtype=np.uint32)
    line = {"n": run.n,
            "words_equal_to_csim": bool(run.words.shape == expected.shape and np.array_equal(run.words, expected)),
            "accuracy": run.accuracy(vec["labels"]) if "labels" in vec else None,
            "accuracy_ci95": (accuracy_ci(vec["labels"], run.predictions)["ci95"] if "labels" in vec else None),
            "inferences_per_s": round(run.inferences_per_s, 1),
            "mode": run.mode, "batch_size": run.batch_size, "wall_s": round(wall, 4), "input": clf.input}
    print(json.dumps(line))
    return 0 if line["words_equal_to_csim"] else 1
