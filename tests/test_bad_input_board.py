"""Bad and hostile input on the board side and in packaging (issue 14), asserted as a user sees it.

* ``labkit package`` never follows a symbolic link out of the folders it packages, refuses FIFOs
  and devices, and leaves no temporary files behind on an error, Ctrl-C, SIGTERM or SIGKILL;
* the emulation library is loaded only when it matches the SHA-256 recorded when it was built;
* batch sizes and timeouts are validated (never replaced by a default, rounded or made infinite);
* two threads sharing one overlay take turns.

Fast: no hls4ml, no training. The overlay runs on a numpy stand-in for the IP (``FakeIP``); the
library checks use a tiny C library (skipped without g++); the package's wheel is stubbed where
the test is about something else.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from labkit.config import CFG

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def labkit(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "labkit", *args], cwd=ROOT, env=dict(ENV, **(env or {})),
                          capture_output=True, text=True, timeout=timeout)


def one_sentence(proc, *fragments):
    """Non-zero exit, no traceback, every fragment in what the user reads on stderr."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def write_vectors(folder: Path, n: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / "inputs.npy", rng.integers(0, CFG.adc_max + 1, (n, CFG.n_samples)).astype(np.uint16))
    np.save(folder / "input_words.npy", np.zeros(n * CFG.words_per_pulse, np.uint32))
    np.save(folder / "expected_words.npy", np.zeros(n * CFG.n_classes, np.uint32))
    (folder / "meta.json").write_text(json.dumps({"n": n}))


# ==============================================================================================
# labkit package: links, special files
# ==============================================================================================

@pytest.fixture
def art(tmp_path):
    if not (ROOT / "labs" / "06_on_board.ipynb").is_file():
        pytest.skip("labs/06_on_board.ipynb missing")
    art = tmp_path / "artifacts"
    write_vectors(art / "hls" / "vectors")
    (tmp_path / "out").mkdir()                        # where the tests write packages
    home = tmp_path / "home"                          # somebody's private files, outside the artifacts
    (home / "secrets").mkdir(parents=True)
    (home / "secrets" / "id_rsa").write_text("PRIVATE KEY")
    (home / "notes.txt").write_text("private")
    return art


@pytest.fixture
def stub_wheel(monkeypatch):
    """The wheel is not what these tests are about: a one-file stand-in (pip wheel takes ~15 s)."""
    from labkit.course import package

    def fake_wheel(out_dir, root=None):
        out_dir.mkdir(parents=True, exist_ok=True)
        wheel = out_dir / "labkit-0-py3-none-any.whl"
        wheel.write_bytes(b"wheel")
        return wheel
    monkeypatch.setattr(package, "build_wheel", fake_wheel)


PUBLISHED = {"pynq-z1", "labkit_pynq-z1.tar.gz"}


