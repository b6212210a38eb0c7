"""Draw a recorded block design (the record of ``hw/build_overlay.tcl``): a box per cell, arrows
for the streams, the memory-mapped paths, the clock and the resets.

Standard library at import time; matplotlib is imported inside :func:`draw_design`.
"""
from __future__ import annotations

from typing import Dict, Tuple

from ..config import CFG
from .checks import DMA_VLNV, RESET_VLNV


def _layout(record: dict) -> Dict[str, Tuple[float, float]]:
    """Box centres: PS left, register interconnect above, memory interconnect below, DMA in the
    middle, classifier upper right (so no arrow crosses a box), reset block bottom left."""
    cells = record["cells"]
    ps = next((c for c, v in cells.items() if "processing_system7" in v["vlnv"] or "zynq_ultra_ps_e" in v["vlnv"]), None)
    slaves_of_ps = {n["slave"].split("/")[0] for n in record["intf_nets"] if ps and n["master"].startswith(ps + "/")}
    pos: Dict[str, Tuple[float, float]] = {}
    spare = 1
    for name, cell in cells.items():
        vlnv = cell["vlnv"]
        if name == ps:
            pos[name] = (0.0, 2.0)
        elif vlnv.startswith(RESET_VLNV):
            pos[name] = (0.0, -1.2)
        elif cell.get("interconnect"):
            pos[name] = (3.0, 4.0) if name in slaves_of_ps else (3.0, 0.0)
        elif vlnv.startswith(DMA_VLNV):
            pos[name] = (6.0, 2.0)
        elif name == CFG.ip_name:
            pos[name] = (9.0, 4.0)
        else:
            pos[name] = (3.0 * spare, -1.2)
            spare += 1
    return pos


def draw_design(record: dict, ax=None):
    """Draw the recorded block design: a box per cell, arrows for AXI-Stream (green),
    AXI memory-mapped (blue), clock (orange) and reset (purple) connections.

    Drawn from the record of ``hw/build_overlay.tcl``, so the picture always matches the script.
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 7))
    pos = _layout(record)
    w, h = 2.0, 1.0
    boxes = {}
    for name, (x, y) in pos.items():
        vlnv = record["cells"][name]["vlnv"].split(":")
        box = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03",
                             facecolor="#f3f3f3", edgecolor="black", linewidth=1.2)
        ax.add_patch(box)
        boxes[name] = box
        ax.text(x, y + 0.12, name, ha="center", va="center", fontsize=9, weight="bold")
        ax.text(x, y - 0.18, vlnv[2] if len(vlnv) > 2 else vlnv[0], ha="center", va="center", fontsize=7.5,
                color="dimgray")

    def arrow(a, b, color, style="-", rad=0.0, lw=1.6, alpha=1.0, label=None):
        if a == b or a not in boxes or b not in boxes:
            return
        patch = FancyArrowPatch(pos[a], pos[b], patchA=boxes[a], patchB=boxes[b], arrowstyle="-|>",
                                mutation_scale=12, color=color, linestyle=style, lw=lw, alpha=alpha,
                                connectionstyle=f"arc3,rad={rad}")
        ax.add_patch(patch)
        if label:
            # a point on the arc (quadratic Bezier through the arc3 control point), near its middle
            (x0, y0), (x1, y1) = pos[a], pos[b]
            cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
            t = 0.5
            lx = (1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t ** 2 * x1
            ly = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t ** 2 * y1
            ax.text(lx, ly, label, fontsize=6.5, color=color, ha="center", va="center",
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=0.6))

    colors = {"axis": "tab:green", "aximm": "tab:blue"}
    pair_count: Dict[frozenset, int] = {}
    for net in record["intf_nets"]:
        if "/" not in net["master"] or "/" not in net["slave"]:
            continue  # DDR / FIXED_IO made external (Zynq-7000): top-level ports, not drawn
        (mc, mi), (sc, si) = net["master"].split("/", 1), net["slave"].split("/", 1)
        protocol = record["cells"][mc]["intfs"][mi]["protocol"]
        k = pair_count.get(frozenset((mc, sc)), 0)
        pair_count[frozenset((mc, sc))] = k + 1
        rad = 0.18 * k if protocol == "aximm" else 0.3   # two streams between DMA and IP: opposite arcs
        arrow(mc, sc, colors.get(protocol, "black"), rad=rad, label=f"{mi} → {si}")
    for k, net in enumerate(record["nets"]):
        driver = net.get("driver")
        if not driver:
            continue
        dcell, dpin = driver.split("/", 1)
        ptype = record["cells"][dcell]["pins"][dpin]["type"]
        color = {"clk": "tab:orange", "rst": "tab:purple"}.get(ptype, "gray")
        for cell in sorted({p.split("/", 1)[0] for p in net["pins"]} - {dcell}):
            arrow(dcell, cell, color, style="--" if ptype == "rst" else ":", rad=-0.25 - 0.08 * k, lw=1.0,
                  alpha=0.6)
    handles = [Line2D([], [], color="tab:green", lw=2, label="AXI-Stream (data)"),
               Line2D([], [], color="tab:blue", lw=2, label="AXI memory-mapped (registers, DDR)"),
               Line2D([], [], color="tab:orange", lw=1, linestyle=":", label=f"PL clock ({CFG.clock_mhz:g} MHz)"),
               Line2D([], [], color="tab:purple", lw=1, linestyle="--", label="reset")]
    ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.3, max(xs) + 1.3)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    project = record.get("project") or {}
    ax.set_title(f"{record.get('board', '')}: {project.get('part', '')}  —  block design '{record.get('bd_design', '')}'",
                 fontsize=10)
    return ax
