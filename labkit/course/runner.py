"""``labkit course``: run every lab headless, in order, and summarise.

Executed copies go to ``artifacts/executed/``; ``artifacts/summary.md`` and ``summary.json`` hold
each lab's status and wall time plus the numbers the labs recorded (``labkit.course.results``).

A lab runs on the Jupyter kernel its notebook names (``metadata.kernelspec.name``) when that is one of
:data:`KERNELS`, else on ``python3`` (this environment).  Lab 04c names ``labkit-keras3``, the second
environment's kernel (``.venv-keras3``, Keras 3 + HGQ2); where that kernel is not installed, the lab is
reported as skipped with the command that installs it, and the run goes on.
"""
from __future__ import annotations

import argparse
import atexit
import json
import re
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

from .. import artifacts
from ..config import fast_mode, project_root


def _check_notebook(path: Path) -> None:
    """``--labs`` names Jupyter notebooks: a file that is not one is refused in one sentence (before anything runs)."""
    import json

    why = ""
    if path.suffix != ".ipynb":
        why = "its name does not end in .ipynb"
    else:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                why = "it is JSON but has no list of cells"
        except UnicodeDecodeError:
            why = "it is not UTF-8 text"
        except ValueError as err:
            why = f"it is not JSON ({err.__class__.__name__} at line {getattr(err, 'lineno', '?')})"
    if why:
        raise ValueError(f"--labs {path}: not a Jupyter notebook ({why}): give notebooks like labs/01_data.ipynb "
                         "(or no --labs for every lab)")


