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
budget from ``course.ini``), so lab 02 / 03 (or ``teacher_stage``) afterwards resumes the search
(an interrupted one too: its finished trials are kept, only the rest are run) and only trains the
final model.  The student search needs the teacher
(``artifacts/teacher/teacher.h5``, lab 02) on every host.

Several hosts (a lab's PCs, a cluster): the same checkout and artifacts (data, and the teacher for
the student search) on each; pick a host for the chief and a port open between the hosts, and one
secret for the search (``LABKIT_TUNE_TOKEN``, at least 16 characters: the chief refuses every call
without it, and refuses to start without one)::

    # once, anywhere: a random secret for this search; set the same value on every host
    python -c "import secrets; print(secrets.token_urlsafe(24))"
    # on the chief host (say pc0); 0.0.0.0 = listen on every interface
    LABKIT_TUNE_TOKEN=<secret> KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=0.0.0.0 \\
        KERASTUNER_ORACLE_PORT=8470 labkit tune teacher --role chief
    # on each worker host, a different id per worker
    LABKIT_TUNE_TOKEN=<secret> KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=pc0 \\
        KERASTUNER_ORACLE_PORT=8470 labkit tune teacher --role worker

The chief exits when the budget is spent and every worker has been told so; the trial records
(and so the result) are on the chief host.  A worker waits at most ``LABKIT_TUNE_TIMEOUT`` seconds
(default 60) for the chief to answer, at its start and on every later call: start the chief first;
a worker whose chief does not answer (not started, wrong address, or gone) exits with one sentence
naming the address.  A chief refuses a port that another process listens on (a second search given
the same ``--port``).  The traffic is unencrypted gRPC (the secret keeps other callers out, not
eavesdroppers): use it only inside a trusted network.  On a cluster, start the chief as one job and
the workers as an array job with ``KERASTUNER_TUNER_ID=tuner$INDEX``.

The launcher makes a new secret for each run and hands it to its chief and workers in their
environment (never on the command line or in a log).  Its processes end with it: Ctrl-C or SIGTERM
stops them all, and if the launcher is killed outright (SIGKILL) each of them sees its standard
input (a pipe from the launcher) close and exits.

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
import collections
import errno
import hmac
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from .. import artifacts
from ..config import CFG, SELECTION_MODES
from ..stream import int_arg

STAGES = ("teacher", "student")
ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
#: the search's secret (every gRPC call carries it), a worker's wait for the chief (seconds), and
#: the launcher's process id (its chief and workers end when it is gone)
ENV_TOKEN, ENV_TIMEOUT, ENV_LAUNCHER = "LABKIT_TUNE_TOKEN", "LABKIT_TUNE_TIMEOUT", "LABKIT_TUNE_LAUNCHER"
#: gRPC metadata key of the secret (lower case, as gRPC requires)
TOKEN_KEY = "labkit-tune-token"
#: a worker's default wait for its chief (hand runs); the launcher's own workers wait longer, since
#: the launcher itself watches the chief and stops everything if it fails
TIMEOUT, LAUNCHED_TIMEOUT = 60.0, 600.0
#: prefix of the chief's line per finished trial (the launcher prints these)
TRIAL_LINE = "trial "


class TuneError(RuntimeError):
    """A process of the distributed search failed (one sentence)."""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="labkit tune", description=(
        "Run the teacher or student search (keras-tuner) with a chief and N worker processes on this "
        "machine. Several hosts: README, 'Searches that outgrow one machine'."))
    ap.add_argument("stage", choices=STAGES, help="which search: teacher (lab 02) or student (lab 03, needs the teacher)")
    ap.add_argument("--workers", type=int_arg(1), default=2, help="worker processes on this machine (default 2)")
    ap.add_argument("--port", type=int_arg(1, 65535), help="port of the chief on 127.0.0.1 (default: a free one)")
    ap.add_argument("--role", choices=("launcher", "chief", "worker"), default="launcher",
                    help="launcher (default) starts chief + workers here; chief/worker run one process "
                         f"configured by {ENV_ID}, {ENV_IP}, {ENV_PORT} and the search's secret {ENV_TOKEN} "
                         f"(several hosts; a worker waits {ENV_TIMEOUT} seconds, default {TIMEOUT:g}, for the chief)")
    ap.add_argument("--trials", type=int_arg(1), help="trial budget (default: course.ini's for the stage)")
    ap.add_argument("--epochs", type=int_arg(1), help="epochs per trial (default: course.ini's for the stage)")
    ap.add_argument("--data", default="synthetic", help="'synthetic' (default), 'zenodo', a folder or a window CSV")
    ap.add_argument("--max-rows", type=int_arg(1), help="read at most this many pulses per class file (a quick search)")
    ap.add_argument("--fresh", action="store_true", help="start the search over (deletes only its folder)")
    ap.add_argument("--hardware", action="store_true",
                    help="accepted for older scripts: the student search always searches bits and sparsity "
                         "and records each trial's cost (lab 03)")
    ap.add_argument("--select", choices=SELECTION_MODES,
                    help="after the search, print the trial this mode chooses (accuracy | budget | pareto; "
                         "needs the trials' recorded cost: the student search)")
    ap.add_argument("--lut-budget", type=int_arg(1), help="--select budget: most LUTs (default course.ini [search])")
    ap.add_argument("--latency-budget", type=int_arg(1), help="--select budget: most cycles (default course.ini [search])")
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
    port = os.environ[ENV_PORT]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{ENV_PORT} must be a port number between 1 and 65535 (it is {port!r}).")
    return os.environ[ENV_ID], os.environ[ENV_IP], port


