"""Bayesian optimisation (keras-tuner) for teacher and student, the stages end to end, final training.

Searches are resumable: trials live under ``artifacts/tuning/<project>`` and a rerun reuses the
finished ones (``overwrite=True`` starts over), also those of a ``labkit tune`` search, finished or
interrupted (:func:`_adopt_search`).  The final model is always rebuilt from the best
``hp.values`` by the hypermodel's own ``build``.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from .. import artifacts
from ..config import CFG, Training
from ..data import Split, preprocess


def seed_everything(seed: int = CFG.seed) -> None:
    """Fix every seed (Python, numpy, TF) and make TF's ops deterministic, so reruns repeat exactly.

    Also keeps TensorFlow's Python logger at ERROR: its notices (tf.function retracing when a lab
    trains and evaluates several small models, deprecations inside QKeras/tfmot) are not for participants.
    """
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    tf.keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF
        pass


def xy(pulses):
    """Network input (preprocessed windows) and labels."""
    return preprocess(pulses.X), pulses.y.astype(np.int64)


def early_stopping(hypermodel, patience: int):
    """Stop when the hypermodel's objective (validation cross-entropy) stops improving, and keep the
    best epoch's weights. Validation accuracy is a poor signal here: on a few hundred pulses it sits
    at 1.0 for many epochs, and early stopping on it kept whichever epoch reached 1.0 first."""
    import tensorflow as tf
    return tf.keras.callbacks.EarlyStopping(getattr(hypermodel, "monitor", hypermodel.objective), mode="min", patience=patience,
                                            restore_best_weights=True)


def _dead_reason_of(trial) -> Optional[str]:
    """Why a trial's network was dead (from the FailedTrialError it ended with), or None."""
    from .compress import DEAD_PREFIX
    msg = trial.message or ""
    if trial.status != "FAILED" or DEAD_PREFIX not in msg:
        return None
    return msg[msg.rindex(DEAD_PREFIX) + len(DEAD_PREFIX):].strip()


def trial_table(tuner) -> str:
    """Every trial of a search, best first: its objective, its validation accuracy at that epoch,
    and its hyper-parameters (dead trials say so)."""
    name = tuner.oracle.objective.name
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: (t.score is None, t.score if t.score is not None else 0))
    rows = [f"{'trial':<7}{name:>18}{'val_accuracy':>14}   hyper-parameters"]
    for t in trials:
        acc = [o for o in t.metrics.get_history("val_accuracy") if o.step == t.best_step] if t.score is not None else []
        hp = ", ".join(f"{k}={v}" for k, v in active_values(t.hyperparameters.values).items())
        if t.score is None:
            rows.append(f"{t.trial_id:<7}{'dead' if _dead_reason_of(t) else t.status:>18}{'':>14}   {hp}")
        else:
            rows.append(f"{t.trial_id:<7}{t.score:>18.5f}{acc[0].value[0] if acc else float('nan'):>14.4f}   {hp}")
    return "\n".join(rows)


def active_values(values: dict) -> dict:
    """A trial's hyper-parameters without the inactive ones: ``units_k`` of a layer the trial does not
    have (k >= ``layers``; keras-tuner keeps every value it has ever drawn)."""
    import re
    layers = values.get("layers")
    if layers is None:
        return dict(values)
    return {k: v for k, v in values.items()
            if not (m := re.fullmatch(r"units_(\d+)", k)) or int(m.group(1)) < int(layers)}


def dead_trials(tuner) -> int:
    """Trials the search refused because the trained network was dead (never selected)."""
    return sum(1 for t in tuner.oracle.trials.values() if _dead_reason_of(t))


#: file names of a trial's own finalized student and its training curves in its trial folder
#: (kept when the student hypermodel records hardware cost, its default)
TRIAL_STUDENT, TRIAL_HISTORY = "student.h5", "history.json"


