"""One source of truth for the numbers that two stages share.

Everything numeric that crosses a stage boundary (window, ADC, classes, split, fixed-point
formats, stream packing, IP/DMA names, boards) is read from ``labkit/course.ini``; derived
numbers are computed here, once, and ``labkit.emit`` hands them to Tcl, C++, Verilog and JSON.
Run-time settings (fast mode, artifact folder) come from environment variables.

This module imports nothing beyond the standard library and numpy, so it works on the board; the
fixed-point format class lives in :mod:`labkit.fixedpoint`.
"""
from __future__ import annotations

import configparser
import math
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Dict, Tuple

from .fixedpoint import FixedFormat

INI_PATH = Path(__file__).with_name("course.ini")
#: the AXI DMA's buffer-length register (c_sg_length_width, PG021): Vivado's default width, which
#: is also what PYNQ assumes when a .hwh does not say, and the widest the IP allows
DMA_LENGTH_WIDTH_DEFAULT = 14
DMA_LENGTH_WIDTH_MAX = 26
PACKAGE_DIR = Path(__file__).resolve().parent


def _read_ini(path: Path = INI_PATH) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    if not parser.read(path):
        raise FileNotFoundError(f"{path} is missing: reinstall labkit (it ships with the package).")
    return parser


def _list(value: str) -> Tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


# ------------------------------------------------------------------------------------------
# one dataclass per section of course.ini, filled from the field types (see _section)
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    window_start: int            #: first raw sample of the window (of a 3001-sample Zenodo trace)
    window_stop: int             #: last raw sample of the window (inclusive)
    raw_trace_samples: int       #: samples of a full Zenodo trace
    sample_rate_hz: float        #: ADC sampling rate
    adc_bits: int                #: ADC resolution
    class_names: Tuple[str, ...] #: class index = position in this list
    split_train: float           #: fraction of the pulses for training ...
    split_val: float             #: ... for validation ...
    split_test: float            #: ... and for the test
    seed: int                    #: the course's seed (split, training, searches)


@dataclass(frozen=True)
class InputStage:
    baseline_log2: int           #: baseline = mean of the first 2**baseline_log2 window samples
    input_frac_bits: int         #: x = (baseline - sample) * 2**-input_frac_bits
    input_width: int             #: ap_fixed<input_width, input_integer> of x
    input_integer: int           #: (integer bits incl. sign)


@dataclass(frozen=True)
class Stream:
    word_bits: int               #: AXI-Stream word width (both directions)
    samples_per_word: int        #: input lanes per word
    lane_bits: int               #: bits per input lane (zero-extended ADC code)
    max_batch: int               #: largest batch (pulses per DMA transfer) the overlay is built for


@dataclass(frozen=True)
class Quant:
    weight_bits: int             #: QKeras quantized_bits width of weights and biases
    weight_integer: int          #: integer bits (excluding the sign) of the weights
    activation_bits: int         #: quantized_relu width
    activation_integer: int      #: quantized_relu integer bits
    logit_width: int             #: logits leave the IP as ap_fixed<logit_width, logit_integer>
    logit_integer: int           #: (integer bits incl. sign)
    float_bits: int              #: your own model's float weights / activations become this many bits ...
    float_integer: int           #: ... with this many integer bits for a float ReLU (labkit hls convert --student)
    target_sparsity: float       #: the student's kernel sparsity floor


@dataclass(frozen=True)
class Training:
    batch_size: int              #: largest batch (small data sets train with smaller ones)
    teacher_trials: int          #: Bayesian-optimisation trials of the teacher
    teacher_epochs: int          #: epochs per teacher trial and of its final training
    student_trials: int          #: Bayesian-optimisation trials of the student
    student_epochs: int          #: epochs per student trial and of its final training
    early_stopping_patience: int #: epochs without a better validation loss before stopping
    bo_initial_points: int       #: random trials before the Gaussian process proposes the next ones
    kd_temperatures: Tuple[float, ...]  #: distillation temperatures the student search tries
    kd_alphas: Tuple[float, ...]        #: weights of the hard-label loss the student search tries
    max_nonzero: int             #: nonzero-parameter budget of the student
    balance_cap: float           #: energy balance of the student's loss: most a rare pulse counts against one of an even bin (0: off)
    first_layer_l1: float        #: L1 penalty on the kernel of the student's layer that reads the pulse (0: none)


