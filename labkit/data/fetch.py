"""``labkit data fetch``: download the real CLYC traces from Zenodo, safely.

* Files: ``gamma.csv`` and ``neutron.csv`` of record 8037239 (DOI 10.5281/zenodo.8037059),
  ~130 MB and ~330 MB, into ``datasets/zenodo/``.
* Integrity, failing closed: a file is accepted only if its sha256 matches ``datasets/SHA256SUMS``
  (when that file pins it) and its checksum matches what Zenodo's listing publishes for it (md5).
  When neither gives a usable digest, nothing is marked verified: the download is kept as
  ``<name>.unverified`` and you are told how to pin it.  The sha256 of every verified download
  is recorded in ``datasets/zenodo/SHA256SUMS.verified``.
* Transport: only ``https://`` addresses (the API, the listing's links, every redirect); an
  ``http://``, ``file://`` or other link is refused.
* Resume: data goes to ``<name>.part`` and an interrupted download continues with an HTTP
  Range request.  A verified file is never downloaded or overwritten again.  Nothing is deleted or
  overwritten silently: a download that fails verification is kept as ``<name>.corrupt.N`` and a
  ``.part`` larger than the listed size as ``<name>.oversized.N`` (N = the first free number),
  and each move is reported.
* Offline: one sentence naming the manual route and the synthetic default.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Tuple

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


class FetchError(RuntimeError):
    """Fetching failed or was refused; the message names the file and what to do."""


class ChecksumError(FetchError):
    """A file does not match a checksum, or a checksum list is malformed."""


class InsecureLinkError(FetchError):
    """An address is not https:// (listing link, API address or redirect): refused."""


#: hex digest lengths of the checksum algorithms a listing may use
DIGEST_HEX = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