def leftovers(folder: Path) -> list:
    """Everything in the output folder that is not a published package (folder + archive)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in PUBLISHED) if folder.exists() else []


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_package_refuses_a_link_out_of_the_vectors_folder(art, tmp_path, kind):
    vectors = art / "hls" / "vectors"
    link = vectors / ("notes.txt" if kind == "file" else "home")
    link.symlink_to(tmp_path / "home" / ("notes.txt" if kind == "file" else ""))
    out = tmp_path / "out"
    proc = labkit("package", "--board", "pynq-z1", "--out", str(out), env={"LABKIT_ARTIFACTS": str(art)})
    one_sentence(proc, f"{link} is a symbolic link to {tmp_path / 'home'}", "never follows links",
                 "replace the link by a copy")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (out / "pynq-z1").exists() and not (out / "labkit_pynq-z1.tar.gz").exists()
    assert leftovers(out) == []


def test_package_refuses_links_that_lead_out_indirectly(art, tmp_path, stub_wheel, monkeypatch):
    """A link to `..`, a broken link, the vectors folder itself a link, a linked .bit: all refused."""
    from labkit.course.package import PackageError, build_package

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    vectors = art / "hls" / "vectors"
    for name, target, match in [("up", "..", "outside the folder being packaged"),
                                ("gone.npy", "missing.npy", "broken symbolic link")]:
        (vectors / name).symlink_to(target)
        with pytest.raises(PackageError, match=match):
            build_package("pynq-z1", out_root=tmp_path / "out", quiet=True)
        (vectors / name).unlink()
    vectors.rename(tmp_path / "elsewhere")
    vectors.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PackageError, match="outside the artifacts folder"):
        build_package("pynq-z1", out_root=tmp_path / "out", quiet=True)
    vectors.unlink()
    (tmp_path / "elsewhere").rename(vectors)
    ov = art / "overlay" / "pynq-z1"
    ov.mkdir(parents=True)
    (ov / f"{CFG.overlay_name}.bit").symlink_to(tmp_path / "home" / "notes.txt")
    (ov / f"{CFG.overlay_name}.hwh").write_text("<hwh/>")
    with pytest.raises(PackageError, match=f"{CFG.overlay_name}.bit is a symbolic link"):
        build_package("pynq-z1", out_root=tmp_path / "out", quiet=True)
    assert leftovers(tmp_path / "out") == []


def test_package_refuses_a_fifo_instead_of_hanging(art, tmp_path, stub_wheel, monkeypatch):
    from labkit.course.package import PackageError, build_package

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    os.mkfifo(art / "hls" / "vectors" / "pipe")
    with pytest.raises(PackageError, match="pipe is a FIFO"):
        build_package("pynq-z1", out_root=tmp_path / "out", quiet=True)


def test_package_links_inside_are_copied_or_skipped(art, tmp_path, stub_wheel, monkeypatch, capsys):
    """A link to a file inside: its content; a link to a folder inside: skipped with a note. No link in the archive."""
    from labkit.course.package import build_package

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    vectors = art / "hls" / "vectors"
    (vectors / "extra").mkdir()
    (vectors / "extra" / "a.txt").write_text("inside")
    (vectors / "alias.json").symlink_to("meta.json")
    (vectors / "extra_again").symlink_to("extra")
    res = build_package("pynq-z1", out_root=tmp_path / "out")
    printed = capsys.readouterr().out
    assert f"skipped {vectors / 'extra_again'}: a link to a folder inside" in printed
    copied = Path(res["folder"]) / "artifacts" / "hls" / "vectors"
    assert (copied / "alias.json").read_text() == (vectors / "meta.json").read_text()
    assert (copied / "extra" / "a.txt").read_text() == "inside" and not (copied / "extra_again").exists()
    with tarfile.open(res["archive"]) as tar:
        assert not [m.name for m in tar.getmembers() if m.issym() or m.islnk()]
    assert leftovers(tmp_path / "out") == []


# ==============================================================================================
# labkit package: temporary files on every exit path
# ==============================================================================================

@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_package_failure_mid_archive_leaves_no_temporary_file(art, tmp_path, stub_wheel, monkeypatch, failure):
    from labkit.course.package import build_package

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    out = tmp_path / "out"
    first = build_package("pynq-z1", out_root=out, quiet=True)
    before = Path(first["archive"]).read_bytes(), (Path(first["folder"]) / "MANIFEST.json").read_text()
    (art / "hls" / "vectors" / "big.bin").write_bytes(os.urandom(1 << 20))
    real_add = tarfile.TarFile.add

    def add_then_fail(self, *args, **kwargs):
        real_add(self, *args, **kwargs)               # the temporary archive is written ...
        assert Path(self.name).is_file() and Path(self.name) != out / "labkit_pynq-z1.tar.gz"
        raise failure                                 # ... then the disk fills up / Ctrl-C
    monkeypatch.setattr(tarfile.TarFile, "add", add_then_fail)
    with pytest.raises(type(failure)):
        build_package("pynq-z1", out_root=out, force=True, quiet=True)
    assert leftovers(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["labkit_pynq-z1.tar.gz", "pynq-z1"]
    assert (Path(first["archive"]).read_bytes(), (Path(first["folder"]) / "MANIFEST.json").read_text()) == before


SLOW_PACKAGE = textwrap.dedent("""
    import sys, tarfile, time
    from pathlib import Path
    from labkit.course import package

    def fake_wheel(out_dir, root=None):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "labkit-0-py3-none-any.whl").write_bytes(b"wheel")
        return out_dir / "labkit-0-py3-none-any.whl"

    real_add = tarfile.TarFile.add
    def slow_add(self, *args, **kwargs):
        real_add(self, *args, **kwargs)
        Path(sys.argv[1]).write_text("archive written")     # the test sends its signal now
        time.sleep(60)
    package.build_wheel = fake_wheel
    tarfile.TarFile.add = slow_add
    from labkit.course.cli import main
    raise SystemExit(main(["package", "--board", "pynq-z1", "--out", sys.argv[2]]))