@dataclass(frozen=True)
class Design:
    ip_name: str                 #: the classifier's cell name (ip_dict key on the board)
    dma_name: str                #: the AXI DMA's cell name
    vendor: str                  #: VLNV vendor of the HLS IP
    library: str                 #: VLNV library
    version: str                 #: VLNV version
    overlay_name: str            #: basename of the .bit/.hwh
    hls_top: str                 #: HLS top function = IP name
    ip_in_stream: str            #: the IP's input AXI-Stream interface
    ip_out_stream: str           #: the IP's output AXI-Stream interface
    ip_ctrl: str                 #: the IP's AXI-Lite interface
    ip_clk: str                  #: the IP's clock pin
    ip_resetn: str               #: the IP's active-low reset pin
    clock_mhz: float             #: the PL clock of the overlay
    vivado_versions: Tuple[str, ...]  #: Vivado / Vitis releases the build supports
    default_board: str           #: the board used unless told otherwise (a [board:*] section)


#: the RTL cores labkit.rtl builds: "none" (fully parallel) and "stream" (the first layer folded to the stream)
RTL_FOLDS = ("none", "stream")

#: what the network sees of a pulse's raw ADC codes (``--input`` of ``labkit hls convert``, ``bench
#: agreement|rtl|board``): ``course`` = course.ini [input_stage] (baseline minus sample, scaled), ``raw`` =
#: the codes unchanged (a model trained on the CSV columns as they are)
INPUTS = ("course", "raw")
INPUT_HELP = ("what the model was trained on: course = baseline minus sample as course.ini [input_stage] says "
              "(the course's student), raw = the ADC codes unchanged (the CSV columns as they are); QKeras, the C "
              "simulation, the RTL twin and the IP apply the same transform")


@dataclass(frozen=True)
class InputTransform:
    """One input transform, applied identically by numpy (QKeras), the C++ wrapper, the RTL twin and the IP:
    ``x = (baseline - s) * 2**-frac_bits`` when ``baseline``, else ``x = s * 2**-frac_bits``; ``format``
    holds every x exactly."""

    name: str
    baseline: bool
    frac_bits: int
    format: FixedFormat


@dataclass(frozen=True)
class Rtl:
    clock_mhz: float             #: target clock of the RTL twin's pipeline
    top: str                     #: Verilog module of the AXI top
    core: str                    #: Verilog module of the da4ml core
    fold: str = "stream"         #: the core the course builds: none (fully parallel) | stream (first layer folded)

    def __post_init__(self):
        if self.fold not in RTL_FOLDS:
            raise ValueError(f"course.ini [rtl] fold = {self.fold!r}: use none (the fully parallel core) or "
                             "stream (the first layer folded to the input stream)")


@dataclass(frozen=True)
class Search:
    selection: str               #: which trial of the student search is deployed: accuracy | budget | pareto
    lut_budget: int              #: budget mode: most LUTs (estimate; Yosys where a bench synthesises)
    latency_budget: int          #: budget mode: most cycles at [rtl] clock_mhz
    weight_bits: Tuple[int, ...]        #: lowest, highest weight bits the search tries
    activation_bits: Tuple[int, ...]    #: lowest, highest activation bits the search tries
    sparsities: Tuple[float, ...]       #: first-layer kernel sparsities the search tries
    lut_penalty: float           #: search objective: added validation loss per doubling of LUTs over lut_budget


@dataclass(frozen=True)
class Hgq:
    """[hgq]: the HGQ2 (Keras 3) route's student and its resource sweep (labkit.hgq)."""
    betas: Tuple[float, ...]     #: EBOPs regulariser strengths, one front point each
    hidden_layers: Tuple[int, ...]  #: the students' shapes: 0 = linear, N = one hidden ReLU layer of N units
    steps: int                   #: optimiser steps per beta (epochs follow from the training pulses)
    batch_size: int              #: pulses per step
    learning_rate: float         #: Adam's, cosine-decayed to 1 %
    weight_bits0: int            #: starting bits of every weight and bias
    act_frac0: int               #: starting fraction bits of every hidden activation
    kd_temperature: float        #: distillation temperature
    kd_alpha: float              #: weight of the hard-label loss (1 = no distillation)


