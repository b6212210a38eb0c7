"""``labkit data <fetch|synth|info>``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ..stream import int_arg, float_arg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="labkit data", description="CLYC data sets")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download gamma.csv/neutron.csv from Zenodo (sha256-checked, resumable)")
    f.add_argument("--dest", type=Path, help="target folder (default datasets/zenodo)")
    f.add_argument("--timeout", type=float_arg(0.0), default=30.0)
    s = sub.add_parser("synth", help="write the synthetic CLYC set in the Zenodo format")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--n", type=int_arg(1), default=5000, help="pulses per class")
    s.add_argument("--seed", type=int_arg(0))
    s.add_argument("--force", action="store_true", help="overwrite existing files")
    i = sub.add_parser("info", help="load a data source and print what it holds")
    i.add_argument("source", help="'synthetic', 'zenodo', a folder with gamma/neutron.csv or a window CSV")
    i.add_argument("--drop-bad", action="store_true", help="skip rows with bad samples (counted) instead of failing")
    w = sub.add_parser("windows", help="write a 161-sample window CSV (header 120,…,280,class) from a "
                                       "trace table (label, s0…) or a Zenodo folder")
    w.add_argument("source", type=Path)
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--force", action="store_true")
    w.add_argument("--drop-bad", action="store_true", help="skip rows with bad samples (counted) instead of failing")
    args = ap.parse_args(argv)

    if args.cmd == "fetch":
        from .fetch import FetchError, fetch
        if not 0 < args.timeout < float("inf"):
            ap.error(f"--timeout must be a positive, finite number of seconds, got {args.timeout}")
        try:
            fetch(args.dest, timeout=args.timeout)
        except (ConnectionError, FetchError) as err:
            print(err, file=sys.stderr)
            return 1
        return 0
    if args.cmd == "synth":
        if args.n < 1:
            ap.error(f"--n must be at least 1 pulse per class, got {args.n}")
        if args.seed is not None and args.seed < 0:
            ap.error(f"--seed must be a non-negative integer, got {args.seed}")
        from ..config import CFG
        from .synth import write_zenodo_dataset
        paths = write_zenodo_dataset(args.out, args.n, seed=CFG.seed if args.seed is None else args.seed,
                                     overwrite=args.force)
        for name, p in paths.items():
            print(f"{name}: {p}")
        return 0
    from . import load, read_trace_table, split, windows_from_traces, write_windows
    if args.cmd == "windows":
        on_bad = "drop" if args.drop_bad else "raise"
        if Path(args.source).is_dir():
            p = load(args.source, cache=False, on_bad=on_bad)
            X, y = p.X, p.y
        else:
            traces, y = read_trace_table(args.source, on_bad=on_bad)
            X = windows_from_traces(traces)
        write_windows(args.out, X, y, overwrite=args.force)
        print(f"{args.out}: {len(y)} windows (raw samples 120…280)")
        return 0
    pulses = load(args.source, on_bad="drop" if args.drop_bad else "raise")
    print(f"{pulses.source}: {len(pulses)} pulses {pulses.counts()}; dropped {pulses.report.get('dropped', 0)}")
    print(split(pulses).table())
    return 0