""")


def _run_until_archiving(art, tmp_path):
    marker, out = tmp_path / "marker", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_PACKAGE, str(marker), str(out)], cwd=ROOT,
                            env=dict(ENV, LABKIT_ARTIFACTS=str(art)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the packaging subprocess did not reach the archive: {proc.communicate()}")
        time.sleep(0.05)
    assert leftovers(out), "the temporary package should exist while the archive is written"
    return proc, out


def test_package_sigterm_mid_way_removes_its_temporary_files(art, tmp_path):
    proc, out = _run_until_archiving(art, tmp_path)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "stopped by SIGTERM; its temporary files were removed" in stderr
    assert leftovers(out) == [] and not (out / "pynq-z1").exists()


def test_package_removes_what_a_killed_run_left_behind(art, tmp_path, stub_wheel, monkeypatch, capsys):
    """SIGKILL cannot be caught: the next run removes that run's temporary files, with a note."""
    from labkit.course.package import build_package

    proc, out = _run_until_archiving(art, tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    left = leftovers(out)
    assert left and all(f"-{proc.pid}-" in name for name in left)
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    build_package("pynq-z1", out_root=out)
    printed = capsys.readouterr().out
    assert f"an unfinished package left by process {proc.pid}, which is gone" in printed
    assert leftovers(out) == [] and (out / "labkit_pynq-z1.tar.gz").is_file()


# ==============================================================================================
# the emulation library: loaded only when it matches its recorded SHA-256
# ==============================================================================================

TINY_IP = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
/* what an attacker's library would do: run code as soon as it is loaded */
__attribute__((constructor)) static void on_load(void) {
    const char *p = getenv("LABKIT_TEST_LOADED");
    if (p) { FILE *f = fopen(p, "a"); if (f) { fputs("loaded\n", f); fclose(f); } }
}
int labkit_emu_info(uint32_t *ns, uint32_t *wpp, uint32_t *nout, uint32_t *mb) {
    *ns = N_SAMPLES; *wpp = WORDS_PER_PULSE; *nout = N_OUT; *mb = MAX_BATCH; return 0;
}
int labkit_emu_run(uint32_t batch, const uint32_t *in, const uint8_t *in_last, uint32_t n_in,
                   uint32_t *out, uint8_t *out_last, uint32_t cap, uint32_t *consumed) {
    if (batch < 1 || batch > MAX_BATCH) return -3;
    if (n_in < batch * WORDS_PER_PULSE) return -1;
    if (cap < batch * N_OUT) return -2;
    for (uint32_t i = 0; i < batch * N_OUT; i++) { out[i] = in[i]; out_last[i] = i + 1 == batch * N_OUT; }
    *consumed = batch * WORDS_PER_PULSE;
    return (int)(batch * N_OUT);
}
"""


@pytest.fixture(scope="module")
def fake_gxx(tmp_path_factory):
    """A "compiler" for build_emulation that compiles TINY_IP (the real one needs an hls4ml project)."""
    import shutil

    gxx = shutil.which(os.environ.get("CXX", "g++"))
    if gxx is None:
        pytest.skip("g++ not found: the emulation-library checks need a compiler (apt-get install g++)")
    d = tmp_path_factory.mktemp("cxx")
    (d / "tiny_ip.c").write_text(TINY_IP)
    defines = [f"-DN_SAMPLES={CFG.n_samples}", f"-DWORDS_PER_PULSE={CFG.words_per_pulse}",
               f"-DN_OUT={CFG.n_classes}", f"-DMAX_BATCH={CFG.max_batch}"]
    script = d / "fake-g++"
    script.write_text(f"#!/bin/sh\n# ignore the real sources; keep -o\nwhile [ $# -gt 0 ]; do\n"
                      f"  if [ \"$1\" = -o ]; then out=\"$2\"; fi; shift\ndone\n"
                      f"exec {gxx} -x c -O1 -fPIC -shared {' '.join(defines)} {d / 'tiny_ip.c'} -o \"$out\"\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def built_lib(fake_gxx, tmp_path, monkeypatch):
    """build_emulation (the function `labkit hls emulate` runs) -> library + its SHA-256 record."""
    from labkit.hls.wrapper import build_emulation

    monkeypatch.setenv("CXX", fake_gxx)
    prj = tmp_path / "prj"
    (prj / "firmware").mkdir(parents=True)
    (prj / "firmware" / "myproject.cpp").write_text("// hls4ml project stand-in\n")
    lib = build_emulation(prj, tmp_path / "art" / "hls" / "emu" / "libclyc_emu.so")
    monkeypatch.setenv("LABKIT_TEST_LOADED", str(tmp_path / "loaded.txt"))
    return lib


def test_build_records_the_library_sha256(built_lib):
    import hashlib

    from labkit.hls.ipsim import EmulatedIP, library_record

    record = library_record(built_lib)
    assert record.name == "libclyc_emu.so.sha256"
    assert record.read_text() == f"{hashlib.sha256(built_lib.read_bytes()).hexdigest()}  libclyc_emu.so\n"
    ip = EmulatedIP(built_lib)
    assert ip.info["max_batch"] == CFG.max_batch
    assert Path(os.environ["LABKIT_TEST_LOADED"]).read_text() == "loaded\n"


@pytest.mark.parametrize("tamper, match", [
    ("append", "does not match the SHA-256 recorded when it was built"),
    ("swap", "does not match the SHA-256 recorded when it was built"),
    ("no_record", "has no SHA-256 record"),
    ("bad_record", "is not a SHA-256 record"),
    ("record_fifo", "is not a SHA-256 record"),
])
def test_changed_or_unrecorded_library_is_not_loaded(built_lib, tmp_path, tamper, match):
    from labkit.hls.ipsim import EmulatedIP, UntrustedLibraryError, library_record

    record = library_record(built_lib)
    if tamper == "append":
        with open(built_lib, "ab") as f:
            f.write(b"\0")
    elif tamper == "swap":                                 # another library in its place
        import shutil
        (tmp_path / "other.c").write_text("int other(void) { return 1; }\n")
        subprocess.run([shutil.which("g++"), "-x", "c", "-fPIC", "-shared", str(tmp_path / "other.c"),
                        "-o", str(built_lib)], check=True)
    elif tamper == "no_record":
        record.unlink()
    elif tamper == "bad_record":
        record.write_text("0" * 63 + "  libclyc_emu.so\n")
    elif tamper == "record_fifo":
        record.unlink()
        os.mkfifo(record)
    with pytest.raises(UntrustedLibraryError, match=match) as err:
        EmulatedIP(built_lib)
    assert "rebuild it with `labkit hls emulate`" in str(err.value) and str(built_lib.name) in str(err.value)
    assert not (tmp_path / "loaded.txt").exists()          # its code never ran


def test_bench_board_refuses_a_changed_library_in_one_sentence(built_lib, tmp_path):
    art = tmp_path / "art"
    write_vectors(art / "hls" / "vectors")
    with open(built_lib, "ab") as f:
        f.write(b"\0")
    proc = labkit("bench", "board", env={"LABKIT_ARTIFACTS": str(art), "LABKIT_BOARD": "emulated",
                                         "LABKIT_TEST_LOADED": str(tmp_path / "loaded.txt")})
    one_sentence(proc, "does not match the SHA-256 recorded", "rebuild it with `labkit hls emulate`")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "loaded.txt").exists()


def test_loading_leaves_no_copy_behind(built_lib, tmp_path, monkeypatch):
    import tempfile

    from labkit.hls.ipsim import EmulatedIP

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    EmulatedIP(built_lib)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ip_batch_register_is_not_rounded(built_lib):
    from labkit.hls.ipsim import EmulatedIP

    ip = EmulatedIP(built_lib)
    words = np.zeros(2 * CFG.words_per_pulse, np.uint32)
    for bad in (1.5, True, "2", float("nan")):
        with pytest.raises(ValueError, match="whole number"):
            ip.run(bad, words)
    assert ip.run(np.int64(2), words)[0].size == 2 * CFG.n_classes


def test_bench_board_refuses_a_batch_larger_than_the_dma_holds(built_lib, tmp_path):
    art = tmp_path / "art"
    write_vectors(art / "hls" / "vectors")
    proc = labkit("bench", "board", "--batch-size", str(CFG.max_batch + 1),
                  env={"LABKIT_ARTIFACTS": str(art), "LABKIT_BOARD": "emulated"})
    one_sentence(proc, f"--batch-size {CFG.max_batch + 1} is more than", f"use --batch-size <= ")


# ==============================================================================================
# the driver on the emulated overlay (numpy stand-in for the IP)
# ==============================================================================================

class FakeIP:
    """EmulatedIP's interface in numpy: logit word k of a pulse = (sum of its input words + k) mod 2**32."""

    path = Path("fake_emu.so")
    info = {"n_samples": CFG.n_samples, "words_per_pulse": CFG.words_per_pulse, "n_out": CFG.n_classes,
            "max_batch": CFG.max_batch}

    @staticmethod
    def expected(words) -> np.ndarray:
        w = np.asarray(words, np.uint64).reshape(-1, CFG.words_per_pulse)
        sums = w.sum(axis=1)
        return ((sums[:, None] + np.arange(CFG.n_classes, dtype=np.uint64)) % (1 << 32)).astype(np.uint32).reshape(-1)

    def run(self, batch, words, last=None):
        out = self.expected(np.asarray(words)[: batch * CFG.words_per_pulse])
        out_last = np.zeros(out.size, bool)
        out_last[-1] = True
        return out, out_last, batch * CFG.words_per_pulse


@pytest.fixture
def overlay():
    pytest.importorskip("pynq")
    from labkit.board import Overlay
    return Overlay(mode="emulated", emulated_ip=FakeIP(), stall_timeout=0.5)


def pulses(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, CFG.adc_max + 1, (n, CFG.n_samples))


def test_fake_ip_overlay_round_trip(overlay):
    from labkit.board import Classifier
    from labkit.stream import pack_pulses

    X = pulses(10, 0)
    assert np.array_equal(Classifier(overlay).classify(X, batch_size=3).words, FakeIP.expected(pack_pulses(X)))


@pytest.mark.parametrize("batch_size, match", [
    (0, "batch_size must be >= 1, got 0"),
    (-3, "batch_size must be >= 1, got -3"),
    (2.5, "batch_size must be a whole number"),
    (4.0, "batch_size must be a whole number"),
    (float("nan"), "batch_size must be a whole number"),
    (True, "batch_size must be a whole number"),
    ("8", "batch_size must be a whole number"),
])
def test_classify_refuses_batch_sizes_instead_of_replacing_them(overlay, batch_size, match):
    from labkit.board import Classifier

    with pytest.raises(ValueError, match=match):
        Classifier(overlay).classify(pulses(4, 1), batch_size=batch_size)


def test_classify_accepts_numpy_ints_and_none(overlay):
    from labkit.board import Classifier

    clf = Classifier(overlay)
    assert clf.classify(pulses(5, 2), batch_size=np.int32(2)).batch_size == 2
    assert clf.classify(pulses(5, 2)).batch_size == 5                 # None: as many as fit


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 0, -1.0, "5"])
def test_timeouts_that_would_disable_the_deadline_are_refused(overlay, timeout, monkeypatch):
    from labkit.board import Classifier, Overlay

    with pytest.raises(ValueError, match="timeout_s must be a finite number of seconds > 0"):
        Classifier(overlay, timeout_s=timeout)
    with pytest.raises(ValueError, match="stall_timeout must be a finite number of seconds > 0"):
        Overlay(mode="emulated", emulated_ip=FakeIP(), stall_timeout=timeout)
    monkeypatch.setenv("LABKIT_EMU_STALL_S", str(timeout) if timeout != "5" else "five")
    with pytest.raises(ValueError, match=r"\$LABKIT_EMU_STALL_S must be a finite number of seconds > 0"):
        Overlay(mode="emulated", emulated_ip=FakeIP())