#: the selection modes of [search] (labkit.rtl.search.select)
SELECTION_MODES = ("accuracy", "budget", "pareto")


@dataclass(frozen=True)
class Board:
    key: str                     #: the section name after "board:"
    title: str                   #: human name
    part: str                    #: FPGA part
    board_part: str              #: Vivado board part (preset)
    ps_ip: str                   #: processing-system IP name
    ps_vlnv: str                 #: its VLNV (version-less)
    ps_master: str               #: general-purpose master port (PS -> PL registers)
    ps_master_clk: str           #: its clock pin
    hp_slave: str                #: high-performance slave port (PL -> DDR)
    hp_slave_clk: str            #: its clock pin
    hp_enable: str               #: PS property that enables the HP slave
    master_enable: str           #: PS property that enables the master
    pl_clk: str                  #: PL clock pin
    pl_clk_freq_property: str    #: PS property of its frequency
    pl_resetn: str               #: PL reset pin
    clk_source_property: str     #: PS property of the PL clock source ('' = Vivado default)
    clk_source: str              #: its value (IOPLL on Zynq UltraScale+ for PYNQ)
    dma_addr_width: int          #: DMA address width (32 / 40)
    dma_base: int = 0            #: DMA register window in the PS address map
    ip_base: int = 0             #: classifier register window in the PS address map
    yosys_family: str = "xc7"    #: Yosys synth_xilinx family of the part
    adder_delay_ns: float = 1.0  #: one adder level incl. routing (an estimate; sets the RTL pipeline)
    device_luts: int = 0         #: the device's LUTs (for resource shares)
    device_ffs: int = 0          #: ... flip-flops
    device_dsps: int = 0         #: ... DSP slices
    device_carry: int = 0        #: ... CARRY4/CARRY8 cells
    device_brams: int = 0        #: ... 36 Kb block RAMs
    ps_unused: Tuple[str, ...] = ()  #: PS properties of masters the preset enables and the design does not use (set to 0)
    pynq_image: str = ""         #: the PYNQ image the board runs (labkit package writes steps for it)
    image_vivado: str = ""       #: the Vivado release that image was built with
    image_user: str = "xilinx"   #: the image's login user
    image_notebooks: str = "/home/xilinx/jupyter_notebooks"  #: the image's Jupyter folder ($PYNQ_JUPYTER_NOTEBOOKS)
    pip_constraints: Tuple[str, ...] = ()  #: pins installed beside the --no-deps wheel (numpy<2 on Kria-PYNQ)

    def latency_cutoff(self, clock_mhz: float) -> int:
        """Adder levels per pipeline stage at ``clock_mhz`` (da4ml's ``latency_cutoff``)."""
        return max(1, int(1000.0 / clock_mhz / self.adder_delay_ns + 1e-9))

    def device_totals(self) -> Dict[str, int]:
        return {"lut": self.device_luts, "ff": self.device_ffs, "dsp": self.device_dsps, "carry": self.device_carry,
                "bram": self.device_brams}


@dataclass(frozen=True)
class VivadoRelease:
    """A ``[vivado:<release>]`` section: what differs between the supported Vivado releases."""
    release: str                 #: e.g. 2024.1
    ip_versions: Tuple[str, ...] #: "name:version" of each Xilinx IP the design uses, as that release's catalogue has it
    hls_tool: str                #: how that release runs HLS (vitis_hls, or vitis-run from 2024.2)
    pynq_image: str = ""         #: the PYNQ image built with that release ('' = none)

    def ip_version(self, name: str) -> str:
        return dict(v.split(":", 1) for v in self.ip_versions).get(name, "")


def _value(text: str, kind):
    """One INI value converted by its dataclass field type."""
    if kind in (int, "int"):
        return int(text, 0)
    if kind in (float, "float"):
        return float(text)
    if kind in (str, "str"):
        return text
    if "Tuple[int" in str(kind):
        return tuple(int(v, 0) for v in _list(text))
    if "Tuple[float" in str(kind):
        return tuple(float(v) for v in _list(text))
    if "Tuple[str" in str(kind):
        return _list(text)
    raise TypeError(f"no converter for {kind}")


