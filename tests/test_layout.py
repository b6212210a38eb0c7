"""The layout shows the course: a package per stage, few shared modules, each fact in one place."""
import json
import re
from pathlib import Path

import pytest

import labkit

PKG = Path(labkit.__file__).parent
ROOT = PKG.parent
STAGES = {"data": "01", "training": "02-03", "hls": "04", "rtl": "04b", "hgq": "04c", "blockdesign": "05", "board": "06"}


def _py(folder=PKG):
    return [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]


def test_one_package_per_stage_and_at_most_six_shared_modules():
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(STAGES) | {"course"} == packages
    shared = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"}
    assert len(shared) <= 6, shared
    doc = labkit.__doc__
    for package, lab in STAGES.items():
        assert f"labkit.{package}" in doc and lab.split("-")[0] in doc


def test_rtl_does_not_import_hls_and_nothing_test_only_ships():
    for path in _py(PKG / "rtl"):
        text = path.read_text()
        assert not re.search(r"from \.\.hls|import labkit\.hls|from labkit\.hls", text), path
    assert not [p for p in _py() if p.name == "testing.py"]


def test_the_default_board_lives_in_course_ini():
    for path in _py():
        if path.name != "config.py":
            assert '"pynq-z1"' not in path.read_text() and "'pynq-z1'" not in path.read_text(), path


def test_register_map_vlnv_and_length_formula_are_written_once():
    texts = {p: p.read_text() for p in _py()}
    assert [p.name for p, t in texts.items() if re.search(r'"xilinx\.com:ip:axi_dma[:"]', t)] == ["stream.py"]
    assert [p.name for p, t in texts.items() if re.search(r'"GIER"\s*:\s*0x04', t)] == ["stream.py"]
    assert [p.name for p, t in texts.items() if "log2(self.dma_batch_bytes" in t or "log2(nbytes" in t] == ["config.py"]
    tcl = (PKG.parent / "hw" / "build_overlay.tcl").read_text()
    assert "log2" not in tcl and "1 << $length_width" not in tcl and "ini::" not in tcl
    verilog = (PKG / "rtl" / "verilog" / "axis_top.v.in").read_text()
    assert "5'h10" not in verilog and "@A_BATCH@" in verilog


def test_typed_config_one_dataclass_per_section():
    import dataclasses
    import inspect

    from labkit import config
    ini = config._read_ini()
    classes = {"data": config.Data, "input_stage": config.InputStage, "stream": config.Stream,
               "quant": config.Quant, "training": config.Training, "design": config.Design, "rtl": config.Rtl, "search": config.Search,
               "hgq": config.Hgq}
    for section in ini.sections():
        cls = (config.Board if section.startswith("board:") else
               config.VivadoRelease if section.startswith("vivado:") else classes[section])
        names = {f.name for f in dataclasses.fields(cls)}
        for key in ini[section]:
            assert key in names or (section in ("training", "search", "hgq") and key.removeprefix("fast_") in names), \
                (section, key)
        source = inspect.getsource(cls)
        for f in dataclasses.fields(cls):
            line = next(l for l in source.splitlines() if l.strip().startswith(f"{f.name}:"))
            assert "#:" in line, f"{cls.__name__}.{f.name} has no comment"
    assert config.CFG.quant.weight_bits == config.CFG.weight_bits and config.CFG.board("kv260").dma_base > 0


def test_a_bad_course_ini_value_names_its_section_and_key():
    from labkit import config
    ini = config._read_ini()
    assert config._section(config.Training, ini["training"]).student_trials == config.CFG.training_full.student_trials
    for key, text, bad in (("student_trials", "twelve", "twelve"), ("kd_alphas", "0.1, 0.3, half", "half")):
        ini = config._read_ini()
        ini["training"][key] = text
        with pytest.raises(ValueError, match=rf"course.ini \[training\] {key}: .*{bad}"):
            config._section(config.Training, ini["training"])


@pytest.mark.parametrize("lab", sorted((ROOT / "labs").glob("[0-9][0-9]*_*.ipynb")), ids=lambda p: p.stem)
def test_every_lab_starts_with_its_pipeline_map(lab):
    """Where the lab sits, what it reads and writes, and how long it takes: in its first cell."""
    first = "".join(json.loads(lab.read_text())["cells"][0]["source"])
    for row in ("**where**", "**reads**", "**writes**", "**time**"):
        assert f"| {row} |" in first, f"{lab.name}: the first cell's pipeline map has no {row} row"
    assert "@TIME@" not in first, f"{lab.name}: fill in the measured time"
    number = lab.stem.split("_")[0]
    assert f"({number})**" in first, f"{lab.name}: the map must highlight lab {number}"


# ------------------------------------------------------------------------------------------
# imports follow the course (issue 27): checked on the source, every import statement counts,
# also one inside a function
# ------------------------------------------------------------------------------------------

