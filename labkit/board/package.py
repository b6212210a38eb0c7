"""``labkit package --board pynq-z1|kv260``: everything lab 06 needs on a board, in one archive.

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
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from .. import artifacts
from ..config import CFG, project_root

NOTEBOOK = "06_on_board.ipynb"
#: results of earlier labs that lab 06 reads on the board (copied when they exist)
RESULT_FILES = ("lab04b_rtl.json",)
VECTOR_FILES = ("meta.json", "inputs.npy", "input_words.npy", "expected_words.npy")


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
    b = CFG.board(board)
    nb = "${PYNQ_JUPYTER_NOTEBOOKS:-/home/xilinx/jupyter_notebooks}"
    overlay_note = ("" if overlay_included else
                    f"\n> This package has **no overlay**: `{CFG.overlay_name}.bit/.hwh` were not built "
                    f"(`labkit overlay --board {board}` needs Vivado). Build them, then rerun "
                    f"`labkit package --board {board} --force`. Without them lab 06 runs the emulated "
                    "overlay only where the emulation library exists (the host).\n")
    return f"""# labkit on the {b.title} — installation

Package for board `{board}` ({b.part}), PYNQ image with Python 3.10 and PYNQ 3.0.1.
The board needs only numpy + pynq (already on the image): the wheel is installed with `--no-deps`.
{overlay_note}
## 1. Copy the archive to the board (on the host)

```bash
scp {folder_name}.tar.gz xilinx@<board-ip>:/home/xilinx/
```

## 2. Unpack and install the wheel into the PYNQ virtual environment (on the board)

```bash
ssh xilinx@<board-ip>
tar xzf {folder_name}.tar.gz
cd {folder_name}
sudo -H bash -c 'source /etc/profile.d/pynq_venv.sh && pip install --no-deps --force-reinstall wheel/{wheel_name}'
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
`scp 'xilinx@<board-ip>:jupyter_notebooks/labkit/artifacts/board/*' .` to compare on the host.
"""


def build_package(board: str, force: bool = False, timestamp: bool = False, out_root=None,
                  notebook=None, vectors_dir=None, overlay_dir=None, quiet: bool = False) -> dict:
    """Assemble the folder + archive; returns a summary dict. Raises FileExistsError instead of overwriting."""
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
    vectors_dir = Path(vectors_dir) if vectors_dir is not None else artifacts.test_vectors()
    overlay_dir = Path(overlay_dir) if overlay_dir is not None else artifacts.overlay(board)
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook} not found: run from the course checkout (labs/{NOTEBOOK})")
    missing = [f for f in VECTOR_FILES if not (vectors_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"test vectors incomplete in {vectors_dir} (missing {', '.join(missing)}): "
                                "write them with lab 04 (or `labkit hls`) before packaging")

    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out_root))
    try:
        shutil.copy2(notebook, staging / NOTEBOOK)
        shutil.copytree(vectors_dir, staging / "artifacts" / "hls" / "vectors")
        bit, hwh = overlay_dir / f"{CFG.overlay_name}.bit", overlay_dir / f"{CFG.overlay_name}.hwh"
        overlay_included = bit.is_file() and hwh.is_file()
        if overlay_included:
            target = staging / "artifacts" / "overlay" / board
            target.mkdir(parents=True)
            shutil.copy2(bit, target / bit.name)
            shutil.copy2(hwh, target / hwh.name)
        else:
            say(f"No overlay in {overlay_dir} ({bit.name} + {hwh.name} need Vivado: `labkit overlay --board "
                f"{board}`), so the package holds everything else.")
        for result in RESULT_FILES:
            if (artifacts.results(create=False) / result).is_file():
                (staging / "artifacts" / "results").mkdir(parents=True, exist_ok=True)
                shutil.copy2(artifacts.results(create=False) / result, staging / "artifacts" / "results" / result)
        wheel = build_wheel(staging / "wheel")
        folder_name = f"labkit_{name}"
        (staging / "INSTALL.md").write_text(install_text(board, folder_name, wheel.name, overlay_included))
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {"board": board, "labkit_version": _version(), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "overlay_included": overlay_included, "wheel": wheel.name,
                    "files": {str(p.relative_to(staging)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                              for p in files}}
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if dest.exists():                      # --force: replace only once the new one is complete
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tmp_archive = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp_archive, "w:gz") as tar:
        tar.add(dest, arcname=folder_name)
    tmp_archive.replace(archive)
    say(f"package: {dest}\narchive: {archive}\nnext: follow {dest / 'INSTALL.md'}")
    return {"folder": str(dest), "archive": str(archive), "wheel": wheel.name,
            "overlay_included": overlay_included, "files": len(manifest["files"]) + 1}


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
    except FileExistsError as err:
        print(f"labkit package: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
