"""The pins in pyproject.toml and environment.yml must never drift apart; config sanity."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins():
    import tomllib
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for group in data["project"]["optional-dependencies"].values():
        for req in group:
            name, _, version = req.partition("==")
            if version:
                assert pins.get(_norm(name), version) == version, f"{name} pinned twice with different versions"
                pins[_norm(name)] = version
    return pins


def environment_pins():
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def test_pins_identical():
    a, b = pyproject_pins(), environment_pins()
    assert a and a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_measured_stack_is_pinned():
    pins = pyproject_pins()
    for name, version in {"tensorflow": "2.15.1", "keras": "2.15.0", "qkeras": "0.9.0", "keras-tuner": "1.4.8",
                          "hls4ml": "1.3.0", "numpy": "1.26.4", "protobuf": "4.25.9", "pynq": "3.0.1",
                          "tensorflow-model-optimization": "0.7.5", "nbval": "0.11.0"}.items():
        assert pins[name] == version


def test_python_in_environment_yml():
    assert re.search(r"python=3\.11", (ROOT / "environment.yml").read_text())


def test_config_numbers():
    from labkit.config import CFG
    assert CFG.n_samples == 161 and (CFG.window_start, CFG.window_stop) == (120, 280)
    assert CFG.class_names == ("gamma", "neutron") and CFG.adc_max == 1023
    assert CFG.sample_rate_hz == 100e6 and abs(sum(CFG.split) - 1) < 1e-12
    assert CFG.words_per_pulse * CFG.samples_per_word >= CFG.n_samples
    assert CFG.input_format.frac == CFG.input_frac_bits
    assert set(CFG.boards) == {"pynq-z1", "kv260", "aup-zu3"}
    assert CFG.board("kv260").clk_source == "IOPLL"
    with pytest.raises(KeyError, match="choose one of"):
        CFG.board("zedboard")


def test_fast_mode_separates_artifacts(monkeypatch):
    from labkit import config
    monkeypatch.delenv("LABKIT_ARTIFACTS", raising=False)
    monkeypatch.setenv("LABKIT_FAST", "1")
    fast = config.artifacts_dir(create=False)
    monkeypatch.setenv("LABKIT_FAST", "0")
    assert fast.name == "fast" and config.artifacts_dir(create=False) == fast.parent


#: what each part of labkit must import without: the board image has numpy and pynq only; the data
#: stage, lab 06's checks, the stream IP's emulation and stage 03's selection run without TensorFlow
TRAINING_STACK = ("tensorflow", "keras", "qkeras", "hls4ml")
BOARD_IMAGE_LACKS = TRAINING_STACK + ("pandas", "matplotlib", "sklearn")
IMPORT_CASES = {
    "board": (BOARD_IMAGE_LACKS, """
import labkit.config, labkit.stream, labkit.hls.ipsim, labkit.board, labkit.board.driver, labkit.board.emulated
from labkit.board import Overlay, allocate, Classifier
from labkit.course.bench import bench_board   # labkit bench board runs on the board
import pynq
from labkit.board import EmulatedDevice
assert any(isinstance(d, EmulatedDevice) for d in pynq.Device.devices)   # probed by PYNQ
"""),
    "lab 06 checks": (TRAINING_STACK + ("pandas", "matplotlib"), "import labkit.course.exercises.lab06\n"),
    "data": (TRAINING_STACK, "import labkit, labkit.data, labkit.data.baselines, labkit.stream, labkit.data.fetch\n"),
    "hls without hls4ml": (("tensorflow", "hls4ml", "qkeras"),
                           "import labkit.hls.ipsim, labkit.hls, labkit.hls.cli, labkit.hls.vitis, labkit.hls.vectors\n"),
    "student contract and selection": (TRAINING_STACK, "import labkit.training.contract, labkit.training.selection, "
                                                       "labkit.training.cost, labkit.artifacts\n"),
}


@pytest.mark.parametrize("case", sorted(IMPORT_CASES))
def test_imports_without_the_training_stack(case):
    """Each part imports with the packages it must do without blocked (an import of one fails)."""
    blocked, code = IMPORT_CASES[case]
    script = ("import importlib.abc, sys\n"
              f"BLOCKED = {blocked!r}\n"
              "class Block(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] in BLOCKED:\n"
              "            raise ImportError(f'{name} is blocked')\n"
              "sys.meta_path.insert(0, Block())\n"
              + code +
              "bad = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)\n"
              "assert not bad, bad\n"
              "print('ok')\n")
    env = dict(os.environ, LABKIT_BOARD="emulated")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
