"""Stage 05 — the block design: the Vivado TCL that puts the classifier IP behind an AXI DMA next
to the Zynq PS (``hw/build_overlay.tcl``), run for real with Vivado or recorded with tclsh stubs
(``build``), checked by named checks (``checks``) and drawn (``draw``).  ``labkit overlay`` is its
command line."""
from .build import (BUILD_TCL, HW_DIR, STUB_RUNNER, build_command, main, record_design, run_stubbed, summary,
                    tcl_section, vivado_available)
from .checks import GROUPS, Check, cell_roles, classifier_kind, failed, recorded_addresses, run_checks
from .draw import draw_design

__all__ = ["BUILD_TCL", "HW_DIR", "STUB_RUNNER", "Check", "GROUPS", "build_command", "cell_roles", "classifier_kind",
           "draw_design", "failed", "main", "record_design", "recorded_addresses", "run_checks", "run_stubbed", "summary",
           "tcl_section", "vivado_available"]