def _section(cls, section, prefix: str = "", **given):
    """Fill dataclass ``cls`` from an INI section by its field types; a missing key without a
    default names the section and the key.  ``prefix``: try ``<prefix><key>`` first (fast mode)."""
    values = dict(given)
    for f in fields(cls):
        if f.name in values:
            continue
        key = prefix + f.name if prefix and (prefix + f.name) in section else f.name
        if key in section:
            try:
                values[f.name] = _value(section[key], f.type)
            except ValueError as e:
                raise ValueError(f"course.ini [{section.name}] {key}: {e}") from None
        elif f.default is MISSING:
            raise ValueError(f"course.ini [{section.name}] lacks '{f.name}'")
    return cls(**values)


@dataclass(frozen=True)
class Config:
    """course.ini, one typed section each; the sections' fields also read as ``CFG.<field>``."""

    data: Data
    input_stage: InputStage
    stream: Stream
    quant: Quant
    design: Design
    rtl: Rtl
    training_full: Training
    training_fast: Training
    search_full: Search
    search_fast: Search
    hgq_full: Hgq
    hgq_fast: Hgq
    boards: Dict[str, Board] = field(default_factory=dict)
    vivado: Dict[str, VivadoRelease] = field(default_factory=dict)

    def __getattr__(self, name):
        # flat access (CFG.window_start, CFG.weight_bits, ...): each name lives in one section
        for section in ("data", "input_stage", "stream", "quant", "design"):
            sec = object.__getattribute__(self, section)
            if name in sec.__dataclass_fields__:
                return getattr(sec, name)
        raise AttributeError(f"course.ini has no setting {name!r}")

    @property
    def training(self) -> Training:
        """Training budgets for the current mode (``LABKIT_FAST``)."""
        return self.training_fast if fast_mode() else self.training_full

    @property
    def hgq(self) -> Hgq:
        """The HGQ2 route's settings for the current mode (``LABKIT_FAST``)."""
        return self.hgq_fast if fast_mode() else self.hgq_full

    @property
    def search(self) -> Search:
        """Hardware-aware search settings for the current mode (``LABKIT_FAST``)."""
        return self.search_fast if fast_mode() else self.search_full

    # -- derived numbers (never stored twice) ------------------------------------------------
    @property
    def split(self) -> Tuple[float, float, float]:
        return (self.data.split_train, self.data.split_val, self.data.split_test)

    @property
    def input_format(self) -> FixedFormat:
        return FixedFormat(self.input_stage.input_width, self.input_stage.input_integer)

    def input_transform(self, name: str = "course") -> InputTransform:
        """The input transform ``name`` (one of :data:`INPUTS`); one sentence for any other name."""
        if name == "course":
            return InputTransform("course", True, self.input_frac_bits, self.input_format)
        if name == "raw":
            return InputTransform("raw", False, 0, FixedFormat(self.adc_bits, self.adc_bits, signed=False))
        raise ValueError(f"unknown input transform {name!r}: use one of {', '.join(INPUTS)} (course: baseline "
                         "minus sample as course.ini [input_stage] says; raw: the ADC codes unchanged)")

    @property
    def logit_format(self) -> FixedFormat:
        return FixedFormat(self.quant.logit_width, self.quant.logit_integer)

    @property
    def ip_version(self) -> str:
        return self.design.version

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
    def pulse_bytes(self) -> int:
        """DMA bytes of one pulse in the larger direction (its input words, or its logit words)."""
        return max(self.words_per_pulse, self.words_per_result) * self.word_bits // 8

    @property
    def dma_batch_bytes(self) -> int:
        """Bytes of the largest DMA transfer: ``max_batch`` pulses in (or their logits out)."""
        return self.max_batch * self.pulse_bytes

    @property
    def dma_length_width(self) -> int:
        """Bits of the AXI DMA buffer-length register so one transfer holds ``max_batch`` pulses
        (the one place this formula is written; Tcl and the labs read the result)."""
        return max(DMA_LENGTH_WIDTH_DEFAULT, math.ceil(math.log2(self.dma_batch_bytes + 1)))

    def class_index(self, name: str) -> int:
        return self.class_names.index(name)

    def board(self, key: str) -> Board:
        try:
            return self.boards[key]
        except KeyError:
            raise KeyError(f"unknown board {key!r}: choose one of {', '.join(self.boards)}") from None


