"""A gallery of published-style models through every stage (issue 30, item 4).

Each model of :data:`gallery.GALLERY` is built here, trained a few epochs on toy pulses, saved as .h5,
read back and prepared the way ``labkit hls convert --student`` does, converted with hls4ml (C
simulation vs QKeras on 200 held-out pulses), packed into the stream wrapper's emulation library and
48 test vectors, built as the RTL twin (the course's fold, Icarus running the whole AXI IP) and
streamed by the board driver through the emulated overlay.  On every one: class agreement 1.0, the C
simulation equal to QKeras' logits rounded to the IP's logit format (max |Δlogit| 0 there), and the
same words from the wrapper, the RTL twin and the emulated board.  The figures of every model go to
``artifacts/fast/test-reports/gallery.json`` (the table of the closing note).
"""
import json
import shutil
from pathlib import Path

import pytest

import gallery

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "artifacts" / "fast" / "test-reports" / "gallery.json"


@pytest.fixture(scope="module")
def report():
    rows = {}
    yield rows
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(rows, indent=1) + "\n")


@pytest.mark.parametrize("name", list(gallery.GALLERY))
def test_gallery_model_is_exact_everywhere(name, report, tmp_path):
    pytest.importorskip("hls4ml")
    if shutil.which("g++") is None:
        pytest.skip("needs g++ (hls4ml C simulation)")
    from labkit.rtl import tools
    rtl = not tools.missing("da4ml", "iverilog")
    row = gallery.run(name, tmp_path, rtl=rtl)
    report[name] = row
    assert row["argmax_agreement"] == 1.0 and row["bit_exact_fraction"] == 1.0, row
    assert row["max_abs_logit_diff_ip"] == 0.0, row
    assert row["wrapper_words_equal"] and row["board_words_equal"], row
    assert row["board_input"] == gallery.GALLERY[name][1]
    assert row["n_out"] == (1 if name == "batchnorm_sigmoid" else gallery.GALLERY[name][2])
    if rtl:
        assert row["rtl_words_equal"] and row["rtl_equal_qkeras"], row
