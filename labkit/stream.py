"""The classifier IP's interface, in one place: its AXI-Stream word packing and its AXI-Lite
register map, shared by the HLS wrapper, the IP's C simulation, the RTL twin, the emulated overlay
and the board driver.

numpy only (imports on the board).  The stream layout is fixed by ``[stream]`` in ``course.ini``:

* input: ``samples_per_word`` lanes of ``lane_bits`` per 32-bit word, sample 2k in the low
  lane, zero-extended raw ADC codes; ``words_per_pulse`` words per pulse, pulses back to back.
* output: ``n_classes`` words per pulse (``n_out`` of your own model), each the logit's ``ap_fixed`` bit pattern sign-extended
  to 32 bits (two's complement: bits are reinterpreted, never value-converted).
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np

from . import artifacts
from .config import CFG
from .fixedpoint import FixedFormat

# ---- AXI-Lite register map of the classifier (Vitis HLS ap_ctrl_hs + the `batch` argument) ----
#: register name (as PYNQ's .hwh parser names it) -> byte offset on ``s_axi_control``; the driver,
#: the emulated overlay, the C simulation's vectors and the Verilog twin all take it from here
REGISTERS = {"CTRL": 0x00, "GIER": 0x04, "IP_IER": 0x08, "IP_ISR": 0x0C, "batch": 0x10}
#: bit positions in CTRL
CTRL_BITS = {"ap_start": 0, "ap_done": 1, "ap_idle": 2, "ap_ready": 3, "auto_restart": 7}
#: size of the classifier's and of the DMA's register windows in the PS address map
IP_ADDR_RANGE = 0x10000
DMA_ADDR_RANGE = 0x10000
#: the AXI DMA, without a version: Vivado takes its catalogue's version, and a .hwh names it
#: ``xilinx.com:ip:axi_dma:<version>``
DMA_VLNV = "xilinx.com:ip:axi_dma"


# ---- where the PS sees those register windows: course.ini [board:*] dma_base / ip_base ----------
def address_map(board: str | None = None) -> dict:
    """The register windows of ``board`` (default: course.ini's default_board) as course.ini places
    them: ``{dma_name: (base, range), ip_name: (base, range)}``.

    The one source of the address map: ``hw/build_overlay.tcl`` assigns these bases (params.tcl),
    ``labkit.blockdesign`` checks the recorded design against them, the emulated overlay puts its
    registers there, and labs 05 and 06 print them with :func:`format_address_map`.
    """
    b = CFG.board(board or CFG.default_board)
    return {CFG.dma_name: (b.dma_base, DMA_ADDR_RANGE), CFG.ip_name: (b.ip_base, IP_ADDR_RANGE)}


def overlay_addresses(ip_dict: dict) -> dict:
    """``{name: (base, range)}`` of every entry of an overlay's ``ip_dict`` that has a register
    window; pynq also lists the processing system, which has none (no ``phys_addr``)."""
    return {name: (int(d["phys_addr"]), int(d["addr_range"])) for name, d in ip_dict.items()
            if d.get("phys_addr") is not None and d.get("addr_range") is not None}


def format_address_map(found: dict, board: str | None = None) -> str:
    """``found`` (``{name: (base, range)}``: a recorded block design's or an overlay's ``ip_dict``)
    beside course.ini's :func:`address_map`, one line per register window, ✓ where they agree."""
    board = board or CFG.default_board
    key = {CFG.dma_name: "dma_base", CFG.ip_name: "ip_base"}
    lines = []
    for name, (base, size) in address_map(board).items():
        got = found.get(name)
        if got is None:
            where, ok = "(not in this design)", False
        else:
            lo, n = int(got[0]), int(got[1])
            where, ok = f"0x{lo:08X}-0x{lo + n - 1:08X} ({n // 1024} KiB)", (lo, n) == (base, size)
        lines.append(f"{name:<16} {where:<34} course.ini [board:{board}] {key[name]:<8} = 0x{base:08X} "
                     + ("✓" if ok else "✗"))
    return "\n".join(lines)


def check_pulses(X) -> np.ndarray:
    """Validate raw ADC windows for the hardware: shape (n, n_samples), integer codes in range."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != CFG.n_samples:
        raise ValueError(f"pulses must have shape (n, {CFG.n_samples}) (raw samples {CFG.window_start}…"
                         f"{CFG.window_stop}); got {X.shape}")
    if X.dtype.kind == "f":
        if np.isnan(X).any():
            raise ValueError("pulses contain NaN: drop those rows before sending them to the IP")
        if not np.array_equal(X, np.round(X)):
            raise ValueError("pulses must be raw integer ADC codes, not preprocessed floats")
    elif X.dtype.kind not in "iu":
        raise ValueError(f"pulses must be integer ADC codes, got dtype {X.dtype}")
    if X.size and (X.min() < 0 or X.max() > CFG.adc_max):
        raise ValueError(f"ADC codes must lie in 0…{CFG.adc_max} ({CFG.adc_bits}-bit); got {X.min()}…{X.max()}")
    return X.astype(np.uint16)


def pack_pulses(X) -> np.ndarray:
    """(n, n_samples) raw codes -> (n * words_per_pulse,) uint32 stream words."""
    X = check_pulses(X)
    lanes = CFG.words_per_pulse * CFG.samples_per_word
    padded = np.zeros((len(X), lanes), np.uint32)
    padded[:, : CFG.n_samples] = X
    padded = padded.reshape(len(X), CFG.words_per_pulse, CFG.samples_per_word)
    shifts = np.arange(CFG.samples_per_word, dtype=np.uint32) * CFG.lane_bits
    return (padded << shifts).sum(axis=2, dtype=np.uint32).reshape(-1)


def unpack_pulses(words, n: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_pulses`."""
    words = np.asarray(words, dtype=np.uint32).reshape(-1)
    if words.size % CFG.words_per_pulse:
        raise ValueError(f"{words.size} words is not a whole number of pulses ({CFG.words_per_pulse} words each)")
    n = words.size // CFG.words_per_pulse if n is None else n
    mask = np.uint32((1 << CFG.lane_bits) - 1)
    shifts = np.arange(CFG.samples_per_word, dtype=np.uint32) * CFG.lane_bits
    lanes = (words.reshape(n, CFG.words_per_pulse, 1) >> shifts) & mask
    return lanes.reshape(n, -1)[:, : CFG.n_samples].astype(np.uint16)


def decode_logits(words, fmt: FixedFormat | None = None, n_out: int | None = None) -> np.ndarray:
    """(n * n_out,) output words -> (n, n_out) float logits (bit reinterpretation).

    ``n_out``: logits per pulse (default ``CFG.n_classes``; the test vectors' ``meta.json`` names
    another one for your own model)."""
    fmt = fmt or CFG.logit_format
    n_out = CFG.n_classes if n_out is None else int(n_out)
    words = np.asarray(words, dtype=np.uint32).reshape(-1)
    if words.size % n_out:
        raise ValueError(f"{words.size} output words is not a whole number of results ({n_out} each)")
    return fmt.from_bits(words).reshape(-1, n_out)


def encode_logits(logits, fmt: FixedFormat | None = None) -> np.ndarray:
    """(n, n_classes) logits on the format's grid -> output words (what the IP emits)."""
    fmt = fmt or CFG.logit_format
    return fmt.to_word(np.asarray(logits, dtype=np.float64).reshape(-1))


# ---- the test vectors stage 04 writes for the RTL twin (04b) and the board (06) ---------------
VECTOR_ARRAYS = ("inputs", "input_words", "expected_words", "expected_last", "labels",
                 "qkeras_logits", "csim_logits")


def default_vectors_dir() -> Path:
    return artifacts.test_vectors()


def load_test_vectors(folder=None) -> dict:
    """Read ``meta.json`` and the ``*.npy`` arrays of a test-vector folder into one dict.

    Keys: ``meta`` (dict) and each of :data:`VECTOR_ARRAYS` that exists.
    """
    folder = Path(folder) if folder is not None else default_vectors_dir()
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: write the test vectors with `labkit hls convert` "
                                "(or lab 04) and copy the folder to the board")
    rewrite = "write the test vectors again with `labkit hls convert` (or lab 04) and copy the whole folder"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{meta_path} is not valid JSON ({type(err).__name__}): {rewrite}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path} holds a {type(meta).__name__}, not the vectors' metadata: {rewrite}")
    out = {"meta": meta}
    for name in VECTOR_ARRAYS:
        p = folder / f"{name}.npy"
        if p.is_file():
            try:
                out[name] = np.load(p, allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:
                raise ValueError(f"{p} is not a readable numpy array ({type(err).__name__}): {rewrite}") from None
    missing = [k for k in ("inputs", "input_words", "expected_words") if k not in out]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(k + '.npy' for k in missing)}: "
                                "rewrite the vectors with `labkit hls convert`")
    return out


