"""Stages 02–03 — training: the teacher (float Keras MLP) and the student (QKeras, distillation,
quantization-aware pruning), both chosen by keras-tuner's Bayesian optimisation.

* ``models``      — the keras-tuner hypermodels (``TeacherHyperModel``, ``StudentHyperModel``) and the student builder
* ``tuning``      — the search (``make_tuner``, ``search``, ``early_stopping``), the final training, ``labkit bench accuracy``
* ``compress``    — distillation (``Distiller``), pruning schedules, dead-network checks, model I/O and metrics
* ``checkpoints`` — the teacher/student checkpoints each lab writes and the next one reads

Heavy (TensorFlow): import the modules you need, e.g. ``from labkit.training import models, tuning``.
"""
