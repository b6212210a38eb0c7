"""Issue 32, the two routes side by side, without training: `labkit bench pareto --route`, the runner's
kernel per lab (lab 04c on `labkit-keras3`, skipped in one sentence where it is missing), lab 04b's saved
front, the plot of both routes, and lab 04c's exercise check.  The plot is drawn on fabricated points (a
test may fabricate a plot's inputs; the course never does)."""
import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest

from labkit.course import bench, plots, results, runner

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "04c_two_routes.ipynb"


def _raw_point(beta, units, lut, val_k, *, n_val=20, n_test=30, seed=0):
    """A point as scripts/hgq_sweep.py prints it (the keys the bench reads)."""
    rng = np.random.default_rng(seed)
    return {"beta": beta, "units": units, "epochs": 5, "val_k": val_k, "val_n": n_val, "acc": 0.9, "acc_k": 27,
            "acc_n": n_test, "acc_ci95": [0.74, 0.97], "lut": lut, "lut_estimate": lut + 100, "ff": 10, "dsp": 0,
            "latency_cycles": 3, "nonzero": 40, "mean_weight_bits": 2.5, "ebops": 1000,
            "da4ml": {"exact": True}, "hls": {"exact": True},
            "val_pred": rng.integers(0, 2, n_val).tolist(), "pred": rng.integers(0, 2, n_test).tolist()}


# ------------------------------------------------------------------------------------------
# labkit bench pareto --route
# ------------------------------------------------------------------------------------------

def test_route_is_one_of_three_and_qkeras_is_the_default(capsys):
    assert bench.PARETO_ROUTES == ("qkeras", "hgq2", "both")
    with pytest.raises(SystemExit) as err:
        bench.bench_pareto(["--route", "keras3"])
    assert err.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.bench_pareto(["--help"])
    assert "--route {qkeras,hgq2,both}" in capsys.readouterr().out


