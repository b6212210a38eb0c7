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
04c     HGQ2 students, their cores and IPs         :func:`hgq`
05      ``overlay/<board>/`` (.bit, .hwh, .xsa)    :func:`overlay`
06      board results, board package               :func:`board_results`, :func:`package`
course  lab results, executed notebooks, benches   :func:`results`, :func:`executed`, :func:`bench`
course  screenshots of the browser check           :func:`browser`
======  =========================================  =========================================

The standard library and ``labkit.config`` (numpy through it); TensorFlow-free: imports on the board.
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
    return artifacts_dir("calibration") / "comparison.png"


def tuning(create: bool = True) -> Path:
    return artifacts_dir("tuning", create=create)


def teacher_model() -> Path:
    return artifacts_dir("teacher") / "teacher.h5"


def student_model() -> Path:
    return artifacts_dir("student") / "student.h5"


def model_record(model_path) -> dict:
    """What was recorded beside a saved model (the ``.json`` next to its ``.h5``), or {} when there is
    none or it cannot be read (a record is information about the model, never needed to load it)."""
    import json
    try:
        return json.loads(Path(model_path).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}


def student_info(path=None) -> dict:
    """What lab 03 recorded of the deployed student (``student.json`` beside ``student.h5``), or {}."""
    return model_record(path if path is not None else student_model())


def student_line(info: dict | None = None) -> str:
    """The one line every lab prints about the deployed student: trial, layers, nonzero weights, bits,
    LUT estimate and latency (from ``student.json``, or ``info``: that file's content or its
    ``selection``, e.g. the test vectors' ``student``)."""
    info = student_info() if info is None else (info or {})
    sel = info if "trial_id" in info else (info.get("selection") or {})
    if not sel:
        return "deployed student: no selection recorded (a student saved by hand or by an older labkit)"
    layers = "-".join(str(n) for n in sel["layers"])
    depth = len(sel["layers"]) - 2
    shape = "no hidden layer" if depth == 0 else f"{depth} hidden layer{'s' if depth > 1 else ''}"
    mode = str(sel.get("selected_by", "")).split(":")[0]
    return (f"deployed student: trial {sel['trial_id']} ({mode} selection), {layers} ({shape}), "
            f"{sel['nonzero']} nonzero weights, {sel['weight_bits']}-bit weights / {sel['activation_bits']}-bit "
            f"activations, ~{sel['lut_estimate']} LUT estimated, {sel['latency_cycles']} cycles, "
            f"validation {sel['val_k']}/{sel['val_n']}")


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


def hgq(*parts: str, create: bool = False) -> Path:
    """The Keras 3 route's students (lab 04c): one folder per shape and beta, each with its Verilog,
    hls4ml project and (deployed) IP."""
    return artifacts_dir("hgq", *parts, create=create)


def rtl_root(fold: str = "none") -> Path:
    """Where one RTL core and its IP go: ``rtl/`` (the parallel core) or ``rtl/<fold>/``."""
    return rtl() if fold == "none" else rtl(fold)


def rtl_core(fold: str = "none") -> Path:
    """The RTL core's folder: ``rtl/core`` (parallel) or ``rtl/<fold>/core``."""
    return rtl_root(fold) / "core"


def rtl_ip(fold: str = "none") -> Path:
    """The RTL IP's folder: ``rtl/ip`` (parallel core) or ``rtl/<fold>/ip``."""
    return rtl_root(fold) / "ip"


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


# ------------------------------------------------------------------------------------------
# writing safely: whole files only, one writer per artifacts folder
# ------------------------------------------------------------------------------------------

LOCK_NAME = ".labkit.lock"


class ArtifactsBusyError(RuntimeError):
    """Another labkit process holds the artifacts folder's lock (the message names its PID)."""


def current_umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``:
    a reader (or an interrupted run) sees the old file or the new one, never half of one."""
    import os
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())     # mkstemp makes 0600: honour the umask as open() does
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class lock:
    """``with artifacts.lock("labkit course"):`` -- this process alone writes the artifacts folder.

    An advisory ``fcntl.flock`` on ``<root>/.labkit.lock``, which holds the PID and the command of
    the holder while it runs; a second process gets :class:`ArtifactsBusyError` naming them. The
    lock goes with the process (also when it is killed); the file stays, emptied on release.
    Where ``fcntl`` does not exist (Windows) nothing is locked."""

    def __init__(self, what: str, folder=None):
        self.what, self.folder, self.fd = what, folder, None

    def __enter__(self):
        import os
        try:
            import fcntl
        except ImportError:
            return self
        folder = Path(self.folder) if self.folder is not None else root()
        path = folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another labkit process"
            os.close(fd)
            pid, _, what = holder.partition(" ")
            who = f"{what or 'labkit'} (PID {pid})" if pid.isdigit() else holder
            raise ArtifactsBusyError(f"the artifacts folder {folder} is in use by {who}: wait until it "
                                     f"finishes (or stop it), or set LABKIT_ARTIFACTS to another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.what}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        import os
        if self.fd is not None:
            import fcntl
            try:
                os.ftruncate(self.fd, 0)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                self.fd = None
        return False