# ------------------------------------------------------------------------------------------
# the search's secret, the worker's wait, the launcher's watch
# ------------------------------------------------------------------------------------------

def new_token() -> str:
    """A fresh secret for one search (the launcher makes one per run)."""
    return secrets.token_urlsafe(24)


def _token() -> str:
    """The search's secret from ``LABKIT_TUNE_TOKEN``; without one a chief would serve anybody, so
    --role chief and worker refuse to start.  (16+ printable characters: it travels as gRPC metadata.)"""
    token = os.environ.get(ENV_TOKEN, "")
    hint = (f"set {ENV_TOKEN} to the same random secret on the chief and every worker, e.g. the output of "
            f"`python -c \"import secrets; print(secrets.token_urlsafe(24))\"`")
    if not token:
        raise ValueError(f"--role chief/worker needs the search's secret in {ENV_TOKEN} (the chief refuses every "
                         f"call without it): {hint}.")
    if not re.fullmatch(r"[!-~]{16,}", token):
        raise ValueError(f"{ENV_TOKEN} must be at least 16 printable characters without spaces (it has "
                         f"{len(token)} characters): {hint}.")
    return token


def _timeout() -> float:
    """How long a worker waits for its chief to answer (``LABKIT_TUNE_TIMEOUT`` seconds, default 60)."""
    text = os.environ.get(ENV_TIMEOUT, "") or str(TIMEOUT)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{ENV_TIMEOUT} must be a number of seconds above 0 (it is {text!r}): unset it for "
                         f"the default {TIMEOUT:g}.")
    return value


def _end_with_launcher(role: str) -> None:
    """A chief or worker started by the launcher ends when the launcher does.

    The launcher stops its processes itself on Ctrl-C or SIGTERM; killed outright (SIGKILL) it cannot,
    and its processes (in sessions of their own, so that Ctrl-C reaches only the launcher) would run
    on under PID 1, the chief serving for ever.  So the launcher gives each of them a pipe as standard
    input and writes nothing to it: a daemon thread reads it, and its end (the system closes the
    launcher's side however the launcher ends) ends the process.  ``LABKIT_TUNE_LAUNCHER`` (the
    launcher's process id) says that standard input is such a pipe."""
    launcher = os.environ.get(ENV_LAUNCHER, "")
    if not launcher:
        return

    def watch():
        try:
            while os.read(0, 1024):
                pass
        except OSError:
            pass
        print(f"labkit tune: the launcher (process {launcher}) is gone, so this {role} ({os.environ.get(ENV_ID)}) "
              "stops too; rerun `labkit tune` to resume the search.", file=sys.stderr, flush=True)
        os._exit(1)

    threading.Thread(target=watch, name="labkit-tune-launcher-watch", daemon=True).start()


def _refuse_port_in_use(ip: str, port) -> None:
    """One sentence if ``ip:port`` cannot be listened on, before any search state is touched.

    gRPC binds its servers with SO_REUSEPORT, so a second chief given the same port would share it
    with the first and the two searches would talk to each other.  A plain socket (SO_REUSEADDR only:
    a previous run's connections in TIME_WAIT do not count) cannot bind beside a listening one."""
    host = ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip
    fix = f"choose another port (--port, or {ENV_PORT} with --role chief)"
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise ValueError(f"the chief cannot listen on {ip}:{port}: {host!r} is not a known address of this host; "
                         f"set {ENV_IP} to one of its addresses (0.0.0.0 for all).") from None
    with socket.socket(family, kind, proto) as s:
        if os.name != "nt":         # on Windows SO_REUSEADDR would let it bind beside a listener
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ValueError(f"port {port} on {host} is in use (another search, or another program): "
                                 f"{fix}.") from None
            raise ValueError(f"the chief cannot listen on {ip}:{port} ({err.strerror}): set {ENV_IP} to an address "
                             f"of this host (0.0.0.0 for all), or {fix}.") from None


