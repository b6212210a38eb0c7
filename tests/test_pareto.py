"""The student search (labkit.training.selection, re-exported by labkit.rtl.search): its front and its three
selection modes, and the hardware-aware trials it records."""
import json
import subprocess
import sys

import numpy as np
import pytest

from labkit.config import CFG
from labkit.metrics import wilson
from labkit.rtl import search


def _point(tid, k, n=200, lut=1000, lat=5, loss=None, wbits=8):
    return {"trial_id": str(tid), "hp": {}, "objective": 1.0 - k / n if loss is None else loss,
            "val_acc": k / n, "val_k": k, "val_n": n, "val_ci95": list(wilson(k, n)),
            "lut_estimate": lut, "latency_cycles": lat, "nonzero": 50, "weight_bits": wbits,
            "activation_bits": 8, "path": None}


def test_front_by_hand():
    pts = [_point(0, 199, lut=5000), _point(1, 196, lut=800), _point(2, 190, lut=900),
           _point(3, 198, lut=2000), _point(4, 198, lut=2500), _point(5, 150, lut=300)]
    assert [p["trial_id"] for p in search.front(pts)] == ["5", "1", "3", "0"]


def test_accuracy_mode_is_the_lowest_validation_loss():
    pts = [_point(0, 199, lut=5000, loss=0.05), _point(1, 199, lut=800, loss=0.04), _point(2, 200, lut=900, loss=0.06)]
    got = search.select(pts, "accuracy")
    assert got["trial_id"] == "1" and got["selected_by"].startswith("accuracy")


def _preds(y, wrong):
    """Predictions on labels ``y`` that are wrong exactly at the indices ``wrong``."""
    pred = np.array(y, copy=True)
    pred[list(wrong)] = 1 - pred[list(wrong)]
    return pred


def test_pareto_mode_takes_the_fewest_luts_among_the_good_enough():
    """Good enough = at least the cut's validation accuracy and not significantly worse than the most
    accurate trial on the same pulses (exact McNemar, 5 %)."""
    y = np.tile([0, 1], 100)                              # 200 validation pulses
    pts = [dict(_point(0, 199, lut=5000), val_pred=_preds(y, [0])),
           dict(_point(1, 196, lut=1200), val_pred=_preds(y, [0, 1, 2, 3])),          # 3 more errors: p = 0.25
           dict(_point(2, 192, lut=400), val_pred=_preds(y, range(8))),               # 7 more: p = 0.016
           dict(_point(3, 197, lut=1500), val_pred=_preds(y, [0, 5, 6]))]
    got = search.select(pts, "pareto", y_val=y)
    assert got["trial_id"] == "1" and "McNemar" in got["selected_by"]
    floor = {"name": "amplitude cut", "acc": 197 / 200, "k": 197, "n": 200}
    got = search.select(pts, "pareto", y_val=y, floor=floor)        # the cut makes 3 errors: trial 1 is below it
    assert got["trial_id"] == "3" and "amplitude cut, 197/200" in got["selected_by"]
    # without pulse-by-pulse records only trials as accurate as the best qualify
    bare = [{k: v for k, v in p.items() if k != "val_pred"} for p in pts]
    assert search.select(bare, "pareto")["trial_id"] == "0"


def test_pareto_refuses_what_the_wilson_rule_let_through():
    """The real-data case of issue 26: 156/158 lay inside the best trial's Wilson interval (158/158) and
    was deployed, below the amplitude cut (157/158). The floor refuses it."""
    y = np.tile([0, 1], 79)
    assert wilson(158, 158)[0] < 156 / 158
    pts = [dict(_point(0, 158, n=158, lut=4500), val_pred=_preds(y, [])),
           dict(_point(1, 156, n=158, lut=1016), val_pred=_preds(y, [3, 9])),
           dict(_point(2, 157, n=158, lut=1400), val_pred=_preds(y, [3]))]
    floor = {"name": "amplitude cut", "acc": 157 / 158, "k": 157, "n": 158}
    assert search.select(pts, "pareto", y_val=y, floor=floor)["trial_id"] == "2"


