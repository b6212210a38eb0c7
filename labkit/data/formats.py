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
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..config import CFG, headless

ZENODO_FILES = {name: f"{name}.csv" for name in CFG.class_names}
ZENODO_EXTRA = ("Energy", "FCI")


class DataFormatError(ValueError):
    """A data file is not what the course expects; the message says how to fix it."""


class DataPermissionError(DataFormatError, PermissionError):
    """A data file exists but cannot be read (permissions); the message says how to fix it."""


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

ON_BAD = ("raise", "drop")
SCAN_BLOCK = 1 << 24      #: bytes per block of the line scan
_DROP_HINT = "or load with on_bad='drop' (CLI: --drop-bad) to skip such rows with a count in the report"

# first bytes of files people mistake for a CSV: (magic, what it is, the fix)
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (`gunzip FILE.gz`)"),
    (b"PK\x03\x04", "a zip archive (or an Excel .xlsx workbook)",
     "unzip it, or export the sheet as 'CSV UTF-8 (comma delimited)'"),
    (b"BZh", "bzip2-compressed", "decompress it first (`bunzip2 FILE.bz2`)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (`unxz FILE.xz`)"),
    (b"(\xb5/\xfd", "zstd-compressed", "decompress it first (`unzstd FILE.zst`)"),
    (b"\x89HDF", "an HDF5 file", "export the pulses as a CSV (labkit.data.write_windows)"),
    (b"\x93NUMPY", "a NumPy .npy file", "load it with numpy.load and write a CSV with labkit.data.write_windows"),
    (b"PAR1", "a Parquet file", "export it as a CSV"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel/Office file (.xls)", "export the sheet as 'CSV UTF-8 (comma delimited)'"),
    (b"%PDF", "a PDF document", "give the CSV file itself"),
)
_UTF16 = ("re-save it as UTF-8 (Excel: 'CSV UTF-8 (comma delimited)'; shell: "
          "`iconv -f UTF-16 -t UTF-8 IN > OUT`)")


def _check_on_bad(on_bad: str) -> str:
    if on_bad not in ON_BAD:
        raise ValueError(f"on_bad must be 'raise' or 'drop', got {on_bad!r}")
    return on_bad


