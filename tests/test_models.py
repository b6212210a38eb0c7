"""Stage 2: hypermodels, distillation on logits, QAT + pruning, save/load, resumable BO."""
import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
kt = pytest.importorskip("keras_tuner")

from labkit.training import checkpoints, compress, modelfile, models, tuning  # noqa: E402
from labkit.config import CFG  # noqa: E402
from labkit import metrics  # noqa: E402
from labkit.data import formats  # noqa: E402


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))


def _toy_split(n=600, seed=0):
    """Linearly separable pulses: neutrons are slower (a ramp) — enough for shape tests."""
    from labkit.data import Split
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(CFG.n_samples)
    amp = rng.uniform(50, 300, n)
    rise = np.where(y == 1, 40.0, 15.0)
    pulse = amp[:, None] * (1 - np.exp(-np.clip(t[None, :] - 20, 0, None) / rise[:, None]))
    X = np.clip(np.round(400 - pulse + rng.normal(0, 0.7, pulse.shape)), 0, 1023).astype(np.uint16)
    p = formats.Pulses(X, y)
    k1, k2 = int(0.7 * n), int(0.85 * n)
    return Split(p.subset(slice(0, k1)), p.subset(slice(k1, k2)), p.subset(slice(k2, n)))


def _hp(**values):
    hp = kt.HyperParameters()
    for k, v in values.items():
        hp.Fixed(k, v)
    return hp


def test_teacher_hp_names_round_trip():
    hm = models.TeacherHyperModel()
    hp = _hp(layers=2, units_0=64, units_1=36, learning_rate=1e-3)
    model = hm.build(hp)
    dense = [l for l in model.layers if isinstance(l, tf.keras.layers.Dense)]
    assert [l.units for l in dense] == [64, 36, CFG.n_classes]
    assert model.layers[-1].get_config()["activation"] == "linear"   # logits
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    # the search space itself
    space = kt.HyperParameters()
    hm.build(space)
    names = {p.name for p in space.space}
    assert {"layers", "units_0", "learning_rate"} <= names
    assert space.get("learning_rate") in models.TEACHER_LEARNING_RATES and 1e-2 not in models.TEACHER_LEARNING_RATES


def test_student_hp_names_round_trip():
    hm = models.StudentHyperModel(None, 420, epochs=4, batch_size=64, hardware_knobs=False)   # course.ini's bits
    hp = _hp(layers=2, units_0=5, units_1=3, learning_rate=1e-2, temperature=4.0, alpha=0.3)
    stripped = compress.strip(hm.build(hp))
    qd = [l for l in stripped.layers if hasattr(l, "kernel_quantizer_internal")]
    assert [l.units for l in qd] == [5, 3, CFG.n_classes]
    assert all(l.kernel_quantizer_internal.bits == CFG.weight_bits for l in qd)
    assert stripped.layers[-1].name == "logits"


def test_student_search_space_reaches_a_linear_student():
    """Depth 0 (inputs -> logits) to 2 hidden layers; bits and first-layer sparsity searched by default."""
    hm = models.StudentHyperModel(None, 420, epochs=4, batch_size=64)
    space = kt.HyperParameters()
    hm.build(space)
    layers = next(p for p in space.space if p.name == "layers")
    assert (layers.min_value, layers.max_value) == (0, 2)
    assert {"weight_bits", "activation_bits", "sparsity"} <= {p.name for p in space.space}
    hp = _hp(layers=0, learning_rate=1e-3, temperature=4.0, alpha=0.9, weight_bits=5, activation_bits=5, sparsity=0.9)
    stripped = compress.strip(hm.build(hp))
    qd = [l for l in stripped.layers if hasattr(l, "kernel_quantizer_internal")]
    assert [l.units for l in qd] == [CFG.n_classes] and qd[0].kernel_quantizer_internal.bits == 5
    assert hm.layer_sparsity == [0.9] and models.student_nonzero_estimate([], hm.layer_sparsity) <= CFG.training.max_nonzero


