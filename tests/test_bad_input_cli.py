"""Bad and hostile input to models, generated scripts and the command line, run as a user runs it.

* a model file is checked before Keras deserialises it: code stored in it (a Lambda layer) never
  runs, and a model with other than CFG.n_classes outputs / CFG.n_samples inputs is refused;
* a path with a space, ``[exec ...]``, ``$HOME``, ``"`` or ``;`` stays one path in every generated
  Tcl, C++ and Yosys script;
* every error a user can cause is one sentence naming the file and the fix (exit 2), a bug is one
  line pointing at ``--debug``;
* ``labkit course``: one run per artifacts folder, and Ctrl-C prints one line and writes nothing half.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: a folder name that breaks or injects into an unquoted Tcl, C string, Yosys or shell word
HOSTILE = 'a b [exec touch PWNED] $HOME " ;x'


def env(artifacts=None, **extra):
    e = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3", LABKIT_FAST="1")
    e.pop("LABKIT_DEBUG", None)
    if artifacts is not None:
        e["LABKIT_ARTIFACTS"] = str(artifacts)
    e.update(extra)
    return e


def labkit(*args, artifacts=None, cwd=None, timeout=300, **extra):
    return subprocess.run([sys.executable, "-m", "labkit", *map(str, args)], capture_output=True, text=True,
                          env=env(artifacts, **extra), cwd=cwd or ROOT, timeout=timeout)


def one_sentence(proc, code: int = 2) -> str:
    """The stderr of a refused command: exactly one line, no traceback, exit ``code``."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    return lines[0]


def no_marker(folder: Path):
    assert not [p for p in Path(folder).rglob("PWNED")], "a command in a path was executed"
    assert not (ROOT / "PWNED").exists()


