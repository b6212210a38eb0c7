"""Every solution answers its exercise *where the exercise stands*.

``make test`` runs each lab with its answers pasted into the exercise cells (scripts/answered_labs.py,
nbval): that run is the proof that each answer works in its lab's namespace.  These tests are the
quick part of it: every answer has its exercise cell, the copies differ from the labs only there, and
each name an answer uses is defined by the lab above the exercise, by an earlier answer, or is a
builtin (an answer that needs ``Path`` where the lab never imports it fails here in a second)."""
import ast
import builtins
import json
import re
from pathlib import Path

import pytest

LABS = Path(__file__).resolve().parents[1] / "labs"
CHECK = re.compile(r"""exercises\.check\(\s*["'](\w+)["']\s*,\s*(\d+)\s*,\s*answer\b""")
EXERCISE = re.compile(r"^#\s*Exercise\s+(\d+)\b", re.M)


def _cells(nb_path):
    nb = json.loads(nb_path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _tree(source: str) -> ast.AST:
    # IPython lines (%magic, !shell) are not Python
    return ast.parse("\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in source.splitlines()))


def _bound(source: str) -> set:
    """Names a cell binds at the top level of the notebook's namespace (assignments, imports, defs,
    loop and with targets, walrus)."""
    out = set()
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


def _local(source: str) -> set:
    """Names bound anywhere inside a cell, function parameters and comprehension variables included."""
    out = _bound(source)
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.arg):
            out.add(node.arg)
    return out


def _used(source: str) -> set:
    return {n.id for n in ast.walk(_tree(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _contexts():
    """(lab or notes notebook, exercise number, its solution cell, the solution cells before it)."""
    out = []
    for solution in sorted((LABS / "solutions").glob("*_solutions.ipynb")):
        number = solution.name.split("_")[0]
        labs = sorted(LABS.glob(f"{number}_*.ipynb")) + sorted((LABS / "notes").glob(f"{number}_*.ipynb"))
        answers = [c for c in _cells(solution) if CHECK.search(c)]
        for i, cell in enumerate(answers):
            k = int(CHECK.search(cell).group(2))
            home = next((lab for lab in labs for c in _cells(lab) if re.search(rf"^#\s*Exercise\s+{k}\b", c, re.M)),
                        None)
            out.append((solution, home, k, cell, answers[:i]))
    return out


CASES = _contexts()


def test_answered_copies_differ_from_the_labs_only_in_the_exercise_cells():
    import importlib.util
    spec = importlib.util.spec_from_file_location("answered_labs", LABS.parent / "scripts" / "answered_labs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    labs = mod.course_order()
    assert [p.name for p in labs][:3] == ["01_data.ipynb", "02_teacher.ipynb", "03_student.ipynb"]
    n_answered = 0
    for lab in labs:
        nb, done = mod.answered(lab)
        orig = json.loads(lab.read_text())["cells"]
        assert len(nb["cells"]) == len(orig)
        for new, old in zip(nb["cells"], orig):
            src_old = "".join(old["source"])
            if new["cell_type"] == "code" and mod.exercise_number(src_old) in done:
                assert "strict=True" in "".join(new["source"])
            else:
                assert new == old
        n_answered += len(done)
    assert n_answered == len(CASES)


def test_every_solution_has_an_exercise_cell():
    missing = [f"{s.name} exercise {k}" for s, home, k, *_ in CASES if home is None]
    assert CASES and not missing, f"solutions without an '# Exercise k' cell in their lab or notes: {missing}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].name.split('_')[0]}-ex{c[2]}")
def test_solution_uses_only_what_its_lab_defines(case):
    solution, home, k, cell, earlier = case
    if home is None:
        pytest.skip("no exercise cell (reported above)")
    before = []
    for c in _cells(home):
        if re.search(rf"^#\s*Exercise\s+{k}\b", c, re.M):
            break
        before.append(c)
    known = set(dir(builtins)) | {"display", "get_ipython"}
    for c in before + earlier:
        known |= _bound(c)
    unknown = sorted(_used(cell) - _local(cell) - known)
    assert not unknown, (f"{solution.name}, exercise {k}: {unknown} are not defined in {home.name} above the "
                         f"exercise (the solution's own set-up cell is not there for the participant)")
