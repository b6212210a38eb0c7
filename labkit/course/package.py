"""``labkit package --board pynq-z1|kv260|aup-zu3``: everything lab 06 needs on a board, in one archive (host side).

Layout of ``artifacts/package/<board>/`` (and ``artifacts/package/labkit_<board>.tar.gz``, whose
top folder is ``labkit_<board>``)::

    INSTALL.md                          exact steps: scp, pip install --no-deps, notebooks
    06_on_board.ipynb                   lab 06 (runs next to the artifacts folder below)
    wheel/labkit-<version>-py3-none-any.whl
    artifacts/hls/vectors/...           test vectors (inputs, expected words, logits, meta.json)
    artifacts/overlay/<board>/labkit_clyc.bit + .hwh    (when the overlay was built)
    artifacts/results/lab04b_rtl.json   the RTL core's latency and II (when lab 04b ran): lab 06 quotes them
    MANIFEST.json                       file list with sizes and sha256

The ``artifacts/`` tree mirrors the host's, so ``labkit.artifacts`` finds the vectors
and the overlay when the notebook runs from the unpacked folder on the board.
An existing package folder is never overwritten: pass ``--force`` or ``--timestamp``.

Only what is inside the packaged folders goes into the archive: a symbolic link that leads out of
them (to a home folder, say) is refused with its name, a link to a folder inside is skipped with a
note (its files are packaged from where they are), and FIFOs or devices are refused.
The package is assembled in temporary files next to it (``.labkit-package-<host>-<pid>-*``) and
published only when complete; they are removed on every exit (an error, Ctrl-C, SIGTERM or
SIGHUP), and a later run removes, with a note, those that a killed run (SIGKILL) left behind.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from .. import artifacts
from ..config import CFG, project_root

NOTEBOOK = "06_on_board.ipynb"
#: results of earlier labs that lab 06 reads on the board (copied when they exist)
RESULT_FILES = ("lab04b_rtl.json",)
VECTOR_FILES = ("meta.json", "inputs.npy", "input_words.npy", "expected_words.npy")


class PackageError(ValueError):
    """Something in the folders to package cannot go into the archive; the message names it and the fix."""


class Terminated(BaseException):
    """SIGTERM / SIGHUP arrived while the package was being built (raised so that cleanup runs)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise():
    """While building: SIGTERM and SIGHUP raise :class:`Terminated` (once), so ``finally`` blocks run.

    Only in the main thread (Python delivers signals there); a signal that was ignored stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired:                    # a second signal while cleaning up does not cut the cleanup short
            fired.append(signum)
            raise Terminated(signum)

    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None or signal.getsignal(sig) is signal.SIG_IGN:
            continue
        try:
            old[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


TEMP_PREFIX = ".labkit-package-"


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _temp_prefix() -> str:
    return f"{TEMP_PREFIX}{_host()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_leftovers(out_root: Path, say=print) -> list:
    """Remove temporary files of earlier runs on this host whose process is gone (killed with SIGKILL)."""
    host = _host()
    removed = []
    for p in sorted(out_root.glob(f"{TEMP_PREFIX}{host}-*")):
        pid = p.name[len(TEMP_PREFIX) + len(host) + 1:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            _remove(p)
            removed.append(p)
            say(f"removed {p}: an unfinished package left by process {pid}, which is gone (killed mid-way)")
    return removed


def _is_inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _link_target(link: Path, root: Path) -> Path:
    """Where ``link`` leads, if that is an existing file or folder inside ``root`` (resolved); else refuse."""
    target = link.resolve()
    if not _is_inside(target, root):
        raise PackageError(
            f"{link} is a symbolic link to {target}, outside the folder being packaged ({root}): `labkit package` "
            "never follows links out of it; replace the link by a copy of the file it should hold, or remove it")
    if not target.exists():
        raise PackageError(f"{link} is a broken symbolic link (to {target}): remove it or replace it by the file")
    return target


def _refuse_special(path: Path) -> None:
    mode = path.lstat().st_mode
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    raise PackageError(f"{path} is {kind}, which cannot go into the package: remove it from {path.parent}")


def copy_tree_inside(src: Path, dst: Path, say=print) -> None:
    """Copy the regular files under ``src`` to ``dst`` without following any link out of ``src``.

    A link to a file inside ``src`` is copied as that file; a link to a folder inside ``src`` is skipped
    with a note (its files are copied from where they are); a link that leads outside ``src`` or
    nowhere, a FIFO, a socket or a device is refused (:class:`PackageError` naming it).
    """
    src = Path(src)
    root = src.resolve()
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        out = dst / here.relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in sorted(dirnames):
            p = here / name
            if p.is_symlink():
                _link_target(p, root)
                say(f"skipped {p}: a link to a folder inside {src}, whose files are packaged from there")
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for name in sorted(filenames):
            p = here / name
            if p.is_symlink():
                target = _link_target(p, root)
                if target.is_dir():
                    say(f"skipped {p}: a link to a folder inside {src}, whose files are packaged from there")
                    continue
                if not target.is_file():
                    _refuse_special(target)
                shutil.copy2(target, out / name)
            elif stat.S_ISREG(p.lstat().st_mode):
                shutil.copy2(p, out / name)
            else:
                _refuse_special(p)


def _copy_file_inside(path: Path, root: Path, dest: Path) -> None:
    """Copy one file of ``root`` (a link in it must stay inside ``root``)."""
    real = _link_target(path, root.resolve()) if path.is_symlink() else path
    if not stat.S_ISREG(real.stat().st_mode):
        _refuse_special(real)
    shutil.copy2(real, dest)


def _check_under_artifacts(folder: Path, what: str) -> None:
    """A default input folder must resolve inside the artifacts folder (not be a link to elsewhere)."""
    root = artifacts.root(create=False).resolve()
    if folder.exists() and not _is_inside(folder.resolve(), root):
        raise PackageError(
            f"{folder} ({what}) leads to {folder.resolve()}, outside the artifacts folder {root} (a symbolic "
            "link): `labkit package` never follows links out of it; put the files themselves there")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_wheel(out_dir: Path, root: Path | None = None) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the source tree (offline, tree untouched)."""
    root = Path(root) if root is not None else project_root()
    if not (root / "pyproject.toml").is_file() or not (root / "labkit").is_dir():
        raise FileNotFoundError(f"no labkit source tree at {root}: run `labkit package` from the course checkout")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        shutil.copytree(root / "labkit", src / "labkit",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.o"))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-q", str(src), "-w", str(out_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the labkit wheel failed ({' '.join(cmd)}):\n"
                               f"{(proc.stderr or proc.stdout)[-3000:]}\n"
                               "setuptools and wheel must be installed in this environment "
                               "(`pip install setuptools wheel`; the build runs offline)")
    wheels = sorted(out_dir.glob("labkit-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel finished but wrote no labkit-*.whl into {out_dir}")
    return wheels[-1]


def install_text(board: str, folder_name: str, wheel_name: str, overlay_included: bool) -> str:
    """INSTALL.md for ``board``: the steps for the PYNQ image course.ini names for it
    (``pynq_image``, ``image_user``; ``pip_constraints`` such as ``numpy<2`` installed beside the
    ``--no-deps`` wheel, so the image's own packages stay as they are)."""
    b = CFG.board(board)
    user = b.image_user or "xilinx"
    home = f"/home/{user}"
    nb = "${PYNQ_JUPYTER_NOTEBOOKS:-" + b.image_notebooks + "}"
    nb_remote = b.image_notebooks
    overlay_note = ("" if overlay_included else
                    f"\n> This package has **no overlay**: `{CFG.overlay_name}.bit/.hwh` were not built "
                    f"(`labkit overlay --board {board}` needs Vivado). Build them, then rerun "
                    f"`labkit package --board {board} --force`. Without them lab 06 runs the emulated "
                    "overlay only where the emulation library exists (the host).\n")
    vivado = (f" That image was built with Vivado {b.image_vivado}; labkit builds the overlay with Vivado "
              f"{' / '.join(CFG.vivado_versions)} (hw/README.md has the table)." if b.image_vivado else "")
    pins = " ".join(f'"{c}"' for c in b.pip_constraints)
    pin_note = (f"\nThe image's pynq needs {', '.join(b.pip_constraints)}: the install step pins it first "
                f"(`pip install {pins}` keeps the image's version, or restores one if it was upgraded).\n"
                if pins else "")
    pip = (f"pip install {pins} && " if pins else "") + f"pip install --no-deps --force-reinstall wheel/{wheel_name}"
    return f"""# labkit on the {b.title} — installation

Package for board `{board}` ({b.part}), image: {b.pynq_image or "a PYNQ image with Python 3.10"}.{vivado}
The board needs only numpy + pynq (already on the image): the wheel is installed with `--no-deps`.
{pin_note}{overlay_note}
## 1. Copy the archive to the board (on the host)

```bash
scp {folder_name}.tar.gz {user}@<board-ip>:{home}/
```

## 2. Unpack and install the wheel into the PYNQ virtual environment (on the board)

```bash
ssh {user}@<board-ip>
tar xzf {folder_name}.tar.gz
cd {folder_name}
sudo -H bash -c 'source /etc/profile.d/pynq_venv.sh && {pip}'
```

## 3. Deliver the notebook with its artifacts to Jupyter

```bash
sudo -H bash -c 'source /etc/profile.d/pynq_venv.sh && \\
  mkdir -p {nb}/labkit && \\
  cp -r {NOTEBOOK} artifacts {nb}/labkit/'
```

Open `http://<board-ip>:9090/` (password `xilinx`), go to `labkit/` and run `{NOTEBOOK}`.
The notebook finds the overlay in `artifacts/overlay/{board}/` and the test vectors in
`artifacts/hls/vectors/` relative to its folder and saves results to `artifacts/board/`.

## 4. Check from a terminal (optional)

```bash
sudo -H bash -c 'source /etc/profile.d/pynq_venv.sh && cd {nb}/labkit && python -m labkit bench board'
```

prints one JSON line; `"mode": "board"` and `"words_equal_to_csim": true` mean the FPGA reproduces
the C simulation bit for bit. Copy `artifacts/board/results_board.json` back with
`scp '{user}@<board-ip>:{nb_remote}/labkit/artifacts/board/*' .` to compare on the host.
"""


def build_package(board: str, force: bool = False, timestamp: bool = False, out_root=None,
                  notebook=None, vectors_dir=None, overlay_dir=None, quiet: bool = False) -> dict:
    """Assemble the folder + archive; returns a summary dict. Raises FileExistsError instead of overwriting.

    Everything is written to temporary names in ``out_root`` first and published only when complete,
    so an error, Ctrl-C or SIGTERM mid-way leaves an existing package untouched and no partial files.
    """
    CFG.board(board)
    say = (lambda *a: None) if quiet else print
    out_root = Path(out_root) if out_root is not None else artifacts.package()
    name = board + (time.strftime("-%Y%m%d-%H%M%S") if timestamp else "")
    dest = out_root / name
    archive = out_root / f"labkit_{name}.tar.gz"
    if (dest.exists() or archive.exists()) and not force:
        raise FileExistsError(f"{dest if dest.exists() else archive} already exists: pass --force to replace "
                              "it or --timestamp to write a new, timestamped package next to it")
    notebook = Path(notebook) if notebook is not None else project_root() / "labs" / NOTEBOOK
    if vectors_dir is None:
        vectors_dir = artifacts.test_vectors()
        _check_under_artifacts(vectors_dir, "the test vectors")
    if overlay_dir is None:
        overlay_dir = artifacts.overlay(board)
        _check_under_artifacts(overlay_dir, f"the {board} overlay")
    vectors_dir, overlay_dir = Path(vectors_dir), Path(overlay_dir)
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook} not found: run from the course checkout (labs/{NOTEBOOK})")
    missing = [f for f in VECTOR_FILES if not (vectors_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"test vectors incomplete in {vectors_dir} (missing {', '.join(missing)}): "
                                "write them with lab 04 (or `labkit hls`) before packaging")
    student = _vectors_student(vectors_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out_root, say)
    folder_name = f"labkit_{name}"
    temps: list[Path] = []                    # removed on every way out of this function

    def temp(suffix: str) -> Path:
        p = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix()}{suffix}-", dir=out_root))
        temps.append(p)
        return p

    with _signals_raise():
        try:
            staging = temp(name)
            shutil.copy2(notebook, staging / NOTEBOOK)
            copy_tree_inside(vectors_dir, staging / "artifacts" / "hls" / "vectors", say)
            bit, hwh = overlay_dir / f"{CFG.overlay_name}.bit", overlay_dir / f"{CFG.overlay_name}.hwh"
            overlay_included = bit.is_file() and hwh.is_file()
            if overlay_included:
                target = staging / "artifacts" / "overlay" / board
                target.mkdir(parents=True)
                _copy_file_inside(bit, overlay_dir, target / bit.name)
                _copy_file_inside(hwh, overlay_dir, target / hwh.name)
            else:
                say(f"No overlay in {overlay_dir} ({bit.name} + {hwh.name} need Vivado: `labkit overlay --board "
                    f"{board}`), so the package holds everything else.")
            for result in RESULT_FILES:                # lab 04b's numbers, read by lab 06 on the board
                src_file = artifacts.results(create=False) / result
                if src_file.is_file():
                    (staging / "artifacts" / "results").mkdir(parents=True, exist_ok=True)
                    _copy_file_inside(src_file, artifacts.results(create=False), staging / "artifacts" / "results" / result)
            wheel = build_wheel(staging / "wheel")
            (staging / "INSTALL.md").write_text(install_text(board, folder_name, wheel.name, overlay_included))
            files = sorted(p for p in staging.rglob("*") if p.is_file())
            manifest = {"board": board, "labkit_version": _version(), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                        "overlay_included": overlay_included, "wheel": wheel.name, "student": student,
                        "files": {str(p.relative_to(staging)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                                  for p in files}}
            (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
            tmp_archive = temp("archive") / archive.name
            with tarfile.open(tmp_archive, "w:gz") as tar:
                tar.add(staging, arcname=folder_name)       # staging holds no links (copy_tree_inside)
            # publish: the old package (--force) is moved aside first and removed only at the end
            old = None
            if dest.exists() or dest.is_symlink():
                old = temp(f"{name}.old")
                dest.rename(old / name)
            try:
                staging.rename(dest)
            except BaseException:
                if old is not None:
                    (old / name).rename(dest)
                raise
            temps.remove(staging)
            tmp_archive.replace(archive)
        finally:
            for p in reversed(temps):
                _remove(p)
    say(f"{artifacts.student_line(student)}\npackage: {dest}\narchive: {archive}\nnext: follow {dest / 'INSTALL.md'}")
    return {"folder": str(dest), "archive": str(archive), "wheel": wheel.name,
            "overlay_included": overlay_included, "files": len(manifest["files"]) + 1, "student": student}


def _vectors_student(vectors_dir: Path):
    """The student the test vectors were written from (meta.json ``student``), checked against the
    deployed one (``artifacts/student/student.json``): a package never ships vectors of another network."""
    meta_path = Path(vectors_dir) / "meta.json"
    try:
        student = json.loads(meta_path.read_text()).get("student")
    except (OSError, ValueError) as err:
        raise ValueError(f"{meta_path} cannot be read ({err}): write the test vectors again with lab 04") from None
    deployed = artifacts.student_info().get("selection")
    if deployed and student and student != deployed:
        raise ValueError(f"the test vectors in {vectors_dir} come from trial {student.get('trial_id')}, but the deployed "
                         f"student ({artifacts.student_model()}) is trial {deployed.get('trial_id')}: rerun lab 04 "
                         "(or `labkit hls convert`) and the overlay for the deployed student before packaging")
    return student


def _version() -> str:
    from .. import __version__
    return __version__


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit package", description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards), help="target board")
    ap.add_argument("--force", action="store_true", help="replace an existing package of this board")
    ap.add_argument("--timestamp", action="store_true", help="write a new package folder named <board>-<time>")
    ap.add_argument("--out", default=None, help="output folder (default artifacts/package)")
    args = ap.parse_args(argv)
    try:
        build_package(args.board, force=args.force, timestamp=args.timestamp, out_root=args.out)
    except FileExistsError as err:            # an existing output: the README's exit status 2
        print(f"labkit package: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labkit package: interrupted; its temporary files were removed and any earlier package is "
              "untouched", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"labkit package: stopped by {signal.Signals(stop.signum).name}; its temporary files were removed "
              "and any earlier package is untouched", file=sys.stderr)
        return 128 + stop.signum
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