def load(path: Path = INI_PATH) -> Config:
    ini = _read_ini(path)
    boards = {s.split(":", 1)[1]: _section(Board, ini[s], key=s.split(":", 1)[1])
              for s in ini.sections() if s.startswith("board:")}
    vivado = {s.split(":", 1)[1]: _section(VivadoRelease, ini[s], release=s.split(":", 1)[1])
              for s in ini.sections() if s.startswith("vivado:")}
    cfg = Config(
        data=_section(Data, ini["data"]), input_stage=_section(InputStage, ini["input_stage"]),
        stream=_section(Stream, ini["stream"]), quant=_section(Quant, ini["quant"]),
        design=_section(Design, ini["design"]), rtl=_section(Rtl, ini["rtl"]),
        training_full=_section(Training, ini["training"]),
        training_fast=_section(Training, ini["training"], prefix="fast_"),
        search_full=_section(Search, ini["search"]),
        search_fast=_section(Search, ini["search"], prefix="fast_"),
        hgq_full=_section(Hgq, ini["hgq"]), hgq_fast=_section(Hgq, ini["hgq"], prefix="fast_"),
        boards=boards, vivado=vivado)
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    if cfg.dma_length_width > DMA_LENGTH_WIDTH_MAX:
        raise ValueError(f"course.ini: a batch of {cfg.max_batch} pulses is {cfg.dma_batch_bytes} bytes, more than "
                         f"the AXI DMA's {DMA_LENGTH_WIDTH_MAX}-bit length register holds: lower max_batch in [stream]")
    if cfg.default_board not in cfg.boards:
        raise ValueError(f"course.ini: [design] default_board = {cfg.default_board!r} has no [board:{cfg.default_board}] section")
    missing = [v for v in cfg.vivado_versions if v not in cfg.vivado]
    if missing:
        raise ValueError(f"course.ini: [design] vivado_versions names {', '.join(missing)} without a "
                         f"[vivado:<release>] section: add one per release")
    srch = cfg.search_full
    if srch.selection not in SELECTION_MODES:
        raise ValueError(f"course.ini: [search] selection = {srch.selection!r}: choose one of {', '.join(SELECTION_MODES)}")
    for key in ("weight_bits", "activation_bits"):
        lo_hi = getattr(srch, key)
        if len(lo_hi) != 2 or not 2 <= lo_hi[0] <= lo_hi[1] <= 16:
            raise ValueError(f"course.ini: [search] {key} = {lo_hi}: give 'lowest, highest' between 2 and 16")
    if not srch.sparsities or not all(0 <= v < 1 for v in srch.sparsities):
        raise ValueError(f"course.ini: [search] sparsities = {srch.sparsities}: give fractions in [0, 1)")
    if min(srch.lut_budget, srch.latency_budget) < 1:
        raise ValueError("course.ini: [search] lut_budget and latency_budget must be at least 1")
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

TRUE_WORDS = ("1", "true", "yes", "on", "y", "enabled", "enable")
FALSE_WORDS = ("", "0", "false", "no", "off", "n", "disabled", "disable")


def env_flag(name: str) -> bool:
    """An on/off environment variable: the usual spellings of true and false (any case), unset = off;
    anything else is refused in one sentence naming the variable (never guessed)."""
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is neither on nor off: set it to 1 (or true, yes, on) or "
                     "0 (or false, no, off), or unset it")


def fast_mode() -> bool:
    """``LABKIT_FAST=1`` (set by ``make test``): small data, few trials, few epochs."""
    return env_flag("LABKIT_FAST")


def headless() -> bool:
    """``LABKIT_HEADLESS=1`` (set by ``labkit course`` for the kernels it starts): nobody watches the
    notebook while it runs, so no progress bars (a saved widget bar reads "0 %" forever)."""
    return env_flag("LABKIT_HEADLESS")


#: folders named by the environment; a relative one is made absolute once, when labkit is imported, so
#: that every process started from here (notebook kernels run in labs/) reads the same folder
PATH_VARIABLES = ("LABKIT_ARTIFACTS", "LABKIT_DATASETS", "LABKIT_SHARED_DATA")


def absolute_env_paths() -> None:
    for name in PATH_VARIABLES:
        value = os.environ.get(name)
        if value:
            os.environ[name] = str(Path(value).expanduser().absolute())


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


absolute_env_paths()
CFG = load()