def test_sparsity_budget_is_spent_on_the_first_layer():
    assert models.layer_sparsities([2], 0.5, 200) == [0.5, 0.0]
    s = models.layer_sparsities([20], 0.5, 200)
    assert s[0] > 0.9 and s[1] == 0.0 and models.student_nonzero_estimate([20], s) <= 200
    # small layers behind the first stay dense while they fit in half of the budget
    assert models.layer_sparsities([8, 3], 0.5, 200)[1:] == [0.0, 0.0]
    # ... and are pruned only when they alone would take more than half of it
    wide = models.layer_sparsities([20, 8], 0.5, 200)
    assert wide[1] > 0 and models.student_nonzero_estimate([20, 8], wide) <= 200
    assert models.overall_sparsity([20], s) == pytest.approx((161 * 20 * s[0]) / (161 * 20 + 40))


def test_small_data_gets_enough_optimizer_steps_and_a_spaced_pruning_ramp():
    # 628 real training pulses: batch 256 would give 3 steps per epoch
    assert compress.effective_batch_size(628, 256) == 39
    assert compress.effective_batch_size(8400, 256) == 256
    assert compress.effective_batch_size(10, 256) == 10
    schedule, end_epoch = compress.pruning_schedule(628, 39, 40, 0.85)
    cfg = schedule.get_config()["config"]
    steps, total = 17, 17 * 40
    assert cfg["begin_step"] == steps                                   # after the first epoch
    assert (cfg["end_step"] - cfg["begin_step"]) == compress.MASK_UPDATES * cfg["frequency"]
    assert cfg["frequency"] > 1 and cfg["end_step"] <= total // 2          # spaced updates, half the run to fine-tune
    # the target is reached exactly at the last mask update
    assert float(schedule(cfg["end_step"])[1]) == pytest.approx(0.85, abs=1e-6)
    assert end_epoch <= 21


def test_distillation_loss_uses_logits_and_temperature():
    t = np.array([[4.0, -2.0], [0.5, 1.5]], np.float32)
    s = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    T = 4.0

    def ref(a, b):
        pa = np.exp(a / T) / np.exp(a / T).sum(1, keepdims=True)
        pb = np.exp(b / T) / np.exp(b / T).sum(1, keepdims=True)
        return float((pa * (np.log(pa) - np.log(pb))).sum(1).mean() * T * T)

    got = float(compress.distillation_loss(t, s, T))
    assert got == pytest.approx(ref(t, s), rel=1e-5)
    # distilling softmax outputs instead of logits gives a different (wrong) number
    soft = lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)  # noqa: E731
    assert abs(float(compress.distillation_loss(soft(t), soft(s), T)) - got) > 1e-3
    assert float(compress.distillation_loss(t, s, 1.0)) != pytest.approx(got)


def test_distiller_logs_kd_loss_on_logits():
    split = _toy_split(200)
    x, y = tuning.xy(split.train)
    teacher = models.TeacherHyperModel().build(_hp(layers=1, units_0=32, learning_rate=1e-3))
    student = models.build_student([4])
    d = compress.Distiller(student, teacher, temperature=4.0, alpha=0.3)
    d.compile(optimizer=tf.keras.optimizers.SGD(0.0))        # lr 0: weights do not move
    logs = d.evaluate(x, y, batch_size=len(x), return_dict=True, verbose=0)
    want = float(compress.distillation_loss(teacher(x), student(x), 4.0))
    assert logs["kd_loss"] == pytest.approx(want, rel=1e-4)
    h = d.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    assert {"loss", "student_loss", "kd_loss", "accuracy"} <= set(h.history)


