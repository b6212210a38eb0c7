"""The AXI-Stream wrapper (C++), its g++ emulation library and the test vectors.

One hls4ml project + emulation library (+ two deliberately broken variants) is compiled per
session by toys.toy_build (cached; ~40 s on 2 cores).
"""
import json

import numpy as np
import pytest

from labkit.config import CFG
from labkit.hls.ipsim import CTRL_BITS, REGISTER_MAP, EmulatedIP, EmulationError, load_test_vectors
from labkit.stream import decode_logits, encode_logits, pack_pulses, unpack_pulses

pytest.importorskip("hls4ml")


@pytest.fixture(scope="module")
def pulses():
    from toys import toy_pulses
    return toy_pulses(300, seed=7)


@pytest.fixture(scope="module")
def csim(build, pulses):
    from labkit.hls.convert import csim_logits
    return csim_logits(build["hls_model"], pulses[0])


def check_tlast(out_last, n_words):
    """The DMA's S2MM channel completes on TLAST: exactly one, on the very last word."""
    out_last = np.asarray(out_last, bool)
    assert out_last.shape == (n_words,), f"expected {n_words} output beats, got {out_last.shape}"
    assert out_last[-1], "TLAST missing on the last output word: the DMA receive would never complete"
    assert out_last.sum() == 1, f"TLAST raised {out_last.sum()} times; only the last word may carry it"


# -- packing (numpy side) ----------------------------------------------------------------------

def test_pack_unpack_round_trip(pulses):
    X = pulses[0]
    words = pack_pulses(X)
    assert words.dtype == np.uint32 and words.size == len(X) * CFG.words_per_pulse
    np.testing.assert_array_equal(unpack_pulses(words), X)
    # sample 2k in the low lane, 2k+1 in the high lane, the odd last lane zero
    w = words[: CFG.words_per_pulse]
    assert int(w[0]) & 0xFFFF == X[0, 0] and int(w[0]) >> CFG.lane_bits == X[0, 1]
    if CFG.n_samples % 2:
        assert int(w[-1]) >> CFG.lane_bits == 0


def test_logit_words_round_trip():
    fmt = CFG.logit_format
    values = np.array([[fmt.min, fmt.max], [-fmt.lsb, fmt.lsb], [0.0, -3.5]])
    words = encode_logits(values)
    assert int(words[2]) == 0xFFFFFFFF  # -lsb: all ones after sign extension
    np.testing.assert_array_equal(decode_logits(words), values)


def test_params_header_from_cfg():
    from labkit.hls.wrapper import params_header
    text = params_header()
    for key, value in [("N_SAMPLES", CFG.n_samples), ("WORDS_PER_PULSE", CFG.words_per_pulse),
                       ("BASELINE_LOG2", CFG.baseline_log2), ("INPUT_FRAC_BITS", CFG.input_frac_bits),
                       ("N_OUT", CFG.n_classes), ("MAX_BATCH", CFG.max_batch)]:
        assert f"#define LABKIT_{key} {value}\n" in text
    assert f"#define LABKIT_TOP {CFG.hls_top}" in text


# -- the emulated IP ---------------------------------------------------------------------------

def test_info_matches_cfg(build):
    ip = EmulatedIP(build["lib"])
    assert ip.info == {"n_samples": CFG.n_samples, "words_per_pulse": CFG.words_per_pulse,
                       "n_out": CFG.n_classes, "max_batch": CFG.max_batch, "input": "course"}


def test_wrapper_words_equal_csim_bit_for_bit(build, pulses, csim):
    ip = EmulatedIP(build["lib"])
    X = pulses[0]
    words, last, consumed = ip.run(len(X), pack_pulses(X))
    assert consumed == len(X) * CFG.words_per_pulse
    expected = encode_logits(csim)  # C simulation logits -> ap_fixed bit patterns, sign-extended
    np.testing.assert_array_equal(words, expected)
    check_tlast(last, len(X) * CFG.n_classes)


def test_preprocessing_in_the_ip_is_exact(build, pulses):
    """The IP's integer input stage == preprocess(): same logits as feeding preprocess() to csim."""
    from labkit.data.prep import preprocess
    X = pulses[0][:50].copy()
    X[0] = CFG.adc_max  # flat at full scale
    X[1] = 0            # flat at zero
    X[2, :8] = [1023, 0, 1023, 0, 1023, 0, 1023, 1]  # baseline sum not divisible by 8 (floor)
    x = preprocess(X)
    assert np.array_equal(x, CFG.input_format.from_bits(CFG.input_format.to_bits(x)))  # on the grid
    ref = np.asarray(build["hls_model"].predict(np.ascontiguousarray(x, np.float64))).reshape(len(X), -1)
    words, _, _ = EmulatedIP(build["lib"]).run(len(X), pack_pulses(X))
    np.testing.assert_array_equal(decode_logits(words), ref)


def test_batches_are_independent(build, pulses):
    ip = EmulatedIP(build["lib"])
    X = pulses[0][:10]
    whole, _, _ = ip.run(10, pack_pulses(X))
    parts = [ip.run(5, pack_pulses(X[i:i + 5])) for i in (0, 5)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole)
    for p in parts:
        check_tlast(p[1], 5 * CFG.n_classes)


