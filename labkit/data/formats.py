"""Readers and writers for the three pulse file formats the course meets.

* **Zenodo** (DOI 10.5281/zenodo.8037059): ``gamma.csv`` / ``neutron.csv``, one full trace per
  row, sample columns ``"0" … "3000"`` (100 MS/s) plus ``Energy`` (keVee) and ``FCI``; the class
  is the file.  Large (130 MB / 330 MB): read in chunks, with a progress bar for files that
  large when someone watches (not in headless runs, see ``progress`` of ``read_zenodo_file``).
* **Window CSV** (the authors' lab): header ``120,121,…,280,class``, one 161-sample window a row.
* **Trace table** (``shared/data/clyc_real_traces_200.csv``): ``label`` (gamma|neutron),
  ``fci_ref_100msps``, ``s0 … s2047``.

Every reader validates what it reads and raises :class:`DataFormatError` with a message that says
what is wrong and how to fix it.  Writers never overwrite an existing file unless asked.
No TensorFlow here: this module also serves the board and the data lab.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..config import CFG, headless

ZENODO_FILES = {name: f"{name}.csv" for name in CFG.class_names}
ZENODO_EXTRA = ("Energy", "FCI")


class DataFormatError(ValueError):
    """A data file is not what the course expects; the message says how to fix it."""


@dataclass
class Pulses:
    """Windows of raw ADC counts with their labels.

    ``X``: (n, 161) uint16 raw ADC codes (window = raw samples ``CFG.window_start…window_stop``);
    ``y``: (n,) int64 class index (0 gamma, 1 neutron); ``meta``: per-pulse extras (energy …)
    and a ``report`` of what was read and dropped.
    """

    X: np.ndarray
    y: np.ndarray
    source: str = ""
    meta: Dict[str, np.ndarray] = field(default_factory=dict)
    report: Dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def counts(self) -> Dict[str, int]:
        return {name: int((self.y == i).sum()) for i, name in enumerate(CFG.class_names)}

    def subset(self, idx) -> "Pulses":
        return Pulses(self.X[idx], self.y[idx], self.source,
                      {k: v[idx] for k, v in self.meta.items()}, dict(self.report))


def window_columns() -> list:
    return [str(i) for i in range(CFG.window_start, CFG.window_stop + 1)]


def zenodo_columns() -> list:
    return [str(i) for i in range(CFG.raw_trace_samples)]


# ------------------------------------------------------------------------------------------
# validation shared by every reader
# ------------------------------------------------------------------------------------------

def _must_exist(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{what} not found: {path}. Check the path, run `labkit data fetch` for the real CLYC "
            f"files, or use the built-in synthetic data (labkit.data.load('synthetic')).")
    if path.is_file() and path.stat().st_size == 0:
        raise DataFormatError(f"{path} is empty (0 bytes): re-download or re-export it.")
    return path


def _to_codes(block, where: str, first_row: int, columns: Sequence[str], on_bad: str):
    """Object/float block -> uint16 ADC codes; bad rows raise or are dropped (returned mask)."""
    import pandas as pd

    num = block.apply(pd.to_numeric, errors="coerce") if block.dtypes.eq(object).any() else block
    values = num.to_numpy(dtype=np.float64)
    bad_nan = np.isnan(values)
    bad_range = ~bad_nan & ((values < 0) | (values > CFG.adc_max) | (values != np.round(values)))
    bad = bad_nan | bad_range
    rows_bad = bad.any(axis=1)
    if rows_bad.any() and on_bad == "raise":
        r, c = np.argwhere(bad)[0]
        raw = block.iat[r, c]
        if bad_nan[r, c]:
            empty = raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip().lower() in ("", "nan")
            problem = "is empty or NaN" if empty else f"is {raw!r}, not a number"
        else:
            problem = f"is {raw!r}, outside the {CFG.adc_bits}-bit ADC range 0…{CFG.adc_max} (or not an integer code)"
        raise DataFormatError(
            f"{where} row {first_row + r + 1}, column {columns[c]!r} {problem}; {int(rows_bad.sum())} row(s) in "
            f"this block are affected. Fix or remove those rows, or load with on_bad='drop' "
            f"(CLI: --drop-bad) to skip them with a count in the report.")
    return values, rows_bad


def _check_header(header: Sequence[str], expected: Sequence[str], path: Path, fmt: str, fix: str):
    header = [h.strip() for h in header]
    if list(header[: len(expected)]) != list(expected):
        got = len(header)
        missing = [c for c in expected if c not in header][:5]
        raise DataFormatError(
            f"{path} is not a {fmt} file: expected {len(expected)} columns "
            f"{expected[0]!r}…{expected[-1]!r}, found {got} columns"
            + (f" (missing e.g. {missing})" if missing else " in another order")
            + f". {fix}")


# ------------------------------------------------------------------------------------------
# Zenodo traces
# ------------------------------------------------------------------------------------------

#: files at least this large get a progress bar by default (the real Zenodo files; the synthetic
#: set is read in seconds)
PROGRESS_MIN_BYTES = 100 * 2 ** 20


def show_progress(progress: Optional[bool], size: int) -> bool:
    """``progress`` if given, else: a bar only for a large file in an interactive session."""
    if progress is None:
        return size >= PROGRESS_MIN_BYTES and not headless()
    return bool(progress)


def read_zenodo_file(path, label: int, *, max_rows: Optional[int] = None, chunksize: int = 2000,
                     on_bad: str = "raise", progress: Optional[bool] = None) -> Pulses:
    """Read one Zenodo trace file (whole class) and keep only the course window.

    ``progress``: True/False forces the bar on/off; None (default) shows one only for files of at
    least ``PROGRESS_MIN_BYTES`` and never in a headless run (``LABKIT_HEADLESS``, set by
    ``labkit course``); the bar ends at 100 % and disappears when the file is read."""
    import pandas as pd
    from tqdm.auto import tqdm

    path = _must_exist(Path(path), "Zenodo trace file")
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), [])
    cols = zenodo_columns()
    fix = ("Use gamma.csv / neutron.csv from Zenodo record 8037239 (columns '0'…'3000', Energy, FCI), "
           "e.g. `labkit data fetch`, or read a 161-sample window CSV with read_windows().")
    _check_header(header, cols, path, "Zenodo CLYC trace", fix)
    ncols = len(header)
    keep = window_columns() + [c for c in ZENODO_EXTRA if c in header]
    size = path.stat().st_size
    X_parts, e_parts, f_parts = [], [], []
    n_read = n_drop = 0
    dropped_rows: list = []
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not show_progress(progress, size),
               leave=False)
    with open(path, "rb") as fh_bytes:
        reader = pd.read_csv(fh_bytes, usecols=keep, chunksize=chunksize, dtype=str, nrows=max_rows)
        try:
            for chunk in reader:
                bar.n = fh_bytes.tell()
                bar.refresh()
                block = chunk[window_columns()]
                values, rows_bad = _to_codes(block, path.name, n_read, window_columns(), on_bad)
                if rows_bad.any():
                    n_drop += int(rows_bad.sum())
                    dropped_rows += (n_read + 1 + np.flatnonzero(rows_bad)).tolist()[:20]
                ok = ~rows_bad
                X_parts.append(values[ok].astype(np.uint16))
                for name, parts in (("Energy", e_parts), ("FCI", f_parts)):
                    if name in chunk:
                        parts.append(pd.to_numeric(chunk[name], errors="coerce").to_numpy()[ok])
                n_read += len(chunk)
        except pd.errors.ParserError as err:
            raise DataFormatError(
                f"{path} looks truncated or corrupt near data row {n_read + 1} ({err}). Every row must "
                f"have {ncols} fields: re-download it (`labkit data fetch` resumes and checks sha256).") from None
        else:
            bar.n = size
            bar.refresh()
        finally:
            bar.close()
    _check_last_line(path, ncols)
    if n_read == 0:
        raise DataFormatError(f"{path} has a header but no pulses: re-download or re-export it.")
    X = np.concatenate(X_parts) if X_parts else np.empty((0, CFG.n_samples), np.uint16)
    meta = {}
    if e_parts:
        meta["energy"] = np.concatenate(e_parts)
    if f_parts:
        meta["fci"] = np.concatenate(f_parts)
    report = {"file": str(path), "rows": n_read, "dropped": n_drop, "dropped_rows_first": dropped_rows}
    if n_drop:
        print(f"{path.name}: dropped {n_drop} of {n_read} rows with NaN, non-numeric or out-of-range samples "
              f"in the window (first rows: {dropped_rows[:5]})")
    return Pulses(X, np.full(len(X), label, np.int64), str(path), meta, report)


def _check_last_line(path: Path, ncols: int) -> None:
    """pandas silently pads a short last line; a truncated download must not pass."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(max(0, end - 65536))
        tail = fh.read().rstrip(b"\r\n").split(b"\n")[-1]
    if tail and tail.count(b",") + 1 != ncols:
        raise DataFormatError(
            f"{path} is truncated: its last line has {tail.count(b',') + 1} of {ncols} fields. "
            f"Re-download it (`labkit data fetch` resumes and verifies the sha256).")


