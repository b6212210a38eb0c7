"""Write each lab with its exercises answered: the lab's own cells, each ``# Exercise k`` cell replaced
by the answer cell of ``labs/solutions/NN_*_solutions.ipynb``.  ``make test`` runs these copies (nbval)
instead of the labs and the solutions apart, so every answer runs exactly where a participant pastes
it: in the lab's namespace, after the lab's own cells.

    python scripts/answered_labs.py OUT_DIR      # writes the copies, prints their paths in course order
    python scripts/answered_labs.py --kernel labkit-keras3 OUT_DIR   # the same for the labs on that kernel

A lab without exercises is printed as it is (its own path).  Only the labs whose notebook names the
kernel ``--kernel`` (default python3, this environment's) are printed: nbval runs each set with its own
kernel (lab 04c: ``labkit-keras3``, the Keras 3 environment).  When that kernel is not installed nothing is
printed, and one sentence on stderr says how to install it.  tests/test_solutions_fit_labs.py checks
the mapping (every answer has its exercise cell, and uses only what the lab defines above it).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
CHECK = re.compile(r"""exercises\.check\(\s*["'](\w+)["']\s*,\s*(\d+)\s*,\s*answer\b[^)]*strict=True""")


def exercise_number(source: str):
    m = re.match(r"\s*#\s*Exercise\s+(\d+)\b", source)
    return int(m.group(1)) if m else None


def course_order() -> list:
    """The labs and their notes, in the order the course runs them (lab NN's notes right after it)."""
    out = []
    for lab in sorted(LABS.glob("[0-9][0-9]*_*.ipynb")):
        out.append(lab)
        out += sorted((LABS / "notes").glob(lab.name.split("_")[0] + "_*.ipynb"))
    return out


def answers(number: str) -> dict:
    """{exercise k: the solution's answer cell source} of lab ``number`` (e.g. "04b")."""
    found = sorted((LABS / "solutions").glob(f"{number}_*_solutions.ipynb"))
    if not found:
        return {}
    out = {}
    for cell in json.loads(found[0].read_text())["cells"]:
        src = "".join(cell["source"])
        m = CHECK.search(src) if cell["cell_type"] == "code" else None
        if m and m.group(1) == number:
            out[int(m.group(2))] = src
    return out


def kernel_of(lab: Path) -> str:
    """The Jupyter kernel a lab runs on, by the course runner's rule (labkit.course.runner.kernel_name)."""
    from labkit.course.runner import kernel_name
    return kernel_name(json.loads(lab.read_text()))


def kernel_missing(name: str):
    """None when the kernel ``name`` is here (labkit.course.runner.kernel_missing), else one sentence with the fix."""
    from labkit.course.runner import kernel_missing as why_missing
    why = why_missing(name)
    return f"answered_labs.py: the labs on the kernel {name} are not run: each {why}" if why else None


def answered(lab: Path) -> tuple:
    """(the notebook with its exercise cells answered, the exercise numbers answered)."""
    nb = json.loads(lab.read_text())
    sol = answers(lab.name.split("_")[0])
    done = []
    for cell in nb["cells"]:
        k = exercise_number("".join(cell["source"])) if cell["cell_type"] == "code" else None
        if k is not None and k in sol:
            cell["source"] = sol[k].splitlines(keepends=True)
            cell["outputs"], cell["execution_count"] = [], None
            done.append(k)
    return nb, done


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    kernel = "python3"
    if len(argv) == 3 and argv[0] == "--kernel":
        kernel, argv = argv[1], argv[2:]
    if len(argv) != 1:
        print("usage: python scripts/answered_labs.py [--kernel NAME] OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    labs = [lab for lab in course_order() if kernel_of(lab) == kernel]
    why = kernel_missing(kernel) if labs else None
    if why:
        print(why, file=sys.stderr)
        return 0
    for lab in labs:
        nb, done = answered(lab)
        if not done:
            print(lab)
            continue
        target = out / lab.relative_to(LABS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
