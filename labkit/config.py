"""One source of truth for the numbers that two stages share.

Everything numeric that crosses a stage boundary (window, ADC, classes, split, fixed-point
formats, stream packing, IP/DMA names, boards) is read from ``labkit/course.ini``; derived
numbers are computed here, once, and ``labkit.export`` hands them to Tcl, C++, Verilog and JSON.
Run-time settings (fast mode, artifact folder) come from environment variables.

This module imports nothing beyond the standard library and numpy, so it works on the board; the
fixed-point format class lives in :mod:`labkit.fixedpoint`.
"""
from __future__ import annotations

import configparser
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Tuple

from .fixedpoint import FixedFormat

INI_PATH = Path(__file__).with_name("course.ini")
PACKAGE_DIR = Path(__file__).resolve().parent


def _read_ini(path: Path = INI_PATH) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    if not parser.read(path):
        raise FileNotFoundError(f"{path} is missing: reinstall labkit (it ships with the package).")
    return parser


def _list(value: str) -> Tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@dataclass(frozen=True)
class Board:
    key: str
    title: str
    part: str
    board_part: str
    ps_ip: str
    ps_vlnv: str
    ps_master: str
    ps_master_clk: str
    hp_slave: str
    hp_slave_clk: str
    hp_enable: str
    master_enable: str
    pl_clk: str
    pl_clk_freq_property: str
    pl_resetn: str
    clk_source_property: str
    clk_source: str
    dma_addr_width: int
    dma_base: int = 0
    ip_base: int = 0
    yosys_family: str = "xc7"
    adder_delay_ns: float = 1.0
    device_luts: int = 0
    device_ffs: int = 0
    device_dsps: int = 0
    device_carry: int = 0

    def latency_cutoff(self, clock_mhz: float) -> int:
        """Adder levels per pipeline stage at ``clock_mhz`` (da4ml's ``latency_cutoff``)."""
        return max(1, int(1000.0 / clock_mhz / self.adder_delay_ns + 1e-9))

    def device_totals(self) -> Dict[str, int]:
        return {"lut": self.device_luts, "ff": self.device_ffs, "dsp": self.device_dsps, "carry": self.device_carry}


@dataclass(frozen=True)
class Rtl:
    clock_mhz: float
    top: str
    core: str


@dataclass(frozen=True)
class Training:
    batch_size: int
    teacher_trials: int
    teacher_epochs: int
    student_trials: int
    student_epochs: int
    early_stopping_patience: int
    kd_temperatures: Tuple[float, ...]
    kd_alphas: Tuple[float, ...]
    max_nonzero: int