def test_pareto_never_picks_a_trial_below_the_best_cut():
    """Random searches and cuts: the choice is never below the cut's validation accuracy while any trial
    reaches it; when none does, the sentence says so and the most accurate trial is handed on."""
    rng = np.random.default_rng(11)
    below = 0
    for case in range(300):
        n = int(rng.integers(40, 300))
        y = rng.integers(0, 2, n)
        pts = []
        for i in range(int(rng.integers(1, 10))):
            wrong = rng.choice(n, int(rng.integers(0, max(2, n // 10))), replace=False)
            pts.append(dict(_point(i, n - len(wrong), n=n, lut=int(rng.integers(50, 6000)),
                                   loss=float(rng.uniform(0, 1))), val_pred=_preds(y, wrong)))
        k = int(rng.integers(int(0.85 * n), n + 1))
        floor = {"name": "cut", "acc": k / n, "k": k, "n": n}
        got = search.select(pts, "pareto", y_val=y, floor=floor)
        if any(p["val_k"] >= k for p in pts):
            assert got["val_k"] >= k
            ok = [p for p in pts if p["val_k"] >= k and (p["val_k"] == max(q["val_k"] for q in pts) or not
                  __import__("labkit.metrics", fromlist=["mcnemar"]).mcnemar(
                      y, p["val_pred"], min(pts, key=lambda q: (-q["val_acc"], q["objective"]))["val_pred"])["significant"])]
            assert got["lut_estimate"] == min(p["lut_estimate"] for p in ok)
        else:
            below += 1
            assert "no trial reaches" in got["selected_by"] and got["val_k"] == max(p["val_k"] for p in pts)
    assert below > 10


def test_budget_mode_never_returns_a_model_over_budget():
    """Random searches (any accuracy, LUTs, latency; Yosys counts that may exceed the estimate):
    the choice is within both budgets by the estimate and by the synthesised count, or nothing is
    returned (one sentence) -- exactly when no point qualifies."""
    rng = np.random.default_rng(7)
    chosen = refused = 0
    for case in range(400):
        n_pts = int(rng.integers(1, 12))
        pts = [_point(i, int(rng.integers(100, 201)), lut=int(rng.integers(50, 6000)), lat=int(rng.integers(2, 10)),
                      loss=float(rng.uniform(0, 1))) for i in range(n_pts)]
        yosys = {p["trial_id"]: int(p["lut_estimate"] * rng.uniform(0.8, 1.3)) for p in pts}
        budget, cycles = int(rng.integers(100, 5000)), int(rng.integers(2, 9))
        verify = (lambda p: yosys[p["trial_id"]]) if case % 2 else None
        ok = [p for p in pts if p["lut_estimate"] <= budget and p["latency_cycles"] <= cycles
              and (verify is None or yosys[p["trial_id"]] <= budget)]
        try:
            got = search.select(pts, "budget", lut_budget=budget, latency_budget=cycles, verify=verify)
        except search.NoModelFitsError as err:
            assert not ok, (budget, cycles, ok)
            assert "raise the budget" in str(err) and "\n" not in str(err)
            refused += 1
            continue
        chosen += 1
        assert got["lut_estimate"] <= budget and got["latency_cycles"] <= cycles
        if verify is not None:
            assert yosys[got["trial_id"]] <= budget and got["lut_verified"] == yosys[got["trial_id"]]
        assert got["val_acc"] == max(p["val_acc"] for p in ok)      # the best accuracy that fits
    assert chosen > 50 and refused > 50


def test_budgets_default_to_course_ini_and_bad_values_are_refused():
    pts = [_point(0, 199, lut=CFG.search.lut_budget + 1), _point(1, 150, lut=CFG.search.lut_budget,
                                                                  lat=CFG.search.latency_budget)]
    assert search.select(pts, "budget")["trial_id"] == "1"
    with pytest.raises(ValueError, match="not one of"):
        search.select(pts, "smallest")
    with pytest.raises(ValueError, match="at least 1"):
        search.select(pts, "budget", lut_budget=0)
    with pytest.raises(search.NoModelFitsError, match="no trial"):
        search.select([], "pareto")


def test_course_ini_search_section_is_checked(tmp_path):
    from labkit import config
    text = config.INI_PATH.read_text()
    bad = tmp_path / "course.ini"
    bad.write_text(text.replace("selection = pareto", "selection = smallest"))
    with pytest.raises(ValueError, match=r"\[search\] selection"):
        config.load(bad)
    bad.write_text(text.replace("weight_bits = 4, 4", "weight_bits = 4, 3"))
    with pytest.raises(ValueError, match=r"\[search\] weight_bits"):
        config.load(bad)


def test_bench_pareto_refuses_bad_numbers_in_one_sentence():
    for args in (["--lut-budget", "0"], ["--trials", "-1"], ["--selection", "fastest"]):
        r = subprocess.run([sys.executable, "-m", "labkit", "bench", "pareto", *args], capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr


def _toy_split():
    from labkit.data import Split, formats
    from toys import toy_pulses
    X, y = toy_pulses(420, seed=11)
    p = formats.Pulses(X, y)
    return Split(train=p.subset(slice(0, 300)), val=p.subset(slice(300, 360)), test=p.subset(slice(360, 420)))


def test_a_hardware_aware_search_records_cost_keeps_each_student_and_obeys_the_budget(tmp_path, monkeypatch):
    """Two trials with the hardware knobs on: each trial stores its cost and own validation result,
    keeps its finalized student, and the recorded cost is that student's; the budget mode returns the
    trial under a budget set between the two, and refuses a budget below both."""
    pytest.importorskip("keras_tuner")
    pytest.importorskip("qkeras")
    pytest.importorskip("da4ml")
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    from labkit.rtl.cost import estimate
    split = _toy_split()
    tuner, pts = search.hardware_search(split, None, trials=2, epochs=6, directory=tmp_path, verbose=0, full=False)
    assert len(pts) == 2, [t.message for t in tuner.oracle.trials.values()]
    for p in pts:
        assert {"weight_bits", "activation_bits", "sparsity"} <= set(p["hp"])
        assert p["weight_bits"] == p["hp"]["weight_bits"]
        assert p["val_n"] == len(split.val) and 0 <= p["val_k"] <= p["val_n"]
        model = search.load_point(p)
        assert estimate(model)["lut_estimate"] == p["lut_estimate"]          # the kept network is the costed one
        pred = model.predict(__import__("labkit.training.tuning", fromlist=["xy"]).xy(split.val)[0], verbose=0)
        assert int((pred.argmax(1) == split.val.y).sum()) == p["val_k"]
        import tensorflow as tf
        ce = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(split.val.y, pred)
        assert p["objective"] == pytest.approx(float(ce), rel=1e-5)              # its loss, as delivered
        over = max(0.0, float(np.log2(p["lut_estimate"] / CFG.search.lut_budget)))
        assert tuner.oracle.trials[p["trial_id"]].score == pytest.approx(float(ce) + CFG.search.lut_penalty * over,
                                                                         rel=1e-5)   # plus LUTs over budget
    # the student stage hands on a trial's own network (and its curves), not a retrained one
    from labkit.training import tuning
    best = tuner.oracle.get_best_trials(1)[0]
    student, hp, hist = tuning.kept_trial(tuner, best.trial_id)
    assert hist.trial_id == best.trial_id and hp.values == best.hyperparameters.values and hist.dead_runs == 0
    kept = search.load_point(next(p for p in pts if p["trial_id"] == best.trial_id))
    assert all(np.array_equal(a, b) for a, b in zip(student.get_weights(), kept.get_weights()))
    assert len(hist.history["val_loss"]) >= 1 and hist.history["lut_estimate"][-1] == estimate(student)["lut_estimate"]
    small, big = sorted(pts, key=lambda p: p["lut_estimate"])
    if small["lut_estimate"] < big["lut_estimate"]:
        got = search.select(pts, "budget", lut_budget=small["lut_estimate"], latency_budget=99)
        assert got["trial_id"] == small["trial_id"]
    with pytest.raises(search.NoModelFitsError):
        search.select(pts, "budget", lut_budget=small["lut_estimate"] - 1, latency_budget=99)
    assert search.select(pts, "pareto")["trial_id"] in {p["trial_id"] for p in search.front(pts)}
    for p in pts:                                    # each trial kept its validation predictions
        xv = tuning.xy(split.val)[0]
        assert np.array_equal(p["val_pred"], search.load_point(p).predict(xv, verbose=0).argmax(1))
    # the front plot draws from these points
    import matplotlib
    matplotlib.use("Agg")
    from labkit.course import plots
    fig = plots.pareto(pts, path=tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 1000
    assert json.dumps(search.public(dict(pts[0], acc=0.9)))     # JSON-ready
    del fig
    # a trial that kept no student (an older search): the stage falls back to training the best hp
    tuning.trial_student_path(tuner, best.trial_id).unlink()
    assert tuning.kept_trial(tuner, best.trial_id) is None


def test_training_chatter_stays_off_the_json_line(monkeypatch, capsys):
    """A bench's stdout is its one JSON line: what training prints meanwhile (e.g. a dead trial's
    sentence, written by the tuner's progress bar to stdout) goes to stderr."""
    from labkit.course import bench as benches

    def chatty(*_a, **_k):
        print("student trial 01 is dead: it predicts 'gamma' for all pulses")
        raise SystemExit(0)
    monkeypatch.setattr(benches, "bench_data", chatty)
    for bench in (benches.bench_accuracy, benches.bench_pareto):
        from labkit.rtl import tools
        if bench is benches.bench_pareto and tools.missing("da4ml", "yosys", "iverilog"):
            continue        # that bench stops earlier, with its "skipped" line
        with pytest.raises(SystemExit):
            bench([])
        out, err = capsys.readouterr()
        assert out == "" and "is dead" in err, (out, err)


@pytest.mark.parametrize("misses, inside", [((0, 9, 5), False), ((0, 3, 1), True)])
def test_bench_accuracy_line_has_the_issue_keys_and_the_teacher_interval(monkeypatch, capsys, tmp_path, misses, inside):
    """`labkit bench accuracy` prints one JSON line with the keys issue 11 names; the workflow is
    stubbed (no training): three seeds whose teachers miss none of 600 test pulses (Wilson interval
    0.99364-1) and whose students miss 0, 9, 5 (median 595: outside it) or 0, 3, 1 (median 599: inside)."""
    from labkit.data import Pulses, Split
    from labkit.metrics import wilson
    from labkit.course import bench as benches
    from toys import toy_pulses

    X, y = toy_pulses(1400, seed=7)
    part = lambda s: Pulses(X[s], y[s], "toy")
    split = Split(part(slice(0, 600)), part(slice(600, 800)), part(slice(800, 1400)))
    yt = split.test.y
    monkeypatch.setattr(benches, "bench_data", lambda *a, **k: (tmp_path, split))

    def workflow(_split, _training, _directory, seed, yosys=False):
        k = misses[seed - CFG.seed]
        pred = yt.copy()
        pred[:k] = 1 - pred[:k]
        return {"seed": seed, "teacher_pred": yt.copy(), "student_pred": pred,
                "student_score": np.where(pred == 1, 3.0, -3.0) + np.linspace(0, 0.1, len(yt)),
                "metrics": {"nonzero": 150 + k, "weight_bits": 8, "params": 300, "compression_ratio": 10.0},
                "hp": {"units_0": 7}, "dead": 0, "trials": 22,
                "selection": {"trial_id": f"0{k % 10}", "layers": [161, 7, 2], "selected_by": "pareto: because"},
                "cost": {"student_lut_estimate": 500 + k, "student_latency_cycles": 3 + k % 3}}
    monkeypatch.setattr(benches, "_workflow", workflow)
    assert benches.bench_accuracy(["--seeds", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    line = json.loads(out[0])
    for key in ("teacher_acc", "student_acc", "student_acc_min", "student_acc_ci95", "student_nonzero", "weight_bits",
                "dead_trials", "trials", "baseline_acc", "fom_student", "fom_baseline", "neutron_eff_at_1e-3",
                "n_train", "n_test", "wall_s"):
        assert key in line, key
    acc = [round(1 - k / 600, 5) for k in misses]
    assert line["student_acc_seeds"] == acc and line["student_acc_min"] == min(acc)
    assert line["student_acc"] == sorted(acc)[1]
    assert line["teacher_acc_seeds"] == [1.0, 1.0, 1.0] and line["teacher_acc"] == 1.0
    assert line["teacher_acc_ci95"] == [round(v, 5) for v in wilson(600, 600)] == [0.99364, 1.0]
    assert line["student_in_teacher_ci95"] is inside
    assert line["student_nonzero"] == 150 + max(misses) and line["trials"] == 66 and line["n_test"] == 600
    # issue 26: what is deployed, per seed and at most
    assert [r["student_lut_estimate"] for r in line["per_seed"]] == [500 + k for k in misses]
    assert line["student_lut_estimate_max"] == 500 + max(misses)
    assert line["student_latency_max"] == max(3 + k % 3 for k in misses)
    assert line["student_lut_max"] is None                       # no --yosys: no synthesised count
    assert line["selection"]["mode"] == CFG.search.selection and line["selection"]["sentences"][0] == "pareto: because"


def test_a_search_without_cost_is_chosen_by_validation_loss_and_says_why():
    """Lab 03 runs where da4ml is missing: the trials record no cost (StudentHyperModel(cost=None)),
    and a mode that needs the cost takes the lowest validation loss, saying why in its sentence."""
    pts = [dict(_point(0, 190, loss=0.2), lut_estimate=None, latency_cycles=None),
           dict(_point(1, 195, loss=0.1), lut_estimate=None, latency_cycles=None)]
    for mode in ("pareto", "budget"):
        got = search.select(pts, mode)
        assert got["trial_id"] == "1" and "recorded none" in got["selected_by"] and "da4ml" in got["selected_by"]
    assert search.front(pts) == []
    import matplotlib
    matplotlib.use("Agg")
    from labkit.course import plots
    plots.trials(pts, chosen=search.select(pts, "pareto"))          # lab 03's plot: nothing to place, no error


def test_record_hardware_cost_takes_the_cost_function_it_is_given():
    tf = pytest.importorskip("tensorflow")
    from types import SimpleNamespace

    from labkit.training import models
    student = models.build_student([], weight_bits=4)
    x = np.random.default_rng(0).uniform(0, 1, (20, CFG.n_samples)).astype("float32")
    y = np.arange(20) % 2
    hist = SimpleNamespace(history={"loss": [1.0, 0.5]})
    est = models.record_hardware_cost(hist, student, (x, y), cost=None)
    assert not set(models.HARDWARE_METRICS) & set(hist.history) and est["val_final_n"] == 20
    hist = SimpleNamespace(history={"loss": [1.0, 0.5]})
    models.record_hardware_cost(hist, student, (x, y), cost=lambda m: {"lut_estimate": 7, "latency_cycles": 2,
                                                                      "nonzero": 3, "weight_bits": 4})
    assert hist.history["lut_estimate"] == [7.0, 7.0] and hist.history["latency_cycles"] == [2.0, 2.0]
    del tf
