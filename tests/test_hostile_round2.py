"""Hostile inputs, second round (issue 31): each case of the red team's list that is not about the
distributed search (tests/test_distributed_security.py covers those), at its cause."""
import errno
import json
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from labkit.config import CFG

import gallery

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None, cwd=ROOT, timeout=300):
    e = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    e.pop("LABKIT_DEBUG", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "labkit", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=timeout)


def one_line(proc) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    return lines[-1] if lines else ""


# ---- environment -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("ON", True), ("true", True), ("enabled", True),
                                       ("0", False), ("off", False), ("disabled", False), ("No", False), ("", False)])
def test_flags_take_the_usual_spellings(monkeypatch, value, on):
    from labkit.config import env_flag, fast_mode
    monkeypatch.setenv("LABKIT_FAST", value)
    assert fast_mode() is on and env_flag("LABKIT_FAST") is on


def test_a_flag_that_is_neither_on_nor_off_is_refused(monkeypatch, tmp_path):
    from labkit.config import fast_mode
    monkeypatch.setenv("LABKIT_FAST", "maybe")
    with pytest.raises(ValueError, match="LABKIT_FAST='maybe' is neither on nor off"):
        fast_mode()
    proc = run("data", "info", "synthetic", env={"LABKIT_FAST": "maybe", "LABKIT_ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 2 and "LABKIT_FAST='maybe'" in one_line(proc)


def test_labkit_debug_no_means_no_traceback(tmp_path):
    proc = run("data", "info", tmp_path / "missing.csv", env={"LABKIT_DEBUG": "no", "LABKIT_FAST": "1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_relative_artifacts_folder_is_made_absolute_once(tmp_path):
    code = "import os, labkit.config as c; print(os.environ['LABKIT_ARTIFACTS']); print(c.artifacts_dir(create=False))"
    e = dict(os.environ, PYTHONPATH=str(ROOT), LABKIT_ARTIFACTS="rel/art")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, cwd=tmp_path).stdout.split()
    assert out == [str(tmp_path / "rel" / "art")] * 2          # what a kernel started from here inherits


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, mask, mode):
    from labkit.artifacts import write_text_atomic
    old = os.umask(mask)
    try:
        path = write_text_atomic(tmp_path / "summary.md", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


# ---- numeric options, exit codes ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["-1", "0", "-449", "1.5", "many"])
def test_n_vectors_is_checked_when_parsed(tmp_path, value):
    proc = run("hls", "convert", "--n-vectors", value, env={"LABKIT_ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 2 and "--n-vectors" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "hls").exists()


@pytest.mark.parametrize("args, words", [
    (["--jobs", "0"], "--jobs"), (["--jobs", "-3"], "--jobs"),
    (["--ip-repo", "/nonexistent/ip"], "--ip-repo /nonexistent/ip is not a folder"),
])
def test_overlay_options_are_checked_without_vivado(tmp_path, args, words):
    proc = run("overlay", "--dry-run", *args, env={"LABKIT_ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


def test_overlay_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = run("overlay", "--dry-run", "--out", tmp_path / "afile", env={"LABKIT_ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 2 and "is a file" in one_line(proc)


# ---- data: duplicates, caches, too few pulses --------------------------------------------------

def _keys(p):
    return {r.tobytes() for r in p.X}


def test_duplicate_windows_are_reported_and_never_split_across_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "art"))
    from labkit.data import load, split
    from labkit.data.formats import write_windows

    X, y = gallery.pulses(400, 2, 5)
    write_windows(tmp_path / "twice.csv", np.concatenate([X, X]), np.concatenate([y, y]))
    with pytest.warns(UserWarning, match=r"twice\.csv: 400 of 800 windows are copies of others"):
        p = load(tmp_path / "twice.csv")
    s = split(p)
    assert sum(s.sizes().values()) == 800
    assert not (_keys(s.test) & _keys(s.train)) and not (_keys(s.test) & _keys(s.val))
    assert not (_keys(s.val) & _keys(s.train))


def test_a_test_file_never_shares_windows_with_training(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "art"))
    from labkit.data import load_split
    from labkit.data.formats import write_windows

    X, y = gallery.pulses(300, 2, 6)
    write_windows(tmp_path / "all.csv", X, y)
    write_windows(tmp_path / "test.csv", X[:50], y[:50])
    with pytest.warns(UserWarning, match="50 windows of .*all.csv are also in the test file"):
        s = load_split(tmp_path / "all.csv", test=tmp_path / "test.csv")
    assert not (_keys(s.test) & (_keys(s.train) | _keys(s.val))) and len(s.train) + len(s.val) == 250


def test_the_cache_follows_the_content_not_the_time(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "art"))
    from labkit.data import load
    from labkit.data.formats import write_windows

    X, y = gallery.pulses(50, 2, 7)
    path = tmp_path / "w.csv"
    write_windows(path, X, y)
    first = load(path)
    st = path.stat()
    lines = path.read_text().split("\n")
    head, label = lines[1].rsplit(",", 1)
    lines[1] = f"{head},{1 - int(label)}"                 # one label changed, same size ...
    path.write_text("\n".join(lines))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))   # ... and the time restored (cp -p, rsync, tar)
    assert load(path).y[0] == 1 - first.y[0]


def test_a_cache_that_cannot_be_written_is_skipped_without_a_part_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "art"))
    from labkit import data
    from labkit.data.formats import write_windows

    X, y = gallery.pulses(50, 2, 8)
    write_windows(tmp_path / "w.csv", X, y)

    def full(path, **kw):
        Path(path).write_bytes(b"x" * 1000)               # a part written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(data.np, "savez", full)
    with pytest.warns(UserWarning, match=r"w\.csv were read but not cached .*No space left"):
        p = data.load(tmp_path / "w.csv")
    assert len(p) == 50
    assert not list((tmp_path / "art").rglob("*.part*")) and not list((tmp_path / "art").rglob("*.npz"))


def test_too_few_pulses_of_a_class_names_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "art"))
    from labkit.data import DataFormatError, load, split
    from labkit.data.formats import write_windows

    X, y = gallery.pulses(60, 2, 9)
    write_windows(tmp_path / "gammas.csv", X[y == 0], y[y == 0])
    with pytest.raises(DataFormatError, match=r"gammas\.csv: class 'neutron' \(label 1\) has 0 pulses.*check the class column"):
        split(load(tmp_path / "gammas.csv"))


