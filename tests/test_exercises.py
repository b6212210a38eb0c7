"""Exercises are exercises: every lab ships its exercises unanswered, each has a check, and
``labs/solutions/`` answers every one of them with the same check in strict mode."""
import json
import re
from pathlib import Path

import pytest

from labkit.course import exercises

LABS = Path(__file__).resolve().parents[1] / "labs"
CALL = re.compile(r"""exercises\.check\(\s*["'](\w+)["']\s*,\s*(\d+)\s*,\s*(\w+|\.\.\.)(.*)""")


def _code(nb_path):
    nb = json.loads(nb_path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _checks(nb_path):
    return [(m.group(1), int(m.group(2)), m.group(4)) for cell in _code(nb_path) for m in CALL.finditer(cell)]


def _labs():
    """The labs, and the notes beside them (labs/notes/NN_*.ipynb: their exercises are solved in lab NN's solutions)."""
    return sorted(LABS.glob("[0-9][0-9]*_*.ipynb")) + sorted((LABS / "notes").glob("[0-9][0-9]*_*.ipynb"))


def _solution(lab: Path) -> Path:
    number = lab.name.split("_")[0]
    found = sorted((LABS / "solutions").glob(f"{number}_*_solutions.ipynb"))
    return found[0] if found else LABS / "solutions" / f"{lab.stem}_solutions.ipynb"


@pytest.mark.parametrize("lab", _labs(), ids=lambda p: p.stem)
def test_lab_exercises_are_unanswered_and_solved_apart(lab):
    checks = _checks(lab)
    if not checks:
        pytest.skip(f"{lab.name} has no checked exercises")
    for cell in _code(lab):
        if "exercises.check(" in cell:
            assert "strict=True" not in cell, f"{lab.name}: the lab's own checks must not be strict"
    answers = [c for c in _code(lab) if c.lstrip().startswith("# Exercise")]
    assert answers and all(re.search(r"^answer = \.\.\.\s*$", c, re.M) for c in answers), \
        f"{lab.name}: every exercise cell ships as '# Exercise k — ...' with `answer = ...`"
    solution = _solution(lab)
    assert solution.exists(), f"{lab.name} has exercises but no {solution.relative_to(LABS.parent)}"
    solved = {(l, n) for l, n, rest in _checks(solution) if "strict=True" in rest}
    missing = {(l, n) for l, n, _ in checks} - solved
    assert not missing, f"{solution.name} does not solve (strictly) exercises {sorted(missing)}"


def test_every_check_is_registered():
    for lab in _labs():
        for l, n, _ in _checks(lab):
            exercises._lookup(l, n)          # raises KeyError when the check does not exist


def test_unanswered_is_open_and_strict_raises():
    res = exercises.evaluate("02", 1, ...)
    assert res.status == "open" and "not answered yet" in repr(res)
    with pytest.raises(AssertionError, match="exercise 1"):
        exercises.check("02", 1, ..., strict=True)
    with pytest.raises(KeyError):
        exercises.evaluate("02", 99, 1)


def test_a_wrong_answer_gets_a_hint(capsys):
    exercises.check("02", 1, 42)
    out = capsys.readouterr().out
    assert out.startswith("Exercise 1: not yet:") and "tuner" in out