def test_energy_balance_weights_against_hand_computed_values():
    counts = 2.0 ** -CFG.input_frac_bits           # preprocessed input of one ADC count
    # amplitudes 50, 50, 50, 60 counts (bin 40-80: 3 gammas, 1 neutron) and 500, 600 (bin 320-1024: 2 neutrons)
    x = np.zeros((6, 5))
    x[:, 2] = np.array([50, 50, 50, 60, 500, 600]) * counts
    y = np.array([0, 0, 0, 1, 1, 1])
    # bin 40-80: gammas 4 / (2 * 3) = 2/3, the neutron 4 / (2 * 1) = 2; bin 320-1024: 2 / (2 * 2) = 1/2
    raw = np.array([2 / 3, 2 / 3, 2 / 3, 2.0, 0.5, 0.5])
    assert compress.energy_balance_weights(x, y, cap=10) == pytest.approx(raw / raw.mean())
    capped = np.array([2 / 3, 2 / 3, 2 / 3, 1.5, 0.5, 0.5])           # the neutron's 2 capped at 1.5
    assert compress.energy_balance_weights(x, y, cap=1.5) == pytest.approx(capped / capped.mean())
    # one class per bin, same size everywhere: every pulse weighs 1
    assert compress.energy_balance_weights(x[4:], y[4:], cap=10) == pytest.approx([1.0, 1.0])
    # the table lab 03 prints: pulses per bin and class, and their mean weight
    rows = compress.energy_balance_table(x, y, raw).splitlines()
    assert len(rows) == 1 + len(metrics.default_amplitude_edges()) - 1
    assert rows[3].split() == ["40", "-", "80", "3", "0.67", "1", "2.00"]
    assert rows[6].split() == ["320", "-", "1024", "0", "-", "2", "0.50"]


def test_distillation_loss_and_distiller_weigh_each_pulse():
    t = np.array([[4.0, -2.0], [0.5, 1.5], [1.0, 1.0]], np.float32)
    s = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], np.float32)
    w = np.array([0.5, 2.0, 0.5], np.float32)
    per_pulse = [float(compress.distillation_loss(t[i:i + 1], s[i:i + 1], 2.0)) for i in range(3)]
    assert float(compress.distillation_loss(t, s, 2.0, w)) == pytest.approx(float(np.mean(w * per_pulse)), rel=1e-5)
    # the Distiller trains on weighted pulses (a pulse of weight 0 does not count); validation is
    # weighted the same way when validation_data carries weights, else every pulse weighs 1
    split = _toy_split(200)
    x, y = tuning.xy(split.train)
    teacher = models.TeacherHyperModel().build(_hp(layers=1, units_0=16, learning_rate=1e-3))
    d = compress.Distiller(models.build_student([4]), teacher, temperature=2.0, alpha=0.3)
    d.compile(optimizer=tf.keras.optimizers.SGD(0.0))
    weight = np.ones(len(y), np.float32)
    weight[y == 1] = 0.0
    h = d.fit(x, y, sample_weight=weight, epochs=1, batch_size=len(x), verbose=0, validation_data=(x, y))
    logits = d.student(x)
    want = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits, sample_weight=weight)
    assert h.history["student_loss"][0] == pytest.approx(float(want), rel=1e-4)
    plain = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    assert h.history["val_student_loss"][0] == pytest.approx(float(plain), rel=1e-4)
    h = d.fit(x, y, epochs=1, batch_size=len(x), verbose=0, validation_data=(x, y, weight))
    assert h.history["val_student_loss"][0] == pytest.approx(float(want), rel=1e-4)
    kd = compress.distillation_loss(teacher(x), logits, 2.0, weight)
    assert h.history["val_kd_loss"][0] == pytest.approx(float(kd), rel=1e-4)


