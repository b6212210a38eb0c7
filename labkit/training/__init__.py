"""Stages 02–03 — training: the teacher (float Keras MLP) and the student (QKeras, distillation,
quantization-aware pruning), both chosen by keras-tuner's Bayesian optimisation, and the choice of the
student the rest of the course deploys.

* ``models``      — the keras-tuner hypermodels (``TeacherHyperModel``, ``StudentHyperModel``) and the student builder
* ``tuning``      — the search (``make_tuner``, ``search``, ``early_stopping``), the stages end to end, the final training
* ``compress``    — distillation (``Distiller``), pruning schedules, dead-network checks, compression metrics
* ``modelfile``   — saving a model atomically and loading one safely (``save_model``, ``load_model``)
* ``contract``    — what a student must look like for the later stages, and its reference logits
* ``ownmodel``    — your own Keras/QKeras classifier rewritten into that contract, exactly (``load_own_student``)
* ``cost``        — what a student costs in hardware (the da4ml trace and the LUT / latency estimate)
* ``selection``   — the trials of the student search as points, their front, and the deployed student's choice
* ``checkpoints`` — the teacher/student checkpoints each lab writes and the next one reads

Heavy (TensorFlow): import the modules you need, e.g. ``from labkit.training import models, tuning``
(``contract``, ``cost`` and ``selection`` import without TensorFlow).
"""
