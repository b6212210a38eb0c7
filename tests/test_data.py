"""Loaders, bad input, split, preprocessing, baselines, fetch (stage 1); fetch uses an in-memory
Zenodo (toys.FakeZenodo), never the network."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

from labkit import data
from labkit.data import baselines
from labkit.config import CFG
from labkit.data import DataFormatError, formats
from labkit.data.synth import generate


@pytest.fixture(scope="module")
def synth():
    return generate(60, seed=7)


@pytest.fixture(scope="module")
def zenodo_dir(tmp_path_factory, synth):
    folder = tmp_path_factory.mktemp("zenodo")
    for c, name in enumerate(CFG.class_names):
        m = synth.labels == c
        formats.write_zenodo_csv(folder / f"{name}.csv", synth.traces[m], synth.energy_kev[m])
    return folder


def _write_windows(path, X, y):
    return data.write_windows(path, X, y)


# ---------------------------------------------------------------- loaders
def test_zenodo_loader_extracts_the_window(zenodo_dir, synth):
    p = data.read_zenodo(zenodo_dir, progress=False)
    assert p.X.shape == (120, CFG.n_samples) and p.X.dtype == np.uint16
    assert p.counts() == {"gamma": 60, "neutron": 60}
    expected = np.concatenate([synth.traces[synth.labels == c][:, 120:281] for c in (0, 1)])
    assert np.array_equal(p.X, expected)
    assert np.allclose(p.meta["energy"], np.concatenate([synth.energy_kev[synth.labels == c] for c in (0, 1)]), atol=0.01)
    assert p.report["dropped"] == 0


def test_window_csv_round_trip(tmp_path, synth):
    X = synth.windows()
    path = _write_windows(tmp_path / "w.csv", X, synth.labels)
    header = path.read_text().splitlines()[0].split(",")
    assert header[0] == "120" and header[-2] == "280" and header[-1] == "class" and len(header) == 162
    back = data.read_windows(path)
    assert np.array_equal(back.X, X) and np.array_equal(back.y, synth.labels)


def test_window_csv_accepts_class_names(tmp_path, synth):
    X = synth.windows()[:4]
    path = tmp_path / "names.csv"
    lines = [",".join(formats.window_columns() + ["class"])]
    lines += [",".join(map(str, r)) + f",{n}" for r, n in zip(X.tolist(), ["gamma", "neutron", "Gamma", "1"])]
    path.write_text("\n".join(lines) + "\n")
    assert data.read_windows(path).y.tolist() == [0, 1, 0, 1]


def test_trace_table_reader(tmp_path, synth):
    path = tmp_path / "table.csv"
    cols = ["label", "fci_ref_100msps"] + [f"s{i}" for i in range(400)]
    rows = [[CFG.class_names[l], "0.5"] + list(map(str, t[:400])) for t, l in zip(synth.traces[:5], synth.labels[:5])]
    path.write_text("\n".join([",".join(cols)] + [",".join(r) for r in rows]) + "\n")
    traces, labels = data.read_trace_table(path)
    assert traces.shape == (5, 400) and np.array_equal(labels, synth.labels[:5])
    assert np.array_equal(data.windows_from_traces(traces), synth.traces[:5, 120:281])


def test_load_caches_and_reads_folder(zenodo_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path))
    a = data.load(zenodo_dir, progress=False)
    assert list((tmp_path / "data" / "cache").glob("*.npz"))
    b = data.load(zenodo_dir, progress=False)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)


def test_progress_bar_only_for_large_files_and_never_headless(zenodo_dir, monkeypatch, capfd):
    monkeypatch.delenv("LABKIT_HEADLESS", raising=False)
    big = formats.PROGRESS_MIN_BYTES
    assert formats.show_progress(None, big) and not formats.show_progress(None, big - 1)
    assert formats.show_progress(True, 1) and not formats.show_progress(False, big)
    monkeypatch.setenv("LABKIT_HEADLESS", "1")
    assert not formats.show_progress(None, 10 * big)
    # a headless read with a forced bar still ends at 100 %
    data.read_zenodo(zenodo_dir, progress=True)
    states = [seg for seg in capfd.readouterr().err.split("\r") if seg.strip()]
    assert [seg.split("%")[0].split()[-1] for seg in states if seg.startswith("neutron")][-1] == "100"
    data.read_zenodo(zenodo_dir)                       # default: small files, no bar at all
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------- bad input
def _csv(path, text):
    path.write_text(text)
    return path


def _good_rows(synth, n=3):
    X = synth.windows()[:n]
    return [",".join(map(str, r)) + ",0" for r in X.tolist()]


def _hdr():
    return ",".join(formats.window_columns() + ["class"])


def test_wrong_column_count(tmp_path, synth):
    path = _csv(tmp_path / "bad.csv", ",".join(formats.window_columns()[:-1] + ["class"]) + "\n1,2\n")
    with pytest.raises(DataFormatError, match="162 columns|expected 162"):
        data.read_windows(path)


def test_row_with_wrong_field_count(tmp_path, synth):
    rows = _good_rows(synth)
    rows[1] = rows[1].rsplit(",", 3)[0]
    path = _csv(tmp_path / "short.csv", "\n".join([_hdr()] + rows) + "\n")
    with pytest.raises(DataFormatError):
        data.read_windows(path)


@pytest.mark.parametrize("value,message", [("abc", "not a number"), ("", "is empty"), ("nan", "not a number"),
                                           ("1024", "outside"), ("-3", "outside"), ("12.5", "not an integer")])
def test_bad_sample_values(tmp_path, synth, value, message):
    rows = _good_rows(synth)
    fields = rows[2].split(",")
    fields[40] = value
    rows[2] = ",".join(fields)
    path = _csv(tmp_path / "v.csv", "\n".join([_hdr()] + rows) + "\n")
    with pytest.raises(DataFormatError, match=message) as err:
        data.read_windows(path)
    assert "line 4" in str(err.value) and "'160'" in str(err.value) and "on_bad='drop'" in str(err.value)
    dropped = data.read_windows(path, on_bad="drop")
    assert len(dropped) == 2 and dropped.report["dropped"] == 1


def test_unknown_label(tmp_path, synth):
    rows = _good_rows(synth)
    rows[0] = rows[0].rsplit(",", 1)[0] + ",proton"
    path = _csv(tmp_path / "l.csv", "\n".join([_hdr()] + rows) + "\n")
    with pytest.raises(DataFormatError, match="unknown class label 'proton'"):
        data.read_windows(path)


def test_empty_and_header_only(tmp_path):
    with pytest.raises(DataFormatError, match="empty"):
        data.read_windows(_csv(tmp_path / "e.csv", ""))
    with pytest.raises(DataFormatError, match="no pulses"):
        data.read_windows(_csv(tmp_path / "h.csv", _hdr() + "\n"))


def test_truncated_zenodo_file(tmp_path, zenodo_dir):
    raw = (zenodo_dir / "gamma.csv").read_bytes()
    cut = tmp_path / "z"
    cut.mkdir()
    (cut / "gamma.csv").write_bytes(raw[: len(raw) - 5000])
    with pytest.raises(DataFormatError, match="truncated"):
        data.read_zenodo_file(cut / "gamma.csv", 0, progress=False)


def test_zenodo_bad_values_reported_when_dropping(tmp_path, zenodo_dir, capsys):
    lines = (zenodo_dir / "neutron.csv").read_text().splitlines()
    f = lines[3].split(",")
    f[150] = "NaN"
    lines[3] = ",".join(f)
    path = tmp_path / "neutron.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match="line 4, column '150'"):
        data.read_zenodo_file(path, 1, progress=False)
    p = data.read_zenodo_file(path, 1, progress=False, on_bad="drop")
    assert p.report["dropped"] == 1 and len(p) == 59 and "dropped 1 of 60" in capsys.readouterr().out


def test_not_a_zenodo_file(tmp_path, synth):
    path = _write_windows(tmp_path / "gamma.csv", synth.windows(), synth.labels)
    with pytest.raises(DataFormatError, match="not a Zenodo"):
        data.read_zenodo_file(path, 0, progress=False)


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="labkit data fetch"):
        data.read_windows(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="synthetic"):
        data.load(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="gamma.csv"):
        data.read_zenodo(tmp_path)


def test_writers_never_overwrite(tmp_path, synth):
    path = _write_windows(tmp_path / "w.csv", synth.windows(), synth.labels)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        data.write_windows(path, synth.windows()[:2], synth.labels[:2])
    assert path.read_bytes() == before
    with pytest.raises(FileExistsError):
        formats.write_zenodo_csv(path, synth.traces[:1], synth.energy_kev[:1])


def test_wrong_shapes_rejected(tmp_path):
    with pytest.raises(DataFormatError, match="161"):
        data.write_windows(tmp_path / "x.csv", np.zeros((3, 100)), np.zeros(3))
    with pytest.raises(ValueError, match="161"):
        data.preprocess(np.zeros((3, 100), np.uint16))
    with pytest.raises(ValueError, match="NaN"):
        data.preprocess(np.full((1, 161), np.nan))
    with pytest.raises(ValueError, match="0…1023"):
        data.preprocess(np.full((1, 161), 2000))


# ---------------------------------------------------------------- split + preprocessing
def _pulses(n=1000, frac_neutron=0.3, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < frac_neutron).astype(np.int64)
    X = rng.integers(300, 400, (n, CFG.n_samples)).astype(np.uint16)
    return formats.Pulses(X, y, "test")


def test_split_is_stratified_seeded_and_disjoint():
    p = _pulses()
    p.X[:, 0] = np.arange(len(p)) % 1000  # make rows identifiable
    s1, s2 = data.split(p), data.split(p)
    sizes = s1.sizes()
    assert abs(sizes["train"] - 700) <= 2 and abs(sizes["val"] - 150) <= 2 and sum(sizes.values()) == 1000
    frac = p.y.mean()
    for part in (s1.train, s1.val, s1.test):
        assert abs(part.y.mean() - frac) < 0.01
    for a, b in ((s1.train, s2.train), (s1.test, s2.test)):
        assert np.array_equal(a.X, b.X)
    ids = [set(part.X[:, 0].tolist()) for part in (s1.train, s1.val, s1.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert not np.array_equal(data.split(p, seed=1).test.X, s1.test.X)


def test_split_rejects_bad_fractions_and_tiny_classes():
    with pytest.raises(ValueError, match="summing to 1"):
        data.split(_pulses(), (0.5, 0.5, 0.5))
    with pytest.raises(DataFormatError, match="at least 3"):
        data.split(formats.Pulses(np.zeros((4, 161), np.uint16), np.array([0, 0, 0, 1]), ""))


def test_preprocess_is_integer_exact():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 1024, (200, CFG.n_samples))
    x = data.preprocess(X)
    base = X[:, :8].sum(1) // 8
    assert np.array_equal(x * 256, (base[:, None] - X).astype(np.float32))
    fmt = CFG.input_format
    assert x.min() >= fmt.min and x.max() <= fmt.max
    assert np.array_equal(np.round(x / fmt.lsb) * fmt.lsb, x)


# ---------------------------------------------------------------- baselines
def test_threshold_and_fom():
    score = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    thr, sign = baselines.best_threshold(score, y)
    assert 0.3 < thr < 0.7 and sign == 1
    thr, sign = baselines.best_threshold(-score, y)
    assert sign == -1
    assert baselines.figure_of_merit(score, y) > 0.5 > baselines.figure_of_merit(score, y[::-1] * 0 + np.array([0, 1, 0, 1, 0, 1]))


def test_baselines_on_synthetic(synth):
    p = formats.Pulses(synth.windows(), synth.labels)
    amp = baselines.amplitude_cut(p.X, p.y)
    assert amp.accuracy(p.X, p.y) > 0.9
    # the window ends near the peak: the in-window height tracks the true amplitude closely
    assert np.corrcoef(baselines.amplitude(p.X), synth.amplitude)[0, 1] > 0.99
    psd = baselines.early_charge(p.X, p.y)
    assert psd.gate is not None and psd.accuracy(p.X, p.y) > 0.9 and psd.fom > 0.5
    s = baselines.evaluate(data.split(p))
    assert set(s) == {"amplitude cut", "charge comparison (tail/total)", "early charge / peak"}
    assert all(0.5 < r["accuracy"] <= 1 for r in s.values())


def test_psd_scatter_axes_ignore_wild_outliers(synth):
    """A few pathological pulses (tail/total of a pulse with no charge: -1e11) must not flatten the
    scatter: the axes follow the bulk and the title counts the pulses beyond them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from labkit.course import plots

    p = formats.Pulses(synth.windows(), synth.labels)
    clf = baselines.charge_comparison(p.X, p.y)
    ax = plots.psd_scatter(p, clf)
    assert f"all {len(p)} pulses inside the axes" in ax.get_title()
    clean = ax.get_ylim()
    flat = np.full((2, CFG.n_samples), 400, np.uint16)     # no pulse: a 1-count wiggle, net charge < 0
    flat[:, 20:], flat[:, 30] = 401, 399
    bad = formats.Pulses(np.concatenate([p.X, flat]), np.concatenate([p.y, [0, 0]]))
    assert baselines.tail_total(flat, clf.gate).min() < -1e6
    ax = plots.psd_scatter(bad, clf)
    lo, hi = ax.get_ylim()
    assert lo > -1 and hi < 2 and hi - lo < 2 * (clean[1] - clean[0])
    assert f"2 of {len(bad)} pulses beyond the axes" in ax.get_title()
    plt.close("all")