#: the stage packages in course order; the shared modules import none of them
STAGE_ORDER = {"data": 1, "training": 3, "hls": 4, "rtl": 5, "blockdesign": 6, "board": 7}
SHARED = {"config", "artifacts", "fixedpoint", "emit", "metrics", "stream"}


def _labkit_modules():
    import labkit
    root = Path(labkit.__file__).parent
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(mod: str, path: Path) -> list:
    """[(line, imported module)] of every import statement in the file, at any depth."""
    import ast
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                if node.module:
                    out.append((node.lineno, ".".join(base + [node.module])))
                else:
                    out += [(node.lineno, ".".join(base + [a.name])) for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


def _unit(mod: str):
    """The stage package, shared module or 'course' a labkit module belongs to (None: the package root)."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else None


def test_stages_import_only_earlier_stages_and_nothing_imports_course():
    upward = []
    for mod, path in _labkit_modules().items():
        me = _unit(mod)
        if mod == "labkit.__main__" or me == "course":
            continue                      # the entry point and the tools may import everything
        for line, imported in _imports(mod, path):
            if not imported.startswith("labkit.") or imported.split(".")[1] == me:
                continue
            other = imported.split(".")[1]
            if other == "course":
                upward.append(f"{path.name}:{line} imports {imported} (nothing imports labkit.course)")
            elif other in STAGE_ORDER and (me in SHARED or me is None):
                upward.append(f"{mod}:{line}: the shared module imports the stage {imported}")
            elif other in STAGE_ORDER and me in STAGE_ORDER and STAGE_ORDER[other] > STAGE_ORDER[me]:
                upward.append(f"{mod}:{line}: stage {me} imports the later stage {imported}")
    assert not upward, "\n".join(upward)


def test_fixedpoint_is_a_leaf():
    """The format module every stage shares imports no labkit module, not even inside a function."""
    mods = _labkit_modules()
    assert not [m for _, m in _imports("labkit.fixedpoint", mods["labkit.fixedpoint"]) if m.startswith("labkit")]


def test_the_import_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The check above is not vacuous: a function-level import of a later stage is an upward import."""
    f = tmp_path / "labkit" / "training" / "probe.py"
    f.parent.mkdir(parents=True)
    f.write_text("def cost(m):\n    from ..rtl.cost import estimate\n    return estimate(m)\n")
    (line, imported), = _imports("labkit.training.probe", f)
    assert imported == "labkit.rtl.cost" and STAGE_ORDER["rtl"] > STAGE_ORDER[_unit("labkit.training.probe")]


def test_docstrings_that_name_a_module_s_imports_are_true():
    """'standard library only', 'numpy only' and 'TensorFlow-free' in a module docstring hold for every
    import the module makes, at any depth, and for the labkit modules it imports (transitively)."""
    import ast
    import re
    import sys
    mods = _labkit_modules()
    std = set(sys.stdlib_module_names) | {"__future__"}

    def third_party(mod, seen):
        if mod in seen:
            return set()
        seen.add(mod)
        out = set()
        for _, imported in _imports(mod, mods[mod]):
            top = imported.split(".")[0]
            if top == "labkit":
                while imported not in mods and "." in imported:
                    imported = imported.rsplit(".", 1)[0]
                out |= third_party(imported, seen) if imported in mods else set()
            elif top not in std:
                out.add(top)
        return out

    claims = {r"standard library only": set(), r"numpy only|numpy and the standard library only": {"numpy"}}
    checked, wrong = 0, []
    for mod, path in mods.items():
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        got = None
        for pattern, allowed in claims.items():
            if re.search(pattern, doc, re.I):
                got = third_party(mod, set()) if got is None else got
                checked += 1
                if not got <= allowed:
                    wrong.append(f"{mod} says '{pattern}' but imports {sorted(got - allowed)}")
        if re.search(r"tensorflow-free", doc, re.I):
            got = third_party(mod, set()) if got is None else got
            checked += 1
            heavy = got & {"tensorflow", "keras", "qkeras", "tensorflow_model_optimization", "hls4ml", "keras_tuner"}
            if heavy:
                wrong.append(f"{mod} says 'TensorFlow-free' but imports {sorted(heavy)}")
    assert checked >= 8 and not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lab", sorted((ROOT / "labs").glob("[0-9][0-9]*_*.ipynb")), ids=lambda p: p.stem)
def test_stated_lab_time_matches_the_measured_one(lab):
    """Each lab states its time ("about N s|min" in its first cell), within 1.5x of the full run
    recorded in benchmarks/lab_times.json (idle 2-core machine); `make course` says when a run disagrees."""
    import json
    from labkit.course.runner import TIME_TOLERANCE, stated_seconds, time_mismatch
    stated = stated_seconds(lab)
    assert stated is not None, f"{lab.name}: its first cell has no '| **time** | about N s|min' row"
    measured = json.loads((ROOT / "benchmarks" / "lab_times.json").read_text())["wall_s"][lab.stem]
    assert max(stated / measured, measured / stated) <= TIME_TOLERANCE, time_mismatch(lab, measured)