# ---- malformed files of other kinds: exit 2, never 70 -------------------------------------------

def test_malformed_test_vectors_are_user_errors(tmp_path):
    vec = tmp_path / "vec"
    vec.mkdir()
    (vec / "meta.json").write_text("{")
    proc = run("bench", "board", "--vectors", vec, env={"LABKIT_ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 2 and "meta.json is not valid JSON" in one_line(proc)
    (vec / "meta.json").write_text("{}")
    (vec / "inputs.npy").write_bytes(b"not numpy")
    proc = run("bench", "board", "--vectors", vec, env={"LABKIT_ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 2 and "inputs.npy is not a readable numpy array" in one_line(proc)


@pytest.mark.parametrize("name, text", [("nb.ipynb", "notanotebook"), ("data.csv", "a,b\n"), ("x.ipynb", "[1, 2]")])
def test_labs_that_are_not_notebooks_are_refused(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    proc = run("course", "--labs", tmp_path / name, env={"LABKIT_ARTIFACTS": str(tmp_path / "art")})
    assert proc.returncode == 2 and "not a Jupyter notebook" in one_line(proc)


# ---- a broken saved search ---------------------------------------------------------------------

@pytest.mark.parametrize("broken", ["oracle.json", "trial_00/trial.json"])
def test_a_truncated_search_file_is_named_with_the_fix(tmp_path, broken):
    kt = pytest.importorskip("keras_tuner")
    from labkit.training.tuning import make_tuner

    class Tiny(kt.HyperModel):
        objective = "val_loss"

        def build(self, hp):
            import tensorflow as tf
            return tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])

    make_tuner(Tiny(), "teacher", 2, directory=tmp_path)          # writes the search's files
    folder = tmp_path / "teacher"
    (folder / "tuner0.json").write_text("{}")
    (folder / "trial_00").mkdir(exist_ok=True)
    (folder / "trial_00" / "trial.json").write_text('{"trial_id": "00", "status": "COMPLETED"}')
    if not (folder / "oracle.json").exists():
        (folder / "oracle.json").write_text("{}")
    (folder / broken).write_text('{"ongoing_trials": {"chief"')         # cut off mid-save
    with pytest.raises(ValueError, match=rf"{broken.replace('/', '.')} is truncated or not JSON.*overwrite=True; "
                                         r"`labkit tune`: --fresh"):
        make_tuner(Tiny(), "teacher", 2, directory=tmp_path)


def test_keras_tuner_saves_are_atomic(tmp_path, monkeypatch):
    """A search stopped while keras-tuner saves (Ctrl-C, the launcher stopping a chief) leaves the old
    oracle.json, never a truncated one that no later run can resume."""
    import os

    from keras_tuner.src import utils as kt_utils

    from labkit.training.tuning import atomic_tuner_saves
    atomic_tuner_saves()
    atomic_tuner_saves()                                      # idempotent
    path = tmp_path / "oracle.json"
    assert kt_utils.save_json(str(path), {"trials": 1}) == '{"trials": 1}'
    assert json.loads(path.read_text()) == {"trials": 1}

    real_fdopen = os.fdopen

    class Interrupted:                                          # the write is interrupted half way
        def __init__(self, *a, **k):
            self.f = real_fdopen(*a, **k)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "fdopen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        kt_utils.save_json(str(path), {"trials": 2, "more": "x" * 100})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"trials": 1}       # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["oracle.json"]    # no temporary file left
