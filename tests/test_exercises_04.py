"""The checks of labs 04 and 04b: a right answer passes, a wrong one gets a hint, `...` is open.

hls4ml models are the toy student's (tests/toys.py); where a check only reads an hls4ml model's
predictions and output type, a numpy stand-in with the C simulation's contract (QKeras logits rounded
to the format) replaces the compile.
"""
import numpy as np
import pytest

from labkit.config import CFG
from labkit.course import exercises
from labkit.fixedpoint import FixedFormat, quantize_logits
from labkit.training.contract import qkeras_logits

pytest.importorskip("hls4ml")


@pytest.fixture(scope="module")
def student():
    from toys import softmax_student
    return softmax_student()


@pytest.fixture(scope="module")
def pulses():
    from toys import toy_pulses
    return toy_pulses(300, seed=5)


class NumpyCsim:
    """Stands in for an hls4ml model of ``student`` whose logits leave as ``fmt`` (bit-exact contract)."""

    def __init__(self, student, fmt):
        self.student, self.fmt, self.config = student, fmt, None

    def predict(self, x):
        return quantize_logits(np.asarray(self.student.predict(x, verbose=0), np.float64), self.fmt)

    def get_output_variables(self):
        from types import SimpleNamespace
        p = SimpleNamespace(width=self.fmt.width, integer=self.fmt.integer, signed=True)
        return [SimpleNamespace(type=SimpleNamespace(precision=p))]


def _narrowest(student, X):
    q = qkeras_logits(student, X)
    return next(FixedFormat(w, i) for w in range(2, CFG.logit_format.width) for i in range(1, w + 1)
                if np.array_equal(quantize_logits(q, FixedFormat(w, i)).argmax(1), q.argmax(1)))


# -- lab 04 -------------------------------------------------------------------------------------

def test_04_1_logit_format(student, pulses):
    X, _ = pulses
    assert exercises.evaluate("04", 1, ...).status == "open"
    fmt = _narrowest(student, X)
    ok = exercises.evaluate("04", 1, NumpyCsim(student, fmt), student=student, X_test=X)
    assert ok.ok and fmt.hls() in ok.message, ok.message
    too_coarse = FixedFormat(fmt.width - 1, fmt.integer)          # one fraction bit less
    bad = exercises.evaluate("04", 1, NumpyCsim(student, too_coarse), student=student, X_test=X)
    assert bad.status == "wrong" and "flip" in bad.message, bad.message
    wide = exercises.evaluate("04", 1, NumpyCsim(student, CFG.logit_format), student=student, X_test=X)
    assert wide.status == "wrong" and "not narrower" in wide.message
    assert "set `answer`" in exercises.evaluate("04", 1, 42, student=student, X_test=X).message


def test_04_2_softmax_table(pulses):
    from toys import toy_softmax
    from labkit.data.prep import preprocess
    X, _ = pulses
    tuned = toy_softmax("tuned")
    x = preprocess(X)
    logits = qkeras_logits(tuned["model"], X)
    assert exercises.evaluate("04", 2, ...).status == "open"
    ok = exercises.evaluate("04", 2, tuned["hls_model"], x_test=x, logits=logits, tuned=tuned["hls_model"])
    assert ok.ok and "TableSize 1024" in ok.message and "max |Δp|" in ok.message, ok.message

    class Swapped:                                   # the same project, probabilities of the wrong class
        config = tuned["hls_model"].config
        get_output_variables = tuned["hls_model"].get_output_variables

        def predict(self, x):
            return np.asarray(tuned["hls_model"].predict(x)).reshape(len(x), -1)[:, ::-1]

    bad = exercises.evaluate("04", 2, Swapped(), x_test=x, logits=logits)
    assert bad.status == "wrong" and "decisions flip" in bad.message, bad.message
    assert "set `answer`" in exercises.evaluate("04", 2, "model", x_test=x, logits=logits).message


