"""``labkit tune teacher --workers N``: keras-tuner's chief + workers over gRPC on loopback (fast mode).

What is asserted, and why: the teacher space has 3+ hyper-parameters, so the seeded
BayesianOptimization oracle proposes its first ``num_initial_points`` = 3 x that (>= 9) trials as a
fixed random sequence, drawn on the chief in the order trials are created; with a budget of 4 trials
every trial is such a point.  So the *set* of trials (their hyper-parameter values) must be the
same with 2 workers as with 1, whichever worker asks first (which trial id gets which worker is not
fixed).  The scores are not compared: a worker's TensorFlow random state at a trial's start depends
on the trials it ran before.  Later (Gaussian-process) proposals depend on which results have
arrived, so beyond the initial points a concurrent search may differ from a one-worker one.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("grpc", reason="keras-tuner's distributed mode needs grpcio, which is not installed here")

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 4
ARGS = ["--trials", str(TRIALS), "--epochs", "1", "--max-rows", "200"]


def _tune(artifacts: Path, *args, timeout=180):
    env = dict(os.environ, LABKIT_FAST="1", LABKIT_ARTIFACTS=str(artifacts), PYTHONHASHSEED="0",
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "labkit", "tune", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _trials(artifacts: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted((artifacts / "tuning" / "teacher").glob("trial_*/trial.json"))]


def _finished_lines(stdout: str) -> list:
    return re.findall(r"^trial (\d+) done by (tuner\d+) \(\d+/\d+\)", stdout, flags=re.M)


def test_two_workers_run_each_trial_once_and_the_same_trials_as_one(tmp_path):
    two = _tune(tmp_path / "two", "teacher", "--workers", "2", *ARGS)
    assert two.returncode == 0, two.stderr
    lines = _finished_lines(two.stdout)
    ids = [i for i, _ in lines]
    assert sorted(ids) == [str(k) for k in range(TRIALS)], two.stdout      # each trial finished exactly once
    assert {w for _, w in lines} <= {"tuner0", "tuner1"}
    trials = _trials(tmp_path / "two")
    assert len(trials) == TRIALS and len({t["trial_id"] for t in trials}) == TRIALS
    assert all(t["status"] in ("COMPLETED", "FAILED") for t in trials)
    assert "lab 02 resumes it" in two.stdout

    one = _tune(tmp_path / "one", "teacher", "--workers", "1", *ARGS)
    assert one.returncode == 0, one.stderr
    assert sorted(i for i, _ in _finished_lines(one.stdout)) == [str(k) for k in range(TRIALS)]

    def values(ts):
        return sorted(json.dumps(t["hyperparameters"]["values"], sort_keys=True) for t in ts)
    assert values(trials) == values(_trials(tmp_path / "one"))
    assert len(set(values(trials))) == TRIALS                                # no point proposed twice


def test_a_failing_process_stops_the_search_with_one_sentence(tmp_path):
    """The chief refuses a search folder it cannot resume (exit 2, an input error): the launcher stops
    the worker and passes the chief's sentence on, still an input error.  (A port in use is refused
    by the launcher itself before anything starts: tests/test_distributed_security.py.)"""
    project = tmp_path / "tuning" / "teacher"
    project.mkdir(parents=True)
    (project / "oracle.json").write_text("{}")      # no chief.json / tuner0.json to resume it from
    r = _tune(tmp_path, "teacher", "--workers", "1", *ARGS)
    assert r.returncode == 2
    msg = r.stderr.strip()
    assert "\n" not in msg and "Traceback" not in msg
    assert "chief failed (exit 2)" in msg and "cannot resume" in msg and "--fresh" in msg, msg


def test_the_student_search_names_the_missing_teacher(tmp_path):
    r = _tune(tmp_path, "student", "--workers", "2")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "needs the teacher" in r.stderr and "run lab 02" in r.stderr, r.stderr


def test_hardware_aware_student_search_on_two_workers_keeps_students_and_selects(tmp_path):
    """`labkit tune student --select pareto` (lab 03's search: bits and sparsity searched, each trial's
    cost recorded; `--hardware` is still accepted): the workers keep each trial's student and its
    validation predictions beside the chief's record, and the chief prints the trial the mode chooses."""
    pytest.importorskip("da4ml")
    env = dict(os.environ, LABKIT_FAST="1", LABKIT_ARTIFACTS=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    make_teacher = ("import tensorflow as tf\nfrom labkit.config import CFG\nfrom labkit.training import checkpoints, modelfile\n"
                    "tf.keras.utils.set_random_seed(0)\ninp = tf.keras.Input((CFG.n_samples,))\n"
                    "m = tf.keras.Model(inp, tf.keras.layers.Dense(CFG.n_classes)(tf.keras.layers.Dense(8, activation='relu')(inp)))\n"
                    "modelfile.save_model(m, checkpoints.teacher_path())\n")
    subprocess.run([sys.executable, "-c", make_teacher], env=env, cwd=ROOT, check=True, capture_output=True)
    r = _tune(tmp_path, "student", "--hardware", "--workers", "2", "--trials", "2", "--epochs", "8",
              "--max-rows", "300", "--select", "pareto", timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(i for i, _ in _finished_lines(r.stdout)) == ["0", "1"], r.stdout
    chosen = re.search(r"^chosen: trial (\d+) .*pareto: .*its student: (\S+)$", r.stdout, flags=re.M)
    assert chosen, r.stdout
    assert Path(chosen.group(2)).is_file()
    assert Path(chosen.group(2)).parent == tmp_path / "tuning" / "student" / f"trial_{chosen.group(1)}"
    assert (Path(chosen.group(2)).parent / "history.json").is_file()      # its curves, as in a lab's search
    assert (Path(chosen.group(2)).parent / "val_pred.npy").is_file()      # what the pareto rule compares
    assert "lab 03 resumes it and hands on the chosen trial's student" in r.stdout
    bad = _tune(tmp_path, "teacher", "--hardware")
    assert bad.returncode == 2 and "student search" in bad.stderr
