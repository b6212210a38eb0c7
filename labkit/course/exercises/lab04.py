"""Checks of lab 04's exercises (hls4ml: the logit format, softmax in hardware)."""
from __future__ import annotations

import numpy as np

from . import exercise

#: exercise 2: the largest |p_hls - softmax(logits)| accepted
SOFTMAX_TOLERANCE = 0.01


def _is_hls_model(answer) -> bool:
    return all(hasattr(answer, a) for a in ("predict", "config", "get_output_variables"))


def _output_format(hls_model):
    from ...fixedpoint import FixedFormat
    p = hls_model.get_output_variables()[0].type.precision
    return FixedFormat(int(p.width), int(p.integer), bool(p.signed))


@exercise("04", 1)
def logit_format(answer, student=None, X_test=None):
    """``answer`` = an hls4ml model of the student converted with a narrower ``logit_format``."""
    from ...config import CFG
    if not _is_hls_model(answer):
        return False, ("set `answer` to the hls4ml model you converted with a coarser format, "
                       "e.g. convert.convert(student, ..., logit_format=FixedFormat(10, 6))")
    if student is None or X_test is None:
        return False, "pass student= and X_test= (the raw test pulses) to the check"
    from ...hls.convert import agreement
    fmt = _output_format(answer)
    if fmt.width >= CFG.logit_format.width:
        return False, (f"{fmt.hls()} is not narrower than the IP's {CFG.logit_format.hls()}: "
                       "pass logit_format=FixedFormat(width, integer) with fewer bits")
    a = agreement(student, answer, X_test, fmt=fmt)
    q = a["qkeras_logits"]
    # integer bits (sign included) for |logit| < 2**(integer - 1)
    need_int = int(np.floor(np.log2(max(float(np.abs(q).max()), fmt.lsb)))) + 2
    n_flip = int(round((1 - a["argmax_agreement"]) * a["n"]))
    if n_flip:
        if float(np.abs(q).max()) > fmt.max:
            why = (f"logits up to {np.abs(q).max():.3f} saturate at {fmt.max:g}: give the format more "
                   "integer bits")
        else:
            why = (f"logits closer than one lsb ({fmt.lsb:g}) round to the same value, and a tie goes to "
                   "class 0: give the format more fraction bits")
        return False, f"{fmt.hls()}: {n_flip} of {a['n']} decisions flip; {why}"
    clipped = (" — more than half an lsb, so some logits saturated: the decisions survive, their values do not"
               if a["max_abs_logit_diff"] > fmt.lsb / 2 else "")
    return True, (f"{fmt.hls()} ({fmt.width} bits instead of {CFG.logit_format.width}): all {a['n']} decisions "
                  f"agree, max |Δlogit| {a['max_abs_logit_diff']:.4g} (lsb {fmt.lsb:g}){clipped}. The logits span "
                  f"{q.min():.3f} … {q.max():.3f}, so about {need_int} integer bits (with the sign) hold them; "
                  "with fewer, AP_SAT clips a large logit to the largest value of the same sign, where "
                  "wrap-around would turn it into a large value of the other sign and flip the decision")


@exercise("04", 2)
def softmax_table(answer, x_test=None, logits=None, tuned=None):
    """``answer`` = an hls4ml model of the student + softmax; ``logits`` = the student's (QKeras) logits;
    ``tuned`` = lab 04's tuned softmax (model or project folder), to compare the table bits with."""
    if not _is_hls_model(answer):
        return False, ("set `answer` to the hls4ml model of `with_softmax` you converted "
                       "(the first value softmax_csim returns)")
    if x_test is None or logits is None:
        return False, "pass x_test= (the preprocessed test pulses) and logits= (y_qkeras) to the check"
    from ...hls import softmax
    try:
        cfg = softmax.config_of(answer)
    except ValueError as err:
        return False, str(err)
    x = np.ascontiguousarray(x_test, dtype=np.float64)
    p = np.asarray(answer.predict(x), np.float64).reshape(len(x), -1)
    c = softmax.compare(p, logits)
    rows = softmax.tables(answer)
    bits, exp_bin = sum(r["bits"] for r in rows), rows[0]["bin width"]
    what = f"{cfg['implementation']} softmax, TableSize {cfg['exp_table_size']} ({bits} table bits)"
    if c["flipped"] and c["margin_max"] >= exp_bin:
        return False, (f"{what}: {c['flipped']} of {c['n']} decisions flip, some with a logit margin up to "
                       f"{c['margin_max']:.3g}, more than the exp table's bin width {exp_bin:g}: a correct softmax "
                       "flips only near-ties; look at the result type and the tables' bin widths")
    if c["max_abs_dp"] >= SOFTMAX_TOLERANCE:
        return False, (f"{what}: max |Δp| {c['max_abs_dp']:.4f} ≥ {SOFTMAX_TOLERANCE}: the tables' "
                       "bins are too wide (softmax.tables(answer) shows them); use more entries")
    flips = (f"{c['flipped']} near-tie flip(s) (logit margin below the exp bin width {exp_bin:g})"
             if c["flipped"] else "no flip")
    msg = f"{what}: {flips}, max |Δp| {c['max_abs_dp']:.4f} < {SOFTMAX_TOLERANCE}"
    if tuned is not None:
        tuned_bits = sum(r["bits"] for r in softmax.tables(tuned))
        msg += f"; the lab's tuned configuration uses {tuned_bits} table bits"
        if bits >= tuned_bits:
            msg += " (try fewer entries: the tolerance may allow it)"
    return True, msg
