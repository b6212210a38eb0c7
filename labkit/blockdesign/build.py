"""Stage 05: the Vivado block design (PS + AXI DMA + classifier IP) and its bitstream.

``hw/build_overlay.tcl`` is the one build script for every board; it reads ``course.ini``
(the ``[design]`` and ``[board:<key>]`` sections) itself.  The classifier is either the Vitis
HLS IP (``ip_kind="hls"``, the default) or its Verilog RTL twin (``ip_kind="rtl"``: the files in
``sources.f`` of the RTL folder, a module-reference cell of ``CFG.rtl.top``).  This module

* runs it for real when Vivado is on PATH (``labkit overlay --board pynq-z1``),
* otherwise says which command it would run and returns 0, so the course continues,
* runs it in plain ``tclsh`` against recording Vivado stubs (``hw/stubs``) and returns the
  recorded block design (:func:`record_design`), which :func:`labkit.blockdesign.checks.run_checks`
  checks (named checks, the same in the tests, in lab 05 and before every ``labkit overlay`` build)
  and :func:`labkit.blockdesign.draw.draw_design` draws.

Standard library at import time.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .. import emit
from .. import artifacts
from ..config import CFG
from ..config import load as load_config
from .checks import failed, run_checks
from ..stream import int_arg

HW_DIR = Path(__file__).resolve().parents[2] / "hw"
BUILD_TCL = HW_DIR / "build_overlay.tcl"
STUB_RUNNER = HW_DIR / "stubs" / "run_stubbed.tcl"

IP_KINDS = ("hls", "rtl")   # the classifier: Vitis HLS IP, or the RTL twin as a module reference
#: ``labkit overlay --ip``: the HLS IP, or an RTL twin -- the core course.ini [rtl] fold names, the
#: folded one or the fully parallel one (each its own folder, written by ``labkit rtl build --fold``)
IP_CHOICES = {"hls": None, "rtl": CFG.rtl.fold, "rtl-fold": "stream", "rtl-parallel": "none"}


def _hw_file(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the overlay build runs from a labkit checkout "
                                "(the hw/ folder next to labkit/)")
    return path


# ------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------

def vivado_available() -> Tuple[bool, str]:
    """(True, path of vivado) or (False, why not)."""
    path = shutil.which("vivado")
    if path:
        return True, path
    return False, "vivado is not on PATH (source <Vivado install>/settings64.sh to add it)"


def _tclargs(board: str, ip_repo, out_dir, ip_kind: str) -> List[str]:
    # hls is the script's default: its command line stays the 3-argument one
    return [board, str(ip_repo), str(out_dir)] + ([] if ip_kind == "hls" else [ip_kind])


def build_command(board: str, ip_repo, out_dir, ip_kind: str = "hls") -> List[str]:
    """The batch Vivado command that builds ``<overlay_name>.bit/.hwh/.xsa`` into ``out_dir``.

    ``ip_repo`` is the exported HLS IP (``ip_kind="hls"``) or the RTL folder (``ip_kind="rtl"``).
    """
    CFG.board(board)  # unknown board -> KeyError naming the choices
    if ip_kind not in IP_KINDS:
        raise ValueError(f"unknown ip_kind {ip_kind!r}: use {' or '.join(IP_KINDS)}")
    out_dir = Path(out_dir).resolve()
    return ["vivado", "-mode", "batch", "-nojournal", "-log", str(out_dir / "vivado.log"),
            "-source", str(_hw_file(BUILD_TCL)), "-tclargs",
            *_tclargs(board, Path(ip_repo).resolve(), out_dir, ip_kind)]


def _tclsh() -> str:
    for name in ("tclsh", "tclsh8.6"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("tclsh was not found: install Tcl 8.6 (e.g. apt-get install tcl) to record "
                            "the block design without Vivado")


def run_stubbed(board: str, tcl=None, vivado_version: str = "2024.1",
                ip_repo=None, out_dir=None, ini=None, timeout: float = 120, ip_kind: str = "hls",
                params=None, ip_versions: Optional[dict] = None) -> dict:
    """Run the build script in tclsh with the recording Vivado stubs; return the record.

    The record (see ``hw/stubs/vivado_stubs.tcl``) holds the project, cells (VLNV, CONFIG,
    pins, interfaces), nets, interface nets, addresses, runs and the files written, plus
    ``exit_code``, ``error`` and ``stderr`` of the script -- also when it stopped with an error.
    ``ip_repo``/``out_dir`` default to temporary folders (the stubs write placeholder outputs
    there, never real-looking artifacts into the course folders); ``ini`` replaces course.ini
    (its ``params.tcl`` export is what the script reads); ``params`` gives a params.tcl instead.
    ``ip_kind`` is passed to the script as is (an invalid one is the script's error to report).
    ``vivado_version`` is what the stubs' ``version -short`` answers; ``ip_versions``
    (``{"axi_dma": "7.2"}``) emulates a release whose IP catalogue has other versions.
    """
    tcl = Path(tcl) if tcl else _hw_file(BUILD_TCL)
    tclsh = _tclsh()
    with tempfile.TemporaryDirectory(prefix="labkit-overlay-") as tmp:
        tmp = Path(tmp)
        if ip_repo is None and ip_kind == "rtl":
            ip_repo = tmp / "rtl"
            ip_repo.mkdir()
            # the stubs only need sources.f naming an existing file; the module's ports come from course.ini
            (ip_repo / "sources.f").write_text(f"# labkit stub RTL folder\n{CFG.rtl.top}.v\n")
            (ip_repo / f"{CFG.rtl.top}.v").write_text("")
        elif ip_repo is None:
            ip_repo = tmp / "ip"
            ip_repo.mkdir()
            # the stubs only need to see a packaged IP; its interface names come from course.ini
            (ip_repo / "component.xml").write_text("<!-- labkit stub IP repository -->\n")
        out_dir = Path(out_dir) if out_dir is not None else tmp / "out"
        record_path = tmp / "design.json"
        pins = [w for name, v in (ip_versions or {}).items() for w in ("-ip", f"{name}={v}")]
        cmd = [tclsh, str(_hw_file(STUB_RUNNER)), "-version", vivado_version, *pins, "-record", str(record_path),
               "--", str(tcl), *_tclargs(board, ip_repo, out_dir, ip_kind)]
        if params is None:
            params = emit.write_tcl(board, tmp / "params.tcl", cfg=load_config(ini) if ini else CFG)
        env = dict(os.environ, LABKIT_PARAMS=str(params))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if not record_path.exists():
            raise RuntimeError(f"the stub run wrote no record (exit {proc.returncode}):\n{proc.stderr or proc.stdout}")
        record = json.loads(record_path.read_text())
    record["board"] = board
    record["ip_kind"] = ip_kind
    record["stdout"] = proc.stdout
    record["returncode"] = proc.returncode
    return record


def record_design(board: str, tcl=None, vivado_version: str = "2024.1", ip_kind: str = "hls",
                  ip_repo=None) -> dict:
    """The block design ``hw/build_overlay.tcl`` builds for ``board`` (with the HLS IP or, for
    ``ip_kind="rtl"``, its RTL twin), recorded without Vivado.  ``ip_repo``: the IP folder the
    script gets (e.g. ``artifacts.rtl_ip()``, lab 04b's Verilog); default a placeholder.

    Raises ``RuntimeError`` with the script's own message when it stops with an error.
    """
    record = run_stubbed(board, tcl=tcl, vivado_version=vivado_version, ip_kind=ip_kind, ip_repo=ip_repo)
    if record["exit_code"] != 0:
        message = "\n".join(record.get("stderr") or []) or record.get("error") or "(no message)"
        raise RuntimeError(f"build_overlay.tcl stopped for {board} (exit {record['exit_code']}): {message}")
    return record


def tcl_section(name: str, tcl=None) -> str:
    """The lines of ``hw/build_overlay.tcl`` between its markers ``# [name] begin`` and
    ``# [name] end`` (``dma``: create and wire the AXI DMA; ``addresses``: the address map), as
    the script has them now -- lab 05 prints them instead of a copy."""
    lines = Path(tcl or _hw_file(BUILD_TCL)).read_text().splitlines()
    marks = [i for i, line in enumerate(lines) if line.strip().startswith((f"# [{name}] begin", f"# [{name}] end"))]
    if len(marks) != 2 or not lines[marks[0]].strip().startswith(f"# [{name}] begin"):
        raise ValueError(f"{tcl or BUILD_TCL} has no section '{name}': it needs one '# [{name}] begin' line and "
                         f"one '# [{name}] end' line after it")
    return "\n".join(lines[marks[0] + 1:marks[1]])


def summary(record: dict) -> str:
    """A few lines: cells with VLNV and the address map."""
    lines = [f"{name:<20} {cell['vlnv']}" for name, cell in record["cells"].items()]
    lines += [f"{a['space']:<24} {a['offset']}  {a['range']:>10}  {a['slave']}" for a in record["addresses"]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def _check_recording(board: str, ip_kind: str) -> int:
    """Record the design with the stubs (placeholder IP) and print each failed check as
    ``name: message — fix`` on stderr; return how many failed (0 also when tclsh is missing)."""
    try:
        record = run_stubbed(board, ip_kind=ip_kind)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"labkit overlay: the block design was not checked before the build ({exc})", file=sys.stderr)
        return 0
    bad = failed(run_checks(record, board))
    for check in bad:
        print(f"{check.name}: {check.message} — {check.fix}", file=sys.stderr)
    if bad:
        print(f"labkit overlay: {len(bad)} block design check(s) failed on the stub recording of "
              f"{BUILD_TCL.name}; fix the script before running Vivado", file=sys.stderr)
    return len(bad)


def main(argv: Optional[Sequence[str]] = None) -> int:
    boards = list(CFG.boards)
    parser = argparse.ArgumentParser(
        prog="labkit overlay",
        description="Build the overlay (<name>.bit/.hwh/.xsa) for a board with Vivado in batch mode. "
                    "Without Vivado it prints the command it would run and exits 0. Before either, the "
                    "design is recorded with the tclsh stubs and checked; failed checks stop it (exit 1).")
    parser.add_argument("--board", default=CFG.default_board, choices=boards, help="board section of course.ini")
    parser.add_argument("--ip", dest="ip_choice", default="hls", choices=list(IP_CHOICES),
                        help="the classifier: hls = the Vitis HLS IP (make ip); rtl = its Verilog twin with the "
                             f"core course.ini [rtl] fold names ({CFG.rtl.fold}); rtl-fold / rtl-parallel = the "
                             "twin with the folded / fully parallel core (labkit rtl build --fold stream|none); "
                             "default hls")
    parser.add_argument("--ip-repo", type=Path, default=None,
                        help="folder with the classifier IP (default: artifacts/hls/ip; for the RTL twin "
                             "artifacts/rtl/ip, or artifacts/rtl/stream/ip for the folded core)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: artifacts/overlay/<board>)")
    parser.add_argument("--dry-run", action="store_true", help="print the Vivado command and stop")
    parser.add_argument("--force", action="store_true", help="rebuild even if <name>.bit exists in the output folder")
    parser.add_argument("--jobs", type=int_arg(1), default=None, help="parallel Vivado jobs (default 4)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    fold = IP_CHOICES[args.ip_choice]
    args.ip_kind = "hls" if fold is None else "rtl"
    if args.ip_repo is not None and not args.ip_repo.is_dir():      # given by hand: checked even without Vivado
        print(f"labkit overlay: --ip-repo {args.ip_repo} is not a folder: give the folder of the exported IP "
              "(make ip; for the RTL twin labkit rtl build)", file=sys.stderr)
        return 2
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(f"labkit overlay: --out {args.out} is a file, but the overlay needs an output folder: give a "
              "folder (it is created if missing)", file=sys.stderr)
        return 2
    ip_repo = args.ip_repo or (artifacts.hls_ip() if fold is None else artifacts.rtl_ip(fold))
    out = args.out or artifacts.overlay(args.board)
    cmd = build_command(args.board, ip_repo, out, args.ip_kind)
    bit = Path(out) / f"{CFG.overlay_name}.bit"
    if bit.exists() and not args.force:
        print(f"labkit overlay: {bit} exists already; pass --force to rebuild it (or move it away)", file=sys.stderr)
        return 2
    if _check_recording(args.board, args.ip_kind):
        return 1
    if args.dry_run:
        print(f"labkit overlay: would run: {shlex.join(cmd)}")
        return 0
    found, where = vivado_available()
    if not found:
        print(f"Vivado was not found on PATH, so no bitstream was built; with Vivado "
              f"{' or '.join(CFG.vivado_versions)} labkit overlay writes {Path(out) / 'params.tcl'} from course.ini "
              f"and runs: {shlex.join(cmd)}")
        return 0
    if not Path(ip_repo).is_dir():
        if args.ip_kind == "rtl":
            raise FileNotFoundError(f"RTL folder {ip_repo} does not exist: build the RTL twin first "
                                    f"(labkit rtl build --fold {fold}, or make rtl)")
        raise FileNotFoundError(f"IP repository {ip_repo} does not exist: export the classifier IP first (make ip)")
    Path(out).mkdir(parents=True, exist_ok=True)
    emit.write_tcl(args.board, Path(out) / "params.tcl")     # what build_overlay.tcl sources
    env = dict(os.environ)
    if args.jobs:
        env["LABKIT_VIVADO_JOBS"] = str(args.jobs)
    log = Path(out).resolve() / "vivado.log"
    print(f"labkit overlay: running {where} for {args.board}; the full log goes to {log}", flush=True)
    proc = subprocess.Popen(cmd, cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
    code = proc.wait()
    if code != 0:
        print(f"labkit overlay: Vivado stopped with exit code {code}: read {Path(out).resolve() / 'vivado.log'}",
              file=sys.stderr)
        return code
    print(f"labkit overlay: {bit.resolve()} and {bit.with_suffix('.hwh').name} are ready: copy both to the board")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
