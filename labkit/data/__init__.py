"""Stage 01 — data: load pulses (synthetic default, real Zenodo files, window CSVs), split, preprocess.

    >>> from labkit import data
    >>> pulses = data.load()                 # built-in synthetic CLYC set (Zenodo format on disk)
    >>> split = data.split(pulses)           # stratified, seeded 70/15/15
    >>> x = data.preprocess(split.train.X)   # the integer input stage the IP reproduces

No TensorFlow here (the board imports parts of this package).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .. import artifacts
from ..config import CFG, datasets_dir, fast_mode
from .formats import (DataFormatError, Pulses, _exists, concat, read_trace_table, read_windows, read_zenodo,
                      read_zenodo_file, write_windows, write_zenodo_csv)
from .prep import baseline, preprocess

__all__ = [
    "DataFormatError", "Pulses", "Split", "load", "load_split", "split", "preprocess", "baseline",
    "read_windows", "write_windows", "read_zenodo", "read_zenodo_file", "write_zenodo_csv",
    "read_trace_table", "synthetic_folder", "concat", "windows_from_traces",
]


def synthetic_pulses_per_class() -> int:
    """Size of the built-in synthetic set: small in fast mode (CI), course size otherwise."""
    return 1500 if fast_mode() else 6000


def synthetic_folder(n_per_class: Optional[int] = None, seed: int = CFG.seed) -> Path:
    """Write (once) and return the folder with the synthetic ``gamma.csv`` / ``neutron.csv``.

    The generator writes the real Zenodo layout, so the same loader reads real and synthetic data.
    """
    from .synth import DEFAULT_PARAMS, write_zenodo_dataset

    n = n_per_class or synthetic_pulses_per_class()
    # the folder name carries a digest of the generator constants: a recalibrated generator
    # writes a new set instead of silently reusing the old one
    version = hashlib.sha1(repr(DEFAULT_PARAMS).encode()).hexdigest()[:8]
    folder = artifacts.data(f"synthetic-{n}-seed{seed}-{version}")
    done = folder / "COMPLETE"
    if not done.exists():
        write_zenodo_dataset(folder, n, seed=seed, overwrite=True)
        done.write_text(json.dumps({"n_per_class": n, "seed": seed}))
    return folder


#: bump when the readers accept or refuse differently: windows cached by an older reader are not reused
READER_VERSION = 2


def _cache_key(path: Path) -> str:
    """A digest of the files' contents (not their size and time: a file edited and its time restored,
    by ``cp -p``, rsync or tar, is read again)."""
    h = hashlib.sha256(f"reader{READER_VERSION}".encode())
    for p in sorted(path.glob("*.csv")) if path.is_dir() else [path]:
        h.update(f"{p.name}\0".encode())
        if not p.is_file():      # a folder, pipe or device where a file belongs: the reader says so in its words
            h.update(f"not a file: {p.resolve()}".encode())
            continue
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _write_cache(cache_file: Path, pulses: Pulses, source: Path) -> None:
    """Keep the parsed windows for the next load; a cache that cannot be written (a full disk) is skipped
    with one warning and leaves no partial file behind (the windows were read; nothing is lost)."""
    import os
    import warnings

    tmp = cache_file.with_name(f".{cache_file.stem}.{os.getpid()}.part.npz")
    try:
        np.savez(tmp, X=pulses.X, y=pulses.y, report=json.dumps(pulses.report, default=str),
                 **{f"meta_{k}": v for k, v in pulses.meta.items()})
        tmp.replace(cache_file)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        warnings.warn(f"the windows of {source} were read but not cached in {cache_file.parent} ({err.strerror or err}): "
                      "the next load reads the file again; free space there or set LABKIT_ARTIFACTS to another disk",
                      stacklevel=3)


def load(source: Union[str, Path] = "synthetic", *, on_bad: str = "raise", max_rows: Optional[int] = None,
         cache: bool = True, progress: Optional[bool] = None) -> Pulses:
    """Load pulses as 161-sample windows of raw ADC codes.

    ``source``: ``"synthetic"`` (built-in default), ``"zenodo"`` (the real files fetched by
    ``labkit data fetch`` into ``datasets/zenodo``), a folder holding ``gamma.csv`` and
    ``neutron.csv``, or a window CSV (header ``120,…,280,class``).
    Parsed windows are cached under ``artifacts/data`` (keyed by the files' contents).  Windows that
    appear more than once are reported (one warning); :func:`split` keeps their copies in one part.
    ``progress``: a bar while reading trace files (None: only for the large real files, and
    never in a headless run; see ``formats.read_zenodo_file``).
    """
    if on_bad not in ("raise", "drop"):
        raise ValueError(f"on_bad must be 'raise' or 'drop', got {on_bad!r}")
    if isinstance(source, str) and source == "synthetic":
        path = synthetic_folder()
    elif isinstance(source, str) and source == "zenodo":
        path = datasets_dir() / "zenodo"
        if not (path / "gamma.csv").exists():
            raise FileNotFoundError(
                f"the real CLYC files are not in {path}: run `labkit data fetch` (or download gamma.csv and "
                f"neutron.csv from Zenodo record 8037239 into that folder), or use load('synthetic').")
    else:
        path = Path(source)
        if not _exists(path):
            raise FileNotFoundError(f"{path} does not exist: give a folder with gamma.csv/neutron.csv, a window "
                                    f"CSV, 'zenodo' (after `labkit data fetch`) or 'synthetic'.")
    cache_file = artifacts.data("cache") / f"windows-{_cache_key(path)}-{on_bad}-{max_rows}.npz"
    if cache and cache_file.exists():
        z = np.load(cache_file, allow_pickle=False)
        meta = {k[5:]: z[k] for k in z.files if k.startswith("meta_")}
        report = json.loads(str(z["report"]))
        pulses = Pulses(z["X"], z["y"], str(path), meta, report)
        report_duplicates(pulses, path)
        return pulses
    if path.is_dir():
        pulses = read_zenodo(path, max_rows=max_rows, on_bad=on_bad, progress=progress)
    else:
        pulses = read_windows(path, on_bad=on_bad)
    report_duplicates(pulses, path)
    if cache:
        _write_cache(cache_file, pulses, path)
    return pulses


def duplicate_groups(X) -> tuple:
    """``(group of each window, number of groups)``: windows with byte-identical samples share a group."""
    X = np.ascontiguousarray(X)
    if len(X) == 0:
        return np.zeros(0, np.int64), 0
    rows = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    # number the groups in order of first appearance (stable, independent of the byte order of the rows)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()].astype(np.int64), len(first)


def report_duplicates(pulses: Pulses, source) -> int:
    """Warn (once) when some windows appear more than once; returns how many rows are copies."""
    import warnings

    groups, n_groups = duplicate_groups(pulses.X)
    copies = len(groups) - n_groups
    pulses.report["duplicates"] = int(copies)
    if copies:
        lo, hi = np.full(n_groups, np.iinfo(np.int64).max), np.full(n_groups, np.iinfo(np.int64).min)
        np.minimum.at(lo, groups, pulses.y.astype(np.int64))
        np.maximum.at(hi, groups, pulses.y.astype(np.int64))
        conflicting = int(np.sum(lo != hi))
        labels = f", {conflicting} of them with different labels" if conflicting else ""
        warnings.warn(f"{source}: {copies} of {len(groups)} windows are copies of others ({n_groups} distinct{labels}): "
                      "the split keeps every copy in the same part (train, validation or test); remove the copies "
                      "from the file if they were not meant to be there", stacklevel=3)
    return copies


def windows_from_traces(traces: np.ndarray) -> np.ndarray:
    """Full raw traces (sample 0 = raw sample 0) -> the course window as uint16 ADC codes."""
    from ..stream import check_pulses

    traces = np.asarray(traces)
    if traces.ndim != 2 or traces.shape[1] <= CFG.window_stop:
        raise DataFormatError(f"traces must have shape (n, >{CFG.window_stop}); got {traces.shape}")
    # integer codes in 0…adc_max, checked: a fractional or out-of-range value is never rounded or wrapped
    return check_pulses(traces[:, CFG.window_start: CFG.window_stop + 1])


# ------------------------------------------------------------------------------------------
# split
# ------------------------------------------------------------------------------------------

@dataclass
class Split:
    train: Pulses
    val: Pulses
    test: Pulses

    def sizes(self) -> dict:
        return {name: len(getattr(self, name)) for name in ("train", "val", "test")}

    def table(self) -> str:
        rows = [f"{'part':<6}" + "".join(f"{c:>10}" for c in CFG.class_names) + f"{'total':>10}"]
        for name in ("train", "val", "test"):
            part = getattr(self, name)
            rows.append(f"{name:<6}" + "".join(f"{v:>10}" for v in part.counts().values()) + f"{len(part):>10}")
        return "\n".join(rows)


def split(pulses: Pulses, fractions=CFG.split, seed: int = CFG.seed) -> Split:
    """Stratified, seeded split (default 70/15/15): every part keeps the class balance."""
    if len(pulses) == 0:
        raise DataFormatError("cannot split an empty data set")
    f = np.asarray(fractions, float)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    groups, n_groups = duplicate_groups(pulses.X)
    if n_groups < len(pulses):
        return _split_groups(pulses, groups, n_groups, f, rng)
    parts = ([], [], [])
    for c in range(CFG.n_classes):
        idx = np.flatnonzero(pulses.y == c)
        if len(idx) < 3:
            raise DataFormatError(_too_few(pulses, c, len(idx)))
        idx = rng.permutation(idx)
        n_train = int(round(f[0] * len(idx)))
        n_val = int(round(f[1] * len(idx)))
        for part, chunk in zip(parts, (idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:])):
            part.append(chunk)
    out = [pulses.subset(rng.permutation(np.concatenate(p))) for p in parts]
    return Split(*out)


def _too_few(pulses: Pulses, c: int, n: int) -> str:
    return (f"{pulses.source or 'the data'}: class {CFG.class_names[c]!r} (label {c}) has {n} pulses, but the "
            f"70/15/15 split needs at least 3 of each class: add pulses of that class, or check the class "
            f"column ({', '.join(f'{i} = {name}' for i, name in enumerate(CFG.class_names))})")


def _split_groups(pulses: Pulses, groups, n_groups: int, f, rng) -> Split:
    """The stratified split when some windows are copies of others: whole groups of copies go to one part
    (a group counts for the class of its first copy), so no test window is also a training window."""
    first = np.full(n_groups, len(groups))
    np.minimum.at(first, groups, np.arange(len(groups)))
    size = np.bincount(groups, minlength=n_groups)
    members = np.argsort(groups, kind="stable")
    starts = np.r_[0, np.cumsum(size)]
    parts = ([], [], [])
    for c in range(CFG.n_classes):
        gs = np.flatnonzero(pulses.y[first] == c)
        if len(gs) < 3:
            raise DataFormatError(_too_few(pulses, c, len(gs)) + " (copies of one window count once)")
        gs = rng.permutation(gs)
        total = size[gs].sum()
        reach = np.cumsum(size[gs])
        n_train = max(1, int(np.searchsorted(reach, round(f[0] * total), side="left")) + 1)
        n_val = max(n_train + 1, int(np.searchsorted(reach, round((f[0] + f[1]) * total), side="left")) + 1)
        n_train, n_val = min(n_train, len(gs) - 2), min(n_val, len(gs) - 1)
        for part, chunk in zip(parts, (gs[:n_train], gs[n_train:n_val], gs[n_val:])):
            part.append(np.concatenate([members[starts[g]:starts[g + 1]] for g in chunk]) if len(chunk) else
                        np.zeros(0, np.int64))
    return Split(*[pulses.subset(rng.permutation(np.concatenate(p))) for p in parts])


def load_split(source: Union[str, Path] = "synthetic", test: Union[str, Path, None] = None, **kw) -> Split:
    """``load`` + ``split`` in one call.  With ``test=PATH`` the whole of ``source`` is split
    85/15 into train/val and ``PATH`` is the test set (e.g. train synthetic, test real)."""
    pulses = load(source, **kw)
    if test is None:
        return split(pulses)
    tr, va = CFG.split[0], CFG.split[1]
    test_pulses = load(test, **kw)
    pulses = _without(pulses, test_pulses, source, test)
    train, val = _two_way(pulses, tr / (tr + va))
    return Split(train, val, test_pulses)


def _without(pulses: Pulses, test: Pulses, source, test_source) -> Pulses:
    """``pulses`` less every window that is also in the test file (one warning when some were)."""
    import warnings

    if len(test) == 0 or len(pulses) == 0:
        return pulses
    groups, _ = duplicate_groups(np.concatenate([test.X, pulses.X]))
    in_test = np.isin(groups[len(test):], groups[:len(test)])
    if not in_test.any():
        return pulses
    warnings.warn(f"{int(in_test.sum())} windows of {source} are also in the test file {test_source}: they are left "
                  "out of training and validation", stacklevel=3)
    return pulses.subset(np.flatnonzero(~in_test))


def _two_way(pulses: Pulses, frac_train: float, seed: int = CFG.seed):
    rng = np.random.default_rng(seed)
    a, b = [], []
    for c in range(CFG.n_classes):
        idx = rng.permutation(np.flatnonzero(pulses.y == c))
        k = int(round(frac_train * len(idx)))
        a.append(idx[:k])
        b.append(idx[k:])
    return pulses.subset(rng.permutation(np.concatenate(a))), pulses.subset(rng.permutation(np.concatenate(b)))
