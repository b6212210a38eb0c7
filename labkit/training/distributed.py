"""``labkit tune teacher|student --workers N``: one search spread over several processes or hosts.

It uses keras-tuner's own distributed mode: one *chief* process holds the oracle (the Bayesian
optimiser and the trial records) and serves it over gRPC; each *worker* asks it for a trial, trains
it and reports the result, until the chief answers that the budget is spent.  Every process reads
three environment variables: ``KERASTUNER_TUNER_ID`` (``chief``, or ``tuner0``, ``tuner1``, ... one
per worker), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (where the chief listens).

On one machine ``labkit tune teacher --workers 2`` starts the chief and two workers itself (a free
port on 127.0.0.1 unless ``--port``), prints one line per finished trial, and exits non-zero with
one sentence if a process fails; Ctrl-C stops them all.  The trials are recorded under
``artifacts/tuning/<teacher|student>`` exactly as by the labs' own search (same project, seed and
budget from ``course.ini``), so lab 02 / 03 (or ``teacher_stage``) afterwards resumes the finished
search and only trains the final model.  The student search needs the teacher
(``artifacts/teacher/teacher.h5``, lab 02) on every host.

Several hosts (a lab's PCs, a cluster): the same checkout and artifacts (data, and the teacher for
the student search) on each; pick a host for the chief and a port open between the hosts::

    # on the chief host (say pc0); 0.0.0.0 = listen on every interface
    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=0.0.0.0 KERASTUNER_ORACLE_PORT=8470 \\
        labkit tune teacher --role chief
    # on each worker host, a different id per worker
    KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=pc0 KERASTUNER_ORACLE_PORT=8470 \\
        labkit tune teacher --role worker

The chief exits when the budget is spent and every worker has been told so; the trial records
(and so the result) are on the chief host.  The traffic is unencrypted gRPC: use it only inside a
trusted network.  On a cluster, start the chief as one job and the workers as an array job with
``KERASTUNER_TUNER_ID=tuner$INDEX``.

The student search (lab 03's: depth, widths, bits and first-layer sparsity searched) keeps the
finalized student of every trial beside the chief's record (``artifacts/tuning/student/trial_<id>/
student.h5``, so on several hosts only if they share that folder), and ``--select
accuracy|budget|pareto`` (with ``--lut-budget`` / ``--latency-budget``) prints the trial that mode
chooses (:func:`labkit.training.selection.select`); lab 03 then hands on course.ini's choice.

What is reproducible: the chief declares the whole search space before the first trial, so the
seeded oracle proposes its first ``bo_initial_points`` trials (course.ini [training]) as one fixed
random sequence for any number of workers, whichever worker asks first.  Later
(Gaussian-process) proposals depend on which results have arrived, so with several workers they may
differ from run to run (keras-tuner's own behaviour); a trial's score also depends on the worker's
random state (the trials it ran before).  The labs' one-process search grows its space as trials
end, so its proposals differ from a ``labkit tune`` search with the same seed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from .. import artifacts
from ..config import CFG, SELECTION_MODES

STAGES = ("teacher", "student")
ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
#: prefix of the chief's line per finished trial (the launcher prints these)
TRIAL_LINE = "trial "


class TuneError(RuntimeError):
    """A process of the distributed search failed (one sentence)."""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="labkit tune", description=(
        "Run the teacher or student search (keras-tuner) with a chief and N worker processes on this "
        "machine. Several hosts: README, 'Searches that outgrow one machine'."))
    ap.add_argument("stage", choices=STAGES, help="which search: teacher (lab 02) or student (lab 03, needs the teacher)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes on this machine (default 2)")
    ap.add_argument("--port", type=int, help="port of the chief on 127.0.0.1 (default: a free one)")
    ap.add_argument("--role", choices=("launcher", "chief", "worker"), default="launcher",
                    help="launcher (default) starts chief + workers here; chief/worker run one process "
                         f"configured by {ENV_ID}, {ENV_IP}, {ENV_PORT} (several hosts)")
    ap.add_argument("--trials", type=int, help="trial budget (default: course.ini's for the stage)")
    ap.add_argument("--epochs", type=int, help="epochs per trial (default: course.ini's for the stage)")
    ap.add_argument("--data", default="synthetic", help="'synthetic' (default), 'zenodo', a folder or a window CSV")
    ap.add_argument("--max-rows", type=int, help="read at most this many pulses per class file (a quick search)")
    ap.add_argument("--fresh", action="store_true", help="start the search over (deletes only its folder)")
    ap.add_argument("--hardware", action="store_true",
                    help="accepted for older scripts: the student search always searches bits and sparsity "
                         "and records each trial's cost (lab 03)")
    ap.add_argument("--select", choices=SELECTION_MODES,
                    help="after the search, print the trial this mode chooses (accuracy | budget | pareto; "
                         "needs the trials' recorded cost: the student search)")
    ap.add_argument("--lut-budget", type=int, help="--select budget: most LUTs (default course.ini [search])")
    ap.add_argument("--latency-budget", type=int, help="--select budget: most cycles (default course.ini [search])")
    return ap


def _project(args) -> str:
    """The search's keras-tuner project under artifacts/tuning: teacher or student (lab 03's)."""
    return args.stage


def _budget(args) -> tuple:
    t = CFG.training
    trials = args.trials if args.trials is not None else getattr(t, f"{args.stage}_trials")
    epochs = args.epochs if args.epochs is not None else getattr(t, f"{args.stage}_epochs")
    return trials, epochs


def _split(args):
    from ..data import load_split
    return load_split(args.data, max_rows=args.max_rows, progress=False)


def _hypermodel(stage: str, split, epochs: int):
    from .models import StudentHyperModel, TeacherHyperModel
    if stage == "teacher":
        return TeacherHyperModel()
    from .checkpoints import teacher_path
    from .modelfile import load_model
    return StudentHyperModel(load_model(teacher_path()), len(split.train), epochs=epochs,
                             batch_size=CFG.training.batch_size)


def _require_teacher(stage: str) -> None:
    from .checkpoints import teacher_path
    if stage == "student" and not teacher_path().exists():
        raise TuneError(f"the student search needs the teacher, and {teacher_path()} does not exist: run lab 02 "
                        f"(or `labkit tune teacher` and then lab 02) first, on every host of the search.")


def _env() -> tuple:
    missing = [v for v in (ENV_ID, ENV_IP, ENV_PORT) if not os.environ.get(v)]
    if missing:
        raise ValueError(f"--role chief/worker needs the environment variables {', '.join(missing)}: set "
                         f"{ENV_ID} (chief, tuner0, tuner1, ...), {ENV_IP} and {ENV_PORT} (see `labkit tune -h`).")
    return os.environ[ENV_ID], os.environ[ENV_IP], os.environ[ENV_PORT]


# ------------------------------------------------------------------------------------------
# chief: serve the oracle until the budget is spent
# ------------------------------------------------------------------------------------------

def _declare_whole_space(tuner) -> None:
    """Put every hyper-parameter into the oracle's space before the first trial.

    The hypermodels declare ``units_<i>`` only for the layers a build uses, and keras-tuner adds them
    to the space when a trial that used them ends.  The seeded random proposals walk the space as it
    is at each proposal, so with several workers (trials start before earlier ones end) they would
    depend on timing.  Building once with every integer at its maximum (the deepest network)
    declares them all up front: the random proposals are then the same sequence for any number of
    workers.  (A one-process search in the labs grows its space as it goes, so its trials differ.)"""
    from keras_tuner.src.engine.hyperparameters import Int
    oracle = tuner.oracle
    while True:
        hp = oracle.get_space()
        size = len(hp.space)
        for p in hp.space:
            if isinstance(p, Int):
                hp.values[p.name] = p.max_value
        tuner.hypermodel.build(hp)
        oracle.update_space(hp)
        if len(oracle.get_space().space) == size:
            return


def _adopt_one_process_search(args) -> None:
    """A search started by a lab (tuner id ``tuner0``) is resumed by the chief, never overwritten.

    keras-tuner reloads a project only when it finds the tuner file of its own id; without
    ``chief.json`` the chief would start over and write its trials over the lab's."""
    project = artifacts.tuning() / _project(args)
    if args.fresh or not (project / "oracle.json").exists() or (project / "chief.json").exists():
        return
    if not (project / "tuner0.json").exists():
        raise ValueError(f"{project} holds a search that keras-tuner cannot resume (no chief.json or tuner0.json): "
                         f"move it away, or pass --fresh to start over (it deletes only that folder).")
    shutil.copyfile(project / "tuner0.json", project / "chief.json")    # both hold no trial data ({})