def _token_check(token: str):
    """A gRPC server interceptor: calls without the search's secret are refused (UNAUTHENTICATED)
    before they reach the oracle, so no other process can create, report or end a trial."""
    import grpc

    def refuse(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, f"this search needs its secret ({ENV_TOKEN}) on every call")

    refused = grpc.unary_unary_rpc_method_handler(refuse)
    expected = token.encode()

    class TokenCheck(grpc.ServerInterceptor):
        def intercept_service(self, continuation, details):
            sent = dict(details.invocation_metadata or ()).get(TOKEN_KEY, "")
            if isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected):
                return continuation(details)
            return refused

    return TokenCheck()


_CallDetails = collections.namedtuple("_CallDetails", "method timeout metadata credentials wait_for_ready compression")


def _token_sender(token: str, timeout: float):
    """A gRPC client interceptor for the worker: every call carries the secret, and waits at most
    ``timeout`` seconds for the chief (keras-tuner's own client waits an hour)."""
    import grpc

    class Details(_CallDetails, grpc.ClientCallDetails):
        pass

    class TokenSender(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            metadata = list(details.metadata or ()) + [(TOKEN_KEY, token)]
            return continuation(Details(details.method, timeout, metadata, details.credentials,
                                        details.wait_for_ready, getattr(details, "compression", None)), request)

    return TokenSender()


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


def _bound_server(ip: str, port: str, token: str):
    """The chief's gRPC server, bound to ``ip:port`` but not started, refusing every call without the
    search's secret (:func:`_token_check`).  Bound first, before the search is loaded, so that a port
    in use is refused at once; without SO_REUSEPORT (gRPC's default on Linux), so that a second chief
    cannot share the port of a running one (:func:`_refuse_port_in_use` says so in one sentence)."""
    import grpc
    from concurrent import futures
    _refuse_port_in_use(ip, port)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[_token_check(token)],
                         options=[("grpc.so_reuseport", 0)])
    try:
        bound = server.add_insecure_port(f"{ip}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise ValueError(f"the chief cannot listen on {ip}:{port} (in use, or not an address of this host): "
                         f"choose another port (--port, or {ENV_PORT} with --role chief) or address ({ENV_IP}).")
    return server


def _chief(args) -> int:
    tuner_id, ip, port = _env()
    if "chief" not in tuner_id:
        raise ValueError(f"--role chief needs {ENV_ID}=chief (it is {tuner_id!r}).")
    server = _bound_server(ip, port, _token())
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

    # keras-tuner's own servicer, behind the secret; the loop below is oracle_chief.start_server's,
    # polling every 0.2 s instead of 20 s so that the chief exits as soon as the last worker is done
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
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


def _chief_stub(stage: str, ip: str, port: str, token: str, timeout: float):
    """The worker's line to its chief: every call carries the search's secret and waits at most
    ``timeout`` seconds (:func:`_token_sender`).  Tried once now, so that a worker without a chief
    (not started, wrong address) says so instead of waiting for ever."""
    import grpc
    from keras_tuner.src import protos
    channel = grpc.intercept_channel(grpc.insecure_channel(f"{ip}:{port}"), _token_sender(token, timeout))
    stub = protos.get_service_grpc().OracleStub(channel)
    try:
        stub.GetSpace(protos.get_service().GetSpaceRequest(), wait_for_ready=True)
    except grpc.RpcError as err:
        raise _chief_error(err, stage, ip, port, timeout, started=False) from None
    return stub


def _chief_error(err, stage: str, ip: str, port: str, timeout: float, *, started: bool) -> Exception:
    """One sentence for a failed call of a worker to its chief (the error itself if it is none of these)."""
    import grpc
    code = err.code() if isinstance(err, grpc.RpcError) and hasattr(err, "code") else None
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return ValueError(f"the chief at {ip}:{port} refused this worker's secret: set {ENV_TOKEN} to the chief's "
                          "value (the same on every host of the search).")
    if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return err
    if not started:
        return ValueError(f"no chief answers at {ip}:{port} within {timeout:g} s: start the chief first (`labkit tune "
                          f"{stage} --role chief`), check {ENV_IP} and {ENV_PORT}, or wait longer ({ENV_TIMEOUT}).")
    return TuneError(f"the chief at {ip}:{port} stopped answering (it ended, was stopped, or the network failed): "
                     "start it again (it resumes the search from its finished trials), then the workers.")