def input_from_metadata(meta: dict | None) -> str | None:
    """The IP's input transform named by board metadata (the test vectors' ``meta.json``), or ``None``."""
    if not meta or meta.get("input") is None:
        return None
    return CFG.input_transform(str(meta["input"])).name


# ---- numbers a user passes to the IP / the driver: refused, never silently replaced ----------

def whole_number(value, what: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in ``low…high``; a bool, a fraction, NaN/inf or a string is refused.

    ``what`` names the argument in the message (e.g. ``"batch_size"`` or ``"--batch-size"``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be a whole number (an int >= {low}), got {value!r}: it is not "
                         "rounded or replaced by a default, pass an int")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"{low}…{high}" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be {bound}, got {value}")
    return value


def int_arg(low: int = 1, high: int | None = None):
    """An argparse ``type``: a whole number in ``low…high``, checked when the command line is parsed
    (argparse then names the flag and exits 2): ``--n-vectors -1`` is refused, never read as "all but one"."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"{low}…{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    parse.__name__ = "whole number"
    return parse


def float_arg(low: float = 0.0, high: float | None = None):
    """An argparse ``type``: a finite number > ``low`` (and <= ``high``), checked at parse time."""
    import argparse

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value) or value <= low or (high is not None and value > high):
            bound = f"> {low:g}" + (f" and <= {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def positive_seconds(value, what: str) -> float:
    """``value`` as a finite number of seconds > 0 (inf, NaN, 0 or a negative would disable a deadline)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {value!r}: inf or nan would "
                         "let a stuck DMA transfer hang forever, and 0 or less would fail every transfer")
    return float(value)


def max_outputs() -> int:
    """Most logits per pulse the IP may emit: the DMA's buffers are sized for the larger of one
    pulse's input words and one result (``CFG.dma_batch_bytes``), i.e. ``CFG.words_per_pulse``."""
    return CFG.words_per_pulse
