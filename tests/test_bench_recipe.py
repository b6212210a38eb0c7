"""`labkit bench recipe`: how a recipe setting is measured without the test pulses."""
import json
import subprocess
import sys

import numpy as np
import pytest

from labkit import data
from labkit.course import bench


def _small_split(n_per_class=40):
    pulses = data.load("synthetic")
    rng = np.random.default_rng(1)
    idx = np.concatenate([rng.choice(np.flatnonzero(pulses.y == c), n_per_class, replace=False) for c in (0, 1)])
    return data.split(pulses.subset(idx))


def test_parts_never_hold_a_test_pulse_and_score_each_pulse_once():
    split = _small_split()
    key = lambda X: {r.tobytes() for r in X}
    test = key(split.test.X)
    pool = key(split.train.X) | key(split.val.X)
    parts = bench.recipe_parts(split, 4)
    scored = []
    for _, p in parts:
        for part in (p.train, p.val, p.test):
            assert not key(part.X) & test, "a test pulse reached the recipe bench"
        assert not key(p.train.X) & key(p.test.X) and not key(p.val.X) & key(p.test.X)
        scored += [r.tobytes() for r in p.test.X]
    assert len(scored) == len(set(scored)) and set(scored) == pool
    (name, only), = bench.recipe_parts(split, 1)
    assert name == "validation" and only.test is split.val and only.train is split.train


def test_bad_settings_are_refused_in_one_sentence():
    for args, words in ((["--vary", "depth=1,2"], "unknown student setting"),
                        (["--vary", "sparsity=0.5", "--folds", "0"], "--folds: must be >= 1"),
                        (["--vary", "sparsity=0.5,"], "JSON separated by commas"),
                        (["--student", "[1]", "--vary", "sparsity=0.5"], "JSON object")):
        r = subprocess.run([sys.executable, "-m", "labkit", "bench", "recipe", *args], capture_output=True, text=True)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_one_json_line_per_run(monkeypatch, capsys):
    pytest.importorskip("qkeras")
    split = _small_split()
    monkeypatch.setattr(data, "load_split", lambda *a, **k: split)
    assert bench.bench_recipe(["--folds", "2", "--student", '{"student_epochs": 2}', "--vary", "sparsity=0.5,0.9"]) == 0
    line, = capsys.readouterr().out.strip().splitlines()
    out = json.loads(line)
    assert out["test_pulses_used"] is False and out["vary"] == "sparsity"
    assert [r["sparsity"] for r in out["results"]] == [0.5, 0.9]
    for r in out["results"]:
        assert r["n"] + 0 <= out["n_scored_per_student"] == len(split.train) + len(split.val)
        assert len(r["errors_per_part"]) == 2 and set(r) >= {"errors", "acc", "acc_ci95", "dead", "lut_estimate_fold"}
