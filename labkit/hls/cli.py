"""``labkit hls convert | emulate | export``."""
from __future__ import annotations

import argparse
import sys

from .. import artifacts
from ..config import CFG, INPUT_HELP, INPUTS
from ..stream import int_arg


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="labkit hls", description="hls4ml project, emulation library, "
                                "test vectors and Vitis HLS IP export of the saved student")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="hls4ml project + C simulation + agreement + emulation library + test vectors")
    c.add_argument("--student", default=None, help="student .h5 (default artifacts/student/student.h5); your own "
                   "dense QKeras classifier on the window is taken too (Dropout removed, BatchNormalization "
                   "folded, a final softmax/sigmoid stripped, alpha='auto_po2' scales kept, any number of classes)")
    c.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    c.add_argument("--n-vectors", type=int_arg(1), default=None, help="pulses in the board test vectors (default: the whole test split)")
    c.add_argument("--input", choices=INPUTS, default="course", help=INPUT_HELP)
    c.add_argument("--accept-inexact", action="store_true", help="go on when the C simulation is not bit-exact "
                   "with QKeras on every test pulse (refused by default, exit 2)")
    e = sub.add_parser("emulate", help="build artifacts/hls/emu/libclyc_emu.so from the written project")
    e.add_argument("--project", default=None, help="hls4ml project folder (default artifacts/hls/prj)")
    x = sub.add_parser("export", help="Vitis HLS C synthesis + IP export with the flow of the Vitis on PATH: "
                       "build_ip.tcl for vitis_hls 2023.2/2024.1, hls_config.cfg for v++/vitis-run 2024.2-2025.2 "
                       "(skips with one sentence without Vitis)")
    x.add_argument("--project", default=None, help="hls4ml project folder (default artifacts/hls/prj)")
    x.add_argument("--board", default=CFG.default_board, choices=sorted(CFG.boards))
    args = p.parse_args(argv)

    if args.cmd == "convert":
        from . import build_all
        from ..training.ownmodel import load_own_student
        from ..training.checkpoints import student_path
        original, model, notes = load_own_student(args.student, args.input)
        build_all(model, board=args.board, n_vectors=args.n_vectors, original=original, notes=notes,
                  accept_inexact=args.accept_inexact, source=args.student or student_path(), input=args.input)
        return 0
    if args.cmd == "emulate":
        from .wrapper import build_emulation
        # raises FileNotFoundError naming `labkit hls convert` when no project was written yet
        build_emulation(args.project or artifacts.hls_project(), quiet=False)
        return 0
    if args.cmd == "export":
        from .vitis import export_ip
        # an unsupported Vitis is one sentence and exit 1 here (the lab only prints it)
        export_ip(args.project, board=args.board, strict=True)
        return 0
    return 2
