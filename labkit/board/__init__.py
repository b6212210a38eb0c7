"""Stage 06 — on the board: the PYNQ driver of the classifier, and an emulated overlay for hosts.

Lab 06 and ``labkit bench board`` use the same three lines on a PYNQ board and on a laptop::

    from labkit.board import Overlay, allocate, Classifier
    overlay = Overlay()            # pynq.Overlay('labkit_clyc.bit') on a board, else the emulation
    clf = Classifier(overlay)      # checks ip_dict for CFG.ip_name / CFG.dma_name

``allocate`` is ``pynq.allocate``; in emulated mode PYNQ's active device is
:class:`~labkit.board.emulated.EmulatedDevice`, so PYNQ's own ``allocate``, ``MMIO``,
``DefaultIP`` and AXI DMA driver run against the emulated registers.

Mode (``LABKIT_BOARD``): ``board``, ``emulated`` or ``auto`` (default: a board when the Linux
FPGA manager exists, else emulated).

numpy + pynq only at import time (no TensorFlow, hls4ml, pandas or matplotlib): the PYNQ-Z1
image (Python 3.10, PYNQ 3.0.1) runs this package.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
from pynq import allocate

from .. import artifacts
from ..config import CFG
from .driver import (BoardRun, Classifier, ClycClassifier, InputSaturationWarning, check_overlay,
                     count_saturating, dma_length_width, input_from_metadata, n_out_from_metadata)
from .regs import BoardError, DMATimeoutError, positive_seconds, whole_number

MODE_ENV = "LABKIT_BOARD"
OVERLAY_ENV = "LABKIT_OVERLAY"
FPGA_MANAGER = "/sys/class/fpga_manager/fpga0"      # what PYNQ's EmbeddedDevice probes

__all__ = ["Overlay", "allocate", "Classifier", "ClycClassifier", "BoardRun", "BoardError",
           "DMATimeoutError", "InputSaturationWarning", "board_mode", "on_board", "find_bitstream",
           "check_overlay", "count_saturating", "dma_length_width", "input_from_metadata", "n_out_from_metadata", "describe",
           "overlay_board"]


def on_board() -> bool:
    return os.path.exists(FPGA_MANAGER)


def board_mode() -> str:
    """``'board'`` or ``'emulated'`` from ``$LABKIT_BOARD`` (``auto``: board if one is present)."""
    value = os.environ.get(MODE_ENV, "auto").strip().lower()
    if value in ("emulated", "emulation", "emu", "host"):
        return "emulated"
    if value in ("board", "pynq", "hardware", "hw"):
        return "board"
    if value not in ("", "auto"):
        raise ValueError(f"{MODE_ENV}={value!r}: use board, emulated or auto")
    return "board" if on_board() else "emulated"


# importing the module registers the emulated pynq.Device (its _probe_ is empty on a board)
from . import emulated  # noqa: E402
from .emulated import EmulatedDevice, EmulatedOverlay  # noqa: E402


def find_bitstream(bitfile: Optional[str] = None, board: Optional[str] = None) -> Path:
    """The overlay's .bit, with its .hwh (same basename) next to it; errors name the fix."""
    name = f"{CFG.overlay_name}.bit"
    if bitfile or os.environ.get(OVERLAY_ENV):
        candidates = [Path(bitfile or os.environ[OVERLAY_ENV])]
    else:
        here = Path.cwd()
        candidates = [here / name, here / "overlay" / name, here / CFG.overlay_name / name]
        boards = [board] if board else list(CFG.boards)
        candidates += [artifacts.overlay(b) / name for b in boards]
    bit = next((p for p in candidates if p.is_file()), None)
    if bit is None:
        raise FileNotFoundError(
            f"no overlay bitstream found (looked at {', '.join(str(p) for p in candidates)}): copy "
            f"{CFG.overlay_name}.bit and .hwh from the package (`labkit package --board <board>`) next to "
            f"the notebook, set {OVERLAY_ENV}=/path/{name}, or run with {MODE_ENV}=emulated")
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        others = sorted(p.name for p in bit.parent.glob("*.hwh"))
        hint = (f"; {', '.join(others)} is there — rename it to {hwh.name} (PYNQ pairs files by basename)"
                if others else f"; copy {hwh.name} from the Vivado build (artifacts/overlay/<board>/)")
        raise FileNotFoundError(f"{hwh} is missing: PYNQ needs the .hwh with the same basename as "
                                f"{bit.name} to know the IP names{hint}")
    return bit


def Overlay(bitfile: Optional[str] = None, mode: Optional[str] = None, **emulation_options):
    """Load the course overlay: ``pynq.Overlay`` on a board, :class:`EmulatedOverlay` elsewhere.

    Checks that the overlay has ``CFG.ip_name`` and ``CFG.dma_name`` before returning it.
    ``emulation_options`` go to :class:`EmulatedOverlay` (``lib_path``, ``dma_length_width``,
    ``board``, ``stall_timeout``).
    """
    mode = mode or board_mode()
    if mode == "emulated":
        overlay = EmulatedOverlay(**emulation_options)
    elif mode == "board":
        import pynq

        overlay = pynq.Overlay(str(find_bitstream(bitfile)))
        overlay.mode = "board"
    else:
        raise ValueError(f"mode must be 'board' or 'emulated', got {mode!r}")
    check_overlay(overlay)
    return overlay


def describe(overlay) -> str:
    """One sentence: which overlay is running."""
    if getattr(overlay, "mode", "board") == "emulated":
        why = "LABKIT_BOARD=emulated" if on_board() else "no PYNQ board found"
        return (f"Running the EMULATED overlay ({why}): PYNQ's drivers on emulated registers, data path = "
                f"the C emulation library {overlay.device.ip.emu.path.name}.")
    return f"Running on the board: overlay {overlay.bitfile_name} is loaded in the FPGA."


def overlay_board(overlay) -> str:
    """The ``[board:*]`` key of course.ini an overlay runs on: the emulated overlay's own; on a board
    PYNQ's ``$BOARD`` (``Pynq-Z1``, ``KV260``) matched to a key or title; else ``default_board``."""
    if getattr(overlay, "mode", "board") == "emulated":
        return overlay.board
    squash = lambda text: "".join(ch for ch in str(text).lower() if ch.isalnum())
    name = squash(os.environ.get("BOARD", ""))
    for key, b in CFG.boards.items():
        if name and name in (squash(key), squash(b.title)):
            return key
    return CFG.default_board