def test_the_student_trains_on_energy_balanced_pulses(monkeypatch):
    split = _toy_split(300)
    x, y = tuning.xy(split.train)
    hp = _hp(layers=1, units_0=4, learning_rate=3e-3, temperature=4.0, alpha=0.3)
    seen = {}

    def fit(self, *args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop")

    monkeypatch.setattr(tf.keras.Model, "fit", fit)
    for cap, balanced in ((CFG.training.balance_cap, CFG.training.balance_cap > 0), (0, False)):
        hm = models.StudentHyperModel(None, len(x), epochs=2, batch_size=64, balance_cap=cap)
        seen.clear()
        with pytest.raises(RuntimeError, match="stop"):
            hm.fit(hp, hm.build(hp), x, y, validation_data=tuning.xy(split.val), epochs=2, verbose=0)
        assert len(seen["validation_data"]) == 2          # validation pulses weigh 1
        if balanced:
            assert seen["sample_weight"] == pytest.approx(compress.energy_balance_weights(x, y, cap))
        else:
            assert seen.get("sample_weight") is None


def test_distiller_rejects_softmax_models_and_mismatched_inputs():
    student = models.build_student([4])
    soft_teacher = tf.keras.Sequential([tf.keras.Input((CFG.n_samples,)), tf.keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match="logits"):
        compress.Distiller(student, soft_teacher)
    other = tf.keras.Sequential([tf.keras.Input((100,)), tf.keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="inputs"):
        compress.Distiller(student, other)


@pytest.fixture(scope="module")
def trained_student(tmp_path_factory):
    """A pruned, distilled QKeras student trained for real (small)."""
    split = _toy_split(900)
    x, y = tuning.xy(split.train)
    tuning.seed_everything()
    teacher = models.TeacherHyperModel().build(_hp(layers=1, units_0=32, learning_rate=1e-2))
    teacher.fit(x, y, epochs=5, batch_size=64, verbose=0)
    hm = models.StudentHyperModel(teacher, len(x), epochs=8, batch_size=64, target_sparsity=0.6,
                                  hardware_knobs=False)
    hp = _hp(layers=1, units_0=3, learning_rate=1e-2, temperature=4.0, alpha=0.3)
    model = hm.build(hp)
    hm.fit(hp, model, x, y, validation_data=tuning.xy(split.val), epochs=8, batch_size=64, verbose=0,
           callbacks=[tf.keras.callbacks.EarlyStopping("val_accuracy", patience=1)])
    return split, hm, models.student_of(model)


def test_stripped_student_reaches_target_sparsity(trained_student):
    _, hm, student = trained_student
    stripped = compress.strip(student)
    assert abs(compress.kernel_sparsity(stripped) - hm.sparsity) <= 0.02


def test_weights_on_quantizer_grid_and_save_load(trained_student, tmp_path):
    split, hm, student = trained_student
    final = compress.finalize_student(student)
    for layer in final.layers:
        if hasattr(layer, "kernel_quantizer_internal"):
            k, b = layer.get_weights()
            assert np.array_equal(np.asarray(layer.kernel_quantizer_internal(k)), k)
            assert np.array_equal(np.asarray(layer.bias_quantizer_internal(b)), b)
            step = 2.0 ** -(CFG.weight_bits - 1 - CFG.weight_integer)
            assert np.array_equal(np.round(k / step) * step, k)
    assert compress.kernel_sparsity(final) >= hm.sparsity - 0.02
    x, _ = tuning.xy(split.test)
    path = modelfile.save_model(final, tmp_path / "student.h5")
    back = modelfile.load_model(path)
    assert np.array_equal(back.predict(x, verbose=0), final.predict(x, verbose=0))
    with pytest.raises(FileExistsError):
        modelfile.save_model(final, path)
    m = compress.model_metrics(back)
    assert m["weight_bits"] == CFG.weight_bits and m["nonzero"] < m["params"]
    assert tuning.accuracy(back, split.test) > 0.8


def test_corrupt_and_missing_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="lab"):
        modelfile.load_model(tmp_path / "nothing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ValueError, match="not a loadable Keras model"):
        modelfile.load_model(bad)


def test_checkpoint_save_keeps_previous(tmp_path):
    model = models.build_student([2])
    path = tmp_path / "student.h5"
    checkpoints.save(model, path, note=1)
    checkpoints.save(model, path, note=2)
    assert (tmp_path / "student.prev.h5").exists() and checkpoints.info(path)["note"] == 2


def test_search_resumes_and_corrupt_state_is_explained(tmp_path, capfd):
    split = _toy_split(300)
    training = CFG.training_fast
    hm = models.TeacherHyperModel(max_layers=1)
    # (5 epochs: a 1-epoch teacher at lr 1e-4 can still be constant, and a dead trial is never COMPLETED)
    tuner, hp = tuning.search(hm, split, "t", trials=2, epochs=5, training=training, directory=tmp_path)
    done = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    assert len(done) == 2
    assert "t trials: 100%" in capfd.readouterr().err          # per-trial progress display
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "t").rglob("trial.json")}
    tuner2, hp2 = tuning.search(hm, split, "t", trials=2, epochs=5, training=training, directory=tmp_path)
    assert hp2.values == hp.values
    assert "2 finished trial(s) reused" in capfd.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "t").rglob("trial.json")} == mtimes   # nothing retrained
    (tmp_path / "t" / "oracle.json").write_text("{not json")
    with pytest.raises(ValueError, match="overwrite=True"):
        tuning.make_tuner(hm, "t", 2, directory=tmp_path)
    tuner3 = tuning.make_tuner(hm, "t", 2, directory=tmp_path, overwrite=True)
    assert len(tuner3.oracle.trials) == 0


