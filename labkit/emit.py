"""course.ini -> every other language, in one place.

``labkit/course.ini`` is the one file with the numbers two stages share; this module is the one
place that turns it into what the other languages read.  Derived numbers (words per pulse, the
DMA length-register width, register offsets, VLNVs, base addresses) are computed once, here or in
:mod:`labkit.config`, never again in Tcl, C++ or Verilog.

* :func:`tcl` / :func:`write_tcl` — ``params.tcl``: plain ``set name {value}`` lines that
  ``hw/build_overlay.tcl`` sources (no INI parser in Tcl, as hls4ml's writer does it);
* :func:`cpp_header` — ``labkit_params.h`` (``#define LABKIT_*``) for the C++ stream wrapper;
* :func:`verilog_values` — the numbers the Verilog templates take;
* :func:`board_metadata` — the JSON written beside the test vectors (what the board reads);
* :func:`tcl_word` / :func:`c_string` — a value (a path) as one Tcl word / one C string literal;
* :func:`render` — the one template syntax, ``@NAME@``, of every template file
  (``labkit/hls/templates/*.tcl``, ``labkit/rtl/verilog/*.v.in``).

The standard library and ``labkit.config`` (numpy through it); TensorFlow-free: imports on the board.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Dict, Optional

from .config import CFG, DMA_LENGTH_WIDTH_MAX
from .stream import CTRL_BITS, DMA_ADDR_RANGE, DMA_VLNV, IP_ADDR_RANGE, REGISTERS

TEMPLATE_FIELD = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def render(text: str, values: Dict[str, object], *, what: str = "template",
           quote: Optional[Callable[[str], str]] = None) -> str:
    """Fill every ``@NAME@`` of ``text`` from ``values`` (``quote`` applied to each value, e.g.
    :func:`tcl_word` for a Tcl template); a field without a value is an error naming it."""
    missing = sorted({m for m in TEMPLATE_FIELD.findall(text) if m not in values})
    if missing:
        raise ValueError(f"{what}: no value for {', '.join(missing)}")
    return TEMPLATE_FIELD.sub(lambda m: (quote or str)(str(values[m.group(1)])), text)


SAFE_TCL = re.compile(r"[A-Za-z0-9_.:/+=,-]+")


def tcl_word(value: str) -> str:
    """``value`` as one Tcl word that Tcl never substitutes: as it is when it holds only safe
    characters, else in braces, or backslash-quoted when it has unbalanced braces or a trailing
    backslash (a path with a space or ``[...]`` can neither split a command nor run one)."""
    value = str(value)
    if SAFE_TCL.fullmatch(value):
        return value
    depth, balanced = 0, True
    for ch in value:
        depth += (ch == "{") - (ch == "}")
        balanced &= depth >= 0
    if value and balanced and depth == 0 and not value.endswith("\\") and "\n" not in value:
        return "{" + value + "}"
    return "".join("\\" + ch if ch in '{}[]$"\\; \t' else ("\\n" if ch == "\n" else ch) for ch in value) or "{}"


def c_string(value: str) -> str:
    """``value`` as a C/C++ string literal (with its quotes) that means exactly ``value``: ``"`` and
    ``\\`` escaped, ``?`` too (no trigraph), anything not printable ASCII as octal escapes of its
    UTF-8 bytes (e.g. a path in ``-DWEIGHTS_DIR=...``)."""
    out = []
    for byte in str(value).encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


# ------------------------------------------------------------------------------------------
# the values
# ------------------------------------------------------------------------------------------

def course_values(cfg=CFG) -> Dict[str, object]:
    """Names and numbers every stage shares (no board), lower-case keys."""
    return {
        "overlay_name": cfg.overlay_name, "ip_name": cfg.ip_name, "dma_name": cfg.dma_name,
        "ip_vlnv": cfg.vlnv, "rtl_top": cfg.rtl.top, "rtl_vlnv": cfg.rtl_vlnv, "dma_vlnv": DMA_VLNV,
        "hls_top": cfg.hls_top, "ip_in_stream": cfg.ip_in_stream, "ip_out_stream": cfg.ip_out_stream,
        "ip_ctrl": cfg.ip_ctrl, "ip_clk": cfg.ip_clk, "ip_resetn": cfg.ip_resetn,
        "clock_mhz": f"{cfg.clock_mhz:g}", "vivado_versions": list(cfg.vivado_versions),
        "n_samples": cfg.n_samples, "n_classes": cfg.n_classes, "samples_per_word": cfg.samples_per_word,
        "words_per_pulse": cfg.words_per_pulse, "word_bits": cfg.word_bits, "max_batch": cfg.max_batch,
        "batch_bytes": cfg.dma_batch_bytes, "dma_length_width": cfg.dma_length_width,
        "dma_length_width_max": DMA_LENGTH_WIDTH_MAX,
        "ip_addr_range": f"0x{IP_ADDR_RANGE:X}", "dma_addr_range": f"0x{DMA_ADDR_RANGE:X}",
        # the [vivado:<release>] table as a Tcl dict: release -> {ip_name version ...}
        "vivado_ip_versions": [item for release in cfg.vivado_versions for item in
                               (release, " ".join(" ".join(v.split(":", 1)) for v in cfg.vivado[release].ip_versions))],
    }


def board_values(board: str, cfg=CFG) -> Dict[str, object]:
    """One board's section of course.ini (an unknown board: one sentence naming the known ones)."""
    b = cfg.board(board)
    return {
        "board": b.key, "part": b.part, "board_part": b.board_part, "ps_ip": b.ps_ip, "ps_vlnv": b.ps_vlnv,
        "ps_master": b.ps_master, "ps_master_clk": b.ps_master_clk, "hp_slave": b.hp_slave,
        "hp_slave_clk": b.hp_slave_clk, "hp_enable": b.hp_enable, "master_enable": b.master_enable,
        "pl_clk": b.pl_clk, "pl_clk_freq_property": b.pl_clk_freq_property, "pl_resetn": b.pl_resetn,
        "clk_source_property": b.clk_source_property, "clk_source": b.clk_source,
        "ps_unused": list(b.ps_unused), "dma_addr_width": b.dma_addr_width, "dma_base": f"0x{b.dma_base:08X}", "ip_base": f"0x{b.ip_base:08X}",
    }