def save_trial_student(tuner, trial, folder: Optional[Path] = None) -> Optional[Path]:
    """Keep what a trial trained beside its record: the finalized student (``hypermodel.last_student``,
    set when the hypermodel records hardware cost) as ``student.h5`` and the training curves
    (``hypermodel.last_history``, students and teachers) as ``history.json``.  The selection hands on
    that very network, whose validation result the trial recorded (:func:`kept_trial`,
    :func:`kept_teacher`).  ``folder``: another trial folder (a distributed worker writes beside the
    chief's record).  Returns the student's path, or None."""
    from .modelfile import save_model
    from .selection import TRIAL_VAL_PRED
    hm = tuner.hypermodel
    student, history = getattr(hm, "last_student", None), getattr(hm, "last_history", None)
    val_pred = getattr(hm, "last_val_pred", None)
    hm.last_student = hm.last_history = hm.last_val_pred = None
    if trial.status != "COMPLETED":
        return None
    folder = Path(folder) if folder is not None else Path(tuner.get_trial_dir(trial.trial_id))
    path = save_model(student, folder / TRIAL_STUDENT, overwrite=True) if student is not None else None
    if val_pred is not None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / TRIAL_VAL_PRED, np.asarray(val_pred, dtype=np.int8))
    if history is not None:
        folder.mkdir(parents=True, exist_ok=True)
        artifacts.write_text_atomic(folder / TRIAL_HISTORY, json.dumps(
            {k: [float(v) if np.isfinite(v) else None for v in vals] for k, vals in history.items()}))
    return path


def trial_history(tuner, trial_id: str):
    """The curves a trial kept (:func:`save_trial_student`) as a Keras-like history
    (``.history`` dict of per-epoch lists, ``.trial_id``), or None if it kept none."""
    from types import SimpleNamespace
    path = Path(tuner.get_trial_dir(trial_id)) / TRIAL_HISTORY
    if not path.exists():
        return None
    curves = {k: [float("inf") if v is None else v for v in vals] for k, vals in json.loads(path.read_text()).items()}
    return SimpleNamespace(history=curves, trial_id=trial_id)


def trial_student_path(tuner, trial_id: str) -> Path:
    return Path(tuner.get_trial_dir(trial_id)) / TRIAL_STUDENT


_TUNER_CLASS = None


def ignore_gaussian_process_warnings():
    """Drop scikit-learn's ConvergenceWarning from the oracle's Gaussian-process fit (a length scale
    at its bound on a dozen noisy trials is expected; the proposal is still made)."""
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    warnings.filterwarnings("ignore", category=ConvergenceWarning)


@contextlib.contextmanager
def quiet_gaussian_process():
    """:func:`ignore_gaussian_process_warnings` for the duration of a ``with`` block."""
    import warnings
    with warnings.catch_warnings():
        ignore_gaussian_process_warnings()
        yield


