"""``labkit`` command line: ``labkit [--debug] <command> [options]``; ``labkit <command> -h`` for each.

Each command lives in the module of its stage and parses its own options, so this file only
dispatches (and stays importable on the board, where TensorFlow is absent).

Errors: whatever a user can cause (a missing, unreadable or wrong file, an existing output, a bad
value) is printed as one sentence naming the file and the fix, exit status 2; a tool or run that
failed, exit 1; Ctrl-C, 130; anything else is a bug in labkit: one line saying so, exit 70.
Tracebacks appear only with ``--debug`` (or ``LABKIT_DEBUG=1``).
"""
from __future__ import annotations

import errno
import importlib
import os
import sys

from ..config import env_flag

COMMANDS = {
    "data": ("labkit.data.cli", "data sets: fetch the real Zenodo files, write the synthetic set, inspect"),
    "calibrate": ("labkit.data.calibrate", "compare synthetic pulses with real traces (table + overlay plot)"),
    "course": ("labkit.course.runner", "run every lab headless and write executed copies + a summary"),
    "bench": ("labkit.course.bench", "benchmarks that print one JSON line: accuracy | agreement | board | pareto | recipe | rtl"),
    "tune": ("labkit.training.distributed", "teacher or student search with a chief and N workers (keras-tuner gRPC)"),
    "hls": ("labkit.hls.cli", "hls4ml project, emulation library, test vectors, IP export"),
    "rtl": ("labkit.rtl", "open RTL twin of the IP: da4ml Verilog, Icarus/Verilator checks, Yosys resources"),
    "overlay": ("labkit.blockdesign.build", "Vivado block design / bitstream for a board (needs Vivado)"),
    "package": ("labkit.course.package", "bundle overlay, test vectors, lab 06 and a wheel for a board"),
}

#: exit status: input/usage error (as argparse), failed run or tool, bug in labkit, Ctrl-C
EXIT_INPUT, EXIT_FAILED, EXIT_BUG, EXIT_INTERRUPTED = 2, 1, 70, 130
DEBUG_FLAG = "--debug"


def usage() -> str:
    lines = ["usage: labkit [--debug] <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", f"  {DEBUG_FLAG:<10} show the full traceback of an error (for reporting a bug)"]
    return "\n".join(lines)


def _split_debug(argv: list) -> tuple:
    """(debug?, argv without --debug); ``--debug`` may stand anywhere before a ``--``."""
    end = argv.index("--") if "--" in argv else len(argv)
    try:
        env_debug = env_flag("LABKIT_DEBUG")
    except ValueError as err:          # said once here; the command itself runs without the traceback
        print(f"labkit: {err}", file=sys.stderr)
        env_debug = False
    debug = DEBUG_FLAG in argv[:end] or env_debug
    return debug, [a for i, a in enumerate(argv) if not (i < end and a == DEBUG_FLAG)]


def _os_sentence(err: OSError, inputs: list) -> str:
    """One sentence for an OSError raised by Python itself (it has an errno and usually a file name)."""
    name = err.filename if err.filename is not None else (inputs[0] if len(inputs) == 1 else None)
    where = f"{name}" if name is not None else "a file"
    also = f" (and {err.filename2})" if getattr(err, "filename2", None) else ""
    kind = (" as a folder" if os.path.isdir(name) else " as a file") if name is not None and os.path.exists(name) else ""
    fixes = {
        errno.ENOENT: f"{where}{also} does not exist: check the path (or run the step that writes it)",
        errno.EACCES: f"{where}{also}: permission denied: make it readable/writable for you (chmod/chown) "
                      "or choose another path",
        errno.EPERM: f"{where}{also}: operation not permitted here: choose another path (e.g. set "
                     "LABKIT_ARTIFACTS to a folder of yours)",
        errno.EEXIST: f"{where} exists already{kind}: move it away, pass --force where the command has it, "
                      "or choose another path",
        errno.EISDIR: f"{where} is a folder, but a file is expected there: give the path of the file",
        errno.ENOTDIR: f"{where}: a file stands where a folder is expected: move the file away or "
                       "choose another path",
        errno.ENOSPC: f"no space left on the disk while writing {where}: free some space, or set "
                      "LABKIT_ARTIFACTS to a folder on another disk",
        errno.EROFS: f"{where} is on a read-only file system: choose a writable path (e.g. LABKIT_ARTIFACTS)",
        errno.ENAMETOOLONG: f"{where}: the path is too long: choose a shorter one",
    }
    text = fixes.get(err.errno)
    if text is None:
        text = f"{where}{also}: {err.strerror or err}: check the path and the disk, then rerun"
    return text


def _raised_in_labkit(err: BaseException) -> bool:
    """Whether the innermost Python frame of ``err`` is labkit's (its own sentence), not a library's."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # the labkit package
    return tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(here + os.sep)


def explain(err: BaseException, argv: list) -> tuple:
    """(one sentence, exit status) for an exception that reached the command line."""
    # the files named on the command line, for messages whose exception does not carry one
    inputs = [a for a in argv if not a.startswith("-") and os.path.exists(a)]
    if isinstance(err, UnicodeError):
        where = inputs[0] if len(inputs) == 1 else ("one of " + ", ".join(inputs) if inputs else "an input file")
        return (f"{where} is not plain UTF-8 text ({err}): give a UTF-8 CSV (save it again as "
                "'CSV UTF-8', not a spreadsheet or a compressed file)", EXIT_INPUT)
    if isinstance(err, OSError) and err.errno is not None and (err.filename is not None or err.strerror):
        # raised by Python (open, mkdir, rename ...): no fix in its text; build the sentence here
        return _os_sentence(err, inputs), EXIT_INPUT if err.errno != errno.ENOSPC else EXIT_FAILED
    ours = _raised_in_labkit(err) and str(err).strip()
    if ours and isinstance(err, (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                                 PermissionError, ValueError)):
        return str(err), EXIT_INPUT            # labkit's own sentences on bad input
    if ours and isinstance(err, KeyError) and err.args and " " in str(err.args[0]):
        return str(err.args[0]), EXIT_INPUT    # a KeyError with a sentence (e.g. an unknown board)
    if ours and isinstance(err, (RuntimeError, OSError)):
        return str(err), EXIT_FAILED           # a tool, a download or a run failed; the text says which
    if isinstance(err, ModuleNotFoundError) and err.name:
        return (f"this command needs the Python package {err.name!r}, which is not installed here: run "
                "`make setup` in the course checkout (on a board, run it on the host instead)", EXIT_FAILED)
    if isinstance(err, MemoryError):
        return ("ran out of memory: close other programs, or use fast mode (LABKIT_FAST=1) / fewer "
                "pulses", EXIT_FAILED)
    return (f"internal error ({type(err).__name__}: {' '.join(str(err).split())[:300]}); this is a bug in "
            f"labkit: rerun with `labkit --debug {' '.join(argv)}` to see the traceback, and report it", EXIT_BUG)


def main(argv=None) -> int:
    # TensorFlow's start-up logging stays quiet, as under the Makefile (an explicit setting wins);
    # set before any command imports TensorFlow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    debug, argv = _split_debug(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"labkit: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return EXIT_INPUT
    if debug:
        os.environ["LABKIT_DEBUG"] = "1"        # kernels and subprocesses see it too
    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"labkit {name}: interrupted; finished work is kept and a rerun resumes from it", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:                    # `labkit ... | head`: the reader left; nothing to say
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_FAILED
    except Exception as err:  # noqa: BLE001 -- the one place that turns every error into a sentence
        if debug:
            raise
        text, code = explain(err, argv)
        print(f"labkit {name}: {text}", file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
