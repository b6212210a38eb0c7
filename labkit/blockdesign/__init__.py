"""Stage 05 — the block design: the Vivado TCL that puts the classifier IP behind an AXI DMA next
to the Zynq PS (``hw/build_overlay.tcl``), run for real with Vivado or recorded with tclsh stubs,
checked and drawn.  ``labkit overlay`` is its command line."""
from .build import (BUILD_TCL, HW_DIR, STUB_RUNNER, build_command, cell_roles, check_design, classifier_kind,
                    draw_design, main, record_design, run_stubbed, summary, vivado_available)

__all__ = ["BUILD_TCL", "HW_DIR", "STUB_RUNNER", "build_command", "cell_roles", "check_design", "classifier_kind",
           "draw_design", "main", "record_design", "run_stubbed", "summary", "vivado_available"]