def labs(folder: Path | None = None):
    folder = folder or project_root() / "labs"
    found = sorted(folder.glob("[0-9][0-9]*_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no notebooks NN_*.ipynb in {folder}: run from the labkit checkout")
    return found


#: the kernels a lab may name: this environment's, and the Keras 3 route's (scripts/setup_keras3.sh)
KERNELS = ("python3", "labkit-keras3")
#: how to install a kernel that is missing (one sentence's end)
KERNEL_FIX = {"labkit-keras3": "run `bash scripts/setup_keras3.sh .venv` (or `make setup`) to make .venv-keras3 "
                               "and register it"}


def kernel_name(nb) -> str:
    """The kernel a lab runs on: the one its notebook names, when it is in :data:`KERNELS`, else python3."""
    name = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name")
    return name if name in KERNELS else "python3"


def kernel_missing(name: str) -> Optional[str]:
    """None when Jupyter finds the kernel ``name`` and its interpreter exists, else one sentence with the fix."""
    if name == "python3":
        return None
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    fix = KERNEL_FIX.get(name, "install it")
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return f"needs the Jupyter kernel {name}, which is not installed here: {fix}"
    exe = Path(spec.argv[0]) if spec.argv else None
    if exe is None or not exe.is_absolute() or not exe.exists():
        return (f"needs the Jupyter kernel {name}, whose Python ({spec.argv[0] if spec.argv else 'none'}) is gone "
                f"({spec.resource_dir}): {fix}")
    return None


def _client(nb, path: Path, timeout: int = 3600):
    """A headless kernel that runs ``nb`` with the notebook's folder as working directory.

    The kernel talks over IPC (Unix sockets in a private temporary folder), not TCP: nothing listens
    on a port, and ipykernel does not warn that TCP is unencrypted at every lab.
    """
    import tempfile
    from nbclient import NotebookClient
    from traitlets.config import Config

    config = Config()
    os.environ.setdefault("LABKIT_HEADLESS", "1")      # the kernel inherits it: no progress bars
    if os.name == "posix":
        sockets = tempfile.mkdtemp(prefix="labkit-kernel-")
        atexit.register(shutil.rmtree, sockets, ignore_errors=True)
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(sockets, "kernel")
    # the client owns (starts and shuts down) the kernel manager it creates from this config
    return NotebookClient(nb, timeout=timeout, kernel_name=kernel_name(nb), config=config,
                          resources={"metadata": {"path": str(path.parent)}})


def _execute(client, log: Path) -> None:
    """Run every cell; the kernel's own process output (C-level logs, its messages while it is shut
    down) goes to ``log``, not to the terminal; an empty log is removed.

    Ctrl-C: nbclient's own SIGINT handler shuts the kernel down, and the run ends in whatever that
    causes (a dead kernel, an assertion in its cleanup, or even a normal return with cells not
    run): all of it is turned into one ``KeyboardInterrupt`` here, and the log goes too."""
    try:
        with open(log, "w", encoding="utf-8") as f:
            try:
                client.execute(stdout=f, stderr=f)
            except BaseException:
                if _interrupted(client):
                    raise KeyboardInterrupt from None
                raise
            if _interrupted(client):
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        log.unlink(missing_ok=True)
        raise
    if log.stat().st_size == 0:
        log.unlink()


def _interrupted(client) -> bool:
    """Whether nbclient's SIGINT/SIGTERM handler ran (it sets this future to shut the kernel down)."""
    return getattr(client, "_async_cleanup_kernel_future", None) is not None


def run_notebook(path: Path, out_dir: Path, timeout: int = 3600) -> dict:
    """Execute ``path`` and write the executed copy to ``out_dir`` (atomically: an interrupted run
    leaves the previous copy as it was)."""
    import nbformat
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    why = kernel_missing(kernel_name(nb))
    if why:
        return {"lab": path.stem, "status": "skipped", "wall_s": 0.0, "executed": None,
                "error": f"{path.name} {why}", "noise": []}
    client = _client(nb, path, timeout)
    t0 = time.time()
    status, error = "ok", ""
    log = out_dir / f"{path.stem}.kernel.log"
    try:
        _execute(client, log)
    except CellExecutionError as err:
        status, error = "failed", str(err).strip().splitlines()[-1][:500]
    except DeadKernelError:
        status, error = "failed", f"the kernel died (out of memory?); its output is in {log}"
    wall = time.time() - t0
    out = out_dir / path.name
    artifacts.write_text_atomic(out, nbformat.writes(nb))
    return {"lab": path.stem, "status": status, "wall_s": round(wall, 1), "executed": str(out), "error": error,
            "noise": noise(nb)}


#: output text that a participant should never see in an executed lab
NOISE = re.compile(r"\b(\w*Warning|WARNING|DeprecationWarning|Traceback \(most recent call last\))\b")


def noise(nb) -> list:
    """Outputs of an executed notebook that are noise, not lessons: stderr streams and any output that
    carries a warning or a traceback. Returns ``[{"cell": i, "kind": ..., "text": first line}]``."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                kind = "stderr" if out.get("name") == "stderr" else ("warning" if NOISE.search(text) else None)
            elif out.get("output_type") == "error":
                continue                      # a failed cell is reported as the lab's failure
            else:
                text = str(out.get("data", {}).get("text/plain", ""))
                kind = "warning" if NOISE.search(text) else None
            if kind:
                first = next((l for l in text.splitlines() if NOISE.search(l)), text.strip().splitlines()[0] if text.strip() else "")
                found.append({"cell": i, "kind": kind, "text": first.strip()[:200]})
    return found


CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def refresh_checked_outputs(path: Path) -> int:
    """Execute a lab and store outputs only for its ``# NBVAL_CHECK_OUTPUT`` cells (for nbval);
    every other cell is left without output.  Returns the number of checked cells."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    _execute(_client(nb, path), artifacts.executed() / f"{path.stem}.kernel.log")
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.lstrip().startswith(CHECK_MARK):
            n += 1
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
            for o in cell.outputs:
                o.pop("execution_count", None)
            # nbval only compares cells that were run in the stored copy
            cell.execution_count = n
        else:
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)           # timestamps: noise in git
    nb.metadata.pop("widgets", None)                   # widget state of this run: an output too
    artifacts.write_text_atomic(path, nbformat.writes(nb))
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit course", description=__doc__)
    ap.add_argument("--labs", nargs="*", help="only these notebooks (default: every labs/NN_*.ipynb)")
    ap.add_argument("--keep-going", action="store_true", help="run the remaining labs after a failure")
    ap.add_argument("--refresh-checks", action="store_true",
                    help="for contributors: re-execute the labs and store the outputs of their "
                         "NBVAL_CHECK_OUTPUT cells (only those) in labs/ for nbval")
    args = ap.parse_args(argv)
    notebooks = [Path(p) for p in args.labs] if args.labs else labs()
    for nb in notebooks:
        if not nb.is_file():
            raise FileNotFoundError(f"{nb} is not a notebook file: give paths like labs/01_data.ipynb "
                                    "(or no --labs for every lab)")
        _check_notebook(nb)
    # one `labkit course` per artifacts folder: a second one would overwrite the first one's files
    # under it; Ctrl-C: one line, and nothing half-written (the lab that ran keeps its old copy)
    current = {"lab": None}
    with artifacts.lock("labkit course"):
        try:
            return _run(args, notebooks, current)
        except KeyboardInterrupt:
            where = f" during {current['lab']}" if current["lab"] else ""
            print(f"labkit course: interrupted{where}; its executed copy and the summary were not written "
                  f"(finished labs are in {artifacts.executed()}); rerun to continue", file=sys.stderr)
            return 130


