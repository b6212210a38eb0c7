"""``labkit package``: folder + archive with wheel, INSTALL steps, lab 06, vectors (+ overlay when built)."""
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labkit.config import CFG

ROOT = Path(__file__).resolve().parents[1]


def _vectors(folder: Path):
    """A vectors folder as stage 3 writes it; packaging copies the files verbatim."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    X = rng.integers(0, CFG.adc_max + 1, (4, CFG.n_samples)).astype(np.uint16)
    np.save(folder / "inputs.npy", X)
    np.save(folder / "input_words.npy", np.zeros(4 * CFG.words_per_pulse, np.uint32))
    np.save(folder / "expected_words.npy", np.zeros(4 * CFG.n_classes, np.uint32))
    (folder / "meta.json").write_text(json.dumps({"n": 4}))


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    if not (ROOT / "labs" / "06_on_board.ipynb").is_file():
        pytest.skip("labs/06_on_board.ipynb missing")
    art = tmp_path_factory.mktemp("artifacts")
    _vectors(art / "hls" / "vectors")
    return art


@pytest.fixture(scope="module")
def built(art):
    """``labkit package --board pynq-z1`` once (no overlay: nobody ran Vivado)."""
    import io
    import os
    from contextlib import redirect_stdout

    from labkit.course.package import main

    old = os.environ.get("LABKIT_ARTIFACTS")
    os.environ["LABKIT_ARTIFACTS"] = str(art)
    try:
        out = io.StringIO()
        with redirect_stdout(out):
            rc = main(["--board", "pynq-z1"])
    finally:
        if old is None:
            os.environ.pop("LABKIT_ARTIFACTS")
        else:
            os.environ["LABKIT_ARTIFACTS"] = old
    assert rc == 0
    return art / "package" / "pynq-z1", art / "package" / "labkit_pynq-z1.tar.gz", out.getvalue()


def test_package_contents(built):
    folder, archive, printed = built
    assert "No overlay in" in printed                     # one sentence, and the rest is packaged
    wheels = list((folder / "wheel").glob("labkit-*-py3-none-any.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    for f in ("labkit/board/__init__.py", "labkit/board/emulated.py", "labkit/stream.py", "labkit/course.ini"):
        assert f in names
    assert (folder / "06_on_board.ipynb").is_file()
    for f in ("meta.json", "inputs.npy", "input_words.npy", "expected_words.npy"):
        assert (folder / "artifacts" / "hls" / "vectors" / f).is_file()
    assert not (folder / "artifacts" / "overlay").exists()
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["overlay_included"] is False and manifest["wheel"] == wheels[0].name
    assert "06_on_board.ipynb" in manifest["files"]

    install = (folder / "INSTALL.md").read_text()
    for step in ("scp labkit_pynq-z1.tar.gz", "source /etc/profile.d/pynq_venv.sh", "sudo -H",
                 f"pip install --no-deps --force-reinstall wheel/{wheels[0].name}", "PYNQ_JUPYTER_NOTEBOOKS",
                 "tar xzf labkit_pynq-z1.tar.gz", "no overlay"):
        assert step in install, step

    with tarfile.open(archive) as tar:
        members = tar.getnames()
    assert "labkit_pynq-z1/INSTALL.md" in members
    assert f"labkit_pynq-z1/wheel/{wheels[0].name}" in members
    assert "labkit_pynq-z1/artifacts/hls/vectors/expected_words.npy" in members


def test_refuses_to_overwrite(built, art, monkeypatch, capsys):
    from labkit.course.package import build_package, main

    folder, archive, _ = built
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    before = (folder / "MANIFEST.json").read_text()
    assert main(["--board", "pynq-z1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (folder / "MANIFEST.json").read_text() == before
    with pytest.raises(FileExistsError, match="--timestamp"):
        build_package("pynq-z1", quiet=True)


def test_overlay_is_packaged_when_built(art, tmp_path, monkeypatch):
    from labkit.course.package import build_package

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(art))
    ov = art / "overlay" / "kv260"
    ov.mkdir(parents=True)
    (ov / f"{CFG.overlay_name}.bit").write_bytes(b"bit")
    (ov / f"{CFG.overlay_name}.hwh").write_text("<hwh/>")
    (art / "results").mkdir(exist_ok=True)
    (art / "results" / "lab04b_rtl.json").write_text('{"latency_cycles": 6, "ii": 1.0}')
    first = build_package("kv260", out_root=tmp_path, quiet=True)
    target = Path(first["folder"]) / "artifacts" / "overlay" / "kv260"
    assert first["overlay_included"] and (target / f"{CFG.overlay_name}.bit").read_bytes() == b"bit"
    # lab 06 quotes lab 04b's latency on the board: the result file travels with the package
    assert json.loads((Path(first["folder"]) / "artifacts" / "results" / "lab04b_rtl.json").read_text())["ii"] == 1.0
    assert "no overlay" not in (Path(first["folder"]) / "INSTALL.md").read_text()
    again = build_package("kv260", out_root=tmp_path, timestamp=True, quiet=True)   # new folder
    assert again["folder"] != first["folder"] and Path(first["folder"]).is_dir()
    forced = build_package("kv260", out_root=tmp_path, force=True, quiet=True)
    assert forced["folder"] == first["folder"]


def test_missing_vectors_name_the_fix(tmp_path, monkeypatch):
    from labkit.course.package import build_package

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lab 04"):
        build_package("pynq-z1", quiet=True)
    with pytest.raises(KeyError, match="unknown board"):
        build_package("zcu104", quiet=True)


def test_the_deployed_network_follows_the_selection(tmp_path, monkeypatch):
    """Issue 26: course.ini's selection decides the one student every later stage uses. Two trials (a
    161-4-2 student and a linear one); the selection in one mode, then in another: each time the
    stage's student.h5, lab 04's vectors (which lab 06 streams), lab 05's RTL core (built from
    student.h5) and `labkit package` follow it; vectors left from the other student are refused."""
    pytest.importorskip("hls4ml")
    from labkit.rtl import tools
    if tools.missing("da4ml", "g++"):
        pytest.skip(tools.missing("da4ml", "g++"))
    from types import SimpleNamespace

    from toys import fit_and_prune, tiny_student, toy_pulses

    from labkit import artifacts
    from labkit.course.package import build_package
    from labkit.data import Split, formats
    from labkit.hls import build_all
    from labkit.rtl import build as rtl_build
    from labkit.rtl.cost import estimate
    from labkit.training import checkpoints, compress, modelfile, selection
    from labkit.training.models import build_student

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    X, y = toy_pulses(300, seed=5)
    p = formats.Pulses(X, y)
    split = Split(train=p.subset(slice(0, 200)), val=p.subset(slice(200, 250)), test=p.subset(slice(250, 300)))
    xv = __import__("labkit.data.prep", fromlist=["preprocess"]).preprocess(split.val.X)
    nets = {"00": tiny_student(), "01": fit_and_prune(build_student([], weight_bits=5), 3, 0.85, seed=2)}
    pts = []
    for tid, net in nets.items():
        path = modelfile.save_model(net, tmp_path / f"trial_{tid}" / "student.h5")
        pred = net.predict(xv, verbose=0).argmax(1)
        k, est = int((pred == split.val.y).sum()), estimate(net)
        pts.append({"trial_id": tid, "hp": {"layers": 1 if tid == "00" else 0}, "objective": 0.1 if tid == "00" else 0.2,
                    "val_acc": k / len(pred), "val_k": k, "val_n": len(pred), "val_ci95": [0, 1],
                    "lut_estimate": est["lut_estimate"], "latency_cycles": est["latency_cycles"],
                    "nonzero": est["nonzero"], "weight_bits": est["weight_bits"], "activation_bits": 8,
                    "layers": [161, 4, 2] if tid == "00" else [161, 2], "path": str(path), "val_pred": pred})
    small = min(pts, key=lambda q: q["lut_estimate"])
    assert small["trial_id"] == "01"
    packaged = []
    for mode, budget in (("accuracy", None), ("budget", small["lut_estimate"])):
        chosen = selection.select(pts, mode, lut_budget=budget, latency_budget=99)
        student = modelfile.load_model(chosen["path"])
        history = SimpleNamespace(selection=selection.summary(chosen))
        checkpoints.save_student(student, SimpleNamespace(values=chosen["hp"]), history, 0.8, split)
        if packaged:                    # vectors of the previous student: refused, nothing packaged
            with pytest.raises(ValueError, match=f"trial {packaged[-1]}.*deployed student.*trial {chosen['trial_id']}"):
                build_package("pynq-z1", quiet=True, force=True)
        assert artifacts.student_line().startswith(f"deployed student: trial {chosen['trial_id']} ({mode} selection)")
        built = build_all(X_raw=split.test.X, y=split.test.y, quiet=True)       # lab 04 on checkpoints.load_student()
        meta = json.loads((artifacts.test_vectors() / "meta.json").read_text())
        assert meta["student"]["trial_id"] == chosen["trial_id"]
        want = student.predict(__import__("labkit.data.prep", fromlist=["preprocess"]).preprocess(split.test.X), verbose=0)
        np.testing.assert_allclose(np.load(artifacts.test_vectors() / "qkeras_logits.npy"), want, rtol=0, atol=1e-6)
        assert built["summary"]["bit_exact_fraction"] == 1.0
        core = rtl_build(folder=tmp_path / f"rtl_{mode}", emulator=False)["core"]         # lab 04b / 05's IP
        assert core.latency_cycles == chosen["latency_cycles"]
        out = build_package("pynq-z1", quiet=True, force=True)
        assert out["student"]["trial_id"] == chosen["trial_id"]
        manifest = json.loads((Path(out["folder"]) / "MANIFEST.json").read_text())
        assert manifest["student"] == meta["student"]
        packaged.append(chosen["trial_id"])
    assert packaged == ["00", "01"]