# ------------------------------------------------------------------------------------------
# Tcl: params.tcl for hw/build_overlay.tcl
# ------------------------------------------------------------------------------------------

def tcl(board: str, cfg=CFG) -> str:
    """``params.tcl`` for ``board``: one ``set`` line per value (lists as Tcl lists)."""
    lines = [f"# params.tcl -- GENERATED by labkit.emit from labkit/course.ini for board {board}; do not edit.",
             "# hw/build_overlay.tcl sources it (labkit overlay writes it next to the outputs)."]
    for key, value in {**course_values(cfg), **board_values(board, cfg)}.items():
        word = " ".join(tcl_word(v) for v in value) if isinstance(value, list) else tcl_word(value)
        lines.append(f"set {key} " + (f"[list {word}]" if isinstance(value, list) else word))
    return "\n".join(lines) + "\n"


def write_tcl(board: str, path, cfg=CFG) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tcl(board, cfg))
    return path


# ------------------------------------------------------------------------------------------
# C++ and Verilog
# ------------------------------------------------------------------------------------------

def cpp_header(n_out: int | None = None, input: str = "course") -> str:
    """Text of ``labkit_params.h`` (``#define LABKIT_*``) for the C++ stream wrapper.

    ``n_out``: logits per pulse of the converted network (default ``CFG.n_classes``; your own
    model's, ``labkit hls convert --student``); ``input``: the input transform the wrapper applies
    (``CFG.input_transform``; ``LABKIT_INPUT_BASELINE`` 1 = baseline minus sample, 0 = the codes)."""
    t = CFG.input_transform(input)
    consts = {
        "N_SAMPLES": CFG.n_samples, "WORDS_PER_PULSE": CFG.words_per_pulse,
        "SAMPLES_PER_WORD": CFG.samples_per_word, "LANE_BITS": CFG.lane_bits, "WORD_BITS": CFG.word_bits,
        "ADC_BITS": CFG.adc_bits, "BASELINE_LOG2": CFG.baseline_log2, "INPUT_BASELINE": int(t.baseline),
        "INPUT_FRAC_BITS": t.frac_bits, "INPUT_WIDTH": t.format.width, "INPUT_INTEGER": t.format.integer,
        "N_OUT": CFG.n_classes if n_out is None else int(n_out), "LOGIT_WIDTH": CFG.logit_format.width, "LOGIT_INTEGER": CFG.logit_format.integer,
        "MAX_BATCH": CFG.max_batch,
    }
    lines = ["// labkit_params.h -- GENERATED by labkit.emit.cpp_header from labkit/course.ini.",
             "// Do not edit: change course.ini and regenerate (labkit hls convert).",
             "#ifndef LABKIT_PARAMS_H_", "#define LABKIT_PARAMS_H_", ""]
    lines += [f"#define LABKIT_{k} {v}" for k, v in consts.items()]
    lines += ["", f"// name of the top function = Vitis HLS set_top = IP name ({CFG.vlnv})",
              f"#define LABKIT_TOP {CFG.hls_top}", "",
              "// AXI-Lite registers (labkit.stream.REGISTERS): Vitis HLS places them itself; the",
              "// emulation and the RTL twin must agree with it",
              *[f"#define LABKIT_REG_{k.upper()} 0x{v:02X}" for k, v in REGISTERS.items()],
              "", "#endif", ""]
    return "\n".join(lines)