def test_final_model_is_rebuilt_from_best_hp(tmp_path):
    split = _toy_split(300)
    hm = models.TeacherHyperModel(max_layers=2)
    tuner, hp = tuning.search(hm, split, "rb", trials=2, epochs=1, training=CFG.training_fast, directory=tmp_path)
    model, _ = tuning.train_final(hm, hp, split, epochs=1, training=CFG.training_fast, progress=False)
    units = [l.units for l in model.layers if isinstance(l, tf.keras.layers.Dense)][:-1]
    assert units == [hp.get(f"units_{i}") for i in range(hp.get("layers"))]


def test_hidden_units_do_not_start_dead(monkeypatch):
    """Tiny quantized ReLU layers start with positive biases: fewer dead 1-unit bottlenecks at init."""
    student = models.build_student([5, 1])
    for layer in student.layers:
        if layer.name.startswith("dense_"):
            assert (layer.get_weights()[1] > 0).all()
    assert not student.get_layer("logits").get_weights()[1].any()
    x, _ = tuning.xy(_toy_split(200).train)

    def alive(bias):
        monkeypatch.setattr(models, "HIDDEN_BIAS_INIT", bias)
        n = 0
        for seed in range(10):
            tuning.seed_everything(seed)
            s = models.build_student([5, 1])
            n += float(tf.reduce_max(tf.keras.Model(s.inputs, s.get_layer("relu_1").output)(x))) > 0
        return n

    default, zero = alive(models.HIDDEN_BIAS_INIT), alive(0.0)
    assert default >= 6 and default > zero, (default, zero)


def _dead_after_fit(model):
    """Zero every weight: the network then outputs its (zero) bias for every pulse."""
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])


def test_dead_model_is_detected_and_refused(tmp_path):
    split = _toy_split(200)
    xv, yv = tuning.xy(split.val)
    student = models.build_student([4])
    _dead_after_fit(student)
    reason = compress.dead_reason(student, xv, yv)
    assert reason and "for all" in reason
    with pytest.raises(kt.errors.FailedTrialError, match="dead network"):
        compress.refuse_dead(student, (xv, yv))
    with pytest.raises(compress.DeadModelError, match="not saving student.h5: the model is dead"):
        checkpoints.save(student, tmp_path / "student.h5", check=(xv, yv))
    assert not (tmp_path / "student.h5").exists()


