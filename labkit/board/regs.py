"""Register maps shared by the board driver and the emulated overlay, and the board errors.

Numbers only (no pynq import), so the driver, the emulation and the tests name the same bits.

* AXI DMA v7.1 in simple (direct register) mode, Xilinx PG021 "Register Space":
  MM2S channel at 0x00, S2MM channel at 0x30, each with DMACR/DMASR/address/LENGTH.
* The HLS classifier (Vitis HLS ``ap_ctrl_hs`` on ``s_axi_control``): CTRL/GIER/IP_IER/IP_ISR (names of ``labkit.stream.REGISTERS``) and
  the ``batch`` argument (pulses per run).
"""
from __future__ import annotations

from ..stream import CTRL_BITS, DMA_ADDR_RANGE, DMA_VLNV, IP_ADDR_RANGE, REGISTERS  # noqa: F401  (one definition)
from ..stream import positive_seconds, whole_number  # noqa: F401  (the driver's argument checks)

# ---- AXI DMA (PG021) ------------------------------------------------------------------------
MM2S = 0x00          # memory -> stream ("sendchannel")
S2MM = 0x30          # stream -> memory ("recvchannel")
DMACR = 0x00         # control: RS bit0, Reset bit2, IOC_IrqEn bit12
DMASR = 0x04         # status: Halted bit0, Idle bit1, DMAIntErr bit4, DMASlvErr bit5, DMADecErr bit6, IOC_Irq bit12
ADDR = 0x18          # MM2S_SA / S2MM_DA (low 32 bits)
ADDR_MSB = 0x1C
LENGTH = 0x28        # bytes; writing it starts the transfer; S2MM reads back the bytes received
CR_RS, CR_RESET = 0x1, 0x4
SR_HALTED, SR_IDLE = 0x1, 0x2
SR_INT_ERR, SR_SLV_ERR, SR_DEC_ERR = 0x10, 0x20, 0x40
SR_IOC_IRQ = 0x1000
SR_ERRORS = SR_INT_ERR | SR_SLV_ERR | SR_DEC_ERR

# ---- classifier IP (Vitis HLS ap_ctrl_hs): offsets and CTRL bits from labkit.stream ----------
CTRL, GIER, IP_IER, IP_ISR, BATCH = (REGISTERS[k] for k in ("CTRL", "GIER", "IP_IER", "IP_ISR", "batch"))
AP_START, AP_DONE, AP_IDLE, AP_READY, AUTO_RESTART = (
    1 << CTRL_BITS[k] for k in ("ap_start", "ap_done", "ap_idle", "ap_ready", "auto_restart"))


def _field(offset: int, width: int, access: str, text: str) -> dict:
    return {"bit_offset": offset, "bit_width": width, "access": access, "description": text}


def ip_registers() -> dict:
    """The classifier's register map in the form PYNQ's .hwh parser puts in ``ip_dict[...]['registers']``."""
    return {
        "CTRL": {"address_offset": CTRL, "size": 32, "access": "read-write",
                 "description": "Control signals",
                 "fields": {"AP_START": _field(0, 1, "read-write", "write 1 to start one run of `batch` pulses"),
                            "AP_DONE": _field(1, 1, "read-only", "run finished (clear on read)"),
                            "AP_IDLE": _field(2, 1, "read-only", "IP idle"),
                            "AP_READY": _field(3, 1, "read-only", "IP ready for a new start (clear on read)"),
                            "RESERVED_1": _field(4, 3, "read-only", "reserved"),
                            "AUTO_RESTART": _field(7, 1, "read-write", "restart automatically after each run"),
                            "RESERVED_2": _field(8, 24, "read-only", "reserved")}},
        "GIER": {"address_offset": GIER, "size": 32, "access": "read-write",
                 "description": "Global interrupt enable register",
                 "fields": {"Enable": _field(0, 1, "read-write", "global interrupt enable"),
                            "RESERVED": _field(1, 31, "read-only", "reserved")}},
        "IP_IER": {"address_offset": IP_IER, "size": 32, "access": "read-write",
                   "description": "IP interrupt enable register",
                   "fields": {"CHAN0_INT_EN": _field(0, 1, "read-write", "ap_done interrupt"),
                              "CHAN1_INT_EN": _field(1, 1, "read-write", "ap_ready interrupt"),
                              "RESERVED": _field(2, 30, "read-only", "reserved")}},
        "IP_ISR": {"address_offset": IP_ISR, "size": 32, "access": "read-write",
                   "description": "IP interrupt status register (toggle on write)",
                   "fields": {"CHAN0_INT_ST": _field(0, 1, "read-write", "ap_done"),
                              "CHAN1_INT_ST": _field(1, 1, "read-write", "ap_ready"),
                              "RESERVED": _field(2, 30, "read-only", "reserved")}},
        "batch": {"address_offset": BATCH, "size": 32, "access": "read-write",
                  "description": "pulses per run (one DMA transfer); 1 ... max_batch"},
    }


class BoardError(RuntimeError):
    """The overlay, the DMA or the IP is not in the state the driver needs; the message says the fix."""


class DMATimeoutError(TimeoutError):
    """A DMA transfer did not complete in time (on a board ``wait()`` would hang forever)."""

