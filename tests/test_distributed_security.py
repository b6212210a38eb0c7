"""``labkit tune``'s distributed search against a hostile or careless neighbour (red team, issue 31).

Each test starts the real processes (``python -m labkit tune ...``) on tiny data (fast mode, 200
pulses per class, 1 epoch per trial) and asserts on what a user sees:

* the chief serves only callers that send the search's secret (``LABKIT_TUNE_TOKEN``): a rogue
  client's CreateTrial / EndTrial are refused (UNAUTHENTICATED) and never become trials, and the
  search ends as if it had not been there; a chief without a secret refuses to start;
* a second chief on a port in use (gRPC's SO_REUSEPORT would let it share the port) is refused;
* the chief and workers end with their launcher (SIGTERM or SIGKILL), and a worker whose chief
  disappeared, or that finds none, exits with one sentence naming the address;
* a ``labkit tune`` search interrupted by Ctrl-C is resumed by the labs' one-process search (its
  finished trials kept), never silently replaced.
"""
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc", reason="keras-tuner's distributed mode needs grpcio, which is not installed here")
psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--max-rows", "200"]
TOKEN = "a-test-secret-of-32-characters!!"
DONE = re.compile(r"^trial (\d+) done by ")


def _env(artifacts: Path, **extra) -> dict:
    env = dict(os.environ, LABKIT_FAST="1", LABKIT_ARTIFACTS=str(artifacts), PYTHONHASHSEED="0",
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for k in ("LABKIT_DEBUG", "LABKIT_TUNE_TOKEN", "LABKIT_TUNE_TIMEOUT", "LABKIT_TUNE_LAUNCHER",
              "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _role(port: int, tuner_id: str, **extra) -> dict:
    """Environment of a hand-run chief or worker on 127.0.0.1:port."""
    return dict(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port, **extra)


def _run(artifacts: Path, *args, timeout=120, **extra):
    return subprocess.run([sys.executable, "-m", "labkit", "tune", *map(str, args)], env=_env(artifacts, **extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


class Proc:
    """A ``labkit tune`` process in the background whose stdout lines can be awaited."""

    def __init__(self, artifacts: Path, *args, **extra):
        artifacts.mkdir(parents=True, exist_ok=True)
        self.err_path = artifacts / f"proc{len(list(artifacts.glob('proc*.err')))}.err"
        with open(self.err_path, "w") as err:
            # Ctrl-C must reach it even where this test runs as a background job (a shell without job
            # control starts those with SIGINT ignored, and the ignore is inherited): default SIGINT
            self.p = subprocess.Popen([sys.executable, "-m", "labkit", "tune", *map(str, args)],
                                      env=_env(artifacts, **extra), cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=err, text=True,
                                      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: queue.Queue = queue.Queue()
        self.out: list = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def rest(self) -> str:
        """All of stdout, once the process has ended."""
        self.reader.join(timeout=30)
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return "\n".join(self.out)

    def wait_for(self, pattern, timeout=180) -> str:
        end = time.time() + timeout
        while time.time() < end:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.p.poll() is not None and self.lines.empty():
                    break
                continue
            self.out.append(line)
            if re.search(pattern, line):
                return line
        pytest.fail(f"no line matching {pattern!r} within {timeout} s (exit {self.p.poll()}): "
                    f"{self.out[-5:]} {self.stderr[-2000:]}")

    def descendants(self) -> list:
        found = psutil.Process(self.p.pid).children(recursive=True)
        self.seen = getattr(self, "seen", []) + found
        return found

    def kill_all(self):
        """Test cleanup: the process and whatever it left running (also re-parented ones seen before)."""
        try:
            left = self.descendants()
        except psutil.NoSuchProcess:
            left = []
        for q in [self.p, *left, *getattr(self, "seen", [])]:
            try:
                q.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        self.p.wait(timeout=30)


def _gone(procs, timeout=20) -> list:
    """The processes of ``procs`` still running after ``timeout`` seconds (zombies count as gone)."""
    end = time.time() + timeout
    while True:
        alive = []
        for q in procs:
            try:
                if q.is_running() and q.status() != psutil.STATUS_ZOMBIE:
                    alive.append(q)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.time() > end:
            return alive
        time.sleep(0.25)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_sentence(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.strip().splitlines() if ln.startswith("labkit tune:")]
    assert len(lines) == 1, stderr
    return lines[0]


def _trials(artifacts: Path, stage="teacher") -> dict:
    return {t["trial_id"]: t for t in (json.loads(p.read_text())
                                       for p in (artifacts / "tuning" / stage).glob("trial_*/trial.json"))}


def _stub(port: int):
    from keras_tuner.src import protos
    return protos.get_service_grpc().OracleStub(grpc.insecure_channel(f"127.0.0.1:{port}")), protos.get_service()


# ------------------------------------------------------------------------------------------
# 1. the secret
# ------------------------------------------------------------------------------------------

def test_a_rogue_client_is_refused_and_the_search_ends_without_it(tmp_path):
    """The red team's rogue: CreateTrial without the secret, and EndTrial of a trial with val_loss
    1e-9 with a wrong one, while a launcher's search runs.  Both are refused before they reach the
    oracle; the search records only its own trials and its chief exits (the rogue never signed on)."""
    port = _free_port()
    search = Proc(tmp_path, "teacher", "--workers", "1", "--port", port, "--trials", 2, *TINY)
    try:
        stub, pb = _stub(port)
        with pytest.raises(grpc.RpcError) as no_token:       # waits until the chief serves
            stub.CreateTrial(pb.CreateTrialRequest(tuner_id="rogue"), wait_for_ready=True, timeout=180)
        assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED, no_token.value
        from keras_tuner.src.engine import hyperparameters as hp_module, trial as trial_module
        fake = trial_module.Trial(hp_module.HyperParameters(), trial_id="0", status="COMPLETED")
        fake.metrics.register("val_loss", direction="min")
        fake.metrics.update("val_loss", 1e-9)
        with pytest.raises(grpc.RpcError) as wrong:
            stub.EndTrial(pb.EndTrialRequest(trial=fake.to_proto()), metadata=[("labkit-tune-token", TOKEN)],
                          wait_for_ready=True, timeout=30)
        assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
        search.p.wait(timeout=240)
        stdout = search.rest()
        assert search.p.returncode == 0, search.stderr
    finally:
        search.kill_all()
    assert re.findall(r"^trial \d+ done by (\S+)", stdout, flags=re.M) == ["tuner0", "tuner0"], stdout
    trials = _trials(tmp_path)
    assert sorted(trials) == ["0", "1"]
    assert all(t["score"] is None or t["score"] > 1e-6 for t in trials.values()), trials


def test_a_chief_or_worker_without_the_secret_refuses_to_start(tmp_path):
    port = _free_port()
    chief = _run(tmp_path, "teacher", "--role", "chief", *TINY, timeout=60, **_role(port, "chief"))
    assert chief.returncode == 2
    msg = _one_sentence(chief.stderr)
    assert "LABKIT_TUNE_TOKEN" in msg and "set" in msg, msg
    with socket.socket() as s:                        # nothing was served
        assert s.connect_ex(("127.0.0.1", port)) != 0
    short = _run(tmp_path, "teacher", "--role", "chief", *TINY, timeout=60,
                 **_role(port, "chief", LABKIT_TUNE_TOKEN="short"))
    assert short.returncode == 2 and "at least 16" in _one_sentence(short.stderr)
    worker = _run(tmp_path, "teacher", "--role", "worker", *TINY, timeout=60, **_role(port, "tuner0"))
    assert worker.returncode == 2 and "LABKIT_TUNE_TOKEN" in _one_sentence(worker.stderr)


# ------------------------------------------------------------------------------------------
# 2. a port in use
# ------------------------------------------------------------------------------------------

@pytest.fixture(params=["grpc", "plain"])
def busy_port(request):
    """A port another process listens on: a gRPC server bound as keras-tuner's chief was (with
    SO_REUSEPORT, gRPC's default, which let a second chief share it), or a plain socket."""
    if request.param == "plain":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            yield s.getsockname()[1]
        return
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


def test_a_second_search_on_a_port_in_use_is_refused(tmp_path, busy_port):
    launcher = _run(tmp_path, "teacher", "--workers", "1", "--port", busy_port, "--trials", 2, *TINY, timeout=90)
    assert launcher.returncode == 2, launcher.stderr
    msg = _one_sentence(launcher.stderr)
    assert f"port {busy_port}" in msg and "in use" in msg and "--port" in msg, msg
    assert not (tmp_path / "tuning" / "teacher").exists()              # nothing was started
    chief = _run(tmp_path, "teacher", "--role", "chief", *TINY, timeout=90,
                 **_role(busy_port, "chief", LABKIT_TUNE_TOKEN=TOKEN))
    assert chief.returncode == 2, chief.stderr
    msg = _one_sentence(chief.stderr)
    assert f"port {busy_port}" in msg and "KERASTUNER_ORACLE_PORT" in msg, msg


def test_the_chief_binds_without_so_reuseport(busy_port, monkeypatch):
    """Behind the one-sentence check: gRPC itself refuses to share the port (grpc.so_reuseport = 0)."""
    from labkit.training import distributed
    monkeypatch.setattr(distributed, "_refuse_port_in_use", lambda ip, port: None)
    with pytest.raises(ValueError, match=f"cannot listen on 127.0.0.1:{busy_port}"):
        distributed._bound_server("127.0.0.1", str(busy_port), TOKEN)


# ------------------------------------------------------------------------------------------
# 3. the processes end with their launcher / a worker without its chief
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_chief_and_workers_end_with_their_launcher(tmp_path, sig):
    search = Proc(tmp_path, "teacher", "--workers", "1", "--trials", 30, *TINY)
    try:
        search.wait_for(DONE.pattern)                   # chief and worker are at work
        children = search.descendants()
        assert len(children) >= 2
        search.p.send_signal(sig)
        search.p.wait(timeout=60)
        left = _gone(children)
        assert not left, [q.cmdline() for q in left]
        if sig == signal.SIGTERM:                      # stopped as by Ctrl-C: one sentence, exit 130
            assert search.p.returncode == 130
            assert "interrupted" in _one_sentence(search.stderr)
        else:                                           # each says why in its own log
            log = (tmp_path / "tuning" / "teacher.workers" / "tuner0.log").read_text()
            assert "the launcher" in log and "is gone" in log, log[-500:]
    finally:
        search.kill_all()


def test_a_worker_whose_chief_disappears_exits_with_one_sentence(tmp_path):
    port = _free_port()
    chief = Proc(tmp_path, "teacher", "--role", "chief", "--trials", 30, *TINY,
                 **_role(port, "chief", LABKIT_TUNE_TOKEN=TOKEN))
    worker = None
    try:
        chief.wait_for(r"^chief: serving")
        worker = subprocess.Popen([sys.executable, "-m", "labkit", "tune", "teacher", "--role", "worker", "--trials", "30",
                                   *TINY], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env=_env(tmp_path, **_role(port, "tuner0", LABKIT_TUNE_TOKEN=TOKEN,
                                                             LABKIT_TUNE_TIMEOUT=3)))
        chief.wait_for(DONE.pattern)
        chief.p.kill()
        _, err = worker.communicate(timeout=90)
        assert worker.returncode == 1, err
        msg = _one_sentence(err)
        assert f"127.0.0.1:{port}" in msg and "stopped answering" in msg, msg
    finally:
        chief.kill_all()
        if worker is not None and worker.poll() is None:
            worker.kill()


# ------------------------------------------------------------------------------------------
# 4. a worker without a chief
# ------------------------------------------------------------------------------------------

def test_a_worker_without_a_chief_says_so_within_its_timeout(tmp_path):
    port = _free_port()
    start = time.time()
    r = _run(tmp_path, "teacher", "--role", "worker", *TINY, timeout=120,
             **_role(port, "tuner0", LABKIT_TUNE_TOKEN=TOKEN, LABKIT_TUNE_TIMEOUT=2))
    assert r.returncode == 2, r.stderr
    msg = _one_sentence(r.stderr)
    assert f"127.0.0.1:{port}" in msg and "within 2 s" in msg and "start the chief" in msg, msg
    assert time.time() - start < 90
    bad = _run(tmp_path, "teacher", "--role", "worker", *TINY, timeout=60,
               **_role(port, "tuner0", LABKIT_TUNE_TOKEN=TOKEN, LABKIT_TUNE_TIMEOUT="soon"))
    assert bad.returncode == 2 and "LABKIT_TUNE_TIMEOUT" in _one_sentence(bad.stderr)


# ------------------------------------------------------------------------------------------
# 5. an interrupted search is resumed by the labs
# ------------------------------------------------------------------------------------------

RESUME = """
import dataclasses, json, sys
from labkit.config import CFG
from labkit.data import load_split
from labkit.training import tuning
training = dataclasses.replace(CFG.training, teacher_trials=int(sys.argv[1]), teacher_epochs=1)
split = load_split("synthetic", max_rows=200, progress=False)
model, hp, history, tuner = tuning.teacher_stage(split, training=training, verbose=0)
print(json.dumps(len(tuner.oracle.trials)))
"""


def test_an_interrupted_search_is_resumed_by_the_labs_not_replaced(tmp_path):
    """`labkit tune teacher` stopped by Ctrl-C after a finished trial; then the labs' search
    (teacher_stage, as lab 02's checkpoints.teacher_model) in the same folder keeps that trial."""
    # 30 trials: the search cannot finish before Ctrl-C reaches it, however loaded the machine is
    search = Proc(tmp_path, "teacher", "--workers", "1", "--trials", 30, *TINY)
    try:
        search.wait_for(DONE.pattern)
        search.p.send_signal(signal.SIGINT)
        search.p.wait(timeout=60)
        assert search.p.returncode == 130
    finally:
        search.kill_all()
    before = {i: t for i, t in _trials(tmp_path).items() if t["status"] in ("COMPLETED", "FAILED")}
    assert before
    trials = len(before) + 2                            # the labs' budget: two more than were finished
    r = subprocess.run([sys.executable, "-c", RESUME, str(trials)], env=_env(tmp_path), cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _trials(tmp_path)
    for i, t in before.items():                         # the finished trials are kept as they were
        assert after[i]["status"] == t["status"] and after[i]["score"] == t["score"], (i, after.get(i))
        assert after[i]["hyperparameters"]["values"] == t["hyperparameters"]["values"]
    assert len(after) == trials == json.loads(r.stdout.strip().splitlines()[-1])
    assert all(t["status"] in ("COMPLETED", "FAILED") for t in after.values())


def test_a_search_folder_without_a_tuner_file_is_refused_or_adopted(tmp_path):
    from labkit.training.tuning import _adopt_search
    folder = tmp_path / "teacher"
    (folder / "trial_0").mkdir(parents=True)
    (folder / "oracle.json").write_text("{}")
    (folder / "trial_0" / "trial.json").write_text(json.dumps({"trial_id": "0", "status": "COMPLETED"}))
    with pytest.raises(ValueError) as refused:                        # finished work, nothing to resume it
        _adopt_search(folder)
    assert str(folder) in str(refused.value) and "overwrite=True" in str(refused.value)
    assert "\n" not in str(refused.value)
    (folder / "chief.json").write_text("{}")                          # labkit tune's chief (interrupted)
    _adopt_search(folder)
    assert (folder / "tuner0.json").read_text() == "{}"