class _DeadFirstTeacher(models.TeacherHyperModel):
    """Its first ``n_dead`` trainings end dead (weights zeroed), the later ones train normally."""

    def __init__(self, n_dead, **kw):
        super().__init__(max_layers=1, **kw)
        self.n_dead, self.calls = n_dead, 0

    def fit(self, hp, model, x, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.n_dead:
            kwargs["epochs"] = 1
            model.fit(x, *args, **{k: v for k, v in kwargs.items() if k != "validation_data"})
            _dead_after_fit(model)
            compress.refuse_dead(model, kwargs["validation_data"])
        return super().fit(hp, model, x, *args, **kwargs)


def test_a_dead_trial_is_never_selected_and_is_counted(tmp_path, capfd):
    split = _toy_split(300)
    hm = _DeadFirstTeacher(n_dead=1)
    tuner, hp = tuning.search(hm, split, "dead", trials=2, epochs=1, training=CFG.training_fast, directory=tmp_path)
    status = sorted(t.status for t in tuner.oracle.trials.values())
    assert status == ["COMPLETED", "FAILED"] and tuning.dead_trials(tuner) == 1
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.status == "COMPLETED" and best.hyperparameters.values == hp.values
    out, err = capfd.readouterr()
    assert "dead trial 0 is dead: it predicts" in out and "Traceback" not in out + err


def test_a_dead_final_training_is_not_kept(tmp_path, capsys):
    split = _toy_split(300)
    hm = models.TeacherHyperModel(max_layers=1)
    tuner, hp = tuning.search(hm, split, "fin", trials=2, epochs=5, training=CFG.training_fast, directory=tmp_path)
    dead_once = _DeadFirstTeacher(n_dead=1)
    model, history = tuning.train_final(dead_once, hp, split, epochs=2, training=CFG.training_fast,
                                        progress=False, tuner=tuner)
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "is not kept" in line]
    assert len(said) == 1 and "the final teacher is dead" in said[0] and "next-best hyper-parameters instead" in said[0]
    assert history.dead_runs == 1 and history.hp.values != hp.values
    assert compress.dead_reason(model, *tuning.xy(split.val)) is None
    always_dead = _DeadFirstTeacher(n_dead=99)
    with pytest.raises(compress.DeadModelError, match="every final teacher training ended dead"):
        tuning.train_final(always_dead, hp, split, epochs=1, training=CFG.training_fast, progress=False)


def test_seeded_student_training_repeats_exactly():
    split = _toy_split(300)
    x, y = tuning.xy(split.train)
    hp = _hp(layers=1, units_0=8, learning_rate=3e-3, temperature=4.0, alpha=0.3)

    def train():
        tuning.seed_everything(7)
        hm = models.StudentHyperModel(None, len(x), epochs=12, batch_size=64)
        model = hm.build(hp)
        hm.fit(hp, model, x, y, validation_data=tuning.xy(split.val), epochs=12, verbose=0)
        return compress.finalize_student(models.student_of(model)).get_weights()

    a, b = train(), train()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_finalized_student_is_a_graph_of_its_own():
    """Only the first layer is pruned: the stripped student must not share layers with the training
    graph (hls4ml's profiling builds Model(input, layer.output) for every layer)."""
    split = _toy_split(200)
    x, y = tuning.xy(split.train)
    schedules, _ = compress.pruning_schedules(len(x), 32, 2, [0.8, 0.0])
    model = models.build_student([4], schedule=schedules)
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=compress.pruning_callbacks())
    final = compress.finalize_student(model)
    for layer in final.layers[1:]:
        tf.keras.Model(final.input, layer.output)          # raises "Graph disconnected" if shared
    assert np.allclose(final.predict(x[:8], verbose=0), compress.strip(model).predict(x[:8], verbose=0), atol=1e-6)


def test_every_hidden_unit_starts_active():
    """A unit dead at the start (negative on every pulse) gets the other sign of its initial weights
    and is then active on every pulse; the units that were alive are left as drawn."""
    x, _ = tuning.xy(_toy_split(200).train)
    tuning.seed_everything(3)
    student = models.build_student([6, 3])
    dense_1 = student.get_layer("dense_1")
    k, b = dense_1.get_weights()
    k[:, 0] = -np.abs(k[:, 0]) - 0.5               # its inputs are ReLU outputs (>= 0): dead on every pulse
    dense_1.set_weights([k, b])
    assert models.live_units(student, x)[1] <= 2
    before = [l.get_weights()[0].copy() for l in models._hidden_dense(student)]
    alive_before = [(tf.keras.Model(student.input, l.output)(x).numpy() > 0).any(0) for l in models._hidden_dense(student)]
    flipped = models.start_units_alive(student, x)
    assert flipped[1] >= 1 and models.live_units(student, x) == [6, 3]
    for layer, k0, was_alive, n in zip(models._hidden_dense(student), before, alive_before, flipped):
        z = tf.keras.Model(student.input, layer.output)(x).numpy()
        k1 = layer.get_weights()[0]
        assert np.array_equal(k1[:, was_alive], k0[:, was_alive])          # live units untouched
        assert np.array_equal(k1[:, ~was_alive], -k0[:, ~was_alive])       # a sign choice, not a new draw
        assert (z[:, ~was_alive] > 0).all() and n == int((~was_alive).sum())
    assert models.start_units_alive(student, x) == [0, 0]          # nothing left to flip