@pytest.mark.parametrize("route", ["hgq2", "both"])
def test_without_the_keras3_environment_the_route_is_skipped_in_one_sentence(route, tmp_path, monkeypatch, capsys):
    from labkit.rtl import tools
    from labkit.hgq import route as hgq
    monkeypatch.setattr(tools, "missing", lambda *names: None)           # the open tools are not the question here
    monkeypatch.setattr(hgq, "venv_python", lambda root=None: tmp_path / ".venv-keras3" / "bin" / "python")
    assert bench.bench_pareto(["--route", route]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    skipped = json.loads(out[0])["skipped"]
    assert "setup_keras3.sh" in skipped and str(tmp_path) in skipped and skipped.count(": ") == 1


def test_the_keras3_environment_is_found_where_its_python_is(tmp_path, monkeypatch):
    from labkit.hgq import route as hgq
    exe = tmp_path / "python"
    exe.write_text("")
    monkeypatch.setattr(hgq, "venv_python", lambda root=None: exe)
    assert bench.keras3_missing() is None


def test_the_sweep_command_carries_the_bench_s_data_seed_and_teacher(tmp_path):
    args = types.SimpleNamespace(train="windows.csv", test="real.csv", board="kv260")
    cmd = bench.hgq2_command(args, tmp_path, tmp_path / "teacher_logits_train.npy", seed=7)
    assert cmd[0].endswith(".venv-keras3/bin/python") and Path(cmd[1]).name == "hgq_sweep.py" and Path(cmd[1]).is_file()
    opts = dict(zip(cmd[2::2], cmd[3::2]))
    assert opts == {"--train": "windows.csv", "--test": "real.csv", "--seed": "7",
                    "--teacher": str(tmp_path / "teacher_logits_train.npy"), "--folder": str(tmp_path / "hgq2"),
                    "--board": "kv260"}
    args.test = None
    assert "--test" not in bench.hgq2_command(args, tmp_path, tmp_path / "t.npy")


class _Part(types.SimpleNamespace):
    def __len__(self):
        return len(self.y)


def _split_of(n_val, n_test):
    """A stand-in for labkit.data.Split: labels only (the bench's checks count and compare them)."""
    return types.SimpleNamespace(val=_Part(y=np.arange(n_val) % 2), test=_Part(y=np.arange(n_test) % 2),
                                 train=_Part(y=np.arange(40) % 2))


def test_sweep_points_become_selection_points_and_the_front_is_chosen_on_validation():
    from labkit.training.selection import select
    split = _split_of(20, 30)
    raw = [_raw_point(1e-5, [], 900, 19, seed=1), _raw_point(1e-3, [], 400, 18, seed=2),
           _raw_point(1e-4, [16], 2000, 18, seed=3),            # more LUTs, no better: dominated
           dict(_raw_point(1e-2, [], 0, 10, seed=4), lut=0, note="no circuit")]
    pts = bench.hgq2_points(raw, split)
    assert [p["trial_id"] for p in pts] == ["linear_beta_1e-05", "linear_beta_0.001", "h16_beta_0.0001",
                                            "linear_beta_0.01"]
    assert all(p["route"] == "hgq2" and isinstance(p["val_pred"], np.ndarray) for p in pts)
    assert pts[0]["val_acc"] == 19 / 20 and pts[0]["objective"] == pytest.approx(1 / 20)
    assert [p["trial_id"] for p in bench.lut_front(pts)] == ["linear_beta_0.001", "linear_beta_1e-05"]
    floor = {"name": "cut", "acc": 0.85, "k": 17, "n": 20}
    chosen = select(pts, "pareto", y_val=split.val.y, floor=floor)
    assert chosen["trial_id"] in {"linear_beta_0.001", "linear_beta_1e-05"} and "pareto" in chosen["selected_by"]
    pub = bench._public_hgq2(chosen)
    assert {"acc", "acc_ci95", "lut", "latency_cycles", "val_acc", "trial_id", "route", "beta"} <= set(pub)
    json.dumps(pub)


def test_the_hgq2_route_writes_the_teacher_logits_and_keeps_the_json_keys(tmp_path, monkeypatch):
    """The route's JSON from the sweep's lines (the sweep itself is replaced: no training here)."""
    import matplotlib
    matplotlib.use("Agg")
    split = _split_of(20, 30)
    raw = [_raw_point(1e-5, [], 900, 19, seed=1), _raw_point(1e-3, [], 400, 18, seed=2)]
    seen = {}

    def fake_run(cmd):
        seen["cmd"] = cmd
        return raw
    monkeypatch.setattr(bench, "_run_hgq2", fake_run)
    args = types.SimpleNamespace(train="synthetic", test=None, board="pynq-z1", no_compare=False)
    rule = dict(mode="pareto", lut_budget=None, latency_budget=None, floor={"name": "cut", "acc": 0.85, "k": 17, "n": 20})
    soft = np.ones((40, 2), np.float32)
    r = bench._pareto_hgq2(args, split, soft, tmp_path, rule)
    npy = tmp_path / "teacher_logits_train.npy"
    assert np.array_equal(np.load(npy), soft) and seen["cmd"][seen["cmd"].index("--teacher") + 1] == str(npy)
    out = r["out"]
    assert {"front", "chosen", "accuracy_choice", "chosen_vs_accuracy_choice", "lut_estimate_ratio",
            "lut_estimate_ratios", "trials", "dead_trials", "points", "hw_search_s", "accuracy_search_s",
            "search_time_ratio", "searches_fresh"} <= set(out)
    assert all(p["route"] == "hgq2" for p in out["front"] + out["points"] + [out["chosen"], out["accuracy_choice"]])
    assert out["trials"] == 2 and out["dead_trials"] == 0 and out["chosen_vs_accuracy_choice"]["n"] == 30
    json.dumps(out)
    # both routes: the union, each route's choice, the two choices on the same test pulses
    qk_point = dict(_raw_point(0, [], 1300, 17, seed=5), trial_id="2", latency_cycles_rtl=6, lut_parallel=2500,
                    latency_cycles_parallel=5, pred=np.zeros(30, int))
    qk = {"out": {"front": [{"trial_id": "2", "route": "qkeras"}], "points": [{"trial_id": "2", "route": "qkeras"}],
                  "chosen": {"trial_id": "2", "route": "qkeras"}, "accuracy_choice": None},
          "measured": [qk_point], "chosen": qk_point}
    both = bench._both({"qkeras": qk, "hgq2": r}, [], split, tmp_path)
    assert [p["route"] for p in both["front"]] == ["qkeras"] + ["hgq2"] * len(out["front"])
    assert set(both["chosen_by_route"]) == {"qkeras", "hgq2"} and both["chosen_qkeras_vs_hgq2"]["n"] == 30
    assert Path(both["plot_two_routes"]).is_file()


def test_sweep_points_on_other_pulses_are_refused_in_one_sentence():
    with pytest.raises(RuntimeError, match=r"same mode \(LABKIT_FAST\)"):
        bench.hgq2_points([_raw_point(1e-5, [], 900, 19, n_test=31)], _split_of(20, 30))


# ------------------------------------------------------------------------------------------
# the plot of both routes
# ------------------------------------------------------------------------------------------

def test_two_routes_plot_draws_each_route_and_the_cuts_on_a_log_lut_axis(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    p = lambda lut, acc, lat: {"lut": lut, "acc": acc, "acc_ci95": [acc - 0.01, min(1.0, acc + 0.01)],  # noqa: E731
                               "latency_cycles": lat, "acc_n": 450}
    routes = {"HGQ2": [p(3000, 0.99, 3), p(4000, 0.995, 3), dict(p(0, 0.5, 0), lut=0)],
              "QKeras, parallel core": [p(1200, 0.88, 5)], "QKeras, stream core": [p(600, 0.88, 6)]}
    cuts = [dict(p(1400, 0.984, 1), name="amplitude cut")]
    png = tmp_path / "two.png"
    fig = plots.two_routes(routes, cuts, path=png)
    ax = fig.axes[0]
    assert png.stat().st_size > 10_000 and ax.get_xscale() == "log" and "n=450" in ax.get_ylabel()
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["HGQ2 (2)", "QKeras, parallel core (1)", "QKeras, stream core (1)", "amplitude cut (RTL)"]
    assert len(fig.axes) == 2 and "latency" in fig.axes[1].get_ylabel()       # the colour bar
    two = plots.two_routes({"a": [p(100, 0.9, 1)], "b": [dict(p(200, 0.9, 2), acc_n=300)]})
    assert "differs" in two.axes[0].get_ylabel()


# ------------------------------------------------------------------------------------------
# lab 04b's saved front
# ------------------------------------------------------------------------------------------

def test_lab04b_front_round_trip_keeps_both_cores_and_the_test_fingerprint(tmp_path, monkeypatch):
    from labkit.data.formats import Pulses
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path))
    test = Pulses(X=np.arange(12, dtype=np.uint16).reshape(4, 3), y=np.array([0, 1, 0, 1]))
    measured = [{"trial_id": "3", "acc": 0.75, "acc_k": 3, "acc_n": 4, "acc_ci95": [0.3, 0.95], "val_acc": 0.8,
                 "val_k": 4, "val_n": 5, "lut": 600, "ff": 100, "dsp": 0, "lut_estimate": 650, "nonzero": 9,
                 "weight_bits": 4, "activation_bits": 5, "layers": [161, 2], "latency_cycles": 4,
                 "latency_cycles_rtl": 6, "val_pred": np.array([0, 1, 1, 1, 0]), "pred": np.array([0, 1, 1, 1]),
                 "hp": {"drop": "me"}}]
    cuts = [{"name": "amplitude cut", "acc": {"acc": 0.5, "k": 2, "n": 4, "ci95": [0.15, 0.85]}, "lut": 1400,
             "ff": 1, "dsp": 0, "latency_cycles": 1}]
    path = results.save_front(measured, cuts, test=test, front_ids=["3"], deployed="3",
                              parallel={"3": {"lut": 1200, "latency_cycles": 5}})
    assert path == tmp_path / "results" / "lab04b_front.json"
    front = results.load_front()
    (p,), (c,) = front["points"], front["cuts"]
    assert p["route"] == "qkeras" and p["on_front"] and p["deployed"] and p["lut"] == 600
    assert p["latency_cycles"] == 6 and p["lut_parallel"] == 1200 and p["latency_cycles_parallel"] == 5
    assert p["pred"] == [0, 1, 1, 1] and "hp" not in p
    assert c == {"name": "amplitude cut", "acc": 0.5, "acc_k": 2, "acc_n": 4, "acc_ci95": [0.15, 0.85],
                 "lut": 1400, "ff": 1, "dsp": 0, "latency_cycles": 1}
    assert front["n_test"] == 4 and front["test_digest"] == results.pulses_digest(test)
    flipped = Pulses(X=test.X, y=np.array([1, 1, 0, 1]))
    assert results.pulses_digest(flipped) != front["test_digest"]
    assert results.pulses_digest(Pulses(X=test.X.astype(np.int64), y=test.y)) == front["test_digest"]