def _exists(path: Path) -> bool:
    """``path.exists()``, with a folder on the way that may not be entered said in one sentence."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise DataPermissionError(f"{path} cannot be reached (permission denied on a folder on its way): make "
                                  f"the folders readable or copy the data somewhere you can read.") from None
    except OSError as err:  # a symlink loop, a name too long …
        raise DataFormatError(f"{path} cannot be opened ({err.strerror}): check the path.") from None
    return True


def _must_exist(path: Path, what: str, folder: bool = False) -> Path:
    """Refuse, with one sentence naming the fix, anything that is not a readable UTF-8 text file
    (or, with ``folder=True``, a folder): missing, a folder/file mix-up, a pipe or device,
    unreadable, empty, compressed, binary or UTF-16."""
    path = Path(path)
    if not _exists(path):
        raise FileNotFoundError(
            f"{what} not found: {path}. Check the path, run `labkit data fetch` for the real CLYC "
            f"files, or use the built-in synthetic data (labkit.data.load('synthetic')).")
    if folder:
        if not path.is_dir():
            raise DataFormatError(f"{path} is a file, but the {what} must be a folder holding gamma.csv and "
                                  f"neutron.csv: give that folder (or read a window CSV with read_windows).")
        return path
    if path.is_dir():
        raise DataFormatError(f"{path} is a folder, but the {what} must be a file: give the CSV file itself "
                              f"(a folder is read as a Zenodo set only when it holds gamma.csv and neutron.csv).")
    if not path.is_file():
        raise DataFormatError(f"{path} is not a regular file (a pipe, socket or device): copy the data into a "
                              f"CSV file and give that.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except PermissionError:
        raise DataPermissionError(f"{path} cannot be read (permission denied): make it readable "
                                  f"(`chmod u+r {path}`) or copy it somewhere you can read.") from None
    if not head:
        raise DataFormatError(f"{path} is empty (0 bytes): re-download or re-export it.")
    for magic, kind, fix in _MAGIC:
        if head.startswith(magic):
            raise DataFormatError(f"{path} is {kind}, not a plain-text CSV: {fix}.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFormatError(f"{path} is UTF-16 text, not UTF-8: {_UTF16}.")
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) > 0.3 * (len(head) / 2) and min(even, odd) < 0.05 * (len(head) / 2):
            raise DataFormatError(f"{path} is UTF-16 text (without a byte-order mark), not UTF-8: {_UTF16}.")
        line = head[: head.index(b"\x00")].count(b"\n") + 1
        raise DataFormatError(f"{path} line {line} contains the byte 0x00, so the file is binary or corrupt, not a "
                              f"text CSV: give the CSV file itself, or re-download it / export it again as a UTF-8 CSV.")
    if not head.strip():
        raise DataFormatError(f"{path} holds only blank lines: re-download or re-export it.")
    if b"\r" in head and b"\n" not in head:
        raise DataFormatError(f"{path} ends its lines with a bare carriage return (old Mac style), which labkit "
                              f"does not read: re-save it with LF or CRLF line ends (e.g. `tr '\\r' '\\n'`).")
    return path


def _read_header(path: Path) -> list:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except UnicodeDecodeError as err:
        raise DataFormatError(
            f"{path} line 1: byte 0x{err.object[err.start]:02x} is not UTF-8 text; re-save the file as UTF-8 "
            f"(Excel: 'CSV UTF-8'; shell: `iconv -f latin1 -t utf-8 IN > OUT`).") from None
    except csv.Error as err:
        raise DataFormatError(f"{path} line 1 is not a CSV header ({err}): give a comma-separated text file "
                              f"whose first line names the columns.") from None


def _column_at(region: np.ndarray, start: int, pos: int, header: Sequence[str]) -> str:
    k = int(np.count_nonzero(region[start:pos] == 44))
    return f", column {header[k]!r}" if k < len(header) else f", field {k + 1}"


def _check_bytes(path: Path, region: np.ndarray, starts, ends, line0: int, header: Sequence[str]) -> None:
    """Only text may appear: no control bytes (binary), and non-ASCII bytes must be valid UTF-8."""
    low, high = region < 32, region >= 128
    if not high.any():
        low &= (region != 9) & (region != 10) & (region != 13)
        if not low.any():
            return
    odd = np.flatnonzero((low & (region != 9) & (region != 10) & (region != 13)) | high)
    if not len(odd):
        return
    ctrl = odd[region[odd] < 128]
    if len(ctrl):
        pos = int(ctrl[0])
        k = int(np.searchsorted(ends, pos))
        raise DataFormatError(
            f"{path} line {line0 + k + 1}{_column_at(region, starts[k], pos, header)} contains the byte "
            f"0x{region[pos]:02x}, so the file is binary or corrupt, not a text CSV: re-download it, or "
            f"export it again as a UTF-8 CSV.")
    for k in np.unique(np.searchsorted(ends, odd)):
        seg = region[starts[k]:ends[k]].tobytes()
        try:
            seg.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataFormatError(
                f"{path} line {line0 + k + 1}{_column_at(region, starts[k], starts[k] + err.start, header)}: "
                f"byte 0x{seg[err.start]:02x} is not UTF-8 text (the file looks like Latin-1/Windows-1252 or "
                f"binary); re-save it as UTF-8 (Excel: 'CSV UTF-8'; shell: `iconv -f latin1 -t utf-8 IN > OUT`).") from None


def _scan_rows(path: Path, header: Sequence[str], max_rows: Optional[int] = None):
    """Check every line of a CSV before pandas reads it (pandas pads short rows and, with
    ``usecols``, ignores extra fields: a row with a field lost or added before the window would
    be read shifted by one sample).

    Returns ``(lines, bad)``: the 1-based file line numbers of the data rows with the header's
    field count, in file order (blank lines, which pandas skips, excluded), and
    ``[(line, n_fields), …]`` of the data rows with another field count."""
    ncols = len(header)
    good: list = []
    bad: list = []
    n_good = 0
    line0 = 0          # file lines before the current block
    carry = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(SCAN_BLOCK)
            buf = carry + block
            if not buf:
                break
            arr = np.frombuffer(buf, np.uint8)
            nl = np.flatnonzero(arr == 10)
            if block:
                if not len(nl):
                    carry = buf
                    continue
                end = int(nl[-1]) + 1
                carry, ends = buf[end:], nl
            else:  # end of file: the last line may lack its newline
                end, carry = len(buf), b""
                ends = nl if len(nl) and nl[-1] == len(buf) - 1 else np.append(nl, len(buf))
            region = arr[:end]
            starts = np.concatenate(([0], ends[:-1] + 1))
            _check_bytes(path, region, starts, ends, line0, header)
            commas = np.flatnonzero(region == 44)
            nfields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
            blank = np.zeros(len(ends), bool)  # blank lines (pandas skips them) have no comma
            for k in np.flatnonzero(nfields == 1):
                blank[k] = not region[starts[k]:ends[k]].tobytes().strip()
            numbers = line0 + 1 + np.arange(len(ends))
            data = (numbers > 1) & ~blank
            wrong = data & (nfields != ncols)
            for k in np.flatnonzero(wrong):
                seg = region[starts[k]:ends[k]].tobytes()
                if b'"' in seg:  # quoted fields may hold commas: let the csv module count
                    nfields[k] = len(next(csv.reader([seg.decode("utf-8").rstrip("\r")]), []))
                    wrong[k] = nfields[k] != ncols
            ok_lines = numbers[data & ~wrong]
            bad_here = [(int(n), int(f)) for n, f in zip(numbers[wrong], nfields[wrong])]
            line0 += len(ends)
            if max_rows is not None and n_good + len(ok_lines) >= max_rows:
                ok_lines = ok_lines[: max_rows - n_good]
                last = ok_lines[-1] if len(ok_lines) else line0
                good.append(ok_lines)
                bad += [b for b in bad_here if b[0] < last]
                break
            good.append(ok_lines)
            bad += bad_here
            n_good += len(ok_lines)
            if not block:
                break
    lines = np.concatenate(good) if good else np.empty(0, np.int64)
    return lines, bad


def _field_count_error(path: Path, ncols: int, bad, last_line: int) -> DataFormatError:
    line, n = bad[0]
    more = f" ({len(bad)} lines are affected)" if len(bad) > 1 else ""
    if line == last_line and n < ncols and len(bad) == 1:
        return DataFormatError(
            f"{path} is truncated: its last line ({line}) has {n} of {ncols} fields. Re-download it "
            f"(`labkit data fetch` resumes and verifies the checksum) or re-export it.")
    return DataFormatError(
        f"{path} line {line} has {n} fields, expected {ncols} as in the header{more}: a field was lost or "
        f"added, which would shift the samples; repair or delete that line (re-download a Zenodo file), "
        f"{_DROP_HINT}.")


def _rows(path: Path, header: Sequence[str], on_bad: str, max_rows: Optional[int] = None):
    """Scan the file; raise on rows with the wrong field count or return them to be skipped."""
    lines, bad = _scan_rows(path, header, max_rows)
    if bad and on_bad == "raise":
        last = max([int(lines[-1]) if len(lines) else 0] + [b[0] for b in bad])
        raise _field_count_error(path, len(header), bad, last)
    return lines, bad


def _read_chunks(path: Path, usecols, lines: np.ndarray, bad, *, chunksize: int, max_rows=None, bar=None):
    """pandas chunks of strings (nothing parsed, nothing turned into NaN) with the file line number
    of each row; rows of ``bad`` are skipped."""
    import pandas as pd

    skip = [b[0] - 1 for b in bad]  # pandas counts file lines from 0 (the header)
    n = 0
    with open(path, "rb") as fh:
        try:
            reader = pd.read_csv(fh, usecols=usecols, chunksize=chunksize, dtype=str, na_filter=False,
                                 skiprows=skip or None, nrows=max_rows, encoding="utf-8")
            for chunk in reader:
                if bar is not None:
                    bar.n = fh.tell()
                    bar.refresh()
                yield chunk, lines[n:n + len(chunk)]
                n += len(chunk)
        except DataFormatError:
            raise
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
            near = f" near line {lines[n]}" if n < len(lines) else ""
            raise DataFormatError(f"{path} cannot be read as a CSV{near} ({str(err).strip()}): re-download or "
                                  f"re-export it as a comma-separated UTF-8 file.") from None
    if n != len(lines):  # never accept rows that the line scan did not see
        raise DataFormatError(f"{path}: pandas read {n} rows where the file has {len(lines)} well-formed data "
                              f"lines (quoted fields spanning lines?); re-export it as a plain comma-separated file.")


def _cell_problem(raw, value: float) -> str:
    text = str(raw).strip()
    if not text:
        return "is empty"
    if np.isnan(value):
        try:  # pandas reads an overflowing '1e400' as NaN
            value = float(text) if text.isascii() else value
        except ValueError:
            pass
    if np.isnan(value):
        return f"is {raw!r}, not a number"
    if not np.isfinite(value):
        return f"is {raw!r}, not a finite number"
    if value != np.round(value):
        return f"is {raw!r}, not an integer ADC code"
    return f"is {raw!r}, outside the {CFG.adc_bits}-bit ADC range 0…{CFG.adc_max}"


def _numbers(block):
    """Strings -> float64 (NaN where a cell is not a number)."""
    import pandas as pd

    return block.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)


def _to_codes(block, path: Path, lines: np.ndarray, on_bad: str):
    """Block of strings -> float64 ADC codes and a mask of rows with a bad cell (empty, not a
    number, not finite, not an integer, outside 0…adc_max); in raise mode the first bad cell
    raises, naming file, line and column."""
    values = _numbers(block)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < 0) | (values > CFG.adc_max) | (values != np.round(values))
    rows_bad = bad.any(axis=1)
    if rows_bad.any() and on_bad == "raise":
        r, c = np.argwhere(bad)[0]
        raise DataFormatError(
            f"{path} line {lines[r]}, column {block.columns[c]!r} {_cell_problem(block.iat[r, c], values[r, c])}: "
            f"fix or delete that line, {_DROP_HINT}.")
    return values, rows_bad


def _extras(chunk, names, path: Path, lines: np.ndarray, on_bad: str):
    """Optional float columns (Energy, FCI): empty or 'nan' means missing; anything else that is
    not a finite number is a bad cell."""
    out, rows_bad = {}, np.zeros(len(chunk), bool)
    for name in names:
        if name not in chunk:
            continue
        text = chunk[name].str.strip()
        values = _numbers(chunk[[name]])[:, 0]
        missing = (text == "") | (text.str.lower() == "nan")
        bad = ~missing.to_numpy() & ~np.isfinite(values)
        if bad.any() and on_bad == "raise":
            r = int(np.flatnonzero(bad)[0])
            raise DataFormatError(
                f"{path} line {lines[r]}, column {name!r} is {chunk[name].iat[r]!r}, not a number: fix or delete "
                f"that line (an empty cell means 'not measured'), {_DROP_HINT}.")
        out[name] = np.where(missing.to_numpy(), np.nan, values)
        rows_bad |= bad
    return out, rows_bad


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


def _report_drops(path: Path, n_drop: int, n_rows: int, dropped: list, n_structure: int) -> None:
    if n_drop:
        why = [f"{n_structure} with a wrong field count"] if n_structure else []
        if n_drop > n_structure:
            why.append(f"{n_drop - n_structure} with empty, non-numeric, non-integer or out-of-range cells")
        print(f"{path}: dropped {n_drop} of {n_rows} rows ({', '.join(why)}; first lines: {dropped[:5]})")


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

    Every line is checked first (text only, the header's field count); every window cell must be
    an integer ADC code and Energy/FCI numbers or empty.  ``on_bad='drop'`` skips bad rows and
    counts them in ``report`` instead of raising.

    ``progress``: True/False forces the bar on/off; None (default) shows one only for files of at
    least ``PROGRESS_MIN_BYTES`` and never in a headless run (``LABKIT_HEADLESS``, set by
    ``labkit course``); the bar ends at 100 % and disappears when the file is read."""
    from tqdm.auto import tqdm

    _check_on_bad(on_bad)
    if max_rows is not None and (not isinstance(max_rows, (int, np.integer)) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    path = _must_exist(Path(path), "Zenodo trace file")
    header = _read_header(path)
    cols = zenodo_columns()
    fix = ("Use gamma.csv / neutron.csv from Zenodo record 8037239 (columns '0'…'3000', Energy, FCI), "
           "e.g. `labkit data fetch`, or read a 161-sample window CSV with read_windows().")
    _check_header(header, cols, path, "Zenodo CLYC trace", fix)
    lines, bad = _rows(path, header, on_bad, max_rows)
    extras = [c for c in ZENODO_EXTRA if c in header]
    keep = window_columns() + extras
    X_parts, extra_parts = [], {c: [] for c in extras}
    n_read, n_drop, dropped = 0, len(bad), [b[0] for b in bad][:20]
    size = path.stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not show_progress(progress, size),
               leave=False)
    try:
        for chunk, ln in _read_chunks(path, keep, lines, bad, chunksize=chunksize, max_rows=max_rows, bar=bar):
            values, rows_bad = _to_codes(chunk[window_columns()], path, ln, on_bad)
            extra, extra_bad = _extras(chunk, extras, path, ln, on_bad)
            rows_bad |= extra_bad
            if rows_bad.any():
                n_drop += int(rows_bad.sum())
                dropped = sorted(dropped + ln[rows_bad].tolist())[:20]
            ok = ~rows_bad
            X_parts.append(values[ok].astype(np.uint16))
            for name in extras:
                extra_parts[name].append(extra[name][ok])
            n_read += len(chunk)
        bar.n = size                          # a finished read shows 100 %, never a stalled bar
        bar.refresh()
    finally:
        bar.close()
    n_rows = n_read + len(bad)
    if n_rows == 0:
        raise DataFormatError(f"{path} has a header but no pulses: re-download or re-export it.")
    X = np.concatenate(X_parts) if X_parts else np.empty((0, CFG.n_samples), np.uint16)
    meta = {name.lower(): np.concatenate(parts) for name, parts in extra_parts.items() if parts}
    report = {"file": str(path), "rows": n_rows, "dropped": n_drop, "dropped_lines_first": dropped}
    _report_drops(path, n_drop, n_rows, dropped, len(bad))
    return Pulses(X, np.full(len(X), label, np.int64), str(path), meta, report)


