"""Bayesian optimisation (keras-tuner) for teacher and student, final training, the accuracy bench.

Searches are resumable: trials live under ``artifacts/tuning/<project>`` and a rerun reuses the
finished ones (``overwrite=True`` starts over).  The final model is always rebuilt from the best
``hp.values`` by the hypermodel's own ``build``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .config import CFG, Training, artifacts_dir
from .data import Split, load_split, preprocess


def seed_everything(seed: int = CFG.seed) -> None:
    import tensorflow as tf
    os.environ.setdefault("PYTHONHASHSEED", "0")
    tf.keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF
        pass


def xy(pulses):
    """Network input (preprocessed windows) and labels."""
    return preprocess(pulses.X), pulses.y.astype(np.int64)


def _early_stopping(patience: int):
    import tensorflow as tf
    return tf.keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=patience,
                                            restore_best_weights=True)


_TUNER_CLASS = None


def _progress_tuner_class():
    """``kt.BayesianOptimization`` with a progress bar over trials (score of the last, best so far)."""
    global _TUNER_CLASS
    if _TUNER_CLASS is None:
        import keras_tuner as kt
        from tqdm.auto import tqdm

        class BayesianOptimizationWithProgress(kt.BayesianOptimization):
            def on_search_begin(self):
                super().on_search_begin()
                done = sum(1 for t in self.oracle.trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID"))
                self._bar = tqdm(total=self.oracle.max_trials, initial=min(done, self.oracle.max_trials),
                                 desc=f"{self.project_name} trials", unit="trial")

            def on_trial_end(self, trial):
                super().on_trial_end(trial)
                best = self.oracle.get_best_trials(1)
                self._bar.set_postfix(last=f"{trial.score:.4f}" if trial.score is not None else trial.status,
                                      best=f"{best[0].score:.4f}" if best and best[0].score is not None else "-")
                self._bar.update(1)

            def on_search_end(self):
                super().on_search_end()
                self._bar.close()

        _TUNER_CLASS = BayesianOptimizationWithProgress
    return _TUNER_CLASS


def make_tuner(hypermodel, project: str, max_trials: int, *, overwrite: bool = False,
               directory: Optional[Path] = None):
    """A resumable ``keras_tuner.BayesianOptimization`` (objective: validation accuracy) under
    ``artifacts/tuning/<project>``, showing a progress bar over its trials."""
    import keras_tuner as kt
    directory = Path(directory or artifacts_dir("tuning"))
    try:
        return _progress_tuner_class()(
            hypermodel, objective=kt.Objective("val_accuracy", "max"), max_trials=max_trials,
            seed=CFG.seed, directory=str(directory), project_name=project, overwrite=overwrite,
            max_consecutive_failed_trials=max_trials)
    except (ValueError, KeyError, json.JSONDecodeError, OSError) as err:
        raise ValueError(
            f"the saved search in {directory / project} cannot be resumed ({type(err).__name__}: {err}); "
            f"start over with overwrite=True (it deletes only that folder).") from None


def search(hypermodel, split: Split, project: str, *, trials: int, epochs: int, training: Training,
           overwrite: bool = False, directory: Optional[Path] = None, verbose: int = 1):
    """Run (or resume) a Bayesian search; returns ``(tuner, best_hp)``."""
    seed_everything()
    tuner = make_tuner(hypermodel, project, trials, overwrite=overwrite, directory=directory)
    x, y = xy(split.train)
    xv, yv = xy(split.val)
    done = sum(1 for t in tuner.oracle.trials.values() if t.status == "COMPLETED")
    if done and verbose:
        print(f"resuming {project}: {done} finished trial(s) reused (overwrite=True starts over)")
    tuner.search(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=training.batch_size,
                 callbacks=[_early_stopping(training.early_stopping_patience)], verbose=0)
    best = tuner.get_best_hyperparameters(1)
    if not best:
        raise RuntimeError(f"no trial of {project} completed; see the errors above and rerun")
    return tuner, best[0]


def train_final(hypermodel, hp, split: Split, *, epochs: int, training: Training, progress: bool = True,
                target: Optional[float] = None, attempts: int = 3):
    """Rebuild the model from ``hp`` with the search's own builder and train it; returns (model, history).

    Tiny quantized networks can start with dead ReLUs and never learn. If ``target`` (the search's
    best validation accuracy) is given and the run ends more than 2 points below it, training is
    repeated from a new seed (up to ``attempts`` runs, each reported) and the best run is kept."""
    x, y = xy(split.train)
    xv, yv = xy(split.val)
    best = None
    for attempt in range(attempts):
        seed_everything(CFG.seed + attempt)
        model = hypermodel.build(hp)
        callbacks = [_early_stopping(training.early_stopping_patience)]
        if progress:
            from tqdm.keras import TqdmCallback
            callbacks.append(TqdmCallback(verbose=0, desc=f"{hypermodel.name} (final)"))
        history = hypermodel.fit(hp, model, x, y, validation_data=(xv, yv), epochs=epochs,
                                 batch_size=training.batch_size, callbacks=callbacks, verbose=0)
        score = max(history.history.get("val_accuracy", [0.0]))
        if best is None or score > best[2]:
            best = (model, history, score)
        if target is None or score >= target - 0.02:
            break
        print(f"final training reached val_accuracy {score:.4f}, the search reached {target:.4f}: "
              f"retrying with seed {CFG.seed + attempt + 1}")
    return best[0], best[1]


def best_score(tuner) -> Optional[float]:
    trials = tuner.oracle.get_best_trials(1)
    return float(trials[0].score) if trials and trials[0].score is not None else None


def accuracy(model, pulses) -> float:
    x, y = xy(pulses)
    logits = model.predict(x, batch_size=4096, verbose=0)
    return float((np.argmax(logits, axis=1) == y).mean())


# ------------------------------------------------------------------------------------------
# the two stages end to end
# ------------------------------------------------------------------------------------------

def teacher_stage(split: Split, *, training: Training = None, project: str = "teacher", overwrite: bool = False,
                  directory: Optional[Path] = None, verbose: int = 1):
    from .models import TeacherHyperModel
    training = training or CFG.training
    hm = TeacherHyperModel()
    tuner, hp = search(hm, split, project, trials=training.teacher_trials, epochs=training.teacher_epochs,
                       training=training, overwrite=overwrite, directory=directory, verbose=verbose)
    model, history = train_final(hm, hp, split, epochs=training.teacher_epochs, training=training,
                                 progress=verbose > 0, target=best_score(tuner))
    return model, hp, history, tuner


def student_stage(split: Split, teacher, *, training: Training = None, project: str = "student",
                  overwrite: bool = False, directory: Optional[Path] = None, verbose: int = 1):
    from . import compress
    from .models import StudentHyperModel, student_of
    training = training or CFG.training
    hm = StudentHyperModel(teacher, len(split.train), epochs=training.student_epochs, batch_size=training.batch_size)
    tuner, hp = search(hm, split, project, trials=training.student_trials, epochs=training.student_epochs,
                       training=training, overwrite=overwrite, directory=directory, verbose=verbose)
    model, history = train_final(hm, hp, split, epochs=training.student_epochs, training=training,
                                 progress=verbose > 0, target=best_score(tuner))
    student = compress.finalize_student(student_of(model))
    return student, hp, history, tuner, hm.sparsity


# ------------------------------------------------------------------------------------------
# labkit bench accuracy
# ------------------------------------------------------------------------------------------

def bench_accuracy(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit bench accuracy", description=(
        "Teacher + student workflow with full (not fast) settings; prints one JSON line."))
    ap.add_argument("--train", default="synthetic", help="'synthetic' or a window CSV (header 120,…,280,class)")
    ap.add_argument("--test", help="window CSV used as the test set (default: the 15 %% test split of --train)")
    ap.add_argument("--fresh", action="store_true", help="start the searches over instead of resuming")
    args = ap.parse_args(argv)

    from . import baselines, compress
    t0 = time.time()
    training = CFG.training_full
    tag = "synthetic" if args.train == "synthetic" else Path(args.train).stem
    if args.test:
        tag += "-test-" + Path(args.test).stem
    directory = artifacts_dir("bench", "accuracy", tag)
    if args.fresh:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    split = load_split(args.train, test=args.test, progress=False)
    teacher, _, _, _ = teacher_stage(split, training=training, directory=directory, verbose=0)
    student, hp, _, _, sparsity = student_stage(split, teacher, training=training, directory=directory, verbose=0)
    m = compress.model_metrics(student, teacher)
    base = baselines.evaluate(split)
    out = {
        "teacher_acc": round(accuracy(teacher, split.test), 5),
        "student_acc": round(accuracy(student, split.test), 5),
        "baseline_acc": round(baselines.best_accuracy(base), 5),
        "student_params": m["params"], "student_nonzero": m["nonzero"], "weight_bits": m["weight_bits"],
        "compression_ratio": m["compression_ratio"], "wall_s": round(time.time() - t0, 1),
        "n_train": len(split.train), "n_test": len(split.test), "train": args.train, "test": args.test or "split",
        "student_hp": hp.values, "baselines": {k: round(v["accuracy"], 5) for k, v in base.items()},
    }
    print(json.dumps(out))
    return 0