def test_learning_rate_warms_up_over_the_first_epochs():
    ramp = compress.WarmUp(1e-2, 4)
    assert np.allclose([float(ramp(s)) for s in range(6)], [2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2, 1e-2])
    hm = models.StudentHyperModel(None, 640, epochs=4, batch_size=64)
    assert hm.warmup_epochs == models.WARMUP_EPOCHS and isinstance(hm.learning_rate(1e-3), compress.WarmUp)
    assert hm.learning_rate(1e-3).steps == models.WARMUP_EPOCHS * -(-640 // hm.batch_size)
    hm.warmup_epochs = 0
    assert hm.learning_rate(1e-3) == 1e-3


def test_the_best_epoch_is_kept_even_when_training_runs_out():
    """Keras restores ``restore_best_weights`` only when patience runs out; the course keeps the best
    epoch also when training reaches its last epoch."""
    from types import SimpleNamespace
    model = models.build_student([3])
    best = [w + 1.0 for w in model.get_weights()]
    cb = tf.keras.callbacks.EarlyStopping("val_loss", restore_best_weights=True)
    cb.best_weights, cb.best_epoch, cb.stopped_epoch = best, 2, 0
    assert models.keep_best_epoch(model, [cb], SimpleNamespace(epoch=list(range(6)))) == 2
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best))
    other = [w - 5.0 for w in model.get_weights()]
    model.set_weights(other)
    cb.stopped_epoch = 4                   # stopped early: Keras has restored them already
    assert models.keep_best_epoch(model, [cb], SimpleNamespace(epoch=list(range(5)))) == 2
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other))
    assert models.keep_best_epoch(model, [], SimpleNamespace(epoch=list(range(5)))) == 4