def read_zenodo(folder, *, max_rows: Optional[int] = None, on_bad: str = "raise",
                progress: Optional[bool] = None) -> Pulses:
    """Read ``gamma.csv`` and ``neutron.csv`` from ``folder`` (class = file)."""
    folder = _must_exist(Path(folder), "Zenodo data folder")
    parts = []
    for label, name in enumerate(CFG.class_names):
        parts.append(read_zenodo_file(folder / ZENODO_FILES[name], label, max_rows=max_rows,
                                      on_bad=on_bad, progress=progress))
    return concat(parts, source=str(folder))


def write_zenodo_csv(path, traces: np.ndarray, energy: np.ndarray, fci: Optional[np.ndarray] = None,
                     *, overwrite: bool = False) -> Path:
    """Write full traces in the Zenodo layout (columns "0"…"3000", Energy, FCI)."""
    path = Path(path)
    traces = np.asarray(traces)
    if traces.ndim != 2 or traces.shape[1] != CFG.raw_trace_samples:
        raise DataFormatError(f"traces must have shape (n, {CFG.raw_trace_samples}), got {traces.shape}")
    _refuse_overwrite(path, overwrite)
    header = ",".join(zenodo_columns() + list(ZENODO_EXTRA))
    fci = np.full(len(traces), np.nan) if fci is None else np.asarray(fci, float)
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w") as fh:
        fh.write(header + "\n")
        for i0 in range(0, len(traces), 1000):
            rows = traces[i0:i0 + 1000].astype(np.int64)
            body = [",".join(map(str, r)) for r in rows.tolist()]
            extra = [f",{e:.2f},{'' if np.isnan(f) else f'{f:.6g}'}" for e, f in zip(energy[i0:i0 + 1000], fci[i0:i0 + 1000])]
            fh.write("\n".join(b + x for b, x in zip(body, extra)) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------------
# 161-sample window CSV (header 120,…,280,class)
# ------------------------------------------------------------------------------------------

def _labels_from(values, path: Path) -> np.ndarray:
    names = {n: i for i, n in enumerate(CFG.class_names)}
    out = np.empty(len(values), np.int64)
    for k, v in enumerate(values):
        s = str(v).strip().lower()
        if s in names:
            out[k] = names[s]
            continue
        try:
            f = float(s)
        except ValueError:
            f = -1.0
        if f in range(CFG.n_classes) and f == int(f):
            out[k] = int(f)
        else:
            allowed = ", ".join(f"{i} or {n!r}" for i, n in enumerate(CFG.class_names))
            raise DataFormatError(f"{path} row {k + 1}: unknown class label {v!r}; allowed: {allowed}.")
    return out


def read_windows(path, *, on_bad: str = "raise") -> Pulses:
    """Read a window CSV (header ``120,…,280,class``)."""
    import pandas as pd

    path = _must_exist(Path(path), "window CSV")
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), [])
    expected = window_columns() + ["class"]
    fix = ("A window CSV has 162 columns: the raw sample indices 120…280 and 'class' "
           "(write one with labkit.data.write_windows).")
    if [h.strip() for h in header] != expected:
        _check_header(header, expected, path, "161-sample window CSV", fix)
        raise DataFormatError(f"{path}: {len(header)} columns, expected {len(expected)}. {fix}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as err:
        raise DataFormatError(f"{path} has rows with the wrong number of fields ({err}). {fix}") from None
    _check_last_line(path, len(expected))
    if df.empty:
        raise DataFormatError(f"{path} has a header but no pulses.")
    values, rows_bad = _to_codes(df[window_columns()].replace("", np.nan), path.name, 0, window_columns(), on_bad)
    y = _labels_from(df["class"].to_numpy(), path)
    ok = ~rows_bad
    report = {"file": str(path), "rows": len(df), "dropped": int(rows_bad.sum())}
    return Pulses(values[ok].astype(np.uint16), y[ok], str(path), {}, report)


def write_windows(path, X: np.ndarray, y: np.ndarray, *, overwrite: bool = False) -> Path:
    path = Path(path)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != CFG.n_samples:
        raise DataFormatError(f"windows must have shape (n, {CFG.n_samples}), got {X.shape}")
    _refuse_overwrite(path, overwrite)
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w") as fh:
        fh.write(",".join(window_columns() + ["class"]) + "\n")
        for row, label in zip(X.astype(np.int64).tolist(), np.asarray(y).tolist()):
            fh.write(",".join(map(str, row)) + f",{int(label)}\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------------
# trace table (shared/data/clyc_real_traces_200.csv)
# ------------------------------------------------------------------------------------------

def read_trace_table(path):
    """-> (traces (n, m) float64 raw codes from sample 0, labels (n,) int64)."""
    import pandas as pd

    path = _must_exist(Path(path), "trace table")
    df = pd.read_csv(path)
    scols = [c for c in df.columns if c.startswith("s") and c[1:].isdigit()]
    if "label" not in df.columns or len(scols) <= CFG.window_stop:
        raise DataFormatError(
            f"{path} is not a trace table: need a 'label' column and sample columns s0…s{CFG.window_stop} or more.")
    traces = df[scols].to_numpy(np.float64)
    if np.isnan(traces).any():
        raise DataFormatError(f"{path} has empty/NaN samples: fix or drop those rows.")
    return traces, _labels_from(df["label"].to_numpy(), path)


# ------------------------------------------------------------------------------------------

def concat(parts: Sequence[Pulses], source: str = "") -> Pulses:
    keys = set.intersection(*(set(p.meta) for p in parts)) if parts else set()
    return Pulses(
        np.concatenate([p.X for p in parts]),
        np.concatenate([p.y for p in parts]),
        source or ";".join(p.source for p in parts),
        {k: np.concatenate([p.meta[k] for p in parts]) for k in keys},
        {"parts": [p.report for p in parts], "dropped": sum(int(p.report.get("dropped", 0)) for p in parts)},
    )


def _refuse_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; labkit does not overwrite files. Pass overwrite=True "
                              f"(CLI: --force) or choose another path.")
    path.parent.mkdir(parents=True, exist_ok=True)