def read_zenodo(folder, *, max_rows: Optional[int] = None, on_bad: str = "raise", progress: Optional[bool] = None) -> Pulses:
    """Read ``gamma.csv`` and ``neutron.csv`` from ``folder`` (class = file)."""
    folder = _must_exist(Path(folder), "Zenodo data folder", folder=True)
    missing = [ZENODO_FILES[n] for n in CFG.class_names if not (folder / ZENODO_FILES[n]).exists()]
    if len(missing) == len(CFG.class_names):
        raise FileNotFoundError(
            f"{folder} holds neither {' nor '.join(missing)}: give the folder with the Zenodo files (run "
            f"`labkit data fetch` for the real ones), a window CSV file, or 'synthetic'.")
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
    if traces.size and not (np.isfinite(traces).all() and (traces == np.round(traces)).all()
                            and traces.min() >= 0 and traces.max() <= CFG.adc_max):
        raise DataFormatError(f"traces must be integer ADC codes in 0…{CFG.adc_max}")
    energy = np.asarray(energy, float)
    if energy.shape != (len(traces),):
        raise DataFormatError(f"energy must have one value per trace ({len(traces)}), got shape {energy.shape}")
    _refuse_overwrite(path, overwrite)
    header = ",".join(zenodo_columns() + list(ZENODO_EXTRA))
    fci = np.full(len(traces), np.nan) if fci is None else np.asarray(fci, float)
    with _atomic_text(path) as fh:
        fh.write(header + "\n")
        for i0 in range(0, len(traces), 1000):
            rows = traces[i0:i0 + 1000].astype(np.int64)
            body = [",".join(map(str, r)) for r in rows.tolist()]
            extra = [f",{e:.2f},{'' if np.isnan(f) else f'{f:.6g}'}" for e, f in zip(energy[i0:i0 + 1000], fci[i0:i0 + 1000])]
            fh.write("\n".join(b + x for b, x in zip(body, extra)) + "\n")
    return path