def _chief(args) -> int:
    tuner_id, ip, port = _env()
    if "chief" not in tuner_id:
        raise ValueError(f"--role chief needs {ENV_ID}=chief (it is {tuner_id!r}).")
    import grpc
    from concurrent import futures
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    from .tuning import _dead_reason_of, ignore_gaussian_process_warnings, make_tuner, seed_everything, trial_table

    trials, epochs = _budget(args)
    _adopt_one_process_search(args)
    seed_everything(CFG.seed)
    split = _split(args)
    tuner = make_tuner(_hypermodel(args.stage, split, epochs), _project(args), trials,
                       overwrite=args.fresh)
    oracle = tuner.oracle
    oracle.verbose = 0
    ignore_gaussian_process_warnings()      # this process only serves the oracle
    _declare_whole_space(tuner)
    tuner.save()

    end_trial = oracle.end_trial

    def end_trial_and_report(trial):       # one line per finished trial (the launcher streams them)
        who = next((k for k, t in oracle.ongoing_trials.items() if t.trial_id == trial.trial_id), "?")
        end_trial(trial)
        t = oracle.trials[trial.trial_id]
        done = sum(1 for x in oracle.trials.values() if x.status in ("COMPLETED", "FAILED", "INVALID"))
        best = oracle.get_best_trials(1)
        reason = _dead_reason_of(t)
        score = (f"{oracle.objective.name}={t.score:.5f}" if t.score is not None
                 else f"dead ({reason}), recorded as failed and never selected" if reason else t.status)
        best_s = f"{best[0].score:.5f}" if best and best[0].score is not None else "-"
        print(f"{TRIAL_LINE}{t.trial_id} done by {who} ({done}/{oracle.max_trials}): {score}; best so far {best_s}; "
              f"{', '.join(f'{k}={v}' for k, v in t.hyperparameters.values.items())}", flush=True)

    oracle.end_trial = end_trial_and_report

    # keras-tuner's own servicer; the loop below is oracle_chief.start_server's, polling every
    # 0.2 s instead of 20 s so that the chief exits as soon as the last worker is done
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{ip}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise TuneError(f"the chief cannot listen on {ip}:{port} (in use, or not an address of this host): "
                        f"choose another port ({ENV_PORT} or --port) or address ({ENV_IP}).")
    server.start()
    print(f"chief: serving the {args.stage} search ({trials} trials, {epochs} epochs) on {ip}:{port}", flush=True)
    try:
        while not (servicer.stop_triggered and exit_chief(oracle)):
            time.sleep(0.2)
    finally:
        server.stop(grace=2)
    # keras-tuner saves oracle.json in end_trial *before* it drops the trial from the ongoing ones,
    # and only a worker-side save follows; without this save a resumed search would rerun the last trial
    oracle.save()
    # a one-process search (tuner id tuner0: the labs) reloads this project only if it finds its own
    # tuner file; the tuner file holds no trial data (those are oracle.json + trial_*/trial.json)
    mine = Path(tuner._get_tuner_fname())                       # <project>/chief.json
    theirs = mine.with_name("tuner0.json")
    if mine.exists() and not theirs.exists():
        shutil.copyfile(mine, theirs)
    print(trial_table(tuner), flush=True)
    if args.select:
        _print_selection(tuner, args)
    return 0


