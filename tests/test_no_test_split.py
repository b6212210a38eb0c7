"""The test split chooses nothing: the search, the selection and the settings code never read it.

Statically: the modules that search, train, select and cost (labkit/training/ except checkpoints.py,
which records each saved network's final test figure) contain no ``.test`` attribute access.
Dynamically: the selection's floor and the student search's data preparation run on a split whose
test part raises when touched.
"""
import ast
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHOOSING = ["tuning.py", "selection.py", "models.py", "compress.py", "cost.py", "distributed.py", "contract.py"]


@pytest.mark.parametrize("name", CHOOSING)
def test_choosing_code_never_names_the_test_split(name):
    tree = ast.parse((ROOT / "labkit" / "training" / name).read_text())
    hits = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "test"]
    assert not hits, f"labkit/training/{name} reads `.test` at lines {hits}: choices are made on train/val only"


class _Guarded:
    """A split whose test part raises when read."""

    def __init__(self, split):
        self._split = split

    def __getattr__(self, name):
        if name == "test":
            raise AssertionError("the test split was read by code that chooses")
        return getattr(self._split, name)


def test_selection_floor_reads_no_test_pulse():
    from labkit.data import split as make_split
    from labkit.training import selection
    from toys import toy_pulses
    from labkit.data.formats import Pulses
    X, y = toy_pulses(400, seed=3)
    s = make_split(Pulses(X=np.asarray(X, np.uint16), y=np.asarray(y, np.int64), source="toy"))
    floor = selection.cut_floor(_Guarded(s))
    assert 0 <= floor["acc"] <= 1 and floor["n"] == len(s.val)
    assert np.isfinite(floor["acc"])