def test_without_lab04b_front_lab04c_is_told_which_lab_writes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"lab04b_front.json is missing: run lab 04b"):
        results.load_front()


# ------------------------------------------------------------------------------------------
# the runner: a kernel per lab
# ------------------------------------------------------------------------------------------

def test_lab04c_runs_on_the_keras3_kernel_and_after_04b():
    import nbformat
    nb = nbformat.read(LAB, as_version=4)
    assert runner.kernel_name(nb) == "labkit-keras3"
    names = [p.name for p in runner.labs()]
    assert names.index("04b_rtl_cost.ipynb") < names.index("04c_two_routes.ipynb") < names.index("05_block_design.ipynb")
    assert runner.kernel_name(nbformat.read(ROOT / "labs" / "04b_rtl_cost.ipynb", as_version=4)) == "python3"
    assert runner.kernel_name({"metadata": {"kernelspec": {"name": "someone-elses"}}}) == "python3"


def test_a_missing_or_broken_kernel_is_one_sentence(tmp_path, monkeypatch):
    assert runner.kernel_missing("python3") is None
    assert "not installed" in runner.kernel_missing("labkit-no-such-kernel")
    spec = tmp_path / "kernels" / "labkit-keras3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [str(tmp_path / "gone" / "python"), "-m", "ipykernel_launcher",
                                                           "-f", "{connection_file}"], "display_name": "x",
                                                  "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    why = runner.kernel_missing("labkit-keras3")
    assert "is gone" in why and "setup_keras3.sh" in why