def _print_selection(tuner, args) -> None:
    """One line: the trial ``--select`` chooses (labkit.training.selection.select) and where its student is."""
    from . import selection as search
    pts = search.points(tuner)
    if not pts:
        raise ValueError(f"--select {args.select} needs trials with their hardware cost recorded, and this "
                         f"{args.stage} search has none: use it with the student search")
    split = _split(args)
    p = search.select(pts, args.select, lut_budget=args.lut_budget, latency_budget=args.latency_budget,
                      y_val=split.val.y, floor=search.cut_floor(split))
    print(f"chosen: trial {p['trial_id']} ({p['val_k']}/{p['val_n']} validation, {p['lut_estimate']} LUTs estimated, "
          f"{p['latency_cycles']} cycles, {p['weight_bits']}-bit weights), {p['selected_by']}; its student: "
          f"{p['path'] or 'not kept (the workers ran on other hosts)'}", flush=True)


# ------------------------------------------------------------------------------------------
# worker: run trials proposed by the chief
# ------------------------------------------------------------------------------------------

def _worker_dir(stage: str, tuner_id: str) -> Path:
    """A worker's own scratch folder (its checkpoints of each trial); the records are the chief's."""
    return artifacts.tuning() / f"{stage}.workers" / tuner_id


def _worker(args) -> int:
    tuner_id, _, _ = _env()
    if "chief" in tuner_id:
        raise ValueError(f"--role worker needs {ENV_ID}=tuner0, tuner1, ... (it is {tuner_id!r}).")
    import keras_tuner as kt
    from keras_tuner.src import config as kt_config

    from .tuning import early_stopping, save_trial_student, seed_everything, xy

    trials, epochs = _budget(args)
    seed_everything(CFG.seed)
    split = _split(args)
    hm = _hypermodel(args.stage, split, epochs)
    kt_config.DEBUG = False     # a dead network is an expected FAILED trial, not a traceback
    directory = _worker_dir(_project(args), tuner_id)
    shutil.rmtree(directory, ignore_errors=True)
    project = artifacts.tuning() / _project(args)

    class Worker(kt.BayesianOptimization):
        def on_trial_end(self, trial):
            # the trained student goes beside the chief's record of the trial (same host or shared
            # folder), where labkit.training.selection.points and kept_trial look for it
            chief_trial = project / f"trial_{trial.trial_id}"
            save_trial_student(self, trial, chief_trial)
            super().on_trial_end(trial)
            if trial.status == "COMPLETED":   # the trial's best-epoch weights too (tuning.kept_teacher)
                chief_trial.mkdir(parents=True, exist_ok=True)
                for f in Path(self.get_trial_dir(trial.trial_id)).glob("checkpoint*"):
                    shutil.copy2(f, chief_trial / f.name)

    tuner = Worker(hm, objective=kt.Objective(hm.objective, "min"), max_trials=trials,
                   seed=CFG.seed, num_initial_points=CFG.training.bo_initial_points,
                   directory=str(directory.parent), project_name=directory.name,
                   overwrite=True, max_consecutive_failed_trials=trials)
    x, y = xy(split.train)
    try:
        tuner.search(x, y, validation_data=xy(split.val), epochs=epochs, batch_size=CFG.training.batch_size,
                     callbacks=[early_stopping(hm, CFG.training.early_stopping_patience)], verbose=0)
    except Exception as err:  # noqa: BLE001 -- the chief's refusal arrives as a gRPC error
        if "consecutive failures" not in str(err):
            raise
        raise TuneError(f"the chief stopped the search: {trials} trials in a row failed (dead networks, see "
                        f"`labkit tune {args.stage}` output); train longer (--epochs, now {epochs}) or on more "
                        "pulses.") from None
    return 0