@dataclass(frozen=True)
class Config:
    # data
    window_start: int
    window_stop: int
    raw_trace_samples: int
    sample_rate_hz: float
    adc_bits: int
    class_names: Tuple[str, ...]
    split: Tuple[float, float, float]
    seed: int
    # input stage
    baseline_log2: int
    input_frac_bits: int
    input_format: FixedFormat
    # stream
    word_bits: int
    samples_per_word: int
    lane_bits: int
    max_batch: int
    # quantisation defaults
    weight_bits: int
    weight_integer: int
    activation_bits: int
    activation_integer: int
    logit_format: FixedFormat
    target_sparsity: float
    # overlay
    ip_name: str
    dma_name: str
    vendor: str
    library: str
    ip_version: str
    overlay_name: str
    hls_top: str
    ip_in_stream: str
    ip_out_stream: str
    ip_ctrl: str
    ip_clk: str
    ip_resetn: str
    clock_mhz: float
    vivado_versions: Tuple[str, ...]
    default_board: str = ""
    boards: Dict[str, Board] = field(default_factory=dict)
    rtl: Rtl = None
    training_full: Training = None
    training_fast: Training = None

    @property
    def training(self) -> Training:
        """Training budgets for the current mode (``LABKIT_FAST``)."""
        return self.training_fast if fast_mode() else self.training_full

    # -- derived numbers (never stored twice) ------------------------------------------------
    @property
    def n_samples(self) -> int:
        return self.window_stop - self.window_start + 1

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def sample_period_us(self) -> float:
        return 1e6 / self.sample_rate_hz

    @property
    def adc_max(self) -> int:
        return (1 << self.adc_bits) - 1

    @property
    def baseline_samples(self) -> int:
        return 1 << self.baseline_log2

    @property
    def words_per_pulse(self) -> int:
        return math.ceil(self.n_samples / self.samples_per_word)

    @property
    def words_per_result(self) -> int:
        return self.n_classes

    @property
    def vlnv(self) -> str:
        return f"{self.vendor}:{self.library}:{self.hls_top}:{self.ip_version}"

    @property
    def rtl_vlnv(self) -> str:
        """How Vivado names a module-reference cell of the RTL twin's top in the .hwh."""
        return f"xilinx.com:module_ref:{self.rtl.top}:1.0"

    @property
    def dma_batch_bytes(self) -> int:
        """Bytes of the largest DMA transfer: ``max_batch`` pulses in (or their logits out)."""
        return self.max_batch * max(self.words_per_pulse, self.words_per_result) * self.word_bits // 8

    @property
    def dma_length_width(self) -> int:
        """Bits of the AXI DMA buffer-length register so one transfer holds ``max_batch`` pulses
        (the one place this formula is written; Tcl and the labs read the result)."""
        return max(14, math.ceil(math.log2(self.dma_batch_bytes + 1)))

    def class_index(self, name: str) -> int:
        return self.class_names.index(name)

    def board(self, key: str) -> Board:
        try:
            return self.boards[key]
        except KeyError:
            raise KeyError(f"unknown board {key!r}: choose one of {', '.join(self.boards)}") from None