def test_error_codes(build, pulses):
    ip = EmulatedIP(build["lib"])
    words = pack_pulses(pulses[0][:3])
    with pytest.raises(EmulationError, match="ran dry"):
        ip.run(4, words)
    with pytest.raises(EmulationError, match="out of range"):
        ip.run(0, words)
    with pytest.raises(EmulationError, match="out of range"):
        ip.run(CFG.max_batch + 1, words)
    # extra words stay in the FIFO: the IP reads exactly batch * words_per_pulse
    out, last, consumed = ip.run(2, words, in_last=np.arange(words.size) == words.size - 1)
    assert consumed == 2 * CFG.words_per_pulse and out.size == 2 * CFG.n_classes


def test_raw_c_contract(build):
    """labkit_emu_run called through ctypes directly: return codes and in_consumed."""
    import ctypes
    lib = ctypes.CDLL(str(build["lib"]))
    lib.labkit_emu_run.restype = ctypes.c_int
    words = (ctypes.c_uint32 * (2 * CFG.words_per_pulse))()
    out = (ctypes.c_uint32 * 4)()
    last = (ctypes.c_uint8 * 4)()
    consumed = ctypes.c_uint32(99)
    run = lib.labkit_emu_run
    assert run(ctypes.c_uint32(2), words, None, ctypes.c_uint32(2 * CFG.words_per_pulse - 1), out, last,
               ctypes.c_uint32(4), ctypes.byref(consumed)) == -1
    assert consumed.value == 2 * CFG.words_per_pulse - 1
    assert run(ctypes.c_uint32(2), words, None, ctypes.c_uint32(2 * CFG.words_per_pulse), out, last,
               ctypes.c_uint32(3), ctypes.byref(consumed)) == -2
    assert run(ctypes.c_uint32(0), words, None, ctypes.c_uint32(0), out, last,
               ctypes.c_uint32(4), ctypes.byref(consumed)) == -3
    assert run(ctypes.c_uint32(2), words, None, ctypes.c_uint32(2 * CFG.words_per_pulse), out, last,
               ctypes.c_uint32(4), ctypes.byref(consumed)) == 4
    assert consumed.value == 2 * CFG.words_per_pulse and list(last) == [0, 0, 0, 1]


def test_missing_library_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="labkit hls emulate"):
        EmulatedIP(tmp_path / "nope.so")


# -- negative tests: the checks catch the classic mistakes --------------------------------------

def test_missing_tlast_is_caught(build, pulses):
    ip = EmulatedIP(build["bug_libs"]["no_tlast"])
    X = pulses[0][:4]
    words, last, _ = ip.run(len(X), pack_pulses(X))
    with pytest.raises(AssertionError, match="TLAST missing"):
        check_tlast(last, len(X) * CFG.n_classes)


def test_lost_fraction_bits_are_caught(build, pulses, csim):
    ip = EmulatedIP(build["bug_libs"]["int_logits"])
    X = pulses[0]
    words, last, _ = ip.run(len(X), pack_pulses(X))
    check_tlast(last, len(X) * CFG.n_classes)  # framing is fine ...
    assert not np.array_equal(words, encode_logits(csim))  # ... but the words differ
    ints = words.view(np.int32)  # the bug ships int(logit): only the integer part survives
    np.testing.assert_array_equal(ints, np.trunc(csim.reshape(-1)).astype(np.int32))


# -- test vectors ------------------------------------------------------------------------------

def test_test_vectors_round_trip(build, pulses, csim, tmp_path):
    from labkit.training.contract import qkeras_logits
    from labkit.hls.vectors import write_test_vectors
    X, y = pulses[0][:64], pulses[1][:64]
    summary = write_test_vectors(X, y, qkeras_logits(build["model"], X), csim[:64],
                                 emu=EmulatedIP(build["lib"]), folder=tmp_path)
    assert summary["wrapper_words_equal"] and summary["tlast_ok"]
    vec = load_test_vectors(tmp_path)
    meta = vec["meta"]
    assert meta["n"] == 64 and meta["vlnv"] == CFG.vlnv and meta["register_map"]["batch"] == 0x10
    assert meta["register_map"] == REGISTER_MAP and meta["ctrl_bits"]["ap_done"] == CTRL_BITS["ap_done"]
    assert meta["logit_format"] == {"width": CFG.logit_format.width, "integer": CFG.logit_format.integer,
                                    "signed": True, "hls": CFG.logit_format.hls()}
    np.testing.assert_array_equal(unpack_pulses(vec["input_words"]), vec["inputs"])
    np.testing.assert_array_equal(vec["expected_words"], encode_logits(vec["csim_logits"]))
    check_tlast(vec["expected_last"], 64 * CFG.n_classes)
    json.dumps(meta)  # plain JSON types only


def test_test_vectors_larger_than_one_ip_run(build, tmp_path):
    """The whole test split may exceed max_batch: vectors are then several IP runs, each closed by TLAST."""
    from labkit.training.contract import qkeras_logits
    from labkit.hls.convert import csim_logits
    from toys import toy_pulses
    from labkit.hls.vectors import write_test_vectors
    X, y = toy_pulses(CFG.max_batch + 5, seed=11)
    summary = write_test_vectors(X, y, qkeras_logits(build["model"], X), csim_logits(build["hls_model"], X),
                                 emu=EmulatedIP(build["lib"]), folder=tmp_path)
    assert summary["wrapper_words_equal"] and summary["tlast_ok"] and summary["n"] == len(X)
    vec = load_test_vectors(tmp_path)
    assert vec["meta"]["batch"] == CFG.max_batch
    last = vec["expected_last"]
    assert np.flatnonzero(last).tolist() == [CFG.max_batch * CFG.n_classes - 1, len(last) - 1]


def test_load_test_vectors_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="labkit hls convert"):
        load_test_vectors(tmp_path)
