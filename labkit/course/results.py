"""Numbers each lab records for the course summary (``artifacts/results/<stage>.json``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

from .. import artifacts


def _clean(v):
    try:
        import numpy as np
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def record(stage: str, **numbers) -> Dict:
    """Merge ``numbers`` into the stage's result file and return the whole record."""
    path = artifacts.results() / f"{stage}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(_clean(numbers))
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return data


def load_all() -> Dict[str, Dict]:
    folder = artifacts.results()
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


# ------------------------------------------------------------------------------------------
# lab 04b's measured front, for lab 04c (the two routes on the same axes)
# ------------------------------------------------------------------------------------------

#: the result file lab 04b writes and lab 04c reads (``artifacts/results/<FRONT>.json``)
FRONT = "lab04b_front"
#: what lab 04c keeps of a measured student (labkit.rtl.search.measure) and of a cut (labkit.rtl.baselines.report)
_POINT_KEYS = ("trial_id", "acc", "acc_k", "acc_n", "acc_ci95", "val_acc", "val_k", "val_n", "lut", "ff", "dsp",
               "lut_estimate", "nonzero", "weight_bits", "activation_bits", "layers", "val_pred", "pred")


def pulses_digest(pulses) -> str:
    """A fingerprint of a set of pulses (windows and labels): two environments that load the same split
    get the same one, so a comparison across them is on the same test pulses."""
    import hashlib

    import numpy as np
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(pulses.X, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(pulses.y, dtype="<i8").tobytes())
    return h.hexdigest()[:16]


def save_front(measured, cuts, *, test, front_ids=(), deployed=None, parallel=None, board=None) -> Path:
    """Write lab 04b's measured QKeras students and the classical cuts as RTL to
    ``artifacts/results/lab04b_front.json`` and return its path.

    ``measured``: :func:`labkit.rtl.search.measure` dicts (Yosys LUTs of the core course.ini [rtl] fold
    names, ``latency_cycles_rtl``, test accuracy with n and interval); ``cuts``:
    :func:`labkit.rtl.baselines.report` rows; ``test``: the test pulses (their :func:`pulses_digest` is
    kept, and each student's argmax on every validation and test pulse, ``val_pred`` and ``pred``, for
    paired tests); ``front_ids``: the trials on the search's front; ``deployed``: the deployed trial;
    ``parallel``: ``{trial_id: {"lut": ..., "latency_cycles": ...}}`` of the same students as fully
    parallel cores (fold "none"), the form HGQ2's da4ml core has.
    """
    from ..config import CFG, fast_mode
    parallel = parallel or {}
    points = []
    for m in measured:
        p = {k: m.get(k) for k in _POINT_KEYS}
        par = parallel.get(m["trial_id"], {})
        p.update(route="qkeras", fold=CFG.rtl.fold, latency_cycles=m.get("latency_cycles_rtl", m.get("latency_cycles")),
                 on_front=m["trial_id"] in set(front_ids), deployed=m["trial_id"] == deployed,
                 lut_parallel=par.get("lut"), latency_cycles_parallel=par.get("latency_cycles"))
        points.append(p)
    rows = [{"name": c["name"], "acc": c["acc"]["acc"], "acc_k": c["acc"]["k"], "acc_n": c["acc"]["n"],
             "acc_ci95": list(c["acc"]["ci95"]), "lut": c["lut"], "ff": c["ff"], "dsp": c["dsp"],
             "latency_cycles": c["latency_cycles"]} for c in cuts]
    data = {"route": "qkeras", "board": board or CFG.default_board, "clock_mhz": CFG.rtl.clock_mhz,
            "fold": CFG.rtl.fold, "fast": fast_mode(), "n_test": int(len(test)), "test_digest": pulses_digest(test),
            "selection": CFG.search.selection, "deployed": deployed, "points": points, "cuts": rows}
    path = artifacts.results() / f"{FRONT}.json"
    artifacts.write_text_atomic(path, json.dumps(_clean(data), indent=1))
    return path


def load_front() -> Dict:
    """Lab 04b's front (:func:`save_front`), or one sentence saying which lab writes it."""
    path = artifacts.results() / f"{FRONT}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run lab 04b (labs/04b_rtl_cost.ipynb) first, with Yosys and "
                                "Icarus installed (`make setup`); it measures the QKeras front and writes this file")
    return json.loads(path.read_text())