def test_a_lab_whose_kernel_is_missing_is_skipped_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    import nbformat
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setattr(runner, "kernel_missing",
                        lambda name: None if name == "python3" else f"needs the Jupyter kernel {name}: run setup")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "labkit-keras3", "display_name": "k3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("raise SystemExit('must not run')")]
    path = tmp_path / "04c_probe.ipynb"
    nbformat.write(nb, path)
    row = runner.run_notebook(path, tmp_path)
    assert row["status"] == "skipped" and row["error"] == "04c_probe.ipynb needs the Jupyter kernel labkit-keras3: run setup"
    assert runner.main(["--labs", str(path)]) == 0
    out = capsys.readouterr().out
    assert "04c_probe: skipped — 04c_probe.ipynb needs the Jupyter kernel labkit-keras3" in out
    summary = (tmp_path / "artifacts" / "summary.md").read_text()
    assert "| 04c_probe | skipped |" in summary and "- 04c_probe skipped: " in summary


def test_answered_labs_are_listed_per_kernel(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("answered_labs", ROOT / "scripts" / "answered_labs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.kernel_of(LAB) == "labkit-keras3"
    monkeypatch.setattr(mod, "answered", lambda lab: (json.loads(lab.read_text()), []))   # no copies needed here
    assert mod.main([str(tmp_path)]) == 0
    main = capsys.readouterr().out.split()
    assert main and not any("04c_" in p for p in main) and any("04b_" in p for p in main)
    monkeypatch.setattr(mod, "kernel_missing", lambda name: None)
    assert mod.main(["--kernel", "labkit-keras3", str(tmp_path)]) == 0
    assert [Path(p).name for p in capsys.readouterr().out.split()] == ["04c_two_routes.ipynb"]
    monkeypatch.setattr(mod, "kernel_missing", lambda name: f"the kernel {name} is not installed: run setup")
    assert mod.main(["--kernel", "labkit-keras3", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and "not installed" in cap.err


# ------------------------------------------------------------------------------------------
# lab 04c's exercise
# ------------------------------------------------------------------------------------------

def test_the_samples_check_counts_rows_with_a_nonzero_weight():
    from labkit.course import exercises
    W = np.zeros((161, 2))
    W[[3, 4, 40], 0] = 0.25
    W[40, 1] = -0.5
    model = types.SimpleNamespace(layers=[types.SimpleNamespace(name="pulse"), types.SimpleNamespace(qkernel=W)])
    assert exercises.evaluate("04c", 1, ...).status == "open"
    assert exercises.evaluate("04c", 1, 3, student=model).ok
    assert "every sample" in exercises.evaluate("04c", 1, 161, student=model).message
    assert "np.any(W != 0, axis=1)" in exercises.evaluate("04c", 1, 2, student=model).message
    assert "integer" in exercises.evaluate("04c", 1, "3", student=model).message