# ------------------------------------------------------------------------------------------
# 161-sample window CSV (header 120,…,280,class)
# ------------------------------------------------------------------------------------------

def _labels_from(values, path: Path, lines: np.ndarray) -> np.ndarray:
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
            raise DataFormatError(f"{path} line {lines[k]}: unknown class label {v!r}; allowed: {allowed}. "
                                  f"Fix or delete that line.")
    return out


def read_windows(path, *, on_bad: str = "raise", chunksize: int = 20000) -> Pulses:
    """Read a window CSV (header ``120,…,280,class``); every line and cell is checked as for
    :func:`read_zenodo_file`."""
    _check_on_bad(on_bad)
    path = _must_exist(Path(path), "window CSV")
    header = _read_header(path)
    expected = window_columns() + ["class"]
    fix = ("A window CSV has 162 columns: the raw sample indices 120…280 and 'class' "
           "(write one with labkit.data.write_windows).")
    if header != expected:
        _check_header(header, expected, path, "161-sample window CSV", fix)
        raise DataFormatError(f"{path}: {len(header)} columns, expected {len(expected)}. {fix}")
    lines, bad = _rows(path, header, on_bad)
    X_parts, y_parts = [], []
    n_drop, dropped = len(bad), [b[0] for b in bad][:20]
    for chunk, ln in _read_chunks(path, None, lines, bad, chunksize=chunksize):
        values, rows_bad = _to_codes(chunk[window_columns()], path, ln, on_bad)
        y = _labels_from(chunk["class"].to_numpy(), path, ln)
        if rows_bad.any():
            n_drop += int(rows_bad.sum())
            dropped = sorted(dropped + ln[rows_bad].tolist())[:20]
        X_parts.append(values[~rows_bad].astype(np.uint16))
        y_parts.append(y[~rows_bad])
    n_rows = len(lines) + len(bad)
    if n_rows == 0:
        raise DataFormatError(f"{path} has a header but no pulses: re-export it with labkit.data.write_windows.")
    report = {"file": str(path), "rows": n_rows, "dropped": n_drop, "dropped_lines_first": dropped}
    _report_drops(path, n_drop, n_rows, dropped, len(bad))
    X = np.concatenate(X_parts) if X_parts else np.empty((0, CFG.n_samples), np.uint16)
    y = np.concatenate(y_parts) if y_parts else np.empty(0, np.int64)
    return Pulses(X, y, str(path), {}, report)


