"""labkit — helpers for the CLYC gamma/neutron course: from detector pulses to an FPGA.

Each lab's code lives in the package named for its stage; the lab imports that package:

=====  ==================  ================================================================
lab    stage               package
=====  ==================  ================================================================
01     data                ``labkit.data`` (loaders, synthetic CLYC, split, baselines, calibration)
02     teacher             ``labkit.training`` (hypermodels, search, checkpoints)
03     student             ``labkit.training`` (distillation, pruning, dead-network checks)
04     hls4ml              ``labkit.hls`` (config, conversion, stream wrapper, IP C simulation, export)
04b    RTL cost            ``labkit.rtl`` (da4ml Verilog, Verilator/Icarus, Yosys)
04c    two routes          ``labkit.hgq`` (HGQ2 on Keras 3 in ``.venv-keras3``: learned bit widths, da4ml, hls4ml, the IP)
05     block design        ``labkit.blockdesign`` (+ ``hw/build_overlay.tcl``)
06     on board            ``labkit.board`` (PYNQ driver, register map, emulated overlay, packaging)
=====  ==================  ================================================================

Course tooling (CLI, benchmarks, runner, results, plots): ``labkit.course``.  Shared modules:
``config`` (course.ini), ``artifacts`` (where every stage writes), ``emit`` (course.ini emitted for Tcl,
C++, Verilog, JSON), ``fixedpoint`` (ap_fixed formats and the QKeras quantizer -> ap_fixed rules),
``metrics`` (statistics), ``stream`` (the IP's stream packing and register map).  Imports follow the
course: a stage imports only earlier stages and the shared modules, shared modules import no stage,
and nothing imports ``labkit.course`` (``tests/test_layout.py`` checks).

Shared numbers: ``labkit.config.CFG`` (from ``labkit/course.ini``).  This package must import on
the board (numpy + pynq, no TensorFlow): heavy imports stay inside the modules that need them.
"""
from .config import CFG, artifacts_dir, fast_mode

__all__ = ["CFG", "artifacts_dir", "fast_mode"]
__version__ = "0.1.0"
