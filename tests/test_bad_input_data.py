"""Bad and hostile input to stage 01 (data loading and fetching), met as a user meets it.

Every case runs ``python -m labkit data …`` in a subprocess and asserts the one sentence a person
sees (file, line, column, the fix), the exit status and that no traceback is printed.  Fetch
tests never touch the network: Zenodo is the in-memory ``toys.FakeZenodo`` (``FETCH_DRIVER``
installs it in the subprocess), and the pinned sums are a file in the test's temporary folder.
"""
import gzip
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labkit.config import CFG
from labkit.data import formats
from labkit.data.synth import generate

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None, driver=None, cwd=None):
    """``python -m labkit ARGS`` (or the fetch driver) -> CompletedProcess; never a traceback."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    cmd = [sys.executable, "-c", driver[0], *driver[1:], *args] if driver else [sys.executable, "-m", "labkit", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    return res


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))


@pytest.fixture(scope="module")
def synth():
    return generate(12, seed=5)


@pytest.fixture
def zenodo(tmp_path, synth):
    folder = tmp_path / "zenodo"
    folder.mkdir()
    for c, name in enumerate(CFG.class_names):
        m = synth.labels == c
        formats.write_zenodo_csv(folder / f"{name}.csv", synth.traces[m], synth.energy_kev[m])
    return folder


@pytest.fixture
def windows_csv(tmp_path, synth):
    return formats.write_windows(tmp_path / "w.csv", synth.windows(), synth.labels)


def _edit_line(path, line, fn):
    """Apply ``fn`` to the fields of 1-based ``line`` of a CSV."""
    lines = path.read_text().splitlines()
    lines[line - 1] = ",".join(fn(lines[line - 1].split(",")))
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------
# 1. every row's field count is checked (a field lost or added before the window shifts it)
# ------------------------------------------------------------------------------------------

def _delete(fields):
    del fields[5]
    return fields


def _insert(fields):
    fields.insert(5, fields[5])
    return fields


@pytest.mark.parametrize("edit,n", [(_delete, 3002), (_insert, 3004)])
def test_zenodo_row_with_a_field_lost_or_added_is_refused(zenodo, synth, edit, n):
    _edit_line(zenodo / "gamma.csv", 4, edit)
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2
    assert f"gamma.csv line 4 has {n} fields, expected 3003" in res.stderr and "--drop-bad" in res.stderr
    res = run("data", "info", str(zenodo), "--drop-bad")
    assert res.returncode == 0 and "dropped 1 of 12 rows (1 with a wrong field count" in res.stdout
    # the rows that are kept are read unshifted
    from labkit import data
    p = data.read_zenodo(zenodo, on_bad="drop", progress=False)
    gamma = synth.traces[synth.labels == 0][:, CFG.window_start:CFG.window_stop + 1]
    assert np.array_equal(p.X[p.y == 0], np.delete(gamma, 2, axis=0))


def test_window_and_trace_rows_with_wrong_field_count(windows_csv, tmp_path, synth):
    _edit_line(windows_csv, 3, _insert)
    res = run("data", "info", str(windows_csv))
    assert res.returncode == 2 and "w.csv line 3 has 163 fields, expected 162" in res.stderr
    table = _trace_table(tmp_path, synth)
    _edit_line(table, 2, _delete)
    res = run("data", "windows", str(table), "--out", str(tmp_path / "out.csv"))
    assert res.returncode == 2 and "table.csv line 2 has" in res.stderr and not (tmp_path / "out.csv").exists()


def test_truncated_last_line_says_truncated(zenodo):
    raw = (zenodo / "neutron.csv").read_bytes()
    (zenodo / "neutron.csv").write_bytes(raw[:-4000])
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2 and "neutron.csv is truncated: its last line (13) has" in res.stderr


# ------------------------------------------------------------------------------------------
# 2. files that are not plain UTF-8 CSV, and corrupted cells
# ------------------------------------------------------------------------------------------

def _zip(data: bytes) -> bytes:
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.csv", data)
    return buf.getvalue()


KINDS = {
    "gzip": (lambda b: gzip.compress(b), "is gzip-compressed, not a plain-text CSV: decompress it first"),
    "zip": (_zip, "is a zip archive (or an Excel .xlsx workbook)"),
    "utf16": (lambda b: b.decode().encode("utf-16"), "is UTF-16 text, not UTF-8: re-save it as UTF-8"),
    "utf16-no-bom": (lambda b: b.decode().encode("utf-16-le"), "is UTF-16 text (without a byte-order mark)"),
    "binary": (lambda b: bytes(range(256)) * 40, "line 1 contains the byte 0x00, so the file is binary or corrupt"),
    "nul-inside": (lambda b: b[:3000] + b"\x00" + b[3000:], "line 5 contains the byte 0x00, so the file is binary"),
    "latin1": (lambda b: b.replace(b",0\n", b",gamm\xe9\n", 1), "is not UTF-8 text"),
    "empty": (lambda b: b"", "is empty (0 bytes)"),
    "blank": (lambda b: b"\n \n\n", "holds only blank lines"),
    "cr-line-ends": (lambda b: b.replace(b"\n", b"\r"), "ends its lines with a bare carriage return"),
    "header-only": (lambda b: b.split(b"\n")[0] + b"\n", "has a header but no pulses"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_files_that_are_not_utf8_csv(windows_csv, kind):
    make, message = KINDS[kind]
    windows_csv.write_bytes(make(windows_csv.read_bytes()))
    res = run("data", "info", str(windows_csv))
    assert res.returncode == 2 and str(windows_csv) in res.stderr and message in res.stderr, res.stderr


def test_binary_bytes_deep_in_a_big_file_name_line_and_column(zenodo):
    raw = (zenodo / "gamma.csv").read_bytes()
    assert len(raw) > 1 << 17  # beyond the first block that is sniffed
    lines = raw.split(b"\n")
    fields = lines[11].split(b",")
    fields[200] = b"\x01" + fields[200]
    lines[11] = b",".join(fields)
    (zenodo / "gamma.csv").write_bytes(b"\n".join(lines))
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2 and "gamma.csv line 12, column '200' contains the byte 0x01" in res.stderr
    fields[1] = b"\xe9" + fields[1]
    lines[11] = b",".join(fields).replace(b"\x01", b"")
    (zenodo / "gamma.csv").write_bytes(b"\n".join(lines))
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2 and "gamma.csv line 12, column '1': byte 0xe9 is not UTF-8 text" in res.stderr


def test_utf8_bom_and_crlf_are_valid_variants(windows_csv, synth):
    raw = windows_csv.read_bytes()
    windows_csv.write_bytes(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))
    res = run("data", "info", str(windows_csv))
    assert res.returncode == 0 and f"{len(synth.labels)} pulses" in res.stdout


def test_folder_pipe_and_device_in_place_of_a_file(zenodo, tmp_path):
    (zenodo / "gamma.csv").unlink()
    (zenodo / "gamma.csv").mkdir()
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2 and "gamma.csv is a folder, but the Zenodo trace file must be a file" in res.stderr
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # reading it would hang
    res = run("data", "info", str(fifo))
    assert res.returncode == 2 and "is not a regular file (a pipe, socket or device)" in res.stderr
    empty = tmp_path / "nothing"
    empty.mkdir()
    res = run("data", "info", str(empty))
    assert res.returncode == 2 and "holds neither gamma.csv nor neutron.csv" in res.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_cli(windows_csv):
    windows_csv.chmod(0)
    try:
        res = run("data", "info", str(windows_csv))
    finally:
        windows_csv.chmod(0o644)
    assert res.returncode == 2 and "cannot be read (permission denied): make it readable" in res.stderr


def test_unreadable_file_message(windows_csv, monkeypatch):
    import builtins

    def deny(path, *a, **kw):
        if Path(path) == windows_csv:
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *a, **kw)

    monkeypatch.setattr(formats, "open", deny, raising=False)
    with pytest.raises(PermissionError, match="cannot be read \\(permission denied\\): make it readable") as err:
        formats.read_windows(windows_csv)
    assert isinstance(err.value, ValueError)  # the CLI shows it as one line


CELLS = [("1.2.3", "is '1.2.3', not a number"), ("12abc", "is '12abc', not a number"), ("", "is empty"),
         ("nan", "is 'nan', not a number"), ("N/A", "is 'N/A', not a number"), ("0x10", "is '0x10', not a number"),
         ("inf", "is 'inf', not a finite number"), ("1e400", "is '1e400', not a finite number"),
         ("1024", "is '1024', outside the 10-bit ADC range 0…1023"),
         ("-1", "is '-1', outside the 10-bit ADC range"),
         ("99999999999999999999999", "is '99999999999999999999999', outside the 10-bit ADC range"),
         ("12.5", "is '12.5', not an integer ADC code"), ("١٢", "is '١٢', not a number")]


@pytest.mark.parametrize("value,message", CELLS)
def test_corrupted_cell_in_window_csv(windows_csv, value, message):
    def put(fields):
        fields[40] = value
        return fields

    _edit_line(windows_csv, 4, put)
    res = run("data", "info", str(windows_csv))
    assert res.returncode == 2, res.stdout
    assert f"w.csv line 4, column '160' {message}" in res.stderr and "--drop-bad" in res.stderr


@pytest.mark.parametrize("value,message", [("1.2.3", "not a number"), ("12.5", "not an integer ADC code"),
                                           ("1023.5", "not an integer ADC code"), ("-3", "outside")])
def test_corrupted_cell_in_zenodo_file(zenodo, value, message):
    def put(fields):
        fields[150] = value
        return fields

    _edit_line(zenodo / "neutron.csv", 3, put)
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2 and f"neutron.csv line 3, column '150' is {value!r}, {message}" in res.stderr


def test_corrupted_energy_cell(zenodo):
    def put(fields):
        fields[-2] = "1.2.3"
        return fields

    _edit_line(zenodo / "gamma.csv", 5, put)
    res = run("data", "info", str(zenodo))
    assert res.returncode == 2 and "gamma.csv line 5, column 'Energy' is '1.2.3', not a number" in res.stderr


def _trace_table(tmp_path, synth, n=5, samples=400):
    path = tmp_path / "table.csv"
    cols = ["label", "fci_ref_100msps"] + [f"s{i}" for i in range(samples)]
    rows = [[CFG.class_names[l], "0.5"] + list(map(str, t[:samples])) for t, l in zip(synth.traces[:n], synth.labels[:n])]
    path.write_text("\n".join([",".join(cols)] + [",".join(r) for r in rows]) + "\n")
    return path


@pytest.mark.parametrize("value,message", [("150.5", "not an integer ADC code"), ("-3", "outside"),
                                           ("1.2.3", "not a number")])
def test_trace_table_cells_are_never_rounded_or_wrapped(tmp_path, synth, value, message):
    table = _trace_table(tmp_path, synth)
    _edit_line(table, 3, lambda f: f[:2 + 200] + [value] + f[2 + 201:])
    res = run("data", "windows", str(table), "--out", str(tmp_path / "out.csv"))
    assert res.returncode == 2 and f"table.csv line 3, column 's200' is {value!r}, {message}" in res.stderr
    assert not (tmp_path / "out.csv").exists()
    res = run("data", "windows", str(table), "--out", str(tmp_path / "out.csv"), "--drop-bad")
    assert res.returncode == 0 and "4 windows" in res.stdout


def test_trace_table_sample_columns_out_of_order(tmp_path, synth):
    table = _trace_table(tmp_path, synth)
    lines = table.read_text().splitlines()
    lines[0] = lines[0].replace("s200,s201", "s201,s200")
    table.write_text("\n".join(lines) + "\n")
    res = run("data", "windows", str(table), "--out", str(tmp_path / "out.csv"))
    assert res.returncode == 2 and "column 's201' stands where 's200' belongs" in res.stderr


def test_windows_from_traces_refuses_instead_of_rounding():
    from labkit import data
    traces = np.full((2, 400), 400.0)
    traces[1, 200] = 400.5
    with pytest.raises(ValueError, match="integer ADC codes"):
        data.windows_from_traces(traces)
    traces[1, 200] = -3
    with pytest.raises(ValueError, match="0…1023"):
        data.windows_from_traces(traces)


def test_misspelt_on_bad_is_refused(windows_csv):
    from labkit import data
    with pytest.raises(ValueError, match="on_bad must be 'raise' or 'drop'"):
        data.load(windows_csv, on_bad="rasie")
    with pytest.raises(ValueError, match="on_bad must be 'raise' or 'drop'"):
        formats.read_windows(windows_csv, on_bad="skip")


def test_outputs_are_never_overwritten_and_bad_arguments_are_one_line(windows_csv, tmp_path, synth):
    table = _trace_table(tmp_path, synth)
    before = windows_csv.read_bytes()
    res = run("data", "windows", str(table), "--out", str(windows_csv))
    assert res.returncode == 2 and "exists; labkit does not overwrite files" in res.stderr and "--force" in res.stderr
    assert windows_csv.read_bytes() == before
    res = run("data", "windows", str(table), "--out", str(tmp_path), "--force")
    assert res.returncode == 2 and "is a folder: give the path of the CSV file to write" in res.stderr
    res = run("data", "synth", "--out", str(windows_csv), "--n", "3")
    assert res.returncode == 2 and "a file stands where its folder should be" in res.stderr
    for args, message in ((["synth", "--out", str(tmp_path / "s"), "--n", "0"], "argument --n: must be >= 1"),
                          (["synth", "--out", str(tmp_path / "s"), "--seed", "-1"], "argument --seed: must be >= 0"),
                          (["fetch", "--timeout", "nan"], "argument --timeout: must be a finite number > 0")):
        res = run("data", *args)
        assert res.returncode == 2 and message in res.stderr
    assert not list(tmp_path.glob(".*.part")) and not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------------
# 3. fetch fails closed; 4. nothing overwritten or deleted silently
# ------------------------------------------------------------------------------------------

BLOBS = {"gamma.csv": b"0,1,2\n" * 5000, "neutron.csv": b"3,4,5\n" * 7000}


def _sha(name):
    return hashlib.sha256(BLOBS[name]).hexdigest()


def fetch_cli(tmp_path, fake, *args, pins=None):
    """``labkit data fetch --dest tmp/zenodo`` against ``fake``, with datasets/SHA256SUMS = ``pins``."""
    from toys import FETCH_DRIVER
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(fake.spec()))
    pinned = tmp_path / "SHA256SUMS"
    if pins is not None:
        pinned.write_text(pins)
    return run("data", "fetch", "--dest", str(tmp_path / "zenodo"), *args,
               driver=(FETCH_DRIVER, str(spec), str(pinned)))


def test_fetch_verified_download_says_which_check(tmp_path):
    from toys import FakeZenodo
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS))
    assert res.returncode == 0, res.stderr
    assert "gamma.csv: downloaded and verified (Zenodo's md5; sha256" in res.stdout
    assert (tmp_path / "zenodo" / "gamma.csv").read_bytes() == BLOBS["gamma.csv"]


@pytest.mark.parametrize("checksum", ["", "md5:", "md5:xyz", "md5:" + "a" * 31, "sha256:abc", "crc32:12345678",
                                      "d41d8cd98f00b204e9800998ecf8427e", None, 5])
def test_fetch_without_a_usable_digest_marks_nothing_verified(tmp_path, checksum):
    from toys import FakeZenodo
    fake = FakeZenodo(BLOBS, checksums={"gamma.csv": checksum})
    res = fetch_cli(tmp_path, fake)
    dest = tmp_path / "zenodo"
    assert res.returncode == 1
    assert "gamma.csv: downloaded and verified" not in res.stdout
    assert "gamma.csv was downloaded but is NOT verified: Zenodo's listing gives no usable checksum" in res.stderr
    assert f"'{_sha('gamma.csv')}  gamma.csv'" in res.stderr  # the line to pin, if the user trusts it
    assert not (dest / "gamma.csv").exists() and (dest / "gamma.csv.unverified").read_bytes() == BLOBS["gamma.csv"]
    assert _sha("gamma.csv") not in (dest / "SHA256SUMS.verified").read_text()
    assert (dest / "neutron.csv").exists()  # the other file is still fetched and verified
    # a pin recorded afterwards verifies the kept download without fetching it again
    res = fetch_cli(tmp_path, fake, pins=f"# pinned\n{_sha('gamma.csv')}  gamma.csv\n")
    assert res.returncode == 0, res.stderr
    assert "gamma.csv: downloaded and verified (sha256 in SHA256SUMS" in res.stdout
    assert (dest / "gamma.csv").exists() and not (dest / "gamma.csv.unverified").exists()


def test_fetch_refuses_a_file_that_does_not_match_its_pin(tmp_path):
    from toys import FakeZenodo
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS), pins=f"{'0' * 64}  gamma.csv\n")
    dest = tmp_path / "zenodo"
    assert res.returncode == 1 and "does not match the " + "0" * 64 + " recorded in" in res.stderr
    assert not (dest / "gamma.csv").exists() and (dest / "gamma.csv.corrupt.1").exists()
    assert (dest / "neutron.csv").exists()
    # an existing file that does not match its pin is refused and left alone
    (dest / "gamma.csv").write_bytes(BLOBS["gamma.csv"])
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS), pins=f"{'0' * 64}  gamma.csv\n")
    assert res.returncode == 1 and "exists but fails verification" in res.stderr and "will not overwrite" in res.stderr
    assert (dest / "gamma.csv").read_bytes() == BLOBS["gamma.csv"]


@pytest.mark.parametrize("pins,message", [("abc  gamma.csv\n", "line 1 is not '<sha256>  <file>'"),
                                          (f"{'0' * 64} gamma.csv extra\n", "line 1 is not"),
                                          (f"{'0' * 64}  gamma.csv\n{'1' * 64}  gamma.csv\n", "pins gamma.csv twice")])
def test_malformed_pin_file_is_an_error_not_skipped(tmp_path, pins, message):
    from toys import FakeZenodo
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS), pins=pins)
    assert res.returncode == 1 and message in res.stderr
    assert not (tmp_path / "zenodo" / "gamma.csv").exists()


@pytest.mark.parametrize("link", ["file:///etc/passwd", "http://zenodo.org/api/files/gamma.csv",
                                  "ftp://zenodo.org/gamma.csv", "//zenodo.org/gamma.csv", "https:///gamma.csv", None])
def test_fetch_refuses_non_https_links(tmp_path, link):
    from toys import FakeZenodo
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS, links={"gamma.csv": link}))
    assert res.returncode == 1 and f"{link!r} is not an https:// address" in res.stderr and "refused" in res.stderr
    assert not list((tmp_path / "zenodo").glob("gamma.csv*"))


def test_fetch_refuses_a_non_https_api(tmp_path):
    res = run("data", "fetch", "--dest", str(tmp_path / "z"), env={"LABKIT_ZENODO_API": "http://127.0.0.1:9/api"})
    assert res.returncode == 1 and "is not an https:// address" in res.stderr


def test_opener_and_redirects_are_https_only():
    from labkit.data import fetch
    for url in ("file:///etc/passwd", "http://zenodo.org/", "data:,hello"):
        with pytest.raises(fetch.InsecureLinkError, match="not an https:// address"):
            fetch._urlopen(url, 1)
    req = urllib.request.Request("https://zenodo.org/api/files/gamma.csv")
    with pytest.raises(fetch.InsecureLinkError, match="redirect"):
        fetch._HttpsOnlyRedirects().redirect_request(req, None, 302, "Found", {}, "http://evil.test/gamma.csv")
    assert fetch._HttpsOnlyRedirects().redirect_request(req, None, 302, "Found", {}, "https://cdn.test/g") is not None


def test_second_corrupt_download_keeps_the_first(tmp_path):
    from toys import FakeZenodo
    fake = FakeZenodo(BLOBS, checksums={"gamma.csv": "md5:" + "0" * 32})
    dest = tmp_path / "zenodo"
    dest.mkdir()
    (dest / "gamma.csv.corrupt").write_bytes(b"from an older labkit")
    for n in (1, 2):
        res = fetch_cli(tmp_path, fake)
        assert res.returncode == 1 and f"is corrupt" in res.stderr and f"kept as gamma.csv.corrupt.{n}" in res.stderr
    assert (dest / "gamma.csv.corrupt.1").read_bytes() == (dest / "gamma.csv.corrupt.2").read_bytes() == BLOBS["gamma.csv"]
    assert (dest / "gamma.csv.corrupt").read_bytes() == b"from an older labkit"


def test_oversized_part_is_kept_and_reported(tmp_path):
    from toys import FakeZenodo
    dest = tmp_path / "zenodo"
    dest.mkdir()
    junk = b"x" * (len(BLOBS["gamma.csv"]) + 10)
    (dest / "gamma.csv.part").write_bytes(junk)
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS))
    assert res.returncode == 0, res.stderr
    assert "gamma.csv.part" in res.stdout and "is larger than the" in res.stdout
    assert "kept as gamma.csv.oversized.1" in res.stdout
    assert (dest / "gamma.csv.oversized.1").read_bytes() == junk
    assert (dest / "gamma.csv").read_bytes() == BLOBS["gamma.csv"]


def test_interrupted_download_is_kept_and_resumed(tmp_path):
    from toys import FakeZenodo
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS, fail_after=1000))
    assert res.returncode == 1 and "stopped at 1000 of" in res.stderr and "rerun `labkit data fetch` to resume" in res.stderr
    assert (tmp_path / "zenodo" / "gamma.csv.part").stat().st_size == 1000
    res = fetch_cli(tmp_path, FakeZenodo(BLOBS))
    assert res.returncode == 0 and (tmp_path / "zenodo" / "gamma.csv").read_bytes() == BLOBS["gamma.csv"]