def _progress_tuner_class():
    """``kt.BayesianOptimization`` with a progress bar over trials (score of the last, best so far)."""
    global _TUNER_CLASS
    if _TUNER_CLASS is None:
        import keras_tuner as kt
        from tqdm.auto import tqdm

        class BayesianOptimizationWithProgress(kt.BayesianOptimization):
            def search(self, *args, **kwargs):
                with quiet_gaussian_process():
                    return super().search(*args, **kwargs)

            def on_search_begin(self):
                super().on_search_begin()
                done = sum(1 for t in self.oracle.trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID"))
                self._bar = tqdm(total=self.oracle.max_trials, initial=min(done, self.oracle.max_trials),
                                 desc=f"{self.project_name} trials", unit="trial")

            def on_trial_end(self, trial):
                save_trial_student(self, trial)
                super().on_trial_end(trial)
                best = self.oracle.get_best_trials(1)
                reason = _dead_reason_of(trial)
                if reason:
                    self._bar.write(f"{self.project_name} trial {trial.trial_id} is dead: {reason}; "
                                    f"it is recorded as failed and never selected")
                self._bar.set_postfix(last=f"{trial.score:.4f}" if trial.score is not None else trial.status,
                                      best=f"{best[0].score:.4f}" if best and best[0].score is not None else "-")
                self._bar.update(1)

            def _try_run_and_update_trial(self, trial, *args, **kwargs):
                # keras-tuner prints the traceback of every failed trial (its DEBUG default); a dead
                # network is an expected outcome, reported above in one sentence: print only real errors
                from keras_tuner.src import config as kt_config
                debug, kt_config.DEBUG = kt_config.DEBUG, False
                try:
                    super()._try_run_and_update_trial(trial, *args, **kwargs)
                finally:
                    kt_config.DEBUG = debug
                if trial.status == "INVALID" and debug:
                    print(trial.message, file=sys.stderr)

            def on_search_end(self):
                super().on_search_end()
                self._bar.close()

        _TUNER_CLASS = BayesianOptimizationWithProgress
    return _TUNER_CLASS


#: trial statuses of a finished trial (kept by a resumed search)
FINISHED = ("COMPLETED", "FAILED", "INVALID")


def _finished_trials(folder: Path) -> int:
    """Trials recorded as finished in a search folder (``trial_*/trial.json``)."""
    n = 0
    for path in folder.glob("trial_*/trial.json"):
        try:
            n += json.loads(path.read_text()).get("status") in FINISHED
        except (OSError, ValueError, AttributeError):
            continue
    return n


def _adopt_search(folder: Path) -> None:
    """A search in ``folder`` that this process's tuner id did not start is resumed, never overwritten.

    keras-tuner reloads a project only when it finds the tuner file of its own id (``tuner0.json``
    in the labs); without it, it starts a new search in the same folder and writes its trials over
    the old ones.  ``labkit tune`` (:mod:`labkit.training.distributed`) writes ``chief.json``, and
    ``tuner0.json`` only when it finishes: an interrupted ``labkit tune`` left a folder the labs
    would silently overwrite.  Both files hold no trial data (``{}``; the trials are ``oracle.json``
    and ``trial_*/trial.json``), so the chief's file is taken as ours.  A folder with finished trials
    and neither file is refused in one sentence; without finished trials nothing is lost by starting
    over (a search interrupted in its first trial)."""
    mine = folder / f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"      # as keras-tuner names it
    if mine.exists() or not (folder / "oracle.json").exists():
        return
    theirs = next((p for p in (folder / "chief.json", folder / "tuner0.json") if p.exists()), None)
    if theirs is not None:
        import shutil
        shutil.copyfile(theirs, mine)
    elif (n := _finished_trials(folder)):
        raise ValueError(f"{folder} holds a search with {n} finished trial(s) but no tuner file "
                         f"({mine.name} or chief.json) to resume it from: move the folder away to keep it, or start "
                         f"over with overwrite=True (it deletes only that folder).")


def make_tuner(hypermodel, project: str, max_trials: int, *, overwrite: bool = False,
               directory: Optional[Path] = None, seed: int = CFG.seed):
    """A resumable ``keras_tuner.BayesianOptimization`` under ``artifacts/tuning/<project>``, showing
    a progress bar over its trials. The first ``bo_initial_points`` trials (course.ini) are random, a
    Gaussian process proposes the rest. Objective: the hypermodel's objective (minimised);
    accuracy is still logged. Trials whose network ends dead are recorded as FAILED.  A search left
    in the folder (by ``labkit tune`` too, finished or interrupted) is resumed (:func:`_adopt_search`)."""
    import keras_tuner as kt
    atomic_tuner_saves()
    directory = Path(directory or artifacts.tuning())
    if not overwrite:
        _adopt_search(directory / project)
    try:
        return _progress_tuner_class()(
            hypermodel, objective=kt.Objective(hypermodel.objective, "min"), max_trials=max_trials,
            seed=seed, num_initial_points=CFG.training.bo_initial_points, directory=str(directory),
            project_name=project, overwrite=overwrite, max_consecutive_failed_trials=max_trials)
    except (ValueError, KeyError, json.JSONDecodeError, OSError) as err:
        broken = _broken_files(directory / project)
        what = (f"{', '.join(map(str, broken[:3]))}{' ...' if len(broken) > 3 else ''} "
                f"{'is' if len(broken) == 1 else 'are'} truncated or not JSON (an interrupted save?)"
                if broken else f"{type(err).__name__}: {err}")
        raise ValueError(
            f"the saved search in {directory / project} cannot be resumed: {what}; start over by deleting that "
            f"folder (in a lab: overwrite=True; `labkit tune`: --fresh), or restore the file from a copy") from None


def atomic_tuner_saves() -> None:
    """keras-tuner saves its search (``oracle.json``, ``trial.json``, the tuner file) by opening the file
    for writing and writing the JSON: a run stopped in between (Ctrl-C, the launcher stopping a
    distributed chief) leaves a truncated file, and the search can no longer be resumed.  Its one JSON
    writer (``keras_tuner.src.utils.save_json``) is made atomic here (:func:`labkit.artifacts.write_text_atomic`:
    the old file or the new one, never half of one).  Idempotent."""
    from keras_tuner.src import utils as kt_utils
    if getattr(kt_utils.save_json, "labkit_atomic", False):
        return

    def save_json(path, obj):
        text = json.dumps(obj)
        artifacts.write_text_atomic(path, text)
        return text

    save_json.labkit_atomic = True
    kt_utils.save_json = save_json


def _broken_files(folder: Path) -> list:
    """The JSON files of a search folder that do not parse (what an interrupted save leaves)."""
    broken = []
    for path in sorted(folder.glob("*.json")) + sorted(folder.glob("trial_*/trial.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            broken.append(path)
    return broken


def search(hypermodel, split: Split, project: str, *, trials: int, epochs: int, training: Training,
           overwrite: bool = False, directory: Optional[Path] = None, verbose: int = 1, seed: int = CFG.seed):
    """Run (or resume) a Bayesian search; returns ``(tuner, best_hp)``."""
    seed_everything(seed)
    tuner = make_tuner(hypermodel, project, trials, overwrite=overwrite, directory=directory, seed=seed)
    x, y = xy(split.train)
    xv, yv = xy(split.val)
    done = sum(1 for t in tuner.oracle.trials.values() if t.status == "COMPLETED")
    if done and verbose:
        print(f"resuming {project}: {done} finished trial(s) reused (overwrite=True starts over)")
    tuner.search(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=training.batch_size,
                 callbacks=[early_stopping(hypermodel, training.early_stopping_patience)], verbose=0)
    best = tuner.get_best_hyperparameters(1)
    if not best:
        raise RuntimeError(f"no trial of {project} completed; see the errors above and rerun")
    return tuner, best[0]


def train_final(hypermodel, hp, split: Split, *, epochs: int, training: Training, progress: bool = True,
                tuner=None, seed: int = CFG.seed):
    """Rebuild the model from ``hp`` with the search's own builder and train it; returns (model, history).

    A dead result (constant output, or accuracy at the class prior on the validation pulses) is
    never returned: the run says so and trains the search's next-best hyper-parameters instead
    (from ``tuner``); with none left it raises :class:`~labkit.training.compress.DeadModelError`.
    ``history.hp`` holds the hyper-parameters of the returned model, ``history.dead_runs`` the
    number of dead final trainings on the way."""
    import keras_tuner as kt

    from .compress import DEAD_PREFIX, DeadModelError
    x, y = xy(split.train)
    xv, yv = xy(split.val)
    candidates = [hp] + [h for h in (tuner.get_best_hyperparameters(5) if tuner else []) if h.values != hp.values]
    for n_dead, cand in enumerate(candidates):
        seed_everything(seed)
        model = hypermodel.build(cand)
        callbacks = [early_stopping(hypermodel, training.early_stopping_patience)]
        if progress:
            from tqdm.keras import TqdmCallback
            callbacks.append(TqdmCallback(verbose=0, desc=f"{hypermodel.name} (final)"))
        try:   # the hypermodel's fit refuses a dead result (constant output) with FailedTrialError
            history = hypermodel.fit(cand, model, x, y, validation_data=(xv, yv), epochs=epochs,
                                     batch_size=training.batch_size, callbacks=callbacks, verbose=0)
        except kt.errors.FailedTrialError as dead:
            nxt = ("training the search's next-best hyper-parameters instead" if n_dead + 1 < len(candidates)
                   else "no candidate is left")
            print(f"the final {hypermodel.name} is dead: {str(dead)[len(DEAD_PREFIX):]}; it is not kept: {nxt}.")
            continue
        history.hp, history.dead_runs = cand, n_dead
        return model, history
    raise DeadModelError(f"every final {hypermodel.name} training ended dead ({len(candidates)} tried); "
                         f"rerun the search with more trials or epochs (see lab 03, 'dead students').")


def _kept(model, trial, curves):
    """``(model, hp, history)`` of a kept trial network, shaped like :func:`train_final`'s result."""
    from types import SimpleNamespace
    hp = trial.hyperparameters
    return model, hp, SimpleNamespace(history=curves.history if curves else {}, hp=hp, dead_runs=0,
                                      trial_id=trial.trial_id)


def kept_teacher(tuner):
    """The teacher search's best trial as it was trained: ``(model, hp, history)``, or None when
    that trial kept no weights or curves (a search run by an older labkit, or by distributed
    workers whose checkpoints stayed on their own hosts).

    keras-tuner saves each trial's weights at its best epoch; ``tuner.load_model(trial)`` rebuilds
    the network with the search's own ``build`` and loads them.  Retraining the same
    hyper-parameters from a new random start (:func:`train_final`) gives a network the search never
    validated (on synthetic pulses, one retraining stopped early at many times the trial's validation
    loss)."""
    best = tuner.oracle.get_best_trials(1)
    if not best:
        return None
    trial = best[0]
    curves = trial_history(tuner, trial.trial_id)
    if curves is None or not any(Path(tuner.get_trial_dir(trial.trial_id)).glob("checkpoint*")):
        return None
    return _kept(tuner.load_model(trial), trial, curves)


def logits(model, pulses) -> np.ndarray:
    return np.asarray(model.predict(xy(pulses)[0], batch_size=4096, verbose=0))


def accuracy(model, pulses) -> float:
    return float((logits(model, pulses).argmax(1) == xy(pulses)[1]).mean())


# ------------------------------------------------------------------------------------------
# the two stages end to end
# ------------------------------------------------------------------------------------------

def teacher_stage(split: Split, *, training: Training = None, project: str = "teacher", overwrite: bool = False,
                  directory: Optional[Path] = None, verbose: int = 1, seed: int = CFG.seed):
    """Search, then the best trial's own network (:func:`kept_teacher`; a final training of the
    best hyper-parameters only if that trial kept none); returns (model, hp, history, tuner)."""
    from .models import TeacherHyperModel
    training = training or CFG.training
    hm = TeacherHyperModel()
    tuner, hp = search(hm, split, project, trials=training.teacher_trials, epochs=training.teacher_epochs,
                       training=training, overwrite=overwrite, directory=directory, verbose=verbose, seed=seed)
    kept = kept_teacher(tuner)
    if kept is not None:
        model, _, history = kept
    else:
        model, history = train_final(hm, hp, split, epochs=training.teacher_epochs, training=training,
                                     progress=verbose > 0, tuner=tuner, seed=seed)
    return model, history.hp, history, tuner


def student_search(split: Split, teacher, *, training: Training = None, project: str = "student",
                   overwrite: bool = False, directory: Optional[Path] = None, verbose: int = 1,
                   seed: int = CFG.seed, trials: Optional[int] = None):
    """Run (or resume) the student search (:class:`~labkit.training.models.StudentHyperModel`: depth
    0–2, bits and first-layer sparsity searched, each trial's cost and validation predictions kept);
    returns ``(tuner, hypermodel, points)`` (:func:`labkit.training.selection.points`)."""
    from . import selection
    from .models import StudentHyperModel
    training = training or CFG.training
    hm = StudentHyperModel(teacher, len(split.train), epochs=training.student_epochs, batch_size=training.batch_size)
    tuner, _ = search(hm, split, project, trials=int(trials or training.student_trials),
                      epochs=training.student_epochs, training=training, overwrite=overwrite,
                      directory=directory, verbose=verbose, seed=seed)
    return tuner, hm, selection.points(tuner)


def choose_student(split: Split, tuner, pts, mode: Optional[str] = None) -> dict:
    """The trial ``mode`` (default course.ini [search] selection) hands on, with its reason
    (:func:`labkit.training.selection.select`; pareto's floor and paired test use the validation pulses)."""
    from . import selection
    return selection.select(pts, mode, y_val=split.val.y, floor=selection.cut_floor(split))


def kept_trial(tuner, trial_id: str):
    """A trial's own finalized student as it was trained: ``(student, hp, history)``, or None when
    that trial kept no student (a search run with ``hardware_cost=False`` or by an older labkit).

    Every trial of the student search keeps the network it trained, pruned and validated
    (:func:`save_trial_student`).  Handing on the chosen trial itself, instead of retraining its
    hyper-parameters from a new random start (:func:`train_final`), keeps the network that the
    selection actually validated.  ``history.history`` holds its curves, ``history.hp`` its
    hyper-parameters, ``history.trial_id`` the trial and ``history.dead_runs`` is 0 (dead trials
    were refused during the search and kept nothing)."""
    from .modelfile import load_model
    path = trial_student_path(tuner, trial_id)
    if not path.exists():
        return None
    return _kept(load_model(path), tuner.oracle.get_trial(trial_id), trial_history(tuner, trial_id))


def student_stage(split: Split, teacher, *, training: Training = None, project: str = "student",
                  overwrite: bool = False, directory: Optional[Path] = None, verbose: int = 1, seed: int = CFG.seed,
                  mode: Optional[str] = None):
    """Search, choose (course.ini [search] selection, or ``mode``), then the chosen trial's own
    finalized student; returns (student, hp, history, tuner, kernel sparsity).  ``history.selection``
    is the chosen point (:func:`labkit.training.selection.summary`); a search whose trials kept no
    students falls back to a final training of the best hyper-parameters (``history.selection`` None)."""
    from . import compress, selection
    from .models import student_of
    training = training or CFG.training
    tuner, hm, pts = student_search(split, teacher, training=training, project=project, overwrite=overwrite,
                                    directory=directory, verbose=verbose, seed=seed)
    chosen = choose_student(split, tuner, pts, mode) if any(p["path"] for p in pts) else None
    kept = kept_trial(tuner, chosen["trial_id"]) if chosen and chosen["path"] else None
    if kept is not None:
        student, hp, history = kept
        history.selection = selection.summary(chosen)
    else:
        hp = tuner.get_best_hyperparameters(1)[0]
        model, history = train_final(hm, hp, split, epochs=training.student_epochs, training=training,
                                     progress=verbose > 0, tuner=tuner, seed=seed)
        student = compress.finalize_student(student_of(model))
        history.selection = None
    return student, history.hp, history, tuner, hm.sparsities(history.hp)[1]


# ------------------------------------------------------------------------------------------
# scores
# ------------------------------------------------------------------------------------------

def neutron_score(z: np.ndarray) -> np.ndarray:
    """The discriminator's score: neutron logit minus gamma logit (higher = more neutron-like)."""
    return z[:, 1] - z[:, 0]
