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
    h = hashlib.sha1(f"reader{READER_VERSION}".encode())
    for p in sorted(path.glob("*.csv")) if path.is_dir() else [path]:
        st = p.stat()
        h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def load(source: Union[str, Path] = "synthetic", *, on_bad: str = "raise", max_rows: Optional[int] = None,
         cache: bool = True, progress: Optional[bool] = None) -> Pulses:
    """Load pulses as 161-sample windows of raw ADC codes.

    ``source``: ``"synthetic"`` (built-in default), ``"zenodo"`` (the real files fetched by
    ``labkit data fetch`` into ``datasets/zenodo``), a folder holding ``gamma.csv`` and
    ``neutron.csv``, or a window CSV (header ``120,…,280,class``).
    Parsed windows are cached under ``artifacts/data`` (keyed by file size and time).
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
        return Pulses(z["X"], z["y"], str(path), meta, report)
    if path.is_dir():
        pulses = read_zenodo(path, max_rows=max_rows, on_bad=on_bad, progress=progress)
    else:
        pulses = read_windows(path, on_bad=on_bad)
    if cache:
        tmp = cache_file.with_suffix(".part.npz")
        np.savez(tmp, X=pulses.X, y=pulses.y, report=json.dumps(pulses.report, default=str),
                 **{f"meta_{k}": v for k, v in pulses.meta.items()})
        tmp.replace(cache_file)
    return pulses


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
    parts = ([], [], [])
    for c in range(CFG.n_classes):
        idx = np.flatnonzero(pulses.y == c)
        if len(idx) < 3:
            raise DataFormatError(f"class {CFG.class_names[c]!r} has {len(idx)} pulses; need at least 3 to split")
        idx = rng.permutation(idx)
        n_train = int(round(f[0] * len(idx)))
        n_val = int(round(f[1] * len(idx)))
        for part, chunk in zip(parts, (idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:])):
            part.append(chunk)
    out = [pulses.subset(rng.permutation(np.concatenate(p))) for p in parts]
    return Split(*out)


def load_split(source: Union[str, Path] = "synthetic", test: Union[str, Path, None] = None, **kw) -> Split:
    """``load`` + ``split`` in one call.  With ``test=PATH`` the whole of ``source`` is split
    85/15 into train/val and ``PATH`` is the test set (e.g. train synthetic, test real)."""
    pulses = load(source, **kw)
    if test is None:
        return split(pulses)
    tr, va = CFG.split[0], CFG.split[1]
    train, val = _two_way(pulses, tr / (tr + va))
    return Split(train, val, load(test, **kw))


def _two_way(pulses: Pulses, frac_train: float, seed: int = CFG.seed):
    rng = np.random.default_rng(seed)
    a, b = [], []
    for c in range(CFG.n_classes):
        idx = rng.permutation(np.flatnonzero(pulses.y == c))
        k = int(round(frac_train * len(idx)))
        a.append(idx[:k])
        b.append(idx[k:])
    return pulses.subset(rng.permutation(np.concatenate(a))), pulses.subset(rng.permutation(np.concatenate(b)))