def verilog_values(n_out: int | None = None, input: str = "course") -> Dict[str, object]:
    """The course's numbers for the Verilog templates (the core-specific ones are added by labkit.rtl);
    ``n_out`` logits per pulse (default ``CFG.n_classes``) and the input transform ``input``."""
    t = CFG.input_transform(input)
    return {
        "TOP": CFG.rtl.top, "N": CFG.n_samples, "ADC": CFG.adc_bits, "BLOG2": CFG.baseline_log2,
        "NBASE": CFG.baseline_samples, "XW": t.format.width, "XI": t.format.integer,
        "WPP": CFG.words_per_pulse, "SPW": CFG.samples_per_word, "LANE": CFG.lane_bits,
        "NOUT": CFG.n_classes if n_out is None else int(n_out),
        "LW": CFG.logit_format.width, "LI": CFG.logit_format.integer, "LF": CFG.logit_format.frac,
        **{f"A_{k.upper()}": f"5'h{v:02X}" for k, v in REGISTERS.items()},
    }


# ------------------------------------------------------------------------------------------
# JSON: what the board reads beside the test vectors
# ------------------------------------------------------------------------------------------

def _fmt(f) -> dict:
    return {"width": f.width, "integer": f.integer, "signed": f.signed, "hls": f.hls()}


def board_metadata(n_out: int | None = None, input: str = "course") -> dict:
    """The course numbers the board side needs with the test vectors (``meta.json``).

    ``n_out``: logits per pulse of the IP (default ``CFG.n_classes``); for another number of classes
    the class names are ``class 0`` ... (one sigmoid output keeps the course's two names).
    ``input``: the IP's input transform (``CFG.input_transform``), recorded as ``input`` with its format."""
    t = CFG.input_transform(input)
    v = course_values()
    n_out = CFG.n_classes if n_out is None else int(n_out)
    names = list(CFG.class_names) if n_out in (1, CFG.n_classes) else [f"class {k}" for k in range(n_out)]
    return {
        "n_samples": CFG.n_samples, "n_out": n_out, "words_per_pulse": CFG.words_per_pulse, "samples_per_word": CFG.samples_per_word,
        "lane_bits": CFG.lane_bits, "word_bits": CFG.word_bits, "adc_bits": CFG.adc_bits,
        "baseline_log2": CFG.baseline_log2, "input": t.name, "input_frac_bits": t.frac_bits,
        "input_format": _fmt(t.format), "logit_format": _fmt(CFG.logit_format),
        "class_names": names, "vlnv": CFG.vlnv,
        **{k: v[k] for k in ("ip_name", "dma_name", "hls_top", "ip_in_stream", "ip_out_stream", "ip_ctrl",
                             "max_batch", "dma_length_width")},
        "register_map": dict(REGISTERS), "ctrl_bits": dict(CTRL_BITS),
    }
