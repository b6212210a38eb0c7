"""The Keras 3 route (issue 32, labkit/hgq/route.py, labkit/hgq/ip.py), driven from the main environment.

One tiny fast-mode HGQ2 student (161 -> 2 -> 2 from 2-bit weights, 200 epochs on 600 pulses, distilled from
the course's teacher when lab 02 left one) is trained in the second environment (.venv-keras3,
scripts/setup_keras3.sh) by subprocess, once for the module: it must be bit-exact against da4ml's emulation
and hls4ml's C simulation and costed by Yosys; deployed with scripts/hgq_deploy.py (hls4ml project with the
course's stream wrapper, emulation library, test vectors) and streamed through the emulated board by
`labkit bench board` in this environment, the board's words must equal the C simulation's, the C simulation
HGQ2's logits, and the board's classes HGQ2's, on every pulse.  Lab 04c runs the sweep itself."""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from labkit.config import CFG
from labkit.fixedpoint import FixedFormat

ROOT = Path(__file__).resolve().parents[1]
PY3 = ROOT / ".venv-keras3" / "bin" / "python"
BETA = 1e-4
N_TEST = 300
ARGS = ["--epochs", "200", "--units", "2", "--weight-bits0", "2", "--max-train", "600", "--max-test", str(N_TEST)]

needs_keras3 = [
    pytest.mark.slow,
    pytest.mark.skipif(not PY3.exists(), reason=".venv-keras3 does not exist: run `bash scripts/setup_keras3.sh` "
                       "(make setup does) to test the Keras 3 (HGQ2) route"),
    pytest.mark.skipif(not (shutil.which("yosys") and shutil.which("g++")),
                       reason="Yosys or g++ is not on PATH (apt-get install yosys g++, as `make setup` does as root)"),
]


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(LABKIT_FAST="1", KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    return env


@pytest.fixture(scope="module")
def tiny_point(tmp_path_factory):
    """(the sweep's JSON point, seconds): one tiny HGQ2 student, trained and measured in .venv-keras3."""
    folder = tmp_path_factory.mktemp("hgq")
    cmd = [str(PY3), str(ROOT / "scripts" / "hgq_sweep.py"), "--betas", f"{BETA:g}", "--folder", str(folder), *ARGS]
    from labkit import artifacts
    if artifacts.teacher_model().is_file():
        cmd += ["--teacher", str(artifacts.teacher_model())]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-3000:]}"
    points = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(points) == 1, r.stdout[-2000:]
    return points[0], time.perf_counter() - t0


def test_the_main_environment_imports_the_route_and_says_what_it_lacks():
    """labkit.hgq.route imports here (numpy and labkit at its top level) and names the fix in one sentence."""
    from labkit.hgq import route as hgq
    reason = hgq.missing()
    if reason is not None:      # the main environment: Keras 2 (TensorFlow 2.15), no hgq2
        assert "scripts/setup_keras3.sh" in reason and reason.count(".") >= 1
    assert hgq.venv_python(ROOT) == PY3


def test_logits_that_do_not_fit_the_ip_format_are_refused_in_one_sentence():
    """Every value of the HGQ2 logits' type must be a value of ap_fixed<22,10>: else a refusal naming the numbers."""
    from labkit.hgq.ip import LogitFormatError, check_fits

    fmt = FixedFormat(22, 10)
    for ok in (FixedFormat(10, 4), FixedFormat(22, 10), FixedFormat(9, 9, signed=False), FixedFormat(3, -2)):
        check_fits(ok, "beta_x", fmt)
    for bad, numbers in ((FixedFormat(16, 3), "13 fraction bits"), (FixedFormat(12, 11), "10 integer bits"),
                         (FixedFormat(10, 10, signed=False), "10 integer bits")):
        with pytest.raises(LogitFormatError) as err:
            check_fits(bad, "beta_x", fmt)
        text = str(err.value)
        assert text.startswith("beta_x: ") and numbers in text and "ap_fixed<22,10>" in text and text.count(". ") == 0