# ---------------------------------------------------------------- fetch
FILES = {"gamma.csv": b"0,1,2\n" * 5000, "neutron.csv": b"3,4,5\n" * 7000}


@pytest.fixture
def zenodo_fake(monkeypatch, tmp_path):
    """Install an in-memory Zenodo (no network) and an empty pin file; returns a factory."""
    from labkit.data import fetch as fetch_mod
    from toys import FakeZenodo

    monkeypatch.setattr(fetch_mod, "PINNED", tmp_path / "SHA256SUMS")

    def make(**kw):
        fake = FakeZenodo(FILES, **kw)
        monkeypatch.setattr(fetch_mod, "_urlopen", fake.urlopen)
        return fake
    return make


def test_fetch_downloads_verifies_and_keeps(tmp_path, capsys, zenodo_fake):
    from labkit.data.fetch import fetch
    fake = zenodo_fake()
    out = fetch(tmp_path / "z", progress=False)
    assert out["gamma.csv"].read_bytes() == FILES["gamma.csv"]
    sums = (tmp_path / "z" / "SHA256SUMS.verified").read_text()
    assert hashlib.sha256(FILES["neutron.csv"]).hexdigest() in sums
    n = len(fake.requests)
    fetch(tmp_path / "z", progress=False)
    assert "present and verified (sha256 in SHA256SUMS.verified, Zenodo's md5), not downloaded again" in \
        capsys.readouterr().out
    assert len(fake.requests) == n + 1  # the listing only


