"""`make setup` picks Python 3.10/3.11 (scripts/find_python.sh) or says in one sentence how to get one.

The interpreters are pyenv's (/root/.pyenv/versions/3.1x.y, or $PYENV_ROOT): each test builds a
PATH of symlinks named python3 / python3.11 / python3.10 to the versions it wants, so the choice
is tested as a laptop with that PATH would see it.  Nothing is installed: the Makefile tests stop
before pip (an unsupported Python) or right at its first download (PIP_NO_INDEX).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "find_python.sh"
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
HOWTO = ("uv python install 3.11", "pyenv install 3.11", "conda env create -f environment.yml")


def pyenv_python(minor: int):
    """The newest pyenv 3.<minor>.x interpreter, or None."""
    found = sorted(PYENV.glob(f"3.{minor}.*/bin/python3.{minor}"),
                   key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)])
    return found[-1] if found else None


def need(*minors):
    pythons = {m: pyenv_python(m) for m in minors}
    missing = [f"3.{m}" for m, p in pythons.items() if p is None]
    if missing:
        pytest.skip(f"no pyenv Python {', '.join(missing)} under {PYENV}: these PATH tests link to pyenv's interpreters")
    return pythons


def fake_path(tmp_path, links: dict, tools=()):
    """A bin folder of ``{name: interpreter}`` symlinks (+ no-op stubs for ``tools``), then /usr/bin:/bin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, target in links.items():
        (bin_dir / name).symlink_to(target)
    for tool in tools:
        stub = bin_dir / tool
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    # /usr/bin may hold a distribution python3: hide it by shadowing every name we do not link
    shadow = tmp_path / "nopython"
    shadow.mkdir(exist_ok=True)
    for name in ("python3", "python3.10", "python3.11", "python3.12", "python3.13"):
        if name not in links:
            stub = shadow / name
            stub.write_text("#!/bin/sh\necho \"$0: not this one\" >&2\nexit 127\n")
            stub.chmod(0o755)
    return f"{bin_dir}:{shadow}:/usr/bin:/bin"


def find(path, *args):
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    return subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def version_of(exe: str) -> str:
    out = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def assert_one_sentence(text, *must):
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("make setup: ") and lines[0].endswith("."), text
    assert "Traceback" not in text
    for m in must:
        assert m in text, (m, text)


# -- the choice ------------------------------------------------------------------------------------

def test_python3_is_312_but_python311_exists(tmp_path):
    p = need(11, 12)
    r = find(fake_path(tmp_path, {"python3": p[12], "python3.11": p[11]}))
    assert r.returncode == 0 and version_of(r.stdout.strip()) == "3.11", r


def test_python310_when_no_311(tmp_path):
    p = need(10, 12)
    r = find(fake_path(tmp_path, {"python3": p[12], "python3.10": p[10]}))
    assert r.returncode == 0 and version_of(r.stdout.strip()) == "3.10", r


def test_311_preferred_over_310(tmp_path):
    p = need(10, 11)
    r = find(fake_path(tmp_path, {"python3": p[10], "python3.10": p[10], "python3.11": p[11]}))
    assert r.returncode == 0 and version_of(r.stdout.strip()) == "3.11", r


def test_python3_itself_when_it_fits(tmp_path):
    p = need(10)
    r = find(fake_path(tmp_path, {"python3": p[10]}))
    assert r.returncode == 0 and version_of(r.stdout.strip()) == "3.10", r


def test_only_312_says_how_to_get_one(tmp_path):
    p = need(12)
    r = find(fake_path(tmp_path, {"python3": p[12], "python3.12": p[12]}))
    assert r.returncode == 1 and r.stdout == ""
    assert_one_sentence(r.stderr, "python3 is 3.12", "3.10 or 3.11", *HOWTO)


def test_no_python_at_all(tmp_path):
    r = find(fake_path(tmp_path, {}))
    assert r.returncode == 1
    assert_one_sentence(r.stderr, "no Python 3.10 or 3.11", *HOWTO)


def test_explicit_python_is_honoured(tmp_path):
    p = need(10, 11)
    path = fake_path(tmp_path, {"python3.11": p[11]})
    r = find(path, str(p[10]))            # PATH has a 3.11, but the user named a 3.10
    assert r.returncode == 0 and version_of(r.stdout.strip()) == "3.10", r


def test_explicit_python_312_is_refused(tmp_path):
    p = need(11, 12)
    r = find(fake_path(tmp_path, {"python3.11": p[11]}), str(p[12]))
    assert r.returncode == 1
    assert_one_sentence(r.stderr, f"PYTHON={p[12]} is Python 3.12", *HOWTO)


