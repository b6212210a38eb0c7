"""Test vectors for the board: raw pulses, stream words, expected output words + metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import CFG
from ..emit import board_metadata
from .ipsim import EmulatedIP, default_vectors_dir
from ..stream import encode_logits, pack_pulses


def vector_meta(n: int, batch: int, n_out: int | None = None, input: str = "course") -> dict:
    # the expected words were produced by IP runs of `batch` pulses (the last run may be
    # shorter): TLAST closes each run; n_out = logits per pulse of the IP that produced them
    # input = the IP's input transform (CFG.input_transform)
    return {"n": int(n), "batch": int(batch), **board_metadata(n_out, input)}


def write_test_vectors(X_raw, labels, qkeras_logits, csim_logits, emu: EmulatedIP | None = None,
                       folder=None, student: dict | None = None) -> dict:
    """Write inputs, stream words, expected output words (from the emulation library) and meta.json.

    ``student``: what lab 03 recorded of the network the vectors come from (``student.json``'s
    ``selection``: trial, layers, cost), kept in meta.json so that the board and ``labkit package``
    can say which network they run.

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
    if np.shape(csim_logits)[1:] != (emu.info["n_out"],):
        raise ValueError(f"C-simulation logits of shape {np.shape(csim_logits)} for an IP with {emu.info['n_out']} "
                         f"logits per pulse ({emu.path}): rebuild the emulation library from the same project")
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
    meta = dict(vector_meta(n, batch, emu.info["n_out"], emu.info.get("input", "course")), student=student)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {
        "folder": str(folder),
        "n": n,
        "wrapper_words_equal": bool(np.array_equal(expected, csim_words)),
        "tlast_ok": tlast_ok,
    }
