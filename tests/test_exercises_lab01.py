"""Lab 01's exercise checks: a right answer passes, a wrong one gets a hint, ``...`` is open."""
from __future__ import annotations

import numpy as np
import pytest

from labkit import data
from labkit.course import exercises
from labkit.course.exercises import lab01
from labkit.data import baselines
from labkit.data.formats import Pulses
from labkit.data.synth import generate


@pytest.fixture(scope="module")
def lab():
    d = generate(200, seed=4)
    split = data.split(Pulses(d.windows(), d.labels))
    return split, baselines.fit_all(split.train)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_unanswered_is_open(k):
    res = exercises.evaluate("01", k, ...)
    assert res.status == "open" and "not answered yet" in res.message


def test_best_gate(lab):
    split, cuts = lab
    foms = lab01.gate_foms(split.train, baselines.GATES)
    best = max(foms, key=foms.get)
    res = exercises.evaluate("01", 1, best, train=split.train, lab_cut=cuts[1])
    assert res.ok and f"gate {best} samples" in res.message
    worst = min(foms, key=foms.get)
    res = exercises.evaluate("01", 1, worst, train=split.train)
    assert not res.ok and "another gate" in res.message
    assert "an int" in exercises.evaluate("01", 1, 1.5, train=split.train).message
    assert "does not fit" in exercises.evaluate("01", 1, 500, train=split.train).message
    with pytest.raises(AssertionError):
        exercises.check("01", 1, worst, strict=True, train=split.train)


def test_low_amplitude(lab):
    split, cuts = lab
    test = split.test
    low = baselines.amplitude(test.X) < lab01.LOW_AMPLITUDE
    right = {c.name: float(np.mean(c.predict(test.X[low]) == test.y[low])) for c in cuts}
    res = exercises.evaluate("01", 2, right, cuts=cuts, test=test)
    assert res.ok and "95 % CI" in res.message
    on_all = {c.name: c.accuracy(test.X, test.y) for c in cuts}
    res = exercises.evaluate("01", 2, on_all, cuts=cuts, test=test)
    assert not res.ok and f"selects {int(low.sum())} test pulses" in res.message
    assert "cut names as keys" in exercises.evaluate("01", 2, {"a": 1.0}, cuts=cuts, test=test).message
    assert "pass cuts=" in exercises.evaluate("01", 2, right, test=test).message


def test_round_trip_and_damaged_file(lab, tmp_path):
    split, _ = lab
    test = split.test
    path = data.write_windows(tmp_path / "w.csv", test.X, test.y)
    back = data.load(path, cache=False)
    assert exercises.evaluate("01", 3, back, test=test).ok
    res = exercises.evaluate("01", 3, back.subset(np.arange(5)), test=test)
    assert not res.ok and "write all of split.test" in res.message
    assert not exercises.evaluate("01", 3, split.val, test=test).ok

    lines = path.read_text().splitlines()
    row = lines[3].split(",")
    row[7] = "abc"
    lines[3] = ",".join(row)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(data.DataFormatError, match="on_bad='drop'"):
        data.load(bad, cache=False)
    dropped = data.load(bad, on_bad="drop", cache=False)
    res = exercises.evaluate("01", 4, dropped, test=test)
    assert res.ok and "1 damaged row(s) dropped" in res.message
    res = exercises.evaluate("01", 4, back, test=test)          # nothing damaged
    assert not res.ok and "nothing was dropped" in res.message
