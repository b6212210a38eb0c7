"""labkit — helpers for the CLYC gamma/neutron course: from detector pulses to an FPGA.

Stages (one notebook each in ``labs/``) and where their helpers live:

=====  ==================  ================================================================
lab    stage               module
=====  ==================  ================================================================
01     data                ``labkit.data`` (loaders, synthetic CLYC, split), ``labkit.baselines``
02     teacher             ``labkit.models`` (keras-tuner hypermodels), ``labkit.tuning``
03     student             ``labkit.models``, ``labkit.compress`` (distillation, QAT, pruning)
04     hls4ml              ``labkit.hls`` (config, conversion, stream wrapper, emulation)
05     block design        ``labkit.overlay`` + ``hw/build_overlay.tcl``
06     on board            ``labkit.board`` (PYNQ driver, emulated overlay)
=====  ==================  ================================================================

Shared numbers: ``labkit.config.CFG`` (from ``labkit/course.ini``); shared fixed-point formats and
the QKeras quantizer -> ap_fixed contract (read by ``labkit.hls`` and ``labkit.rtl``):
``labkit.fixedpoint``.  This package must import on
the board (numpy + pynq, no TensorFlow): heavy imports stay inside the modules that need them.
"""
from .config import CFG, artifacts_dir, fast_mode

__all__ = ["CFG", "artifacts_dir", "fast_mode"]
__version__ = "0.1.0"
