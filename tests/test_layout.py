"""The layout shows the course: a package per stage, few shared modules, each fact in one place."""
import json
import re
from pathlib import Path

import pytest

import labkit

PKG = Path(labkit.__file__).parent
ROOT = PKG.parent
STAGES = {"data": "01", "training": "02-03", "hls": "04", "rtl": "04b", "blockdesign": "05", "board": "06"}


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
               "quant": config.Quant, "training": config.Training, "overlay": config.Overlay, "rtl": config.Rtl, "search": config.Search}
    for section in ini.sections():
        cls = (config.Board if section.startswith("board:") else
               config.VivadoRelease if section.startswith("vivado:") else classes[section])
        names = {f.name for f in dataclasses.fields(cls)}
        for key in ini[section]:
            assert key in names or (section in ("training", "search") and key.removeprefix("fast_") in names), \
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
