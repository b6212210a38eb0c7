"""Stage 04b — the cost estimate checked against Yosys (:func:`calibrate`).

The estimate itself is stage 03's (:mod:`labkit.training.cost`: the student search records it for
every trial); it is re-exported here with its op-by-op model.
"""
from __future__ import annotations

import numpy as np

from ..training.cost import ADDERS, PER_BIT, WIRES, comb_cost, estimate, op_luts  # noqa: F401 (this module's API)


def calibrate(points) -> dict:
    """Ratio of :func:`estimate`'s ``lut_estimate`` to Yosys LUTs on the given points.

    ``points``: an iterable of ``(estimate_dict_or_model, yosys_luts)`` pairs, or of
    :class:`labkit.rtl.core.Core` objects (each then synthesised with Yosys through
    :func:`labkit.rtl.resources.synthesize` and costed from its ``model`` attribute if present,
    otherwise from ``core.est_luts`` -- pass pairs when you have the model).
    Returns ``{"ratio": mean(est/yosys), "ratios": [...], "points": [(est, yosys), ...]}``.
    """
    pairs = []
    for p in points:
        if isinstance(p, tuple) and len(p) == 2:
            est, lut = p
            if not isinstance(est, dict):
                est = estimate(est)
            pairs.append((int(est["lut_estimate"]), int(lut)))
        else:
            from .resources import synthesize
            res = synthesize([f"{p.folder}/{s}" for s in p.sources], f"{p.name}_wrapper", board=p.board)
            model = getattr(p, "model", None)
            est = estimate(model, p.clock_mhz, p.board)["lut_estimate"] if model is not None else p.est_luts
            pairs.append((int(est), int(res["lut"])))
    if not pairs:
        raise ValueError("calibrate() needs at least one (estimate, yosys_luts) point")
    for est, lut in pairs:
        if lut <= 0:
            raise ValueError(f"a Yosys LUT count of {lut} cannot calibrate the estimate: pass the "
                             "'lut' of a synthesised core")
    ratios = [est / lut for est, lut in pairs]
    return {"ratio": round(float(np.mean(ratios)), 3), "ratios": [round(r, 3) for r in ratios],
            "points": pairs}