def write_windows(path, X: np.ndarray, y: np.ndarray, *, overwrite: bool = False) -> Path:
    path = Path(path)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != CFG.n_samples:
        raise DataFormatError(f"windows must have shape (n, {CFG.n_samples}), got {X.shape}")
    from ..stream import check_pulses

    X = check_pulses(X)  # integer ADC codes in range: never rounded or wrapped on the way out
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.isin(y, np.arange(CFG.n_classes)).all():
        raise DataFormatError(f"labels must be {len(X)} class indices in 0…{CFG.n_classes - 1}, got shape {y.shape}"
                              f" with values {np.unique(y)[:5].tolist()}")
    _refuse_overwrite(path, overwrite)
    with _atomic_text(path) as fh:
        fh.write(",".join(window_columns() + ["class"]) + "\n")
        for row, label in zip(X.astype(np.int64).tolist(), np.asarray(y).tolist()):
            fh.write(",".join(map(str, row)) + f",{int(label)}\n")
    return path


# ------------------------------------------------------------------------------------------
# trace table (shared/data/clyc_real_traces_200.csv)
# ------------------------------------------------------------------------------------------

def read_trace_table(path, *, on_bad: str = "raise"):
    """-> (traces (n, m) float64 raw codes from sample 0, labels (n,) int64).

    Columns ``label`` and ``s0, s1, …`` in order (other columns are ignored); every sample must be
    an integer ADC code.  ``on_bad='drop'`` skips bad rows (counted on stdout)."""
    _check_on_bad(on_bad)
    path = _must_exist(Path(path), "trace table")
    header = _read_header(path)
    scols = [c for c in header if c.startswith("s") and c[1:].isdigit()]
    if "label" not in header or len(scols) <= CFG.window_stop:
        raise DataFormatError(
            f"{path} is not a trace table: need a 'label' column and sample columns s0…s{CFG.window_stop} or more.")
    want = [f"s{i}" for i in range(len(scols))]
    if scols != want or len(set(header)) != len(header):
        k = next((i for i, (a, b) in enumerate(zip(scols, want)) if a != b), len(scols) - 1)
        raise DataFormatError(
            f"{path}: the sample columns must be s0, s1, … in order, each once; column {scols[k]!r} stands where "
            f"{want[k]!r} belongs (or a column name repeats). Fix the header.")
    lines, bad = _rows(path, header, on_bad)
    parts, labels = [], []
    n_drop, dropped = len(bad), [b[0] for b in bad][:20]
    for chunk, ln in _read_chunks(path, ["label"] + scols, lines, bad, chunksize=5000):
        values, rows_bad = _to_codes(chunk[scols], path, ln, on_bad)
        y = _labels_from(chunk["label"].to_numpy(), path, ln)
        if rows_bad.any():
            n_drop += int(rows_bad.sum())
            dropped = sorted(dropped + ln[rows_bad].tolist())[:20]
        parts.append(values[~rows_bad])
        labels.append(y[~rows_bad])
    n_rows = len(lines) + len(bad)
    if n_rows == 0:
        raise DataFormatError(f"{path} has a header but no traces: re-export it.")
    _report_drops(path, n_drop, n_rows, dropped, len(bad))
    if not parts:
        return np.empty((0, len(scols))), np.empty(0, np.int64)
    return np.concatenate(parts), np.concatenate(labels)


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