def _worker(args) -> int:
    tuner_id, ip, port = _env()
    if "chief" in tuner_id:
        raise ValueError(f"--role worker needs {ENV_ID}=tuner0, tuner1, ... (it is {tuner_id!r}).")
    token, timeout = _token(), _timeout()
    import grpc
    import keras_tuner as kt
    from keras_tuner.src import config as kt_config

    from .tuning import early_stopping, save_trial_student, seed_everything, xy

    stub = _chief_stub(args.stage, ip, port, token, timeout)
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
    tuner.oracle.stub = stub        # keras-tuner's OracleClient, through the secret and the timeout
    x, y = xy(split.train)
    try:
        tuner.search(x, y, validation_data=xy(split.val), epochs=epochs, batch_size=CFG.training.batch_size,
                     callbacks=[early_stopping(hm, CFG.training.early_stopping_patience)], verbose=0)
    except Exception as err:  # noqa: BLE001 -- the chief's refusal, or the chief gone, arrive as gRPC errors
        if "consecutive failures" in str(err):
            raise TuneError(f"the chief stopped the search: {trials} trials in a row failed (dead networks, see "
                            f"`labkit tune {args.stage}` output); train longer (--epochs, now {epochs}) or on more "
                            "pulses.") from None
        if not isinstance(err, grpc.RpcError):
            raise
        raise _chief_error(err, args.stage, ip, port, timeout, started=True) from None
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


def _child_failed(stage: str, name: str, rc: int, log: Path) -> Exception:
    """The launcher's one sentence for a chief or worker that exited with ``rc``; a child's own input
    error (exit 2: a port in use, say) stays an input error."""
    text = (f"the {stage} search stopped: {name} failed (exit {rc}): {_last_line(log) or 'no output'} "
            f"(full output in {log}).")
    return ValueError(text) if rc == 2 else TuneError(text)


class _SigtermAsInterrupt:
    """While the launcher runs, SIGTERM stops it as Ctrl-C does (its ``finally`` stops the chief and
    workers); by default SIGTERM would end the launcher alone and leave them running."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._interrupt)
        return self

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


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
    _refuse_port_in_use(ip, port)       # before anything starts: a second search on a port in use
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
    # (otherwise a child's exit on SIGINT could be reported as a failure); they get a new secret for
    # this run, and a pipe from this launcher as standard input, to end with it (_end_with_launcher)
    base = dict(os.environ, **{ENV_IP: ip, ENV_PORT: str(port), ENV_TOKEN: new_token(), ENV_LAUNCHER: str(os.getpid())})
    base.setdefault(ENV_TIMEOUT, str(LAUNCHED_TIMEOUT))
    procs: dict = {}
    files = []
    with _SigtermAsInterrupt():
        _run(args, cmd, base, logs, procs, files)
    print(f"the {args.stage} search is recorded in {artifacts.tuning() / _project(args)}: lab "
          f"{'02' if args.stage == 'teacher' else '03'} resumes it"
          + (" and hands on the chosen trial's student." if args.stage == "student" else "."))
    return 0


def _run(args, cmd: list, base: dict, logs: Path, procs: dict, files: list) -> None:
    """Start the chief and the workers, stream the chief's lines, and wait until all have exited 0;
    the first failure stops them all with one sentence.  Whatever ends this (a failure, Ctrl-C,
    SIGTERM), the chief and workers are stopped."""
    try:
        chief_log = logs / "chief.log"
        f = open(chief_log, "w")
        files.append(f)
        procs["chief"] = subprocess.Popen(cmd + ["--role", "chief"] + (["--fresh"] if args.fresh else []),
                                          env=dict(base, **{ENV_ID: "chief"}), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=f, text=True, start_new_session=True)

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
                                          stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        while True:
            for name, p in procs.items():
                rc = p.poll()
                if rc not in (None, 0):
                    raise _child_failed(args.stage, name, rc, chief_log if name == "chief" else logs / f"{name}.log")
            if all(p.poll() == 0 for p in procs.values()):
                break
            time.sleep(0.2)
        reader.join(timeout=5)
    finally:
        _stop(procs)
        for f in files:
            f.close()


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
    if args.role in ("chief", "worker"):
        _end_with_launcher(args.role)
        _require_teacher(args.stage)
        return _chief(args) if args.role == "chief" else _worker(args)
    return launch(args)
