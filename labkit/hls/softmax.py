"""Softmax in HLS, measured: what hls4ml 1.3.0's lookup-table softmax makes of a configuration.

hls4ml's ``nnet::softmax`` (``nnet_utils/nnet_activation.h``, Vivado/Vitis backends) uses two tables:

* ``exp``: addressed with the **top** ``log2(exp_table_size)`` bits of ``d = max(x) - x_i`` (type
  ``inp_norm_t``, implementation ``stable``) or of the logit ``x_i`` itself (its own type, ``latency``);
* ``1/x``: addressed with the top ``log2(inv_table_size)`` bits of the sum of the exponentials (type
  ``inv_inp_t``).

Slicing the top bits truncates, so an entry holds the function at the lower edge of its address bin,
and the bin width is ``2**(integer bits - address bits)`` of the address type: a wide address type
(hls4ml's default ``ap_fixed<18,8>`` for the sum) leaves only a few of the table's entries in the range
the sum actually takes.  :func:`tables` reads all of it back from the *generated* project
(``parameters.h``, ``defines.h``, ``myproject.cpp``), so what it reports is what the C simulation runs.

The hls4ml call itself stays in the lab; this module only measures.  numpy only.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..fixedpoint import FixedFormat

_FIXED = re.compile(r"ap_(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(AP_\w+))?\s*(?:,\s*(AP_\w+))?")


def parse_type(text: str) -> FixedFormat:
    """``ap_ufixed<18,1,AP_RND,AP_SAT,0>`` -> :class:`FixedFormat` (modes without the ``AP_`` prefix)."""
    m = _FIXED.search(text)
    if not m:
        raise ValueError(f"not an ap_fixed/ap_ufixed type: {text!r}")
    unsigned, width, integer, rnd, sat = m.groups()
    return FixedFormat(int(width), int(integer), signed=not unsigned,
                       rounding=(rnd or "AP_TRN")[3:].replace("TRN", ""),
                       saturation=(sat or "AP_WRAP")[3:].replace("WRAP", ""))


def _project(hls_model) -> Path:
    """The ``firmware/`` folder of a converted model, or of a project folder given as a path."""
    if isinstance(hls_model, (str, Path)):
        return Path(hls_model) / "firmware"
    return Path(hls_model.config.get_output_dir()) / "firmware"


def _typedefs(text: str) -> dict:
    return {name: typ.strip() for typ, name in re.findall(r"typedef\s+(.+?)\s+(\w+)\s*;", text)}


def config_of(hls_model) -> dict:
    """The generated softmax configuration: implementation, table sizes and every type, resolved.

    ``hls_model``: an hls4ml model that has been written (compiled), or the path of its project."""
    fw = _project(hls_model)
    if not (fw / "parameters.h").is_file():
        raise ValueError(f"{fw} has no parameters.h: write or compile the hls4ml model first")
    params = (fw / "parameters.h").read_text()
    m = re.search(r"struct\s+(softmax_config\d+)\s*:\s*nnet::activ_config\s*\{(.*?)\n\};", params, re.S)
    if not m:
        raise ValueError(f"{fw / 'parameters.h'} has no softmax configuration: convert a model that ends in a softmax")
    name, body = m.groups()
    defines = _typedefs((fw / "defines.h").read_text())
    local = _typedefs(body)

    def resolve(t: str) -> str:
        while t in defines:
            t = defines[t]
        return t

    call = re.search(r"nnet::softmax\w*<\s*(\w+)\s*,\s*(\w+)\s*,\s*" + name + r"\s*>", (fw / "myproject.cpp").read_text())
    data_t, res_t = call.groups() if call else ("?", "?")
    return {
        "implementation": re.search(r"softmax_implementation::(\w+)", body).group(1),
        "exp_table_size": int(re.search(r"exp_table_size\s*=\s*(\d+)", body).group(1)),
        "inv_table_size": int(re.search(r"inv_table_size\s*=\s*(\d+)", body).group(1)),
        "data_t": resolve(data_t), "result_t": resolve(res_t),
        **{k: resolve(local[k]) for k in ("exp_table_t", "inv_table_t", "accum_t", "inv_inp_t", "inp_norm_t")},
    }


def _address(fmt: FixedFormat, entries: int) -> tuple:
    """(bin width, lowest, highest address value) when the top log2(entries) bits of ``fmt`` address a table."""
    bits = int(math.log2(entries))
    step = 2.0 ** (fmt.integer - bits)
    lo = -(2.0 ** (fmt.integer - 1)) if fmt.signed else 0.0
    hi = (2.0 ** (fmt.integer - 1) if fmt.signed else 2.0 ** fmt.integer) - step
    return step, lo, hi


def tables(hls_model) -> list:
    """One row per lookup table: what addresses it, its bin width and range, its size in bits."""
    cfg = config_of(hls_model)
    stable = cfg["implementation"] == "stable"
    exp_addr = cfg["inp_norm_t"] if stable else cfg["data_t"]
    rows = []
    for table, addr, size, entry, what in (
            ("exp", exp_addr, cfg["exp_table_size"], cfg["exp_table_t"],
             "max(x) - x_i (inp_norm_t)" if stable else "x_i (the logit type)"),
            ("1/x", cfg["inv_inp_t"], cfg["inv_table_size"], cfg["inv_table_t"], "sum of exp (inv_inp_t)")):
        a, e = parse_type(addr), parse_type(entry)
        step, lo, hi = _address(a, size)
        rows.append({"table": table, "addressed by": what, "address type": a.hls(), "entries": size,
                     "bin width": step, "covers": f"{lo:g} … {hi + step:g}", "entry type": e.hls(),
                     "bits": size * e.width})
    return rows


def float_softmax(logits) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def compare(p_hls, logits) -> dict:
    """The C simulation's probabilities vs the logits they come from (argmax = the IP's decision).

    ``flipped``: pulses whose argmax differs; ``margin_*``: the logit margin (top minus second) of
    those pulses -- a correct softmax can only flip near-ties, i.e. small margins; ``ties``: pulses
    whose two largest probabilities are equal (argmax then takes the lower class index).
    """
    p = np.asarray(p_hls, np.float64).reshape(len(logits), -1)
    z = np.asarray(logits, np.float64)
    flipped = p.argmax(1) != z.argmax(1)
    zs, ps = np.sort(z, axis=1), np.sort(p, axis=1)
    margin = zs[:, -1] - zs[:, -2]
    sums = p.sum(1)
    return {
        "n": int(len(z)),
        "flipped": int(flipped.sum()),
        "flipped_pct": round(100.0 * float(flipped.mean()), 2) if len(z) else 0.0,
        "margin_min": float(margin[flipped].min()) if flipped.any() else None,
        "margin_max": float(margin[flipped].max()) if flipped.any() else None,
        "ties": int(np.sum(ps[:, -1] == ps[:, -2])),
        "max_abs_dp": float(np.abs(p - float_softmax(z)).max()),
        "sum_min": float(sums.min()), "sum_max": float(sums.max()),
    }