# ------------------------------------------------------------------------------------------
# models: checked before deserialising, safe mode, inputs/outputs
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Real Keras .h5 files: Lambda layers whose code writes a marker, a student with 3 outputs, one
    with 100 inputs, other layers, a valid student (also saved before strip_pruning)."""
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("qkeras")
    from labkit.training import compress, models

    folder = tmp_path_factory.mktemp("models")
    marker = folder / "MARKER"
    # the Lambda's code is a constant of the stored bytecode (no closure): loading would run it
    evil = eval(f"lambda t: (open({str(marker)!r}, 'w').write('code ran'), t)[1]")  # noqa: S307
    built = {}
    inp = tf.keras.Input((161,), name="pulse")
    x = tf.keras.layers.Dense(4, name="hidden")(inp)
    built["lambda"] = tf.keras.Model(inp, tf.keras.layers.Dense(2, name="logits")(
        tf.keras.layers.Lambda(evil, name="sneaky")(x)))
    seq = tf.keras.Sequential([tf.keras.layers.Dense(4, input_shape=(161,)),
                               tf.keras.layers.Lambda(evil, name="inner_sneaky"), tf.keras.layers.Dense(2)])
    inp = tf.keras.Input((161,), name="pulse")
    built["nested_lambda"] = tf.keras.Model(inp, seq(inp))
    inp = tf.keras.Input((161,), name="pulse")
    built["tfop"] = tf.keras.Model(inp, tf.keras.layers.Dense(2)(inp * 2.0))
    inp = tf.keras.Input((161,), name="pulse")
    built["batchnorm"] = tf.keras.Model(inp, tf.keras.layers.Dense(2)(tf.keras.layers.BatchNormalization(name="bn")(inp)))
    inp = tf.keras.Input((161,), name="pulse")
    built["three"] = tf.keras.Model(inp, models.qdense(3, "logits")(models.qrelu("relu_0")(models.qdense(4, "dense_0")(inp))))
    inp = tf.keras.Input((100,), name="pulse")
    built["short"] = tf.keras.Model(inp, models.qdense(2, "logits")(inp))
    built["student"] = models.build_student([4])
    import tensorflow_model_optimization as tfmot
    built["pruned"] = models.build_student([4], schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0))
    for name, model in built.items():
        with compress.quiet_keras():
            model.save(folder / f"{name}.h5")
    marker.unlink()                   # building the Lambda ran its code once, here; loading must not
    (folder / "adir").mkdir()
    (folder / "text.h5").write_text("not a model\n")
    import zipfile
    with zipfile.ZipFile(folder / "model.keras", "w") as z:
        z.writestr("config.json", "{}")
    return folder


def test_lambda_model_is_refused_before_its_code_runs(models_dir):
    proc = labkit("hls", "convert", "--student", models_dir / "lambda.h5", artifacts=models_dir / "art")
    line = one_sentence(proc)
    assert "lambda.h5" in line and "'sneaky'" in line and "Lambda" in line
    assert not (models_dir / "MARKER").exists(), "load_model ran the code stored in the model file"


@pytest.mark.parametrize("name, words", [
    ("nested_lambda.h5", ["'inner_sneaky'", "Lambda"]),
    ("tfop.h5", ["TFOpLambda"]),
    ("short.h5", ["100", "CFG.n_samples = 161"]),
    ("three.h5", ["3 outputs", "CFG.n_classes = 2"]),
    ("adir", ["is a folder", ".h5"]),
    ("text.h5", ["not an HDF5 file"]),
    ("model.keras", ["zip archive", "model.save('name.h5')"]),
])
def test_model_files_outside_the_course_set_are_refused(models_dir, name, words):
    from labkit.training import modelfile
    with pytest.raises(modelfile.ModelFileError) as err:
        modelfile.load_model(models_dir / name)
    text = str(err.value)
    assert name in text and all(w in text for w in words), text
    assert not (models_dir / "MARKER").exists()


def test_course_models_still_load(models_dir):
    from labkit.training import checkpoints, compress, modelfile
    assert checkpoints.load_student(models_dir / "student.h5").output_shape == (None, 2)
    pruned = modelfile.load_model(models_dir / "pruned.h5")           # a wrapper is allowed ...
    assert any(type(l).__name__ == "PruneLowMagnitude" for l in pruned.layers)
    with pytest.raises(modelfile.ModelFileError, match="pruning wrapper"):   # ... but not converted
        checkpoints.load_student(models_dir / "pruned.h5")


def test_three_outputs_and_batchnorm_are_the_course_labs_limits_not_the_conversions(models_dir, tmp_path):
    """The labs' loader keeps the course's two logits; `labkit hls convert --student` takes any number
    of classes (tests/test_own_model.py), and refuses a BatchNormalization it cannot fold."""
    from labkit.training import checkpoints, compress, modelfile
    from labkit.training.ownmodel import load_own_student

    assert load_own_student(models_dir / "three.h5")[1].output_shape == (None, 3)
    with pytest.raises(modelfile.ModelFileError, match="BatchNormalization"):
        checkpoints.load_student(models_dir / "batchnorm.h5")
    proc = labkit("hls", "convert", "--student", models_dir / "batchnorm.h5", artifacts=tmp_path)
    line = one_sentence(proc)
    assert "batchnorm.h5" in line and "'bn'" in line and "not right after a dense layer" in line
    assert "folded" in line
    assert not (tmp_path / "hls").exists(), "nothing is converted for a refused student"


# ------------------------------------------------------------------------------------------
# paths in generated Tcl, C++, Yosys and shell
# ------------------------------------------------------------------------------------------

needs_tclsh = pytest.mark.skipif(not (shutil.which("tclsh") or shutil.which("tclsh8.6")), reason="needs tclsh")


@needs_tclsh
@pytest.mark.skipif(any(map(shutil.which, ("vitis_hls", "vitis-run", "v++", "vivado_hls"))), reason="would run Vitis HLS")
def test_vitis_export_script_keeps_a_hostile_artifacts_path_one_word(tmp_path):
    from labkit.config import CFG
    art = tmp_path / HOSTILE
    prj = tmp_path / "prj"
    (prj / "firmware").mkdir(parents=True)
    (prj / "firmware" / f"{CFG.hls_top}.cpp").write_text("")
    proc = labkit("hls", "export", "--project", prj, artifacts=art)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    # run the generated script in tclsh: every Vitis command records its arguments
    stubs = prj / "stubs.tcl"
    stubs.write_text(
        "set calls {}\n"
        "foreach c {open_project set_top add_files open_solution set_part create_clock csynth_design export_design} {\n"
        "    proc $c args \"lappend ::calls \\[linsert \\$args 0 $c\\]\"\n"
        "}\n"
        "rename exit real_exit\n"
        "proc exit args { foreach c $::calls { puts [join $c \\x1f] }; real_exit 0 }\n"
        "source build_ip.tcl\n")
    out = subprocess.run([shutil.which("tclsh") or "tclsh8.6", str(stubs)], capture_output=True, text=True,
                         cwd=prj, check=True).stdout
    calls = [line.split("\x1f") for line in out.splitlines()]
    export = next(c for c in calls if c[0] == "export_design")
    assert export[export.index("-output") + 1] == str((art / "hls" / "ip" / f"{CFG.hls_top}.zip").resolve())
    no_marker(tmp_path)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_c_string_literal_keeps_any_path(tmp_path):
    """-DWEIGHTS_DIR=<path> of the emulation library: the path comes out of the compiler unchanged."""
    from labkit.emit import c_string
    weird = str(tmp_path / HOSTILE) + "\\n ??/ é \\"
    src = tmp_path / "p.cpp"
    src.write_text("#include <cstdio>\nint main() { std::fputs(WEIGHTS_DIR, stdout); return 0; }\n")
    exe = tmp_path / "p"
    subprocess.run(["g++", "-std=c++14", f"-DWEIGHTS_DIR={c_string(weird)}", str(src), "-o", str(exe)],
                   check=True, capture_output=True)
    assert subprocess.run([str(exe)], capture_output=True).stdout.decode("utf-8") == weird


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_hls_convert_under_a_hostile_artifacts_path(models_dir, tmp_path):
    """hls4ml's build_lib.sh and the emulation library's g++ call both get the project folder."""
    pytest.importorskip("hls4ml")
    art = tmp_path / HOSTILE
    proc = labkit("hls", "convert", "--student", models_dir / "student.h5", "--n-vectors", 8, artifacts=art)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["bit_exact_fraction"] == 1.0 and summary["wrapper_words_equal"] is True
    assert Path(summary["emulation_library"]) == art / "hls" / "emu" / "libclyc_emu.so"
    no_marker(tmp_path)


@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs yosys")
def test_yosys_script_takes_hostile_paths(tmp_path):
    from labkit.rtl.resources import synthesize
    folder = tmp_path / HOSTILE
    folder.mkdir()
    (folder / "inv ;x.v").write_text("module inv(input a, output b); assign b = ~a; endmodule\n")
    r = synthesize([folder / "inv ;x.v"], "inv", workdir=folder / "work")
    assert r["lut"] == 1
    no_marker(tmp_path)


@needs_tclsh
@pytest.mark.parametrize("kind", ["hls", "rtl"])
def test_overlay_script_keeps_hostile_paths_one_file(tmp_path, kind):
    from labkit.blockdesign.build import run_stubbed
    from labkit.config import CFG
    base = tmp_path / (HOSTILE + " {")
    repo = base / "ip repo"
    repo.mkdir(parents=True)
    if kind == "hls":
        (repo / "component.xml").write_text("<!-- stub -->\n")
    else:
        (repo / "sources.f").write_text(f"{CFG.rtl.top}.v\n")
        (repo / f"{CFG.rtl.top}.v").write_text("")
    out = base / "out"
    record = run_stubbed("pynq-z1", ip_repo=repo, out_dir=out, ip_kind=kind)
    assert record["exit_code"] == 0, (record["error"], record["stderr"])
    wrapper = [f for f in record["added_files"] if f.endswith("_wrapper.v")]
    assert len(wrapper) == 1 and wrapper[0].startswith(str(out.resolve()))
    assert sorted(record["outputs"]) == sorted(f"{CFG.overlay_name}.{e}" for e in ("bit", "hwh", "xsa"))
    no_marker(tmp_path)


# ------------------------------------------------------------------------------------------
# the command line: one sentence per user error, one line per bug, tracebacks with --debug
# ------------------------------------------------------------------------------------------

def test_existing_output_is_one_sentence(tmp_path):
    taken = tmp_path / "taken.csv"
    taken.write_text("x\n")
    line = one_sentence(labkit("data", "synth", "--out", taken, artifacts=tmp_path / "art"))
    assert str(taken) in line and "a file stands where its folder should be" in line and "another path" in line
    # --debug shows the traceback instead
    proc = labkit("--debug", "data", "synth", "--out", taken, artifacts=tmp_path / "art")
    assert "Traceback" in proc.stderr and proc.returncode != 0


def test_csv_that_is_not_text_is_one_sentence(tmp_path):
    blob = tmp_path / "pulses.csv"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 20)
    line = one_sentence(labkit("data", "info", blob, artifacts=tmp_path / "art"))
    assert "pulses.csv" in line and "UTF-8" in line


def test_unwritable_artifacts_folder_is_one_sentence(tmp_path):
    if os.geteuid() == 0:                 # root writes everywhere in tmp; /sys refuses even root
        if not Path("/sys").is_dir():
            pytest.skip("no /sys to test an unwritable folder")
        target = Path("/sys/labkit-test-unwritable/out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "out"
    line = one_sentence(labkit("data", "synth", "--out", target, artifacts=tmp_path / "art"))
    assert str(target.parent) in line and ("permission denied" in line or "not permitted" in line)


def test_model_in_another_format_is_one_sentence(models_dir):
    line = one_sentence(labkit("hls", "convert", "--student", models_dir / "adir", artifacts=models_dir / "art"))
    assert "adir" in line and "is a folder" in line


BOOM = ("import sys, types\n"
        "import labkit.course.cli as cli\n"
        "m = types.ModuleType('boom'); m.main = lambda argv: {}['no such key']\n"
        "sys.modules['boom'] = m; cli.COMMANDS['boom'] = ('boom', 'raises a bug')\n"
        "raise SystemExit(cli.main(sys.argv[1:]))\n")


def test_a_bug_is_one_line_pointing_at_debug(tmp_path):
    proc = subprocess.run([sys.executable, "-c", BOOM, "boom"], capture_output=True, text=True, env=env(tmp_path))
    line = one_sentence(proc, code=70)
    assert "bug in labkit" in line and "labkit --debug boom" in line
    proc = subprocess.run([sys.executable, "-c", BOOM, "--debug", "boom"], capture_output=True, text=True,
                          env=env(tmp_path))
    assert "Traceback" in proc.stderr and "KeyError" in proc.stderr


# ------------------------------------------------------------------------------------------
# labkit course: one run per artifacts folder; Ctrl-C
# ------------------------------------------------------------------------------------------

def test_second_course_run_on_the_same_artifacts_is_refused(tmp_path):
    from labkit import artifacts
    art = tmp_path / "art"
    art.mkdir()
    with artifacts.lock("labkit course", folder=art):
        proc = labkit("course", "--labs", ROOT / "labs" / "01_data.ipynb", artifacts=art, timeout=120)
    line = one_sentence(proc, code=1)
    assert str(art) in line and f"PID {os.getpid()}" in line and "LABKIT_ARTIFACTS" in line
    assert not (art / "executed" / "01_data.ipynb").exists()
    # released: the lock file stays, empty
    assert (art / artifacts.LOCK_NAME).read_text() == ""


def test_ctrl_c_during_course_is_one_line_and_writes_nothing(tmp_path):
    pytest.importorskip("nbclient")
    import nbformat
    art = tmp_path / "art"
    started = tmp_path / "started"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f"import os, time\nopen({str(started)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)")]
    lab = tmp_path / "99_sleep.ipynb"
    nbformat.write(nb, lab)
    previous = art / "executed" / lab.name
    previous.parent.mkdir(parents=True)
    previous.write_text("an executed copy of an earlier run\n")
    proc = subprocess.Popen([sys.executable, "-m", "labkit", "course", "--labs", str(lab)], env=env(art),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (started.exists() and started.read_text()) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert started.exists(), proc.communicate(timeout=5)
        kernel_pid = int(started.read_text())
        os.killpg(proc.pid, signal.SIGINT)          # what Ctrl-C in the terminal sends
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130 and len(lines) == 1 and "interrupted" in lines[0], err
    assert previous.read_text() == "an executed copy of an earlier run\n"     # not half-written
    assert not (art / "summary.json").exists() and not (art / "summary.md").exists()
    assert not [p.name for p in art.rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".kernel.log")]
    for _ in range(50):                             # the kernel is shut down too
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the kernel (PID {kernel_pid}) still runs after the interrupt")
