"""``labkit bench <name>``: benchmarks that print one JSON line of figures.

Speed and accuracy targets live here, not in tests (tests check behaviour, not timings).
"""
from __future__ import annotations

import importlib
import sys

BENCHES = {
    "accuracy": "labkit.training.tuning:bench_accuracy",   # teacher + student workflow, full settings
    "agreement": "labkit.hls:bench_agreement",    # QKeras vs C simulation vs stream wrapper
    "board": "labkit.board:bench_board",          # DMA streaming, emulated or on a board
    "pareto": "labkit.rtl.search:bench_pareto",   # the student search: accuracy vs LUTs vs latency
    "rtl": "labkit.rtl:bench_rtl",                # da4ml RTL twin: bit-exact, latency, Yosys resources
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHES:
        print("usage: labkit bench {" + "|".join(BENCHES) + "} [options]", file=sys.stderr)
        return 2
    module, func = BENCHES[argv[0]].split(":")
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