@pytest.mark.parametrize("args, fragment", [
    (["--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    (["--batch-size", "-5"], "argument --batch-size: must be >= 1, got -5"),
    (["--batch-size", "2.5"], "argument --batch-size: must be a whole number"),
    (["--timeout", "inf"], "argument --timeout: must be a finite number of seconds > 0, got inf"),
    (["--timeout", "nan"], "argument --timeout: must be a finite number of seconds > 0, got nan"),
    (["--timeout", "0"], "argument --timeout: must be a finite number of seconds > 0, got 0.0"),
    (["--timeout", "-1"], "argument --timeout: must be a finite number of seconds > 0"),
])
def test_bench_board_cli_refuses_bad_numbers(tmp_path, args, fragment):
    proc = labkit("bench", "board", *args, env={"LABKIT_ARTIFACTS": str(tmp_path), "LABKIT_BOARD": "emulated"})
    one_sentence(proc, fragment)


def test_two_threads_share_one_overlay(overlay):
    """Three threads: two through one Classifier, one through its own; each gets its own results."""
    from labkit.board import Classifier
    from labkit.stream import pack_pulses

    data = {k: pulses(60, 10 + k) for k in range(3)}
    shared = Classifier(overlay, timeout_s=2)
    results, errors = {}, []

    def work(k):
        try:
            clf = shared if k < 2 else Classifier(overlay, timeout_s=2)
            results[k] = clf.classify(data[k], batch_size=1 + k).words
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(f"thread {k}: {type(err).__name__}: {err}")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)                         # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    for k in range(3):
        assert np.array_equal(results[k], FakeIP.expected(pack_pulses(data[k]))), f"thread {k} got others' words"
    X = pulses(3, 99)                                   # and the overlay is not wedged
    assert np.array_equal(shared.classify(X).words, FakeIP.expected(pack_pulses(X)))