def load(path: Path = INI_PATH) -> Config:
    ini = _read_ini(path)
    d, i, s, q, o = (ini[k] for k in ("data", "input_stage", "stream", "quant", "overlay"))
    boards = {}
    for section in ini.sections():
        if section.startswith("board:"):
            b = dict(ini[section])
            key = section.split(":", 1)[1]
            ints = {k: int(b.pop(k), 0) for k in ("dma_addr_width", "dma_base", "ip_base", "device_luts",
                                                   "device_ffs", "device_dsps", "device_carry") if k in b}
            if "adder_delay_ns" in b:
                b["adder_delay_ns"] = float(b["adder_delay_ns"])
            boards[key] = Board(key=key, **ints, **b)
    t = ini["training"]

    def training(prefix: str) -> Training:
        return Training(
            batch_size=t.getint("batch_size"),
            teacher_trials=t.getint(prefix + "teacher_trials"),
            teacher_epochs=t.getint(prefix + "teacher_epochs"),
            student_trials=t.getint(prefix + "student_trials"),
            student_epochs=t.getint(prefix + "student_epochs"),
            early_stopping_patience=t.getint("early_stopping_patience"),
            kd_temperatures=tuple(float(v) for v in _list(t["kd_temperatures"])),
            kd_alphas=tuple(float(v) for v in _list(t["kd_alphas"])),
            max_nonzero=t.getint("max_nonzero"),
        )

    cfg = Config(
        window_start=d.getint("window_start"),
        window_stop=d.getint("window_stop"),
        raw_trace_samples=d.getint("raw_trace_samples"),
        sample_rate_hz=d.getfloat("sample_rate_hz"),
        adc_bits=d.getint("adc_bits"),
        class_names=_list(d["class_names"]),
        split=(d.getfloat("split_train"), d.getfloat("split_val"), d.getfloat("split_test")),
        seed=d.getint("seed"),
        baseline_log2=i.getint("baseline_log2"),
        input_frac_bits=i.getint("input_frac_bits"),
        input_format=FixedFormat(i.getint("input_width"), i.getint("input_integer")),
        word_bits=s.getint("word_bits"),
        samples_per_word=s.getint("samples_per_word"),
        lane_bits=s.getint("lane_bits"),
        max_batch=s.getint("max_batch"),
        weight_bits=q.getint("weight_bits"),
        weight_integer=q.getint("weight_integer"),
        activation_bits=q.getint("activation_bits"),
        activation_integer=q.getint("activation_integer"),
        logit_format=FixedFormat(q.getint("logit_width"), q.getint("logit_integer")),
        target_sparsity=q.getfloat("target_sparsity"),
        ip_name=o["ip_name"],
        dma_name=o["dma_name"],
        vendor=o["vendor"],
        library=o["library"],
        ip_version=o["version"],
        overlay_name=o["overlay_name"],
        hls_top=o["hls_top"],
        ip_in_stream=o["ip_in_stream"],
        ip_out_stream=o["ip_out_stream"],
        ip_ctrl=o["ip_ctrl"],
        ip_clk=o["ip_clk"],
        ip_resetn=o["ip_resetn"],
        clock_mhz=o.getfloat("clock_mhz"),
        vivado_versions=_list(o["vivado_versions"]),
        default_board=o["default_board"],
        boards=boards,
        rtl=Rtl(clock_mhz=ini["rtl"].getfloat("clock_mhz"), top=ini["rtl"]["top"], core=ini["rtl"]["core"]),
        training_full=training(""),
        training_fast=training("fast_"),
    )
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    if cfg.dma_length_width > 26:
        raise ValueError(f"course.ini: a batch of {cfg.max_batch} pulses is {cfg.dma_batch_bytes} bytes, more than "
                         f"the AXI DMA's 26-bit length register holds: lower max_batch in [stream]")
    if cfg.default_board not in cfg.boards:
        raise ValueError(f"course.ini: [overlay] default_board = {cfg.default_board!r} has no [board:{cfg.default_board}] section")
    if abs(sum(cfg.split) - 1.0) > 1e-9:
        raise ValueError(f"course.ini: split fractions {cfg.split} must sum to 1")
    if cfg.samples_per_word * cfg.lane_bits != cfg.word_bits or cfg.lane_bits < cfg.adc_bits:
        raise ValueError("course.ini: samples_per_word * lane_bits must equal word_bits and hold an ADC code")
    need = cfg.adc_bits + 1  # signed difference baseline - sample spans +-adc_max
    if cfg.input_format.width - cfg.input_format.frac < need - cfg.input_frac_bits or \
            cfg.input_format.frac != cfg.input_frac_bits:
        raise ValueError("course.ini: input_width/input_integer cannot hold (baseline - sample) exactly")


# ------------------------------------------------------------------------------------------
# run-time settings
# ------------------------------------------------------------------------------------------

def fast_mode() -> bool:
    """``LABKIT_FAST=1`` (set by ``make test``): small data, few trials, few epochs."""
    return os.environ.get("LABKIT_FAST", "0").strip().lower() not in ("", "0", "false", "no")


def project_root() -> Path:
    """The checkout when labkit runs from one (editable install), else the working directory."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").exists() and (root / "labs").is_dir() else Path.cwd()


def artifacts_dir(*parts: str, create: bool = True) -> Path:
    """Where every stage writes its outputs.

    ``$LABKIT_ARTIFACTS`` if set, else ``<project>/artifacts`` (full settings) or
    ``<project>/artifacts/fast`` (fast mode), so a test run never overwrites a course run.
    """
    default = project_root() / "artifacts"
    if fast_mode():
        default = default / "fast"
    base = Path(os.environ.get("LABKIT_ARTIFACTS") or default)
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def datasets_dir() -> Path:
    """``$LABKIT_DATASETS`` or ``<project>/datasets``: downloaded real data lives here."""
    return Path(os.environ.get("LABKIT_DATASETS") or project_root() / "datasets")


CFG = load()
