"""The Keras 3 route (issue 32, labkit/rtl/hgq.py), driven from the main environment: a tiny fast-mode HGQ2
sweep runs in the second environment (.venv-keras3, scripts/setup_keras3.sh) by subprocess; each point must
be bit-exact against da4ml's emulation and hls4ml's C simulation, and costed by Yosys."""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY3 = ROOT / ".venv-keras3" / "bin" / "python"
#: two points: a tiny MLP (161 -> 2 -> 2) from 2-bit weights, 200 epochs on 600 pulses, checked on 300
BETAS = (1e-4, 1e-3)
N_TEST = 300
ARGS = ["--epochs", "200", "--units", "2", "--weight-bits0", "2", "--max-train", "600", "--max-test", str(N_TEST)]


def test_the_main_environment_imports_the_route_and_says_what_it_lacks():
    """labkit.rtl.hgq imports here (numpy and labkit at its top level) and names the fix in one sentence."""
    from labkit.rtl import hgq
    reason = hgq.missing()
    if reason is not None:      # the main environment: Keras 2 (TensorFlow 2.15), no hgq2
        assert "scripts/setup_keras3.sh" in reason and reason.count(".") >= 1
    assert hgq.venv_python(ROOT) == PY3


@pytest.mark.slow
@pytest.mark.skipif(not PY3.exists(), reason=".venv-keras3 does not exist: run `bash scripts/setup_keras3.sh` "
                    "to test the Keras 3 (HGQ2) route")
@pytest.mark.skipif(not (shutil.which("yosys") and shutil.which("g++")),
                    reason="Yosys or g++ is not on PATH (apt-get install yosys g++, as `make setup` does as root)")
def test_a_tiny_hgq2_sweep_is_bit_exact_and_costed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(LABKIT_FAST="1", KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [str(PY3), str(ROOT / "scripts" / "hgq_sweep.py"), "--betas", ",".join(f"{b:g}" for b in BETAS),
           "--folder", str(tmp_path), *ARGS]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-3000:]}"
    points = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [p["beta"] for p in points] == list(BETAS), r.stdout[-2000:]
    for p in points:
        where = f"beta {p['beta']:g} ({seconds:.0f} s for the sweep)"
        # bit-exact: HGQ2's own logits = da4ml's interpreter of the traced logic = hls4ml's C simulation
        for check in ("da4ml", "hls"):
            assert p[check]["n"] == N_TEST, (where, check, p[check])
            assert p[check]["exact"] and p[check]["mismatch"] == 0 and p[check]["max_abs_diff"] == 0.0, \
                (where, check, p[check])
        # the same measures as the QKeras route
        assert type(p["lut"]) is int and p["lut"] > 0, (where, p.get("lut"), p.get("note"))
        assert type(p["latency_cycles"]) is int and p["latency_cycles"] >= 1, (where, p["latency_cycles"])
        assert p["acc_n"] == N_TEST and 0 <= p["acc_k"] <= N_TEST
        lo, hi = p["acc_ci95"]
        assert 0 <= lo <= p["acc"] <= hi <= 1, (where, p["acc"], p["acc_ci95"])
        assert p["ebops"] > 0 and p["lut_estimate"] > 0 and p["n_train"] == 600
        folder = Path(p["folder"])
        assert (folder / "student.keras").is_file() and (folder / "rtl" / "src" / "hgq_core_wrapper.v").is_file()