# -- lab 04b ------------------------------------------------------------------------------------

def _prune_first(model, keep):
    import tensorflow as tf
    pruned = tf.keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    w = pruned.get_weights()
    nz = np.abs(w[0][w[0] != 0])
    w[0] = np.where(np.abs(w[0]) < np.quantile(nz, 1 - keep), 0, w[0]).astype(w[0].dtype) if keep else 0 * w[0]
    pruned.set_weights(w)
    return pruned


def test_04b_1_prune_and_count(student, pulses):
    from labkit.data.prep import preprocess
    X, y = pulses
    ctx = dict(student=student, x=preprocess(X), y=y, lut_before=1000)
    assert exercises.evaluate("04b", 1, ...).status == "open"
    ok = exercises.evaluate("04b", 1, (_prune_first(student, 0.9), 900), **ctx)
    assert ok.ok and "LUTs 1000 -> 900" in ok.message, ok.message
    dead = exercises.evaluate("04b", 1, (_prune_first(student, 0), 10), **ctx)
    assert dead.status == "wrong" and "dead" in dead.message, dead.message
    more = exercises.evaluate("04b", 1, (_prune_first(student, 0.9), 1000), **ctx)
    assert more.status == "wrong" and "not fewer" in more.message
    same = exercises.evaluate("04b", 1, (student, 900), **ctx)
    assert same.status == "wrong" and "nonzero" in same.message
    assert "answer = (pruned, lut)" in exercises.evaluate("04b", 1, 900, **ctx).message


def test_04b_2_predicted_stages(student, tmp_path):
    from labkit.rtl import tools
    if tools.missing("da4ml"):
        pytest.skip(tools.missing("da4ml"))
    from labkit.rtl.core import build_core
    core, _ = build_core(student, tmp_path, clock_mhz=250)
    ok = exercises.evaluate("04b", 2, core.stages, student=student, clock_mhz=250)
    assert ok.ok and f"{core.stages} stages" in ok.message
    bad = exercises.evaluate("04b", 2, core.stages + 1, student=student, clock_mhz=250)
    assert bad.status == "wrong" and "round up" in bad.message
    assert "integer" in exercises.evaluate("04b", 2, "six", student=student).message


def test_04b_3_other_board():
    kv = CFG.board("kv260")
    figs = {"lut": 1000, "lut_pct": round(100 * 1000 / kv.device_luts, 2), "family": kv.yosys_family, "carry": 90}
    ok = exercises.evaluate("04b", 3, figs, pynq={"lut": 1100, "lut_pct": 2.07, "carry": 200})
    assert ok.ok and kv.title in ok.message and "carry cells 200 -> 90" in ok.message, ok.message
    wrong = exercises.evaluate("04b", 3, {**figs, "family": CFG.board("pynq-z1").yosys_family})
    assert wrong.status == "wrong" and '"kv260"' in wrong.message
    assert exercises.evaluate("04b", 3, ...).status == "open"
    assert "set `answer" in exercises.evaluate("04b", 3, 5).message


def test_04b_4_lut_budget():
    from test_pareto import _point
    pts = [_point(0, 199, lut=5000), _point(1, 196, lut=1300), _point(2, 190, lut=900, lat=4)]
    ok = exercises.evaluate("04b", 4, 1440, points=pts, accuracy_choice_lut=5000)
    assert ok.ok and "trial 1" in ok.message and "35 % of the chip" in ok.message, ok.message
    none = exercises.evaluate("04b", 4, 1440, points=[_point(0, 199, lut=5000)])
    assert none.ok and "no trial fits the budget of 1440" in none.message      # an answer too
    wrong = exercises.evaluate("04b", 4, 1436, points=pts)
    assert wrong.status == "wrong" and "a tenth" in wrong.message
    assert exercises.evaluate("04b", 4, ...).status == "open"
    assert "integer" in exercises.evaluate("04b", 4, "1440", points=pts).message
