"""Exercise checks: a lab ships an empty cell and a check; ``labs/solutions/`` fills the cell in.

Pattern of every exercise in a lab::

    # Exercise 1 — your code here: replace the ... with your answer
    answer = ...

    exercises.check("06", 1, answer, clf=clf)

``check`` prints one line (``evaluate`` returns it as a :class:`Result`): "not answered yet" while ``answer`` is ``...``, "correct" or a hint
otherwise.  The solutions notebooks call it with ``strict=True``, so a wrong solution fails CI.

The checks of lab NN live in ``labkit/course/exercises/labNN.py`` (one module per lab, imported on
demand, so lab 06's checks run on the board with numpy only).  Each is a function registered with
:func:`exercise` that returns ``(ok, message)``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

_CHECKS: dict[tuple[str, int], Callable] = {}


def exercise(lab: str, number: int):
    """Register ``fn(answer, **context) -> (ok: bool, message: str)`` as the check of one exercise."""
    def deco(fn):
        _CHECKS[(lab, number)] = fn
        return fn
    return deco


@dataclass
class Result:
    lab: str
    number: int
    status: str        # "open", "correct", "wrong"
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return f"Exercise {self.number}: {self.message}"

    def _ipython_display_(self):
        """:func:`check` already printed the line: a Result at the end of a cell shows nothing more."""


def _lookup(lab: str, number: int) -> Callable:
    lab = str(lab).zfill(2)
    if (lab, number) not in _CHECKS:
        try:
            importlib.import_module(f"{__name__}.lab{lab}")
        except ModuleNotFoundError:
            pass
    if (lab, number) not in _CHECKS:
        raise KeyError(f"lab {lab} has no exercise {number} with a check")
    return _CHECKS[(lab, number)]


def evaluate(lab: str, number: int, answer, **context) -> Result:
    """The :class:`Result` of one exercise's check, without printing (``...`` = not answered yet)."""
    lab = str(lab).zfill(2)
    fn = _lookup(lab, number)
    if answer is Ellipsis:
        return Result(lab, number, "open", "not answered yet: replace the `...` in the cell above with your answer")
    ok, message = fn(answer, **context)
    return Result(lab, number, "correct" if ok else "wrong", ("correct. " if ok else "not yet: ") + message)


def check(lab: str, number: int, answer, strict: bool = False, **context) -> Result:
    """Check ``answer`` of exercise ``number`` in lab ``lab``, print one line and return the :class:`Result`.

    ``answer`` still ``...`` (the shipped cell) is "not answered yet", never an error.
    ``strict=True`` (the solutions notebooks) raises ``AssertionError`` unless the answer is correct.
    """
    res = evaluate(lab, number, answer, **context)
    if strict and not res.ok:
        raise AssertionError(f"lab {res.lab}, exercise {number}: {res.message}")
    print(repr(res))
    return res