def test_fetch_resumes_partial_download(tmp_path, zenodo_fake):
    from labkit.data.fetch import fetch
    zenodo_fake()
    (tmp_path / "gamma.csv.part").write_bytes(FILES["gamma.csv"][:1000])
    fetch(tmp_path, progress=False, files=("gamma.csv",))
    assert (tmp_path / "gamma.csv").read_bytes() == FILES["gamma.csv"]
    assert not (tmp_path / "gamma.csv.part").exists()


def test_fetch_corrupt_download_and_existing_bad_file(tmp_path, zenodo_fake):
    from labkit.data.fetch import FetchError, fetch
    zenodo_fake(checksums={"gamma.csv": "md5:" + "0" * 32})
    with pytest.raises(FetchError, match="corrupt"):
        fetch(tmp_path, progress=False, files=("gamma.csv",))
    assert (tmp_path / "gamma.csv.corrupt.1").exists() and not (tmp_path / "gamma.csv").exists()
    (tmp_path / "gamma.csv").write_bytes(b"my own edits\n")
    with pytest.raises(FetchError, match="will not overwrite"):
        fetch(tmp_path, progress=False, files=("gamma.csv",))
    assert (tmp_path / "gamma.csv").read_bytes() == b"my own edits\n"


def test_fetch_offline_says_one_clear_sentence(tmp_path):
    from labkit.data.fetch import fetch
    with pytest.raises(ConnectionError) as err:
        fetch(tmp_path, api="https://127.0.0.1:9/api", timeout=2, progress=False)  # nothing listens on 9
    msg = str(err.value)
    assert "by hand" in msg and "10.5281/zenodo.8037059" in msg and "synthetic" in msg


def test_cli_data_info(zenodo_dir, capsys):
    from labkit.course.cli import main
    assert main(["data", "info", str(zenodo_dir)]) == 0
    out = capsys.readouterr().out
    assert "120 pulses" in out and "train" in out
    assert main(["data", "info", str(zenodo_dir / "missing.csv")]) == 2