class DataExistsError(DataFormatError, FileExistsError):
    """An output file exists and labkit does not overwrite it unless asked."""


def _refuse_overwrite(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise DataFormatError(f"{path} is a folder: give the path of the CSV file to write.")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise DataExistsError(f"{path} exists; labkit does not overwrite files. Pass overwrite=True "
                              f"(CLI: --force) or choose another path.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataFormatError(f"cannot write {path}: a file stands where its folder should be; choose another "
                              f"path.") from None
    except PermissionError:
        raise DataPermissionError(f"cannot create the folder {path.parent} (permission denied): choose a path "
                                  f"you can write.") from None


@contextmanager
def _atomic_text(path: Path):
    """Write through a uniquely named temporary file beside ``path`` (no other file is touched),
    then rename it to ``path``; on any error the temporary file is removed and ``path`` unchanged."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        fh = open(tmp, "x")
    except PermissionError:
        raise DataPermissionError(f"cannot write in {path.parent} (permission denied): choose a path you can "
                                  f"write.") from None
    except OSError as err:
        raise DataFormatError(f"cannot write {path} ({err.strerror}): choose another path.") from None
    try:
        with fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as err:
        os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, DataFormatError):
            raise DataFormatError(f"writing {path} failed ({err.strerror or err}); nothing was written: free "
                                  f"space or choose another path.") from None
        raise
