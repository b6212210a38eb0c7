"""The board side under Python 3.10 with numpy < 2, as on the PYNQ 3.0.1/3.1 and Kria-PYNQ images.

A throwaway venv of a Python 3.10 interpreter (``$LABKIT_PY310``, ``python3.10`` on PATH, or pyenv's
3.10.x) gets ``numpy<2``, PYNQ 3.0.1 and what runs a notebook headless (matplotlib, nbclient,
ipykernel) — no TensorFlow — and the labkit wheel with ``--no-deps`` (``labkit package``'s
``build_wheel``, as INSTALL.md does on a board).  Then:

* the board package's imports (labkit.board, .stream, .metrics, .config) under 3.10, without TensorFlow;
* lab 06 run headless by ``labkit course`` from the wheel, on the emulated overlay, with the IP's
  C-emulation library and test vectors built here from the toy student (tests/toys.py).

The venv is cached in the temp folder (``labkit-py310/``), keyed by its requirements and the
interpreter; the emulation library and vectors are cached there too, keyed by the labkit sources
and tests/toys.py.  First run: the pip install (about half a minute with PyPI reachable) plus the
toy build (shared with test_board.py in a session); then about 15 s (wheel build + lab 06).  Skipped with one sentence when no Python 3.10
exists, when pip cannot install the requirements, or (lab 06 only) without g++ and hls4ml.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAB06 = ROOT / "labs" / "06_on_board.ipynb"
#: what the venv gets: the board image's numpy < 2 and PYNQ 3.0.1 (+ pycparser < 3, see pyproject's
#: board extra), matplotlib (on the image; lab 06 plots), and nbclient + ipykernel to run lab 06 headless
REQUIREMENTS = ("numpy<2", "pynq==3.0.1", "pycparser==2.22", "matplotlib", "nbclient", "ipykernel", "wheel")
HEAVY = ("tensorflow", "keras", "qkeras", "hls4ml", "tensorflow_model_optimization", "keras_tuner")
CACHE = Path(tempfile.gettempdir()) / "labkit-py310"

pytestmark = pytest.mark.py310


def _version(exe) -> str:
    try:
        out = subprocess.run([str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def find_py310():
    """A Python 3.10: $LABKIT_PY310, python3.10 on PATH (if it runs), or the newest pyenv 3.10.x."""
    if os.environ.get("LABKIT_PY310"):
        return os.environ["LABKIT_PY310"] if _version(os.environ["LABKIT_PY310"]) == "3.10" else None
    candidates = [shutil.which("python3.10")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(pyenv.glob("3.10.*/bin/python3.10"),
                         key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)], reverse=True)
    return next((str(c) for c in candidates if c and _version(c) == "3.10"), None)


def clean_env(**extra):
    """No PYTHONPATH and no venv of the host on PATH: the 3.10 venv sees only what it installed."""
    host_bins = {str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin")}
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p not in host_bins)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LABKIT_", "JUPYTER", "IPYTHON", "MPL"))}
    env.update(PATH=path, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def venv310():
    """The cached 3.10 venv (built once: into a temporary folder, renamed when complete)."""
    exe = find_py310()
    if exe is None:
        pytest.skip("no Python 3.10 interpreter ($LABKIT_PY310, python3.10 on PATH or pyenv 3.10.x), "
                    "so the board side is not tried under the PYNQ images' Python")
    probe = subprocess.run([exe, "-c", "import sys; print(sys.version.split()[0], sys.base_prefix)"],
                           capture_output=True, text=True)
    key = hashlib.sha256(repr((REQUIREMENTS, probe.stdout)).encode()).hexdigest()[:12]
    venv = CACHE / f"venv-numpy-lt2-{key}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = CACHE / f"{venv.name}.tmp-{os.getpid()}"      # built aside, renamed into place when complete
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            subprocess.run([exe, "-m", "venv", str(tmp)], check=True, capture_output=True)
            pip = subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", *REQUIREMENTS],
                                 capture_output=True, text=True, env=clean_env(), timeout=900)
            if pip.returncode != 0:
                last = (pip.stderr.strip().splitlines() or ["(no message)"])[-1]
                pytest.skip(f"pip could not install {' '.join(REQUIREMENTS)} under Python 3.10 ({last}), "
                            "so the board side is not tried there")
            (tmp / ".complete").write_text(" ".join(REQUIREMENTS) + "\n")
            if not (venv / ".complete").is_file():         # (another run may have finished first)
                shutil.rmtree(venv, ignore_errors=True)
                os.replace(tmp, venv)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def with_wheel(venv310, tmp_path_factory):
    """The labkit wheel of this checkout, installed into the 3.10 venv with --no-deps (as on a board)."""
    from labkit.course.package import build_wheel

    wheel = build_wheel(tmp_path_factory.mktemp("wheel"), root=ROOT)
    pip = subprocess.run([str(venv310), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                         capture_output=True, text=True, env=clean_env())
    assert pip.returncode == 0, pip.stderr
    return venv310


IMPORTS = f"""
import importlib.util, json, sys
heavy = {HEAVY!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in heavy:
            raise ImportError('blocked ' + name)
installed = [m for m in heavy if importlib.util.find_spec(m) is not None]
sys.meta_path.insert(0, Block())
import numpy, pynq
import labkit, labkit.board, labkit.stream, labkit.metrics, labkit.config
from labkit.board import Overlay, Classifier, allocate, board_mode
from labkit.course import exercises, plots, results
print(json.dumps({{"python": sys.version.split()[0], "numpy": numpy.__version__, "pynq": pynq.__version__,
                  "labkit": labkit.__file__, "installed_heavy": installed,
                  "loaded_heavy": sorted(m for m in sys.modules if m.split('.')[0] in heavy),
                  "mode": board_mode(), "n_samples": labkit.config.CFG.n_samples}}))
"""


def test_board_package_imports_on_py310_numpy1(with_wheel, tmp_path):
    out = subprocess.run([str(with_wheel), "-c", IMPORTS], capture_output=True, text=True, cwd=tmp_path,
                         env=clean_env(LABKIT_BOARD="emulated"), timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["python"].startswith("3.10.") and info["numpy"].startswith("1."), info
    assert info["pynq"] == "3.0.1" and info["mode"] == "emulated" and info["n_samples"] == 161
    assert "site-packages" in info["labkit"] and str(ROOT) not in info["labkit"], info   # the wheel, not the checkout
    assert info["installed_heavy"] == [] and info["loaded_heavy"] == [], info
    assert out.stderr.strip() == "", out.stderr


def _source_key() -> str:
    """Hash of what the emulation library and vectors are made from (labkit sources + the toy student)."""
    h = hashlib.sha256()
    files = sorted(p for p in (ROOT / "labkit").rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".so"))
    for p in files + [ROOT / "tests" / "toys.py"]:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


@pytest.fixture(scope="module")
def lab04_artifacts():
    """An artifacts folder holding what lab 06 reads from lab 04: emulation library (+ .sha256), vectors."""
    art = CACHE / f"artifacts-{_source_key()}"
    if (art / ".complete").is_file():
        return art
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("g++ not found, so the IP's C-emulation library for lab 06 cannot be built (apt-get install g++)")
    pytest.importorskip("hls4ml", reason="hls4ml is needed to build the IP's C-emulation library for lab 06")
    pytest.importorskip("qkeras", reason="qkeras is needed to build the toy student for lab 06")
    from labkit.training.contract import qkeras_logits
    from labkit.hls.convert import csim_logits
    from labkit.hls.ipsim import EmulatedIP, library_record
    from labkit.hls.vectors import write_test_vectors
    from toys import toy_build, toy_pulses

    b = toy_build()                        # shared with test_board.py / test_hls.py in one session
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob("artifacts-*"):  # builds of older sources, unused for a day
        if time.time() - old.stat().st_mtime > 86400:
            shutil.rmtree(old, ignore_errors=True)
    tmp = CACHE / f"{art.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        X, y = toy_pulses(300, seed=7)
        write_test_vectors(X, y, qkeras_logits(b["model"], X), csim_logits(b["hls_model"], X),
                           emu=EmulatedIP(b["lib"]), folder=tmp / "hls" / "vectors")
        lib = tmp / "hls" / "emu" / Path(b["lib"]).name
        lib.parent.mkdir(parents=True)
        shutil.copyfile(b["lib"], lib)
        shutil.copyfile(library_record(b["lib"]), library_record(lib))    # its SHA-256 record goes with it
        (tmp / ".complete").write_text("lab 04 stand-in: toy student emulation library + vectors\n")
        if not (art / ".complete").is_file():
            shutil.rmtree(art, ignore_errors=True)
            os.replace(tmp, art)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return art


def test_lab06_emulated_headless_on_py310(with_wheel, lab04_artifacts, tmp_path):
    """lab 06 as on a board image: Python 3.10, numpy 1.x, PYNQ 3.0.1, labkit from the wheel, no TensorFlow."""
    art = tmp_path / "artifacts"
    shutil.copytree(lab04_artifacts, art)
    work = tmp_path / "board"          # the notebook runs from its own folder, away from the checkout
    work.mkdir()
    shutil.copy2(LAB06, work / LAB06.name)
    env = clean_env(LABKIT_ARTIFACTS=str(art), LABKIT_BOARD="emulated", LABKIT_FAST="1", MPLBACKEND="Agg",
                    JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
                    IPYTHONDIR=str(tmp_path / "ipython"))
    t0 = time.perf_counter()
    out = subprocess.run([str(with_wheel), "-m", "labkit", "course", "--labs", LAB06.name],
                         capture_output=True, text=True, cwd=work, env=env, timeout=600)
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"{LAB06.stem}: ok" in out.stdout and "noise in cell" not in out.stdout, out.stdout

    executed = json.loads((art / "executed" / LAB06.name).read_text())
    assert executed["metadata"]["language_info"]["version"].startswith("3.10."), executed["metadata"]
    text = "\n".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                     for o in c.get("outputs", []))
    assert "mode: emulated" in text and "0 differ" in text and "Traceback" not in text, text
    board = json.loads((art / "board" / "results_emulated.json").read_text())
    assert board["mode"] == "emulated" and board["words_equal_to_csim"] is True and board["n"] == 300, board
    assert json.loads((art / "results" / "lab06_board.json").read_text())["words_equal_to_csim"] is True
    assert wall < 300, f"lab 06 took {wall:.0f} s under Python 3.10"
