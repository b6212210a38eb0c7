"""An emulated PYNQ overlay: AXI DMA + classifier IP, register for register, on any host.

Why this shape (see also ``labkit.board``):

* :class:`EmulatedDevice` is a real ``pynq.Device`` subclass (PYNQ's ``DeviceMeta`` registers it
  through ``_probe_``).  It has the ``REGISTER_RW`` capability, so ``pynq.MMIO``,
  ``pynq.allocate``, ``pynq.DefaultIP`` (``read``/``write``/``register_map``) and PYNQ's own
  AXI DMA driver (``pynq.lib.dma.DMA``: ``sendchannel``/``recvchannel``, ``transfer``, ``wait``,
  ``idle``) run unchanged on it: every register access they make lands in the models below.
* :class:`EmulatedOverlay` stands in for ``pynq.Overlay``.  A real ``Overlay`` needs a .bit and the
  .hwh that only Vivado writes, so the emulated design is described directly (same ``ip_dict``
  layout PYNQ's .hwh parser produces) and its drivers are the same classes PYNQ would bind.
* The data path is the stage-04 C emulation library (``labkit.hls.ipsim.EmulatedIP``), i.e. the
  C++ that Vitis HLS synthesises.

What the models check, as the hardware would: the DMA length register width (values are
truncated to it), buffer addresses (decode error), TLAST (S2MM completes only on TLAST; an early
TLAST ends the transfer short; a packet longer than the buffer is an internal error), and the IP
handshake (its input stream is ready only after ``ap_start``).  The emulation is synchronous, so
a transfer that is still busy after a register access can only progress through another host
action: when the host keeps polling such a channel for ``stall_timeout`` seconds, the status read
raises :class:`~labkit.board.regs.DMATimeoutError` explaining why — on a board the same
``wait()`` would hang forever.

numpy + pynq only (imports on the board, where it is never selected by default).
"""
from __future__ import annotations

import os
import time
import weakref
from pathlib import Path

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

from ..config import CFG
from . import regs as R

STALL_ENV = "LABKIT_EMU_STALL_S"
DEFAULT_STALL_S = 5.0

DDR_BASE = 0x1000_0000
PAGE = 4096


def stall_timeout_default() -> float:
    text = os.environ.get(STALL_ENV) or ""
    if not text.strip():
        return DEFAULT_STALL_S
    try:
        value = float(text)
    except ValueError:
        value = text
    return R.positive_seconds(value, f"${STALL_ENV}")


# ------------------------------------------------------------------------------------------
# memory: pynq.allocate() on the emulated device
# ------------------------------------------------------------------------------------------

