"""``labkit data fetch``: download the real CLYC traces from Zenodo, safely.

* Files: ``gamma.csv`` and ``neutron.csv`` of record 8037239 (DOI 10.5281/zenodo.8037059),
  ~130 MB and ~330 MB, into ``datasets/zenodo/``.
* Integrity: a file is accepted only if its sha256 matches ``datasets/SHA256SUMS`` (when that
  file pins it) and its checksum matches what Zenodo publishes for it (md5).  The sha256 of
  every verified download is recorded in ``datasets/zenodo/SHA256SUMS.verified``.
* Resume: data goes to ``<name>.part`` and an interrupted download continues with an HTTP
  Range request.  A verified file is never downloaded or overwritten again; a file that fails
  verification is never deleted: it is kept and you are told what to do.
* Offline: one sentence naming the manual route and the synthetic default.
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Optional

from ..config import datasets_dir, headless

RECORD = "8037239"
DOI = "10.5281/zenodo.8037059"
FILES = ("gamma.csv", "neutron.csv")
API = os.environ.get("LABKIT_ZENODO_API", "https://zenodo.org/api")
PINNED = Path(__file__).resolve().parents[2] / "datasets" / "SHA256SUMS"
CHUNK = 1 << 20

OFFLINE = ("Zenodo cannot be reached from this machine ({why}): download gamma.csv and neutron.csv by hand "
           "from https://doi.org/" + DOI + " (record " + RECORD + ") into {dest}, or simply keep using the "
           "built-in synthetic data, which every lab uses by default.")


class ChecksumError(RuntimeError):
    pass


def _hash(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def read_sums(path: Path) -> Dict[str, str]:
    sums = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.lstrip().startswith("#"):
                sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _record(api: str, timeout: float) -> dict:
    with urllib.request.urlopen(f"{api}/records/{RECORD}", timeout=timeout) as resp:
        meta = json.load(resp)
    files = {}
    for f in meta.get("files", []):
        key = f.get("key") or f.get("filename")
        link = (f.get("links") or {}).get("self") or (f.get("links") or {}).get("content")
        files[key] = {"url": link, "size": f.get("size"), "checksum": f.get("checksum", "")}
    return files


def _download(url: str, part: Path, size: Optional[int], timeout: float, progress: bool) -> None:
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()  # our own partial file, larger than the real one: not user data
        have = 0
    if size is not None and have == size:
        return
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resumed = have and resp.status == 206
        mode = "ab" if resumed else "wb"
        start = have if resumed else 0
        with open(part, mode) as out, tqdm(total=size, initial=start, unit="B", unit_scale=True,
                                           desc=part.name.replace(".part", ""), disable=not progress or headless()) as bar:
            for block in iter(lambda: resp.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def verify(path: Path, expected_sha256: Optional[str], zenodo_checksum: str) -> str:
    """Return the file's sha256 if it matches every known checksum, else raise ChecksumError."""
    sha = _hash(path, "sha256")
    if expected_sha256 and sha != expected_sha256:
        raise ChecksumError(f"{path.name}: sha256 {sha} does not match the pinned {expected_sha256}")
    if zenodo_checksum and ":" in zenodo_checksum:
        algo, want = zenodo_checksum.split(":", 1)
        got = sha if algo == "sha256" else _hash(path, algo)
        if got != want.lower():
            raise ChecksumError(f"{path.name}: {algo} {got} does not match Zenodo's {want}")
    return sha


def fetch(dest: Optional[Path] = None, *, files=FILES, api: str = API, timeout: float = 30.0,
          progress: bool = True) -> Dict[str, Path]:
    dest = Path(dest or datasets_dir() / "zenodo")
    dest.mkdir(parents=True, exist_ok=True)
    pinned = read_sums(PINNED)
    verified_file = dest / "SHA256SUMS.verified"
    verified = read_sums(verified_file)
    try:
        record = _record(api, timeout)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise ConnectionError(OFFLINE.format(why=getattr(err, "reason", err), dest=dest)) from None
    out = {}
    for name in files:
        if name not in record:
            raise ChecksumError(f"Zenodo record {RECORD} has no file {name!r} (it lists {sorted(record)})")
        info = record[name]
        target = dest / name
        expected = pinned.get(name) or verified.get(name)
        if target.exists():
            try:
                verify(target, expected, info["checksum"])
            except ChecksumError as err:
                raise ChecksumError(
                    f"{target} exists but fails verification ({err}). labkit will not overwrite it: move or "
                    f"delete it yourself, then run `labkit data fetch` again.") from None
            print(f"{name}: present and verified, not downloaded again")
            out[name] = target
            continue
        part = target.with_name(name + ".part")
        try:
            _download(info["url"], part, info.get("size"), timeout, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise ConnectionError(OFFLINE.format(why=getattr(err, "reason", err), dest=dest)
                                  + f" The partial file {part.name} is kept; rerun to resume.") from None
        try:
            sha = verify(part, expected, info["checksum"])
        except ChecksumError as err:
            bad = part.with_name(name + ".corrupt")
            part.replace(bad)
            raise ChecksumError(f"download of {name} is corrupt ({err}); kept as {bad.name} for inspection. "
                                f"Delete it and rerun `labkit data fetch`.") from None
        part.replace(target)
        with open(verified_file, "a") as fh:
            fh.write(f"{sha}  {name}\n")
        print(f"{name}: downloaded and verified (sha256 {sha[:16]}…)")
        out[name] = target
    return out
