"""Test vectors for the board: raw pulses, stream words, expected output words + metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import CFG, FixedFormat, artifacts_dir
from ..emulation import CTRL_BITS, REGISTER_MAP, EmulatedIP
from ..stream import encode_logits, pack_pulses


def _fmt(f: FixedFormat) -> dict:
    return {"width": f.width, "integer": f.integer, "signed": f.signed, "hls": f.hls()}


def vector_meta(n: int) -> dict:
    return {
        "n": int(n),
        "batch": int(n),  # the vectors are ONE IP run: write batch=n, one DMA transfer each way
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

    ``X_raw`` (n <= max_batch) is sent as one IP run.  Returns a summary dict, including
    ``wrapper_words_equal``: the emulated IP's words == the C simulation's logits encoded with
    ``CFG.logit_format`` (bit for bit).
    """
    X = np.asarray(X_raw, dtype=np.uint16)
    n = len(X)
    if not 0 < n <= CFG.max_batch:
        raise ValueError(f"test vectors are one IP run: 1…{CFG.max_batch} pulses (CFG.max_batch), got {n}")
    folder = Path(folder) if folder is not None else artifacts_dir("hls", "vectors")
    folder.mkdir(parents=True, exist_ok=True)
    emu = emu or EmulatedIP()
    words = pack_pulses(X)
    expected, last, consumed = emu.run(n, words)
    if consumed != words.size:
        raise RuntimeError(f"emulated IP read {consumed} of {words.size} input words")
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
    (folder / "meta.json").write_text(json.dumps(vector_meta(n), indent=2) + "\n")
    return {
        "folder": str(folder),
        "n": n,
        "wrapper_words_equal": bool(np.array_equal(expected, csim_words)),
        "tlast_ok": bool(last[-1] and last.sum() == 1),
    }