def test_explicit_python_that_does_not_run(tmp_path):
    r = find(fake_path(tmp_path, {}), str(tmp_path / "no" / "python"))
    assert r.returncode == 1
    assert_one_sentence(r.stderr, "does not run as a Python interpreter")


def test_python_without_ensurepip(tmp_path):
    """Debian's python3.11 without python3.11-venv: `-m venv` would fail later; say which package."""
    p = need(11)
    wrapper = tmp_path / "py311-novenv"
    wrapper.write_text(f"#!/bin/sh\nexec {p[11]} -c 'import sys; sys.modules[\"ensurepip\"] = None; "
                       f"exec(sys.argv[1])' \"$2\"\n")      # find_python.sh calls: <python> -c <code>
    wrapper.chmod(0o755)
    r = find(fake_path(tmp_path, {"python3.11": wrapper}))
    assert r.returncode == 1
    assert_one_sentence(r.stderr, "Python 3.11 is there but has no venv/ensurepip", "python3.11-venv")


def test_existing_venv_of_312_is_named(tmp_path):
    """A .venv left by an earlier `make setup` with Python 3.12 is not reused (nor deleted)."""
    p = need(12)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(p[12])
    r = find(fake_path(tmp_path, {}), "--venv", str(venv))
    assert r.returncode == 1 and venv.is_dir()
    assert_one_sentence(r.stderr, f"{venv} was created with Python 3.12", f"rm -rf {venv}")
    (venv / "bin" / "python").unlink()
    r = find(fake_path(tmp_path, {}), "--venv", str(venv))
    assert r.returncode == 1
    assert_one_sentence(r.stderr, "does not run", f"rm -rf {venv}")


def test_supported_versions_agree_with_pyproject_and_environment_yml():
    import tomllib
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert spec.replace(" ", "") == ">=3.10,<3.12"
    assert re.search(r'^SUPPORTED="3\.10 3\.11"$', SCRIPT.read_text(), re.M)
    assert re.search(r"^\s*- python=3\.1[01]\s*$", (ROOT / "environment.yml").read_text(), re.M)


# -- the Makefile uses it --------------------------------------------------------------------------

TOOLS = ("g++", "tclsh", "iverilog", "yosys", "chromium")     # present, so make setup installs nothing


def make_setup(path, tmp_path, *args):
    if shutil.which("make") is None:
        pytest.skip("make not found")
    env = {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8", "PIP_NO_INDEX": "1",
           "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "setup",
                           f"VENV={tmp_path / 'venv'}", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_make_setup_stops_before_anything_on_312(tmp_path):
    p = need(12)
    r = make_setup(fake_path(tmp_path, {"python3": p[12]}, TOOLS), tmp_path)
    assert r.returncode != 0 and not (tmp_path / "venv").exists()
    sentence = [l for l in r.stderr.splitlines() if l.startswith("make setup: ")]
    assert len(sentence) == 1 and "python3 is 3.12" in sentence[0] and HOWTO[0] in sentence[0], r.stderr
    assert "ResolutionImpossible" not in r.stderr and "pip install" not in r.stdout


def test_make_setup_refuses_explicit_312(tmp_path):
    p = need(11, 12)
    r = make_setup(fake_path(tmp_path, {"python3.11": p[11]}, TOOLS), tmp_path, f"PYTHON={p[12]}")
    assert r.returncode != 0 and not (tmp_path / "venv").exists()
    assert f"PYTHON={p[12]} is Python 3.12" in r.stderr


def test_make_setup_builds_the_venv_with_310(tmp_path):
    """python3 is 3.12, python3.10 exists: .venv is made with 3.10; pip then stops (no index here)."""
    p = need(10, 12)
    r = make_setup(fake_path(tmp_path, {"python3": p[12], "python3.10": p[10]}, TOOLS), tmp_path)
    venv_python = tmp_path / "venv" / "bin" / "python"
    assert f"creating {tmp_path / 'venv'} with {tmp_path / 'bin' / 'python3.10'}" in r.stdout, r.stdout + r.stderr
    assert venv_python.exists() and version_of(str(venv_python)) == "3.10"
    assert r.returncode != 0 and "pip install" in r.stdout      # the next step ran (and found no index)
    # a second run reuses the venv (no "creating"), even where PATH now has only a 3.12
    (tmp_path / "again").mkdir()
    r2 = make_setup(fake_path(tmp_path / "again", {"python3": p[12]}, TOOLS), tmp_path)
    assert "creating" not in r2.stdout and "make setup:" not in r2.stderr and "pip install" in r2.stdout, r2


def test_make_setup_names_a_venv_of_312(tmp_path):
    p = need(12)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(p[12])
    r = make_setup(fake_path(tmp_path, {"python3": p[12]}, TOOLS), tmp_path)
    assert r.returncode != 0 and f"rm -rf {venv}" in r.stderr and "pip install" not in r.stdout