class _Memory:
    """Physically contiguous 'DDR': buffers get bus addresses the DMA model resolves."""

    def __init__(self, base: int = DDR_BASE):
        self._next = base
        self._buffers: list[tuple[int, int, weakref.ref]] = []

    def allocate(self, device, shape, dtype) -> PynqBuffer:
        buf = PynqBuffer(shape, dtype, device=device, device_address=self._next, coherent=True)
        buf[...] = 0
        self._buffers = [b for b in self._buffers if b[2]() is not None]
        self._buffers.append((self._next, buf.nbytes, weakref.ref(buf)))
        self._next += max(PAGE, -(-buf.nbytes // PAGE) * PAGE)
        return buf

    def bytes_at(self, address: int, nbytes: int):
        """A writable uint8 view of ``nbytes`` at bus ``address``, or None (unmapped -> decode error)."""
        for base, size, ref in self._buffers:
            buf = ref()
            if buf is not None and base <= address and address + nbytes <= base + size:
                flat = np.asarray(buf).reshape(-1).view(np.uint8)
                return flat[address - base: address - base + nbytes]
        return None


# ------------------------------------------------------------------------------------------
# the classifier IP
# ------------------------------------------------------------------------------------------

class ClassifierModel:
    """``ap_ctrl_hs`` control + AXI-Stream ports around one :class:`labkit.hls.ipsim.EmulatedIP`.

    Fault injection for tests and exercises: ``drop_tlast`` (the output stream never asserts
    TLAST), ``early_tlast_at`` (TLAST on output beat k, 0-based, of every run).
    """

    def __init__(self, emu):
        self.emu = emu
        info = emu.info
        self.words_per_pulse = int(info["words_per_pulse"])
        self.n_out = int(info["n_out"])
        self.input = info.get("input", "course")     # the input transform its wrapper applies
        self.max_batch = int(info["max_batch"])
        self.drop_tlast = False
        self.early_tlast_at: int | None = None
        self.reset()

    def reset(self):
        self.start = False
        self.done = self.ready = False
        self.auto_restart = False
        self.gie = self.ier = self.isr = 0
        self.batch = 0
        self.running = False
        self.run_batch = 0
        self.accepted_words: list[np.ndarray] = []
        self.accepted_last: list[np.ndarray] = []
        self.n_accepted = 0
        self.out_words = np.zeros(0, np.uint32)
        self.out_last = np.zeros(0, bool)
        self.failure: str | None = None
        self.runs = 0

    # -- AXI-Lite ---------------------------------------------------------------------------
    def read(self, offset: int) -> int:
        if offset == R.CTRL:
            value = (R.AP_START * self.start | R.AP_DONE * self.done | R.AP_READY * self.ready
                     | R.AP_IDLE * (not self.running) | R.AUTO_RESTART * self.auto_restart)
            self.done = self.ready = False          # clear on read
            return value
        return {R.GIER: self.gie, R.IP_IER: self.ier, R.IP_ISR: self.isr, R.BATCH: self.batch}.get(offset, 0)

    def write(self, offset: int, value: int):
        if offset == R.CTRL:
            self.auto_restart = bool(value & R.AUTO_RESTART)
            if value & R.AP_START:
                self.start = True
        elif offset == R.GIER:
            self.gie = value & 1
        elif offset == R.IP_IER:
            self.ier = value & 3
        elif offset == R.IP_ISR:
            self.isr ^= value & 3                    # toggle on write
        elif offset == R.BATCH:
            self.batch = value

    # -- data path --------------------------------------------------------------------------
    @property
    def need(self) -> int:
        return self.run_batch * self.words_per_pulse

    def step(self, stream: "_Stream") -> bool:
        """Advance as far as the input allows; True if anything changed."""
        changed = False
        if self.start and not self.running and self.failure is None:
            self.start = False                       # ap_start is taken with ap_ready
            self.running, self.run_batch = True, self.batch
            self.accepted_words, self.accepted_last, self.n_accepted = [], [], 0
            changed = True
            if not 1 <= self.run_batch <= self.max_batch:
                self.failure = (f"batch register = {self.run_batch} is outside 1…{self.max_batch}, so the IP "
                                "never finishes a run; write the number of pulses of this transfer")
        if not self.running or self.failure is not None:
            return changed
        take = min(self.need - self.n_accepted, stream.available)
        if take:
            words, last = stream.pop(take)
            self.accepted_words.append(words)
            self.accepted_last.append(last)
            self.n_accepted += take
            changed = True
        if self.n_accepted == self.need:
            self._finish_run()
            changed = True
        return changed

    def _finish_run(self):
        words = np.concatenate(self.accepted_words)
        last = np.concatenate(self.accepted_last)
        try:
            out, out_last, consumed = self.emu.run(self.run_batch, words, last)
        except Exception as err:  # the library refused: the real IP would hang
            self.failure = f"the IP stalled: {err}"
            return
        out_last = np.array(out_last, dtype=bool)
        if self.drop_tlast:
            out_last[:] = False
        if self.early_tlast_at is not None and self.early_tlast_at < out_last.size:
            out_last[self.early_tlast_at] = True
        self.out_words = np.concatenate([self.out_words, np.asarray(out, np.uint32)])
        self.out_last = np.concatenate([self.out_last, out_last])
        self.running = False
        self.done = self.ready = True
        self.isr |= self.ier & 3
        self.runs += 1
        if self.auto_restart:
            self.start = True

    def pop_output(self, max_words: int):
        """Up to ``max_words`` output beats, stopping after the first TLAST."""
        k = min(max_words, self.out_words.size)
        hits = np.flatnonzero(self.out_last[:k])
        if hits.size:
            k = int(hits[0]) + 1
        words, last = self.out_words[:k], self.out_last[:k]
        self.out_words, self.out_last = self.out_words[k:], self.out_last[k:]
        return words, last

    def why_stalled(self) -> str:
        if self.failure:
            return self.failure
        if self.running:
            return (f"the IP is waiting for input: it has {self.n_accepted} of the {self.need} words that "
                    f"batch = {self.run_batch} pulses need ({self.words_per_pulse} words per pulse); send "
                    "exactly `batch` pulses, or write the batch register to the number of pulses sent")
        if self.start:
            return "ap_start is set but the IP has not begun (internal emulation state)"
        return ("the IP was never started: write batch, then ap_start = 1 to CTRL (offset 0x00) before the "
                "data flows; until then its input stream is not ready and its output stays empty")


class _Stream:
    """The AXI-Stream from the DMA's MM2S port into the IP (beats of the current send)."""

    def __init__(self):
        self.words = np.zeros(0, np.uint32)
        self.last = np.zeros(0, bool)

    @property
    def available(self) -> int:
        return int(self.words.size)

    def push(self, words, last):
        self.words = np.concatenate([self.words, words])
        self.last = np.concatenate([self.last, last])

    def pop(self, k: int):
        out = self.words[:k], self.last[:k]
        self.words, self.last = self.words[k:], self.last[k:]
        return out


# ------------------------------------------------------------------------------------------
# the AXI DMA (simple mode)
# ------------------------------------------------------------------------------------------

class _Channel:
    def __init__(self, name: str):
        self.name = name
        self.reset()

    def reset(self):
        self.cr = 0
        self.halted = True
        self.idle = False
        self.busy = False
        self.errors = 0
        self.ioc = False
        self.addr = 0
        self.length = 0          # programmed bytes (S2MM: bytes received once complete)
        self.done_bytes = 0
        self.saw_tlast = False
        self.poll_since: float | None = None

    def status(self) -> int:
        return (R.SR_HALTED * self.halted | R.SR_IDLE * self.idle | self.errors
                | R.SR_IOC_IRQ * self.ioc)

    def complete(self):
        self.busy, self.idle, self.ioc, self.poll_since = False, True, True, None

    def fail(self, bit: int):
        # PG021: an error halts the channel gracefully (DMACR.RS -> 0, DMASR.Halted -> 1)
        self.busy, self.errors, self.halted, self.poll_since = False, self.errors | bit, True, None
        self.cr &= ~R.CR_RS


class DMAModel:
    def __init__(self, memory: _Memory, ip: ClassifierModel, length_width: int, stall_timeout: float):
        self.memory, self.ip = memory, ip
        self.length_width = int(length_width)
        self.stall_timeout = R.positive_seconds(stall_timeout, "stall_timeout")
        self.mm2s, self.s2mm = _Channel("MM2S (sendchannel)"), _Channel("S2MM (recvchannel)")
        self.stream = _Stream()
        self.last_error = ""

    def _channel(self, offset: int):
        return (self.s2mm, offset - R.S2MM) if offset >= R.S2MM else (self.mm2s, offset)

    def read(self, offset: int) -> int:
        ch, reg = self._channel(offset)
        if reg == R.DMACR:
            return ch.cr
        if reg == R.DMASR:
            self._watchdog(ch)
            return ch.status()
        if reg == R.ADDR:
            return ch.addr & 0xFFFFFFFF
        if reg == R.ADDR_MSB:
            return ch.addr >> 32
        if reg == R.LENGTH:
            return ch.done_bytes if ch is self.s2mm and ch.idle else ch.length
        return 0

    def write(self, offset: int, value: int):
        ch, reg = self._channel(offset)
        if reg == R.DMACR:
            if value & R.CR_RESET:               # soft reset resets the whole DMA (both channels)
                self.mm2s.reset()
                self.s2mm.reset()
                self.stream = _Stream()
                return
            ch.cr = value
            if value & R.CR_RS:
                ch.halted = False
            else:
                ch.halted, ch.busy, ch.idle = True, False, False
        elif reg == R.DMASR:
            if value & R.SR_IOC_IRQ:
                ch.ioc = False
        elif reg == R.ADDR:
            ch.addr = (ch.addr & ~0xFFFFFFFF) | value
        elif reg == R.ADDR_MSB:
            ch.addr = (ch.addr & 0xFFFFFFFF) | (value << 32)
        elif reg == R.LENGTH:
            # the hardware keeps only c_sg_length_width bits of the length
            self._start(ch, value & ((1 << self.length_width) - 1))
        self.advance()

    def _start(self, ch: _Channel, nbytes: int):
        if ch.halted:
            return                                  # ignored while halted, as on the hardware
        ch.length, ch.done_bytes, ch.saw_tlast = nbytes, 0, False
        ch.busy, ch.idle, ch.poll_since = True, False, None
        if nbytes == 0 or nbytes % 4:
            self.last_error = (f"{ch.name}: length {nbytes} bytes is zero or not whole 32-bit words "
                               f"(after truncation to the {self.length_width}-bit length register)")
            ch.fail(R.SR_INT_ERR)
            return
        mem = self.memory.bytes_at(ch.addr, nbytes)
        if mem is None:
            self.last_error = (f"{ch.name}: address {ch.addr:#x} + {nbytes} bytes is not inside a buffer "
                               "from pynq.allocate()")
            ch.fail(R.SR_DEC_ERR)
            return
        if ch is self.mm2s:
            words = mem.view(np.uint32).copy()
            last = np.zeros(words.size, bool)
            last[-1] = True                         # MM2S asserts TLAST on the last beat of a transfer
            self.stream.push(words, last)

    def advance(self):
        progress = True
        while progress:
            progress = self.ip.step(self.stream)
            if self.mm2s.busy and self.stream.available == 0:
                self.mm2s.complete()
                progress = True
            if self.s2mm.busy and self.ip.out_words.size:
                progress |= self._receive()

    def _receive(self) -> bool:
        ch = self.s2mm
        room = (ch.length - ch.done_bytes) // 4
        if room == 0:
            # buffer full without TLAST and the IP has more beats: PG021 flags DMAIntErr
            self.last_error = (f"{ch.name}: the IP sent more than the {ch.length} bytes armed without TLAST; "
                               "arm recvchannel.transfer with batch * n_out words")
            ch.fail(R.SR_INT_ERR)
            return True
        words, last = self.ip.pop_output(room)
        mem = self.memory.bytes_at(ch.addr + ch.done_bytes, words.size * 4)
        mem.view(np.uint32)[:] = words
        ch.done_bytes += words.size * 4
        if last.size and last[-1]:
            ch.saw_tlast = True
            ch.complete()
        return True

    # -- why a channel is stuck, and the stall watchdog -------------------------------------
    def why_stalled(self, ch: _Channel) -> str:
        ip_reason = self.ip.why_stalled()
        if ch is self.mm2s:
            return (f"the IP does not take its input stream ({self.stream.available} words left): "
                    + ip_reason)
        if self.ip.running or self.ip.failure or (not self.ip.runs and not self.ip.start):
            return ip_reason
        if ch.done_bytes:
            return (f"S2MM received {ch.done_bytes} of {ch.length} bytes but no TLAST: the IP's output "
                    "stream ended without TLAST, and S2MM completes only on TLAST (fix the stream "
                    "wrapper so the last logit word of a run asserts TLAST)")
        return ("the IP finished but no output reached S2MM: arm recvchannel.transfer before "
                "sendchannel.transfer, and start the IP for every transfer")

    def _watchdog(self, ch: _Channel):
        if not ch.busy:
            return
        now = time.monotonic()
        if ch.poll_since is None:
            ch.poll_since = now
        elif now - ch.poll_since > self.stall_timeout:
            ch.poll_since = None
            raise R.DMATimeoutError(
                f"emulated AXI DMA: {ch.name} has been busy for {self.stall_timeout:g} s and cannot "
                f"complete — on a board this wait() would hang forever. Cause: {self.why_stalled(ch)}. "
                "Reload the overlay to reset the DMA and the IP.")


# ------------------------------------------------------------------------------------------
# the pynq.Device
# ------------------------------------------------------------------------------------------

def emulation_selected() -> bool:
    from . import board_mode
    return board_mode() == "emulated"


class EmulatedDevice(Device):
    """A ``pynq.Device`` whose AXI-Lite registers and memory are the models above."""

    # probed after PYNQ's embedded device (50), before XRT (200); empty unless emulation is selected
    _probe_priority_ = 175
    _instance = None

    @classmethod
    def _probe_(cls):
        return [cls.instance()] if emulation_selected() else []

    @classmethod
    def instance(cls) -> "EmulatedDevice":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        super().__init__("labkit-emulated")
        self.name = "labkit emulated overlay"
        self.capabilities = {"REGISTER_RW": True}
        self.memory = _Memory()
        self.regions: list[tuple[int, int, object]] = []
        self.dma = self.ip = None
        self.bitfile_name = None

    # -- what Overlay.download() is on a board ----------------------------------------------
    def program(self, lib_path=None, dma_length_width: int | None = None, board: str = CFG.default_board,
                stall_timeout: float | None = None, emulated_ip=None) -> None:
        """``emulated_ip``: an object with EmulatedIP's ``info``/``run``/``path`` (default: load ``lib_path``)."""
        if emulated_ip is None:
            from ..hls.ipsim import EmulatedIP

            emulated_ip = EmulatedIP(lib_path)
        emu = emulated_ip
        self.ip = ClassifierModel(emu)
        width = CFG.dma_length_width if dma_length_width is None else int(dma_length_width)
        self.dma = DMAModel(self.memory, self.ip, width,
                            stall_timeout_default() if stall_timeout is None else stall_timeout)
        where = CFG.board(board)          # an unknown board: one sentence naming the known ones
        self.regions = [(where.dma_base, R.DMA_ADDR_RANGE, self.dma), (where.ip_base, R.IP_ADDR_RANGE, self.ip)]
        self.bitfile_name = f"<emulated {CFG.overlay_name} for {board}: {Path(emu.path).name}>"

    # -- pynq.Device interface --------------------------------------------------------------
    def allocate(self, shape, dtype="u4", **kwargs):
        return self.memory.allocate(self, shape, dtype)

    def _region(self, address: int):
        for base, size, model in self.regions:
            if base <= address < base + size:
                return model, address - base
        raise RuntimeError(f"emulated bus: no IP at address {address:#x}: load the emulated overlay first")

    def read_registers(self, address, length):
        model, offset = self._region(address)
        return (int(model.read(offset & ~3)) & 0xFFFFFFFF).to_bytes(4, "little")[:length]

    def write_registers(self, address, data):
        data = bytes(data)
        for i in range(0, len(data), 4):
            model, offset = self._region(address + i)
            model.write(offset, int.from_bytes(data[i:i + 4].ljust(4, b"\0"), "little"))

    def flush(self, *args):          # buffers are coherent: nothing to do
        pass

    def invalidate(self, *args):
        pass


# ------------------------------------------------------------------------------------------
# the overlay
# ------------------------------------------------------------------------------------------

def pynq_dma_class():
    """PYNQ's own AXI DMA driver class (``pynq.lib.dma.DMA``).

    ``import pynq.lib`` also imports every PYNQ-board peripheral; on some hosts one of them fails
    (pynq 3.0.1's Microblaze RPC needs pycparser < 3).  The DMA driver itself needs only
    ``pynq``, so in that case the very same source file is loaded on its own.
    """
    try:
        from pynq.lib.dma import DMA
        return DMA
    except ImportError:
        import importlib.util
        import sys

        import pynq

        name = "labkit.board._pynq_lib_dma"
        if name not in sys.modules:
            path = Path(pynq.__file__).parent / "lib" / "dma.py"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        return sys.modules[name].DMA


def _dma_description(device: EmulatedDevice, width: int, board: str) -> dict:
    params = {
        "C_INCLUDE_SG": "0", "C_SG_LENGTH_WIDTH": str(width), "C_MICRO_DMA": "0",
        "C_INCLUDE_MM2S": "1", "C_INCLUDE_S2MM": "1",
        "C_M_AXI_MM2S_DATA_WIDTH": "32", "C_M_AXI_S2MM_DATA_WIDTH": "32",
        "C_M_AXIS_MM2S_TDATA_WIDTH": "32", "C_S_AXIS_S2MM_TDATA_WIDTH": "32",
        "C_INCLUDE_MM2S_DRE": "0", "C_INCLUDE_S2MM_DRE": "0",
        "C_ADDR_WIDTH": str(CFG.board(board).dma_addr_width),
    }
    # PYNQ's parser lists every parameter twice: as written in the .hwh and lower-cased
    params.update({k.lower(): v for k, v in list(params.items())})
    return {
        "fullpath": CFG.dma_name, "type": R.DMA_VLNV + ":7.1", "bdtype": None, "state": None,   # (catalogue version)
        "phys_addr": CFG.board(board).dma_base, "addr_range": R.DMA_ADDR_RANGE, "mem_id": "S_AXI_LITE",
        "memtype": "REGISTER", "gpio": {}, "interrupts": {}, "parameters": params,
        "registers": {}, "device": device,
    }


def _ip_description(device: EmulatedDevice, board: str) -> dict:
    return {
        "fullpath": CFG.ip_name, "type": CFG.vlnv, "bdtype": None, "state": None,
        "phys_addr": CFG.board(board).ip_base, "addr_range": R.IP_ADDR_RANGE,
        "mem_id": CFG.ip_ctrl, "memtype": "REGISTER", "gpio": {}, "interrupts": {},
        "parameters": {"C_S_AXI_CONTROL_DATA_WIDTH": "32", "c_s_axi_control_data_width": "32"},
        "registers": R.ip_registers(), "device": device,
    }


class EmulatedOverlay:
    """What ``pynq.Overlay('labkit_clyc.bit')`` gives on a board, with the emulated device behind it.

    ``ip_dict`` has PYNQ's layout; ``overlay.axi_dma_0`` is PYNQ's DMA driver and
    ``overlay.clyc_classifier`` the labkit IP driver, both on MMIO of the emulated device.
    ``overlay.ip_model`` (fault injection) and ``overlay.dma_model`` expose the models.
    """

    mode = "emulated"

    def __init__(self, lib_path=None, dma_length_width: int | None = None, board: str = CFG.default_board,
                 stall_timeout: float | None = None, download: bool = True, emulated_ip=None):
        CFG.board(board)                          # clear error for an unknown board
        self.device = EmulatedDevice.instance()
        Device.active_device = self.device        # pynq.allocate() / MMIO now use it
        self.board = board
        self._options = dict(lib_path=lib_path, dma_length_width=dma_length_width, board=board,
                             stall_timeout=stall_timeout, emulated_ip=emulated_ip)
        self._drivers: dict = {}
        self.ip_dict: dict = {}
        if download:
            self.download()

    def download(self):
        """'Program the PL': fresh DMA + IP state, as after loading a bitstream."""
        from .driver import ClycClassifier

        self.device.program(**self._options)
        self.bitfile_name = self.device.bitfile_name
        width = self.device.dma.length_width
        self.ip_dict = {CFG.dma_name: _dma_description(self.device, width, self.board),
                        CFG.ip_name: _ip_description(self.device, self.board)}
        self.ip_dict[CFG.dma_name]["driver"] = pynq_dma_class()
        self.ip_dict[CFG.ip_name]["driver"] = ClycClassifier
        self.mem_dict, self.gpio_dict, self.interrupt_pins, self.hierarchy_dict = {}, {}, {}, {}
        self._drivers = {}

    def is_loaded(self) -> bool:
        return bool(self.ip_dict)

    @property
    def ip_model(self) -> ClassifierModel:
        return self.device.ip

    @property
    def dma_model(self) -> DMAModel:
        return self.device.dma

    def __getattr__(self, name):
        ip_dict = self.__dict__.get("ip_dict") or {}
        if name in ip_dict:
            drivers = self.__dict__["_drivers"]
            if name not in drivers:
                desc = ip_dict[name]
                drivers[name] = desc["driver"](desc)
            return drivers[name]
        raise AttributeError(f"emulated overlay has no IP or attribute {name!r} (IPs: {', '.join(ip_dict)})")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("ip_dict", {})))

    def __repr__(self):
        return f"EmulatedOverlay({self.bitfile_name}, IPs: {', '.join(self.ip_dict)})"