# ------------------------------------------------------------------------------------------
# launcher: chief + N workers on this machine
# ------------------------------------------------------------------------------------------

def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _stop(procs: dict) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + 10
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch(args) -> int:
    try:
        import grpc  # noqa: F401
    except ImportError:
        raise TuneError("keras-tuner's distributed mode needs the Python package grpcio, which is not installed "
                        "here: run `make setup` (or `pip install grpcio`).") from None
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1 (it is {args.workers}).")
    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535 (it is {args.port}).")
    _require_teacher(args.stage)
    _split(args)                 # writes the synthetic set / the windows cache once, before the children read it
    ip, port = "127.0.0.1", args.port or free_port()
    logs = artifacts.tuning() / f"{_project(args)}.workers"
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "labkit", "tune", args.stage]
    for flag, value in (("--trials", args.trials), ("--epochs", args.epochs), ("--data", args.data),
                        ("--max-rows", args.max_rows), ("--select", args.select), ("--lut-budget", args.lut_budget),
                        ("--latency-budget", args.latency_budget)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.hardware:
        cmd.append("--hardware")
    # the children get their own session: Ctrl-C reaches only this launcher, which stops them all
    # (otherwise a child's exit on SIGINT could be reported as a failure)
    base = dict(os.environ, **{ENV_IP: ip, ENV_PORT: str(port)})
    procs: dict = {}
    files = []
    try:
        chief_log = logs / "chief.log"
        f = open(chief_log, "w")
        files.append(f)
        procs["chief"] = subprocess.Popen(cmd + ["--role", "chief"] + (["--fresh"] if args.fresh else []),
                                          env=dict(base, **{ENV_ID: "chief"}), stdout=subprocess.PIPE,
                                          stderr=f, text=True, start_new_session=True)

        def stream():      # the chief's stdout: trial lines and the final table, printed as they come
            for line in procs["chief"].stdout:
                print(line.rstrip("\n"), flush=True)
        reader = threading.Thread(target=stream, daemon=True)
        reader.start()
        for k in range(args.workers):
            wid = f"tuner{k}"
            f = open(logs / f"{wid}.log", "w")
            files.append(f)
            procs[wid] = subprocess.Popen(cmd + ["--role", "worker"], env=dict(base, **{ENV_ID: wid}),
                                          stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            for name, p in procs.items():
                rc = p.poll()
                if rc not in (None, 0):
                    log = chief_log if name == "chief" else logs / f"{name}.log"
                    raise TuneError(f"the {args.stage} search stopped: {name} failed (exit {rc}): "
                                    f"{_last_line(log) or 'no output'} (full output in {log}).")
            if all(p.poll() == 0 for p in procs.values()):
                break
            time.sleep(0.2)
        reader.join(timeout=5)
    finally:
        _stop(procs)
        for f in files:
            f.close()
    print(f"the {args.stage} search is recorded in {artifacts.tuning() / _project(args)}: lab "
          f"{'02' if args.stage == 'teacher' else '03'} resumes it"
          + (" and hands on the chosen trial's student." if args.stage == "student" else "."))
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials must be at least 1 (it is {args.trials}).")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1 (it is {args.epochs}).")
    if args.hardware and args.stage != "student":
        raise ValueError("--hardware is a student search (bits and sparsity of the student): use "
                         "`labkit tune student --hardware`.")
    for name in ("lut_budget", "latency_budget"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1 (it is {v}).")
    if args.role == "chief":
        _require_teacher(args.stage)
        return _chief(args)
    if args.role == "worker":
        _require_teacher(args.stage)
        return _worker(args)
    return launch(args)