def test_a_tiny_hgq2_student_is_bit_exact_and_costed(tiny_point):
    p, seconds = tiny_point
    where = f"beta {p['beta']:g} ({seconds:.0f} s for the sweep)"
    # bit-exact: HGQ2's own logits = da4ml's interpreter of the traced logic = hls4ml's C simulation
    for check in ("da4ml", "hls"):
        assert p[check]["n"] == N_TEST, (where, check, p[check])
        assert p[check]["exact"] and p[check]["mismatch"] == 0 and p[check]["max_abs_diff"] == 0.0, \
            (where, check, p[check])
    # the same measures as the QKeras route
    assert type(p["lut"]) is int and p["lut"] > 0, (where, p.get("lut"), p.get("note"))
    assert type(p["latency_cycles"]) is int and p["latency_cycles"] >= 1, (where, p["latency_cycles"])
    assert p["acc_n"] == N_TEST and 0 <= p["acc_k"] <= N_TEST and len(p["pred"]) == N_TEST
    assert p["val_n"] == len(p["val_pred"]) and p["val_k"] <= p["val_n"] and p["val_loss"] > 0
    lo, hi = p["acc_ci95"]
    assert 0 <= lo <= p["acc"] <= hi <= 1, (where, p["acc"], p["acc_ci95"])
    assert p["ebops"] > 0 and p["lut_estimate"] > 0 and p["n_train"] == 600 and p["units"] == [2]
    assert p["distilled"] == (p["teacher"] is not None)
    folder = Path(p["folder"])
    assert (folder / "student.keras").is_file() and (folder / "rtl" / "src" / "hgq_core_wrapper.v").is_file()


for mark in needs_keras3:
    test_a_tiny_hgq2_student_is_bit_exact_and_costed = mark(test_a_tiny_hgq2_student_is_bit_exact_and_costed)


def test_the_tiny_student_runs_on_the_emulated_board_bit_exact(tiny_point):
    """scripts/hgq_deploy.py: the course's IP around the HGQ2 network, streamed by `labkit bench board`."""
    p, _ = tiny_point
    point = Path(p["folder"])
    deploy = [str(PY3), str(ROOT / "scripts" / "hgq_deploy.py"), str(point), "--max-test", str(N_TEST)]
    t0 = time.perf_counter()
    r = subprocess.run(deploy, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.returncode == 0 and lines, \
        f"{' '.join(deploy)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    out = json.loads(lines[-1])
    where = f"{point} ({time.perf_counter() - t0:.0f} s to deploy)"
    assert out["n"] == N_TEST and out["board_n"] == N_TEST, (where, out)
    assert out["csim_exact"] is True and out["csim_mismatch"] == 0, (where, out)      # hls4ml's C sim = HGQ2
    assert out["wrapper_words_equal"] is True and out["tlast_ok"] is True, (where, out)
    assert out["words_equal_to_csim"] is True and out["board_mode"] == "emulated", (where, out)
    assert out["argmax_equal"] is True and out["ok"] is True, (where, out)
    assert out["logit_format"] == CFG.logit_format.hls(), (where, out)
    # the IP is the course's: the wrapper's input_t and result_t, and the library the board step loaded
    defines = (Path(out["project"]) / "firmware" / "defines.h").read_text()
    assert f"typedef {CFG.input_format.hls()} input_t;" in defines, defines
    assert f"typedef {CFG.logit_format.hls()} result_t;" in defines, defines
    assert Path(out["lib"]) == point / "ip" / "hls" / "emu" / "libclyc_emu.so" and Path(out["lib"]).is_file()
    assert (Path(out["vectors"]) / "expected_words.npy").is_file() and "LABKIT_ARTIFACTS=" in out["board_command"]


for mark in needs_keras3:
    test_the_tiny_student_runs_on_the_emulated_board_bit_exact = mark(test_the_tiny_student_runs_on_the_emulated_board_bit_exact)
