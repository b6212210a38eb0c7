"""Test vectors for the board: raw pulses, stream words, expected output words + metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import CFG
from ..emulation import CTRL_BITS, REGISTER_MAP, EmulatedIP, default_vectors_dir
from ..fixedpoint import FixedFormat
from ..stream import encode_logits, pack_pulses


def _fmt(f: FixedFormat) -> dict:
    return {"width": f.width, "integer": f.integer, "signed": f.signed, "hls": f.hls()}


def vector_meta(n: int, batch: int) -> dict:
    return {
        "n": int(n),
        # the expected words were produced by IP runs of `batch` pulses (the last run may be
        # shorter): TLAST closes each run
        "batch": int(batch),
        "n_samples": CFG.n_samples,
        "n_out": CFG.n_classes,
        "words_per_pulse": CFG.words_per_pulse,
        "samples_per_word": CFG.samples_per_word,
        "lane_bits": CFG.lane_bits,
        "word_bits": CFG.word_bits,
        "adc_bits": CFG.adc_bits,
        "baseline_log2": CFG.baseline_log2,
        "input_frac_bits": CFG.input_frac_bits,
        "input_format": _fmt(CFG.input_format),
        "logit_format": _fmt(CFG.logit_format),
        "class_names": list(CFG.class_names),
        "vlnv": CFG.vlnv,
        "ip_name": CFG.ip_name,
        "dma_name": CFG.dma_name,
        "hls_top": CFG.hls_top,
        "ip_in_stream": CFG.ip_in_stream,
        "ip_out_stream": CFG.ip_out_stream,
        "ip_ctrl": CFG.ip_ctrl,
        "max_batch": CFG.max_batch,
        "dma_length_width": CFG.dma_length_width,
        "register_map": dict(REGISTER_MAP),
        "ctrl_bits": dict(CTRL_BITS),
    }


def write_test_vectors(X_raw, labels, qkeras_logits, csim_logits, emu: EmulatedIP | None = None,
                       folder=None) -> dict:
    """Write inputs, stream words, expected output words (from the emulation library) and meta.json.

    ``X_raw`` (any number of pulses, e.g. the whole test split) is sent as IP runs of up to
    ``CFG.max_batch`` pulses.  Returns a summary dict, including ``wrapper_words_equal``: the
    emulated IP's words == the C simulation's logits encoded with ``CFG.logit_format`` (bit for
    bit), and ``tlast_ok``: exactly one TLAST, on the last word of every run.
    """
    X = np.asarray(X_raw, dtype=np.uint16)
    n = len(X)
    if n == 0:
        raise ValueError("test vectors need at least one pulse")
    folder = Path(folder) if folder is not None else default_vectors_dir()
    folder.mkdir(parents=True, exist_ok=True)
    emu = emu or EmulatedIP()
    words = pack_pulses(X)
    batch = min(n, CFG.max_batch)
    expected_parts, last_parts, tlast_ok = [], [], True
    for start in range(0, n, batch):
        chunk = pack_pulses(X[start:start + batch])
        out, last, consumed = emu.run(len(chunk) // CFG.words_per_pulse, chunk)
        if consumed != chunk.size:
            raise RuntimeError(f"emulated IP read {consumed} of {chunk.size} input words")
        tlast_ok &= bool(last[-1] and last.sum() == 1)
        expected_parts.append(out)
        last_parts.append(last)
    expected, last = np.concatenate(expected_parts), np.concatenate(last_parts)
    csim_words = encode_logits(csim_logits)
    arrays = {
        "inputs": X,
        "input_words": words,
        "expected_words": expected,
        "expected_last": last,
        "labels": np.asarray(labels, dtype=np.int64),
        "qkeras_logits": np.asarray(qkeras_logits, dtype=np.float64),
        "csim_logits": np.asarray(csim_logits, dtype=np.float64),
    }
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr, allow_pickle=False)
    (folder / "meta.json").write_text(json.dumps(vector_meta(n, batch), indent=2) + "\n")
    return {
        "folder": str(folder),
        "n": n,
        "wrapper_words_equal": bool(np.array_equal(expected, csim_words)),
        "tlast_ok": tlast_ok,
    }