def _hash(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def read_sums(path: Path, latest_wins: bool = False) -> Dict[str, str]:
    """``<sha256>  <file>`` lines (``#`` comments and blank lines allowed) -> {file: sha256}.

    Strict: a line that is not a 64-hex-digit sha256 and a file name is an error, never skipped
    (a skipped pin would fail open); so is a file named twice with different values, unless
    ``latest_wins`` (the local record of verified downloads, where a later download supersedes)."""
    sums: Dict[str, str] = {}
    if not path.exists():
        return sums
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            raise ChecksumError(
                f"{path} line {n} is not '<sha256>  <file>' (64 hex digits, two spaces, the file name): {line.strip()!r}. "
                f"Fix or delete that line (copy lines from datasets/zenodo/SHA256SUMS.verified or `sha256sum FILE`).")
        name, digest = parts[1].lstrip("*"), parts[0].lower()
        if sums.get(name, digest) != digest and not latest_wins:
            raise ChecksumError(f"{path} pins {name} twice with different sha256 values (line {n}): keep the "
                                f"one you verified and delete the other.")
        sums[name] = digest
    return sums


def parse_checksum(value) -> Optional[Tuple[str, str]]:
    """A listing checksum ``'<algo>:<hex>'`` -> ``(algo, hex)``; None when it is missing or unusable
    (unknown algorithm, wrong length, not hex): such a value verifies nothing."""
    if not isinstance(value, str) or ":" not in value:
        return None
    algo, want = value.strip().split(":", 1)
    algo, want = algo.strip().lower(), want.strip().lower()
    if DIGEST_HEX.get(algo) != len(want) or not re.fullmatch(r"[0-9a-f]+", want):
        return None
    return algo, want


def require_https(url, what: str) -> str:
    """Refuse anything but an https:// address (http, file, ftp, data, relative …)."""
    parts = urllib.parse.urlsplit(url if isinstance(url, str) else "")
    if parts.scheme.lower() != "https" or not parts.netloc:
        raise InsecureLinkError(
            f"{what} {url!r} is not an https:// address; labkit downloads only over https, so it is refused. "
            f"If the address is yours, give its https:// form; otherwise download the file by hand from "
            f"https://doi.org/{DOI} and pin its sha256 in {PINNED}.")
    return url


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to https:// addresses."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        require_https(urllib.parse.urljoin(req.full_url, newurl), f"the redirect from {req.full_url} to")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _urlopen(url_or_request, timeout: float):
    """Open an https:// address with an opener that has no file://, ftp:// or data: handlers and
    follows redirects only to https.  (Tests replace this function with a local fake.)"""
    url = url_or_request.full_url if isinstance(url_or_request, urllib.request.Request) else url_or_request
    require_https(url, "the address")
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(), _HttpsOnlyRedirects(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener.open(url_or_request, timeout=timeout)


def _record(api: str, timeout: float) -> dict:
    url = require_https(f"{api}/records/{RECORD}", "the Zenodo API address (LABKIT_ZENODO_API)")
    with _urlopen(url, timeout) as resp:
        try:
            meta = json.load(resp)
        except ValueError:
            meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("files", []), list):
        raise FetchError(f"the Zenodo listing at {url} is not the JSON record labkit expects: try again later, "
                         f"or download the files by hand from https://doi.org/{DOI}.")
    files = {}
    for f in meta.get("files", []):
        if not isinstance(f, dict):
            continue
        key = f.get("key") or f.get("filename")
        links = f.get("links") if isinstance(f.get("links"), dict) else {}
        link = links.get("self") or links.get("content")
        size = f.get("size")
        size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
        files[key] = {"url": link, "size": size, "checksum": f.get("checksum")}
    return files


def keep_aside(path: Path, tag: str) -> Path:
    """Move ``path`` to ``<name>.<tag>.N`` with the first N that is free; never overwrites."""
    base = path.name
    for suffix in (".part", ".unverified"):
        base = base[:-len(suffix)] if base.endswith(suffix) else base
    n = 1
    while True:
        new = path.with_name(f"{base}.{tag}.{n}")
        try:
            os.link(path, new)      # fails if `new` exists: no race can overwrite it
        except FileExistsError:
            n += 1
            continue
        except OSError:             # no hard links on this file system
            if new.exists():
                n += 1
                continue
            path.rename(new)
            return new
        path.unlink()
        return new


def _download(url: str, part: Path, size: Optional[int], timeout: float, progress: bool) -> None:
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:
        return
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with _urlopen(req, timeout) as resp:
        resumed = have and resp.status == 206
        mode = "ab" if resumed else "wb"
        start = have if resumed else 0
        with open(part, mode) as out, tqdm(total=size, initial=start, unit="B", unit_scale=True,
                                           desc=part.name.replace(".part", ""), disable=not progress or headless()) as bar:
            for block in iter(lambda: resp.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def verify(path: Path, sha256_pin: Optional[str], listing_checksum, pin_source: Optional[Path] = None
           ) -> Tuple[str, List[str]]:
    """-> (the file's sha256, the checks it passed).  Raises ChecksumError on any mismatch; an
    empty list means no usable digest was available: the file is NOT verified."""
    pin_source = pin_source or PINNED
    sha = _hash(path, "sha256")
    checks = []
    if sha256_pin:
        if sha != sha256_pin:
            raise ChecksumError(f"{path.name}: sha256 {sha} does not match the {sha256_pin} recorded in {pin_source}")
        checks.append(f"sha256 in {pin_source.name}")
    digest = parse_checksum(listing_checksum)
    if digest:
        algo, want = digest
        got = sha if algo == "sha256" else _hash(path, algo)
        if got != want:
            raise ChecksumError(f"{path.name}: {algo} {got} does not match the {want} in Zenodo's listing")
        checks.append(f"Zenodo's {algo}")
    return sha, checks


def _move_new(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, refusing (never overwriting) when ``dst`` exists."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise FetchError(f"{dst} appeared while labkit was writing it; nothing was overwritten: {src.name} "
                         f"is kept. Move one of them away and rerun `labkit data fetch`.") from None
    except OSError:  # no hard links on this file system
        if dst.exists():
            raise FetchError(f"{dst} appeared while labkit was writing it; nothing was overwritten: {src.name} "
                             f"is kept. Move one of them away and rerun `labkit data fetch`.") from None
        src.rename(dst)
        return
    src.unlink()


def _no_digest(name: str, checksum) -> str:
    return f"Zenodo's listing gives no usable checksum for {name} ({checksum!r}) and {PINNED} pins none"


def _fetch_one(name: str, info: dict, dest: Path, pin: Optional[str], recorded: Optional[str],
               verified_file: Path, timeout: float, progress: bool) -> Path:
    target = dest / name
    unverified = dest / (name + ".unverified")
    # the pin wins; without one, the sha256 of an earlier verified download of this file is held to
    expected, source = (pin, PINNED) if pin else (recorded, verified_file)
    if target.exists() or target.is_symlink():
        if not target.is_file():
            raise FetchError(f"{target} exists but is not a file: move it away and rerun `labkit data fetch`.")
        try:
            sha, checks = verify(target, expected, info["checksum"], source)
        except ChecksumError as err:
            raise ChecksumError(
                f"{target} exists but fails verification ({err}). labkit will not overwrite it: move or "
                f"delete it yourself, then run `labkit data fetch` again.") from None
        if not checks:
            raise FetchError(f"{target} is present but NOT verified: {_no_digest(name, info['checksum'])}; check it "
                             f"yourself (its sha256 is {sha}) and pin it in {PINNED} (see datasets/README.md).")
        print(f"{name}: present and verified ({', '.join(checks)}), not downloaded again")
        return target
    if unverified.exists():  # an earlier download nothing could verify: check it again, no download
        candidate = unverified
    else:
        link = require_https(info["url"], f"the download link Zenodo's listing gives for {name},")
        candidate = dest / (name + ".part")
        size = info.get("size")
        if size is not None and candidate.exists() and candidate.stat().st_size > size:
            have = candidate.stat().st_size
            aside = keep_aside(candidate, "oversized")
            print(f"{name}: {candidate.name} ({have} bytes) is larger than the {size} bytes Zenodo lists, so it is "
                  f"not a partial download of this file: kept as {aside.name}; downloading afresh")
        try:
            _download(link, candidate, size, timeout, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise ConnectionError(OFFLINE.format(why=getattr(err, "reason", err), dest=dest)
                                  + f" The partial file {candidate.name} is kept; rerun to resume.") from None
        got = candidate.stat().st_size
        if size is not None and got < size:
            raise ConnectionError(f"the download of {name} stopped at {got} of {size} bytes; the partial file "
                                  f"{candidate.name} is kept: rerun `labkit data fetch` to resume.")
    try:
        sha, checks = verify(candidate, expected, info["checksum"], source)
    except ChecksumError as err:
        bad = keep_aside(candidate, "corrupt")
        raise ChecksumError(f"the download of {name} is corrupt ({err}); it is kept as {bad.name} for inspection: "
                            f"delete it when done and rerun `labkit data fetch`.") from None
    if not checks:
        if candidate != unverified:
            _move_new(candidate, unverified)
        raise FetchError(
            f"{name} was downloaded but is NOT verified: {_no_digest(name, info['checksum'])}. It is kept as "
            f"{unverified} (sha256 {sha}); if that sha256 is right, add the line '{sha}  {name}' to {PINNED} "
            f"(see datasets/README.md) and rerun `labkit data fetch`.")
    _move_new(candidate, target)
    with open(verified_file, "a") as fh:
        fh.write(f"{sha}  {name}\n")
    print(f"{name}: downloaded and verified ({', '.join(checks)}; sha256 {sha[:16]}…)")
    return target


def fetch(dest: Optional[Path] = None, *, files=FILES, api: str = API, timeout: float = 30.0,
          progress: bool = True) -> Dict[str, Path]:
    """Download and verify ``files``; returns {name: path} of the verified files.

    Every file is handled; then, if any was refused, corrupt or could not be verified, one
    FetchError says what happened to each (ConnectionError when offline)."""
    dest = Path(dest or datasets_dir() / "zenodo")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FetchError(f"{dest} is a file, not a folder: give a folder with --dest.") from None
    except OSError as err:
        raise FetchError(f"cannot create the download folder {dest} ({err.strerror}): give a folder you can "
                         f"write with --dest.") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise FetchError(f"cannot write to the download folder {dest}: make it writable or give another with --dest.")
    pinned = read_sums(PINNED)
    verified_file = dest / "SHA256SUMS.verified"
    recorded = read_sums(verified_file, latest_wins=True)
    try:
        record = _record(api, timeout)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise ConnectionError(OFFLINE.format(why=getattr(err, "reason", err), dest=dest)) from None
    out, problems, offline = {}, [], False
    for name in files:
        if name not in record:
            problems.append(f"Zenodo record {RECORD} has no file {name!r} (it lists {sorted(map(str, record))}).")
            continue
        try:
            out[name] = _fetch_one(name, record[name], dest, pinned.get(name), recorded.get(name), verified_file,
                                   timeout, progress)
        except FetchError as err:
            problems.append(str(err))
        except ConnectionError as err:  # the connection is gone: stop, but report what happened before
            problems.append(str(err))
            offline = True
            break
    if problems:
        raise (ConnectionError if offline else FetchError)(" ".join(problems))
    return out
