"""Where every stage writes, named once.

All paths sit under :func:`labkit.config.artifacts_dir` (``artifacts/``, ``artifacts/fast/`` in fast
mode, or ``$LABKIT_ARTIFACTS``).  Each stage writes one artifact that the next reads:

======  =========================================  =========================================
stage   artifact                                   function
======  =========================================  =========================================
01      parsed windows, synthetic data sets        :func:`data`
01      calibration plot                           :func:`calibration_plot`
02–03   keras-tuner searches                       :func:`tuning`
02      ``teacher/teacher.h5``                     :func:`teacher_model`
03      ``student/student.h5``                     :func:`student_model`
04      hls4ml project, exported IP                :func:`hls_project`, :func:`hls_ip`
04      the IP's C-simulation library, vectors     :func:`ip_library`, :func:`test_vectors`
04b     da4ml core, Verilog IP                     :func:`rtl`, :func:`rtl_core`, :func:`rtl_ip`
05      ``overlay/<board>/`` (.bit, .hwh, .xsa)    :func:`overlay`
06      board results, board package               :func:`board_results`, :func:`package`
course  lab results, executed notebooks, benches   :func:`results`, :func:`executed`, :func:`bench`
course  screenshots of the browser check           :func:`browser`
======  =========================================  =========================================

Standard library only (imports on the board).
"""
from __future__ import annotations

from pathlib import Path

from .config import artifacts_dir

#: file name of the IP's C-simulation library (labkit.hls.ipsim loads it)
LIB_NAME = "libclyc_emu.so"


def root(create: bool = True) -> Path:
    return artifacts_dir(create=create)


def data(*parts: str, create: bool = True) -> Path:
    return artifacts_dir("data", *parts, create=create)


def calibration_plot() -> Path:
    return artifacts_dir("calibration") / "overlay.png"


def tuning(create: bool = True) -> Path:
    return artifacts_dir("tuning", create=create)


def teacher_model() -> Path:
    return artifacts_dir("teacher") / "teacher.h5"


def student_model() -> Path:
    return artifacts_dir("student") / "student.h5"


def hls_project(create: bool = False) -> Path:
    return artifacts_dir("hls", "prj", create=create)


def hls_ip(create: bool = False) -> Path:
    return artifacts_dir("hls", "ip", create=create)


def ip_library() -> Path:
    return artifacts_dir("hls", "emu", create=False) / LIB_NAME


def test_vectors() -> Path:
    return artifacts_dir("hls", "vectors", create=False)


def hls_bench(*parts: str, create: bool = False) -> Path:
    return artifacts_dir("hls", "bench", *parts, create=create)


def rtl(*parts: str, create: bool = False) -> Path:
    return artifacts_dir("rtl", *parts, create=create)


def rtl_core() -> Path:
    return rtl("core")


def rtl_ip() -> Path:
    return rtl("ip")


def overlay(board: str) -> Path:
    return artifacts_dir("overlay", board, create=False)


def board_results(create: bool = True) -> Path:
    return artifacts_dir("board", create=create)


def package(create: bool = True) -> Path:
    return artifacts_dir("package", create=create)


def results(create: bool = True) -> Path:
    return artifacts_dir("results", create=create)


def executed() -> Path:
    return artifacts_dir("executed")


def bench(*parts: str) -> Path:
    return artifacts_dir("bench", *parts)


def browser(create: bool = True) -> Path:
    """Screenshots of the browser check (JupyterLab in headless Chromium)."""
    return artifacts_dir("browser", create=create)
