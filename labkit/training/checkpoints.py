"""Stage checkpoints: each lab writes one, the next lab reads it (or recomputes it).

``artifacts/teacher/teacher.h5`` → ``artifacts/student/student.h5`` → (lab 04) HLS project and
test vectors.  A participant who falls behind calls ``student_model()`` at the top of lab 04: it
loads the saved student or, if there is none, runs the previous stages with the current
settings (quick in fast mode).  Replacing a checkpoint keeps the previous one as ``*.prev.h5``.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import artifacts


def teacher_path() -> Path:
    return artifacts.teacher_model()


def student_path() -> Path:
    return artifacts.student_model()


def load_student(path=None):
    """The saved, pruning-stripped QKeras student (``artifacts/student/student.h5``), never retrained.

    Refused (one sentence naming the file) before any conversion when it is not a course student:
    layers outside Input -> [QDense -> QActivation]* -> QDense, or other than ``CFG.n_samples``
    inputs / ``CFG.n_classes`` logits."""
    from .contract import describe_layers
    from .modelfile import ModelFileError, load_model

    path = Path(path) if path is not None else student_path()
    model = load_model(path)
    try:
        describe_layers(model)
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None
    return model


def save(model, path: Path, *, check=None, **info) -> Path:
    """Save a stage model; an existing one is kept as ``<name>.prev.h5`` (nothing lost).

    ``check=(x, y)``: validation pulses on which the model must not be dead (one class for every
    pulse, or accuracy at the class prior); a dead model is refused, never saved."""
    from .compress import DeadModelError, dead_reason
    from .modelfile import save_model
    path = Path(path)
    if check is not None:
        reason = dead_reason(model, *check)
        if reason:
            raise DeadModelError(f"not saving {path.name}: the model is dead ({reason}); train it again (lab 03).")
    if path.exists():
        path.replace(path.with_name(path.stem + ".prev.h5"))
    save_model(model, path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2, default=str))
    return path


def info(path: Path) -> dict:
    """What :func:`save` recorded beside the model at ``path`` (:func:`labkit.artifacts.model_record`)."""
    return artifacts.model_record(path)


def teacher_model(split=None, *, retrain: bool = False, verbose: int = 0):
    """The saved teacher, or a freshly searched and trained one (saved)."""
    from .modelfile import load_model
    if teacher_path().exists() and not retrain:
        return load_model(teacher_path())
    from .. import data
    from . import tuning
    split = split or data.load_split(progress=False)
    model, hp, _, _ = tuning.teacher_stage(split, verbose=verbose)
    save(model, teacher_path(), check=tuning.xy(split.val), hp=hp.values,
         test_accuracy=tuning.accuracy(model, split.test))
    return model


def student_model(split=None, *, retrain: bool = False, verbose: int = 0):
    """The saved (stripped, quantized) student, or one made now from the teacher (saved)."""
    from .modelfile import load_model
    if student_path().exists() and not retrain:
        return load_model(student_path())
    from .. import data
    from . import tuning
    split = split or data.load_split(progress=False)
    teacher = teacher_model(split, verbose=verbose)
    student, hp, history, _, sparsity = tuning.student_stage(split, teacher, verbose=verbose)
    save_student(student, hp, history, sparsity, split)
    return student


def save_student(student, hp, history, sparsity, split) -> Path:
    """Save the chosen student as ``artifacts/student/student.h5`` with ``student.json``: its
    hyper-parameters, sparsity, the selection (``history.selection``: trial, reason, layers, cost)
    and its test accuracy (reported only: nothing is chosen on it)."""
    from . import tuning
    return save(student, student_path(), check=tuning.xy(split.val), hp=hp.values, sparsity=sparsity,
                selection=getattr(history, "selection", None), test_accuracy=tuning.accuracy(student, split.test))