def _run(args, notebooks, current) -> int:
    if args.refresh_checks:
        for nb in notebooks:
            current["lab"] = nb.name
            why = kernel_missing(kernel_name(json.loads(nb.read_text(encoding="utf-8"))))
            print(f"{nb.name}: skipped, it {why}" if why else
                  f"{nb.name}: {refresh_checked_outputs(nb)} checked cell(s) stored")
        return 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    out_dir = artifacts.executed()
    mode = "fast" if fast_mode() else "full"
    print(f"labkit course: {len(notebooks)} labs, {mode} settings, artifacts in {artifacts.root()}")
    rows, t0 = [], time.time()
    for nb in notebooks:
        print(f"  running {nb.name} …", flush=True)
        current["lab"] = nb.name
        row = run_notebook(nb, out_dir)
        current["lab"] = None
        rows.append(row)
        if row["status"] == "skipped":
            print(f"  {row['lab']}: skipped — {row['error']}", flush=True)
        else:
            print(f"  {row['lab']}: {row['status']} in {row['wall_s']} s" + (f" — {row['error']}" if row["error"] else ""),
                  flush=True)
        for n in row["noise"]:
            print(f"    noise in cell {n['cell']} ({n['kind']}): {n['text']}", flush=True)
        if mode == "full" and row["status"] == "ok" and (off := time_mismatch(nb, row["wall_s"])):
            print(f"    {off}", flush=True)
        if row["status"] == "failed" and not args.keep_going:
            break
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    from .results import load_all
    summary = {"mode": mode, "total_wall_s": round(time.time() - t0, 1), "peak_kernel_rss_mib": round(peak_kib / 1024),
               "labs": rows, "results": load_all()}
    artifacts.write_text_atomic(artifacts.root() / "summary.json", json.dumps(summary, indent=2))
    lines = [f"# labkit course run ({mode} settings)", "",
             f"total {summary['total_wall_s']} s, peak kernel memory {summary['peak_kernel_rss_mib']} MiB", "",
             artifacts.student_line(), "",
             "| lab | status | wall s | noisy outputs (stderr, warnings) |", "|---|---|---|---|"]
    lines += [f"| {r['lab']} | {r['status']} | {r['wall_s']} | {len(r['noise'])} |" for r in rows]
    skipped = [f"- {r['lab']} skipped: {r['error']}" for r in rows if r["status"] == "skipped"]
    lines += [""] + skipped if skipped else []
    lines += ["", "## Recorded numbers", ""]
    for stage, nums in summary["results"].items():
        lines.append(f"- **{stage}**: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in nums.items()
                                                       if not isinstance(v, (dict, list)) or _is_accuracy(v)))
    artifacts.write_text_atomic(artifacts.root() / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    ok = all(r["status"] in ("ok", "skipped") for r in rows) and len(rows) == len(notebooks)
    return 0 if ok else 1


#: how far a lab's stated time may be from a measured one (either way) before it is called out
TIME_TOLERANCE = 1.5


def stated_seconds(notebook) -> Optional[float]:
    """The time a lab's first cell states (``| **time** | about N s`` or ``about N min``), in seconds."""
    cell = json.loads(Path(notebook).read_text())["cells"][0]
    m = re.search(r"\|\s*\*\*time\*\*\s*\|\s*about ([0-9.]+) (s|min)\b", "".join(cell["source"]))
    return None if m is None else float(m.group(1)) * (60 if m.group(2) == "min" else 1)


def time_mismatch(notebook, wall_s: float) -> Optional[str]:
    """One sentence when ``wall_s`` (a full-settings run) is more than TIME_TOLERANCE times away from the
    time the lab states, else None."""
    stated = stated_seconds(notebook)
    if stated is None or wall_s <= 0:
        return None
    if max(stated / wall_s, wall_s / stated) > TIME_TOLERANCE:
        return (f"{Path(notebook).name} states about {stated:g} s but took {wall_s:g} s here: if this machine was "
                "idle, update its time row and benchmarks/lab_times.json")
    return None


def _is_accuracy(v) -> bool:
    """An accuracy recorded with its counts (``labkit.metrics.accuracy_ci``)."""
    return isinstance(v, dict) and {"k", "n", "ci95"} <= set(v)


def _fmt(v) -> str:
    from ..metrics import fmt_acc
    return fmt_acc(v) if _is_accuracy(v) else str(v)


if __name__ == "__main__":
    sys.exit(main())