def test_the_search_scores_a_trial_by_the_network_it_delivers():
    """The objective is the finalized student's own validation cross-entropy, recorded at the epoch
    whose weights it carries; keras-tuner then reads every other metric at that same epoch."""
    pytest.importorskip("da4ml")
    from keras_tuner.src.engine import tuner_utils
    split = _toy_split(300)
    xv, yv = tuning.xy(split.val)
    hm = models.StudentHyperModel(None, len(split.train), epochs=2, batch_size=64, lut_penalty=0)
    assert hm.objective == models.FINAL_LOSS and hm.monitor == "val_loss"
    assert models.StudentHyperModel(None, 300, epochs=2, batch_size=64, lut_penalty=0.05).objective == models.HW_LOSS
    want = models.HW_LOSS if CFG.search.lut_penalty > 0 else models.FINAL_LOSS       # course.ini's price
    assert models.StudentHyperModel(None, 300, epochs=2, batch_size=64).objective == want
    assert models.StudentHyperModel(None, 300, epochs=2, batch_size=64, cost=None).objective == models.FINAL_LOSS
    student = compress.finalize_student(models.build_student([4]))
    history = tf.keras.callbacks.History()
    history.history = {"val_loss": [0.5, 0.1, 0.3], "val_accuracy": [0.6, 0.9, 0.8]}
    models.record_hardware_cost(history, student, (xv, yv), epoch=2)
    ce = float(tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(yv, student.predict(xv, verbose=0)))
    assert history.history[models.FINAL_LOSS][2] == pytest.approx(ce) and np.isinf(history.history[models.FINAL_LOSS][:2]).all()
    metrics = tuner_utils.convert_to_metrics_dict(history, kt.Objective(models.FINAL_LOSS, "min"))
    assert metrics["val_accuracy"] == 0.8 and metrics[models.FINAL_LOSS] == pytest.approx(ce)
    # with validation weights the objective is the weighted mean cross-entropy
    w = np.where(yv == 1, 3.0, 1.0)
    models.record_hardware_cost(history, student, (xv, yv, w), epoch=2)
    per_pulse = tf.keras.losses.sparse_categorical_crossentropy(yv, student.predict(xv, verbose=0), from_logits=True).numpy()
    assert history.history[models.FINAL_LOSS][2] == pytest.approx(float((w * per_pulse).sum() / w.sum()), rel=1e-5)
    # the search's objective adds lut_penalty per doubling of LUTs over the budget, and nothing under it
    est = models.record_hardware_cost(history, student, (xv, yv), epoch=2, lut_penalty=0.05,
                                      cost=lambda m: {"lut_estimate": 4000, "latency_cycles": 3})
    assert history.history[models.HW_LOSS][2] == pytest.approx(ce + 0.05 * np.log2(4000 / CFG.search.lut_budget))
    assert est[models.HW_LOSS] == history.history[models.HW_LOSS][2] and np.isinf(history.history[models.HW_LOSS][:2]).all()
    models.record_hardware_cost(history, student, (xv, yv), epoch=2, lut_penalty=0.05,
                                cost=lambda m: {"lut_estimate": CFG.search.lut_budget // 2, "latency_cycles": 3})
    assert history.history[models.HW_LOSS][2] == pytest.approx(ce)


def test_the_search_is_bayesian_after_a_few_random_trials(tmp_path, monkeypatch):
    """keras-tuner's default of 3 random trials per hyper-parameter would use up the course's whole
    budget; course.ini's bo_initial_points leaves most trials to the Gaussian process."""
    full = CFG.training_full
    assert CFG.training.bo_initial_points < min(full.teacher_trials, full.student_trials)
    tuner = tuning.make_tuner(models.TeacherHyperModel(max_layers=1), "bo", 8, directory=tmp_path)
    oracle = tuner.oracle
    assert oracle.num_initial_points == CFG.training.bo_initial_points
    proposals = []
    random_populate = oracle._random_populate_space
    monkeypatch.setattr(oracle, "_random_populate_space",
                        lambda: proposals.append("random") or random_populate())
    for k in range(CFG.training.bo_initial_points + 2):
        before = len(proposals)
        trial = oracle.create_trial("tuner0")
        if len(proposals) == before:
            proposals.append("gaussian process")
        oracle.update_trial(trial.trial_id, {"val_loss": 1.0 / (k + 1)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    n = CFG.training.bo_initial_points
    assert proposals == ["random"] * n + ["gaussian process"] * 2


def test_the_teacher_stage_hands_on_the_best_trials_own_network(tmp_path):
    """Not a retraining of the best hyper-parameters: the network the search validated, with the
    weights of its best epoch and its curves; a search that kept no weights falls back to training."""
    split = _toy_split(300)
    model, hp, hist, tuner = tuning.teacher_stage(split, training=CFG.training_fast, directory=tmp_path,
                                                  verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    assert hist.trial_id == best.trial_id and hp.values == best.hyperparameters.values and hist.dead_runs == 0
    xv, yv = tuning.xy(split.val)
    val_loss = float(tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(yv, model.predict(xv, verbose=0)))
    assert val_loss == pytest.approx(best.score, rel=1e-4)                       # the trial's best epoch
    assert min(hist.history["val_loss"]) == pytest.approx(best.score, rel=1e-6)  # and its curves
    for f in Path(tuner.get_trial_dir(best.trial_id)).glob("checkpoint*"):
        f.unlink()
    assert tuning.kept_teacher(tuner) is None
    retrained, _, hist2, _ = tuning.teacher_stage(split, training=CFG.training_fast, directory=tmp_path, verbose=0)
    assert not hasattr(hist2, "trial_id") and len(hist2.history["val_loss"]) >= 1


def test_trial_tables_show_only_active_hyper_parameters():
    from labkit.training.tuning import active_values
    assert active_values({"layers": 0, "units_0": 3, "units_1": 4, "learning_rate": 0.003}) == \
        {"layers": 0, "learning_rate": 0.003}
    assert active_values({"layers": 1, "units_0": 3, "units_1": 4}) == {"layers": 1, "units_0": 3}
    assert active_values({"learning_rate": 0.01}) == {"learning_rate": 0.01}
