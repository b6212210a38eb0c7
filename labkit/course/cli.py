"""``labkit`` command line: ``labkit <command> [options]``; ``labkit <command> -h`` for each.

Each command lives in the module of its stage and parses its own options, so this file only
dispatches (and stays importable on the board, where TensorFlow is absent).
"""
from __future__ import annotations

import importlib
import os
import sys

COMMANDS = {
    "data": ("labkit.data.cli", "data sets: fetch the real Zenodo files, write the synthetic set, inspect"),
    "calibrate": ("labkit.data.calibrate", "compare synthetic pulses with real traces (table + overlay plot)"),
    "course": ("labkit.course.runner", "run every lab headless and write executed copies + a summary"),
    "bench": ("labkit.course.bench", "benchmarks that print one JSON line: accuracy | agreement | board | rtl"),
    "hls": ("labkit.hls.cli", "hls4ml project, emulation library, test vectors, IP export"),
    "rtl": ("labkit.rtl", "open RTL twin of the IP: da4ml Verilog, Icarus/Verilator checks, Yosys resources"),
    "overlay": ("labkit.blockdesign.build", "Vivado block design / bitstream for a board (needs Vivado)"),
    "package": ("labkit.board.package", "bundle overlay, test vectors, lab 06 and a wheel for a board"),
}


def usage() -> str:
    lines = ["usage: labkit <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    # TensorFlow's start-up logging stays quiet, as under the Makefile (an explicit setting wins);
    # set before any command imports TensorFlow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"labkit: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        print("labkit: interrupted; finished work is kept and a rerun resumes from it", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as err:
        # the errors labkit raises on bad input name the fix: show them without a traceback
        print(f"labkit {name}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
