"""PYNQ driver for the CLYC classifier behind an AXI DMA (board or emulated overlay).

* :class:`ClycClassifier` — a ``pynq.DefaultIP`` bound to the IP's VLNV, so
  ``overlay.clyc_classifier`` is this driver on a board as well as in the emulation.
* :func:`check_overlay` — the overlay has the IP and the DMA the course expects (names from
  ``course.ini``), in the configuration the driver needs; errors name the fix.
* :class:`Classifier` — batched streaming: pack pulses, write ``batch``, ``ap_start``, arm
  ``recvchannel`` before ``sendchannel``, wait for both with a deadline (PYNQ 3.0.1's ``wait()``
  has none), decode the logits by bit reinterpretation; times every batch. Logits per pulse
  (``n_out``): given (the test vectors' ``meta.json``, :func:`n_out_from_metadata`), else the
  emulated IP's own, else course.ini's ``CFG.n_classes``. Transfers through one
  DMA are serialised (:func:`dma_lock`), so threads sharing an overlay take turns instead of
  mixing their streams.

numpy + pynq only (runs on the PYNQ image).
"""
from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from pynq import DefaultIP, allocate

from ..config import CFG
from ..fixedpoint import FixedFormat, predicted_classes
from ..stream import max_outputs
from ..stream import check_pulses, decode_logits, input_from_metadata, pack_pulses  # noqa: F401 (the board's API)
from . import regs as R
from .regs import BoardError, DMATimeoutError, positive_seconds, whole_number

DEFAULT_TIMEOUT_S = 5.0
WORD_BYTES = CFG.word_bits // 8


def n_out_from_metadata(meta: Optional[dict]) -> Optional[int]:
    """Logits per pulse named by board metadata (the test vectors' ``meta.json``), or ``None``."""
    if not meta or meta.get("n_out") is None:
        return None
    return whole_number(meta["n_out"], "n_out in the test vectors' meta.json", low=1, high=max_outputs())


class InputSaturationWarning(UserWarning):
    """Some pulses' transformed samples do not fit the IP's input format (they clip)."""


class ClycClassifier(DefaultIP):
    """The HLS classifier's AXI-Lite side: ``batch`` register and the ap_ctrl_hs handshake."""

    bindto = [CFG.vlnv, CFG.rtl_vlnv]   # the HLS IP or its RTL twin (labkit.rtl): same registers

    def __init__(self, description):
        super().__init__(description=description)

    @property
    def batch(self) -> int:
        return self.read(R.BATCH)

    @batch.setter
    def batch(self, n: int):
        self.write(R.BATCH, whole_number(n, "the batch register", low=0, high=0xFFFFFFFF))

    def launch(self, batch: Optional[int] = None) -> None:
        """(Optionally write ``batch``, then) set ap_start: the IP takes ``batch`` pulses from its input stream."""
        if batch is not None:
            self.batch = batch
        self.write(R.CTRL, R.AP_START)

    def status(self) -> dict:
        """CTRL decoded (reading it clears ap_done / ap_ready, as on the hardware)."""
        v = self.read(R.CTRL)
        return {"ap_start": bool(v & R.AP_START), "ap_done": bool(v & R.AP_DONE),
                "ap_idle": bool(v & R.AP_IDLE), "ap_ready": bool(v & R.AP_READY),
                "auto_restart": bool(v & R.AUTO_RESTART)}


# ------------------------------------------------------------------------------------------
# overlay checks
# ------------------------------------------------------------------------------------------

def _params(desc: dict) -> dict:
    return {str(k).lower(): v for k, v in (desc.get("parameters") or {}).items()}


def check_overlay(overlay) -> None:
    """Raise :class:`BoardError` unless the overlay has ``CFG.ip_name`` and ``CFG.dma_name`` as needed."""
    ip_dict = getattr(overlay, "ip_dict", None)
    if not ip_dict:
        raise BoardError(
            f"the overlay {getattr(overlay, 'bitfile_name', overlay)!r} lists no IP: PYNQ reads IP names "
            f"from the .hwh next to the .bit (same basename, e.g. {CFG.overlay_name}.hwh); copy it from "
            "the Vivado build (artifacts/overlay/<board>/) and load the overlay again")
    names = ", ".join(sorted(ip_dict)) or "none"
    bitfile = getattr(overlay, "bitfile_name", "the overlay")
    top = CFG.vlnv.rsplit(":", 1)[0]
    if CFG.ip_name not in ip_dict:
        same_type = [k for k, v in ip_dict.items() if str(v.get("type", "")).startswith(top)]
        if same_type:
            raise BoardError(
                f"the classifier IP is called {same_type[0]!r} in {bitfile}, the driver looks for "
                f"{CFG.ip_name!r} (course.ini [design] ip_name): rebuild the overlay with `labkit overlay` "
                "so the instance name matches, or rename it in the block design")
        # an accelerator that is not ours (an HLS IP or module reference, not an AMD catalogue IP)
        foreign = [(k, str(v.get("type", ""))) for k, v in sorted(ip_dict.items())
                   if not str(v.get("type", "")).startswith("xilinx.com:ip:")]
        if foreign:
            found = ", ".join(f"{k!r} ({vlnv or 'no type'})" for k, vlnv in foreign)
            raise BoardError(
                f"{bitfile} holds the IP {found}, not labkit's classifier {CFG.ip_name!r} ({CFG.vlnv}): it was "
                f"built from another design; load {CFG.overlay_name}.bit built by `labkit overlay --board <board>`, "
                "with its .hwh of the same basename next to it")
        raise BoardError(
            f"{bitfile} has no {CFG.ip_name!r} IP (it has: {names}): wrong bitstream? Load "
            f"{CFG.overlay_name}.bit built by `labkit overlay --board <board>`, with its .hwh of the same "
            "basename next to it")
    ip_type = str(ip_dict[CFG.ip_name].get("type", ""))
    if ip_type not in (CFG.vlnv, CFG.rtl_vlnv):
        raise BoardError(
            f"{CFG.ip_name!r} is {ip_type!r}, expected {CFG.vlnv!r} (or the RTL twin {CFG.rtl_vlnv!r}): the bitstream was built from another "
            "IP version; re-export the IP (`labkit hls export`) and rebuild the overlay")
    if CFG.dma_name not in ip_dict:
        raise BoardError(
            f"{bitfile} has no {CFG.dma_name!r} AXI DMA (it has: {names}): rebuild the overlay with "
            "`labkit overlay`, which connects the IP's streams to that DMA")
    dma = ip_dict[CFG.dma_name]
    if not str(dma.get("type", "")).startswith(R.DMA_VLNV + ":"):
        raise BoardError(f"{CFG.dma_name!r} is {dma.get('type')!r}, not an AXI DMA: wrong bitstream?")
    p = _params(dma)
    if p.get("c_include_sg", "0") not in ("0", 0):
        raise BoardError(f"{CFG.dma_name!r} is in scatter-gather mode; the driver needs simple mode "
                         "(c_include_sg = 0), as `labkit overlay` builds it")
    for direction in ("mm2s", "s2mm"):
        if str(p.get(f"c_include_{direction}", "1")) != "1":
            raise BoardError(f"{CFG.dma_name!r} has no {direction.upper()} channel: rebuild the overlay")


def dma_length_width(dma=None, description: Optional[dict] = None) -> int:
    """Bits of the DMA's buffer-length register: the driver object, then the .hwh parameters, then course.ini."""
    size = getattr(dma, "buffer_max_size", None)
    if isinstance(size, int) and size > 0:
        return int(size).bit_length()
    p = _params(description or getattr(dma, "description", None) or {})
    if "c_sg_length_width" in p:
        return int(p["c_sg_length_width"])
    return CFG.dma_length_width


# ------------------------------------------------------------------------------------------
# streaming
# ------------------------------------------------------------------------------------------

_DMA_LOCKS: dict = {}
_DMA_LOCKS_GUARD = threading.Lock()


def dma_lock(overlay) -> threading.RLock:
    """The lock of the overlay's DMA: one per device and DMA base address, shared by every
    :class:`Classifier` (and every overlay object) in this process that drives that DMA.

    One transfer is: batch register, ap_start, arm S2MM, start MM2S, wait for both. Two threads
    interleaving those steps send one thread's pulses into the other's run (the IP then ends a
    packet early or never), so :meth:`Classifier.run_words` holds this lock for a whole transfer.
    """
    desc = overlay.ip_dict[CFG.dma_name]
    key = (id(desc.get("device")), desc.get("phys_addr"))
    with _DMA_LOCKS_GUARD:
        return _DMA_LOCKS.setdefault(key, threading.RLock())


@dataclass
class BoardRun:
    """Everything one :meth:`Classifier.classify` call measured."""

    words: np.ndarray                  # raw output words (n * n_out,) uint32
    logits: np.ndarray                 # (n, n_out) float, decoded from the words
    batch_size: int
    batch_latency_s: List[float] = field(default_factory=list)
    n_saturated: int = 0
    mode: str = "board"

    @property
    def n(self) -> int:
        return int(self.logits.shape[0])

    @property
    def predictions(self) -> np.ndarray:
        """argmax of the logits (one sigmoid logit: class 1 where it is > 0)."""
        return predicted_classes(self.logits)

    @property
    def dma_time_s(self) -> float:
        return float(np.sum(self.batch_latency_s))

    @property
    def inferences_per_s(self) -> float:
        return self.n / self.dma_time_s if self.dma_time_s > 0 else float("inf")

    def accuracy(self, labels) -> float:
        labels = np.asarray(labels).reshape(-1)
        if labels.size != self.n:
            raise ValueError(f"{labels.size} labels for {self.n} results")
        return float(np.mean(self.predictions == labels))

    def summary(self) -> dict:
        lat = np.asarray(self.batch_latency_s) * 1e6
        return {"n": self.n, "batch_size": self.batch_size, "batches": len(lat), "mode": self.mode,
                "inferences_per_s": self.inferences_per_s,
                "batch_latency_us_median": float(np.median(lat)) if lat.size else None,
                "batch_latency_us_max": float(lat.max()) if lat.size else None,
                "n_saturated": self.n_saturated}


def count_saturating(X, fmt: Optional[FixedFormat] = None, input: str = "course") -> int:
    """Pulses with a sample outside ``fmt`` after the input transform ``input`` (the IP would clip it)."""
    from ..data.prep import baseline

    t = CFG.input_transform(input)
    fmt = fmt or t.format
    X = check_pulses(X).astype(np.int64)
    diff = baseline(X)[:, None] - X if t.baseline else X   # in input LSBs of 2**-frac_bits
    shift = fmt.frac - t.frac_bits
    raw = diff << shift if shift >= 0 else diff >> -shift
    lo, hi = (-(1 << (fmt.width - 1)), (1 << (fmt.width - 1)) - 1) if fmt.signed else (0, (1 << fmt.width) - 1)
    return int(np.count_nonzero(((raw < lo) | (raw > hi)).any(axis=1)))


class Classifier:
    """Batched DMA streaming through the classifier IP of a loaded overlay.

    >>> clf = Classifier(overlay)                  # checks the overlay
    >>> run = clf.classify(X_raw, batch_size=256)  # (n, 161) raw ADC codes
    >>> run.accuracy(y), run.inferences_per_s

    Thread-safe: transfers through one DMA are serialised (:func:`dma_lock`); threads that share
    an overlay (or a Classifier) take turns batch by batch and each gets its own results.
    """

    def __init__(self, overlay, timeout_s: float = DEFAULT_TIMEOUT_S,
                 input_format: Optional[FixedFormat] = None, logit_format: Optional[FixedFormat] = None,
                 n_out: Optional[int] = None, input: Optional[str] = None):
        check_overlay(overlay)
        self.overlay = overlay
        self.mode = getattr(overlay, "mode", "board")
        self.ip = getattr(overlay, CFG.ip_name)
        self.dma = getattr(overlay, CFG.dma_name)
        if getattr(self.dma, "sendchannel", None) is None or getattr(self.dma, "recvchannel", None) is None:
            raise BoardError(f"{CFG.dma_name!r} has no send/receive channel driver: is pynq.lib.dma loaded "
                             "(PYNQ binds it from the .hwh)?")
        self.timeout_s = positive_seconds(timeout_s, "timeout_s")
        self.logit_format = logit_format or CFG.logit_format
        self.n_out = self._resolve_n_out(overlay, n_out)
        self.input = self._resolve_input(overlay, input)
        self.input_format = input_format or CFG.input_transform(self.input).format
        self.length_width = dma_length_width(self.dma, overlay.ip_dict[CFG.dma_name])
        max_bytes = (1 << self.length_width) - 1
        per_pulse = max(CFG.words_per_pulse, self.n_out) * WORD_BYTES
        self.max_batch = min(CFG.max_batch, max_bytes // per_pulse)
        self._in = self._out = None
        self._lock = dma_lock(overlay)

    @staticmethod
    def _resolve_n_out(overlay, n_out: Optional[int]) -> int:
        """Given > the emulated IP's own (it knows its library) > course.ini; a mismatch is refused."""
        model = getattr(overlay, "ip_model", None)             # only the emulated overlay has it
        own = getattr(model, "n_out", None)
        if n_out is None:
            return int(own) if own is not None else CFG.n_classes
        n_out = whole_number(n_out, "n_out (logits per pulse)", low=1, high=max_outputs())
        if own is not None and int(own) != n_out:
            raise BoardError(f"the IP emits {own} logits per pulse but n_out = {n_out} was given (e.g. by the test "
                             "vectors' meta.json): use the vectors written with this IP (`labkit hls convert`)")
        return n_out

    @staticmethod
    def _resolve_input(overlay, input: Optional[str]) -> str:
        """The IP's input transform: given > the emulated IP's own > the course's; a mismatch is refused."""
        own = getattr(getattr(overlay, "ip_model", None), "input", None)
        if input is None:
            return own or "course"
        input = CFG.input_transform(input).name
        if own is not None and own != input:
            raise BoardError(f"the IP's input stage is {own!r} but input = {input!r} was given (e.g. by the test "
                             "vectors' meta.json): use the vectors written with this IP (`labkit hls convert`)")
        return input

    # -- buffers ----------------------------------------------------------------------------
    def _buffers(self, batch: int):
        if self._in is None or self._in.shape[0] < batch * CFG.words_per_pulse:
            device = getattr(self.ip, "device", None)
            self._in = allocate(shape=(batch * CFG.words_per_pulse,), dtype=np.uint32, target=device)
            self._out = allocate(shape=(batch * self.n_out,), dtype=np.uint32, target=device)
        return self._in, self._out

    def check_batch_size(self, batch_size: int, what: str = "batch_size") -> int:
        """``batch_size`` as an int in 1…max_batch; anything else is refused with the fix (never replaced)."""
        batch_size = whole_number(batch_size, what)
        if batch_size > self.max_batch:
            if self.max_batch == CFG.max_batch:    # the IP's own limit, not the DMA's
                raise ValueError(f"{what} {batch_size} is more than the {CFG.max_batch} pulses the IP takes per "
                                 f"run (course.ini [stream] max_batch): use {what} <= {self.max_batch}")
            need = batch_size * CFG.words_per_pulse * WORD_BYTES
            bits = int(np.ceil(np.log2(need + 1)))
            raise ValueError(
                f"{what} {batch_size} needs {need} bytes per DMA transfer, more than the {self.length_width}-bit "
                f"length register of {CFG.dma_name!r} holds ({(1 << self.length_width) - 1} bytes = "
                f"{self.max_batch} pulses): use {what} <= {self.max_batch}, or rebuild the overlay with the "
                f"DMA's c_sg_length_width >= {bits}")
        return batch_size

    # -- one transfer -----------------------------------------------------------------------
    def _wait(self, channel, what: str, deadline: float, batch: int):
        try:
            while True:
                if channel.error:
                    status = self.dma.mmio.read((R.MM2S if what == "send" else R.S2MM) + R.DMASR)
                    raise BoardError(
                        f"DMA {what} channel error (DMASR {status:#x}): "
                        + ("internal error — the IP returned more data than the receive buffer holds, or a "
                           "zero length" if status & R.SR_INT_ERR else
                           "the DMA cannot reach the buffer — allocate it with pynq.allocate")
                        + "; reload the overlay to reset the DMA")
                if channel.idle:
                    channel.wait()          # PYNQ's bookkeeping: invalidate caches, bytes transferred
                    return
                if time.perf_counter() > deadline:
                    model = getattr(self.overlay, "dma_model", None)   # emulated overlays know why
                    cause = ""
                    if model is not None:
                        cause = f" [emulation: {model.why_stalled(model.mm2s if what == 'send' else model.s2mm)}]"
                    raise DMATimeoutError(
                        f"DMA {what} did not complete within {self.timeout_s:g} s (batch of {batch} pulses): "
                        + ("the IP is not taking input — was ap_start written, is the IP clocked and out of reset?"
                           if what == "send" else
                           "no end of packet from the IP — its output stream must end with TLAST, and the "
                           "batch register must equal the number of pulses sent")
                        + "; reload the overlay to reset the DMA and the IP" + cause)
        except DMATimeoutError:
            self._reset_dma()
            raise

    def _reset_dma(self, budget_s: float = 0.2):
        """Soft-reset the DMA after a timeout so the next transfer is not refused.

        Bounded: PYNQ's ``channel.start()`` spins until the channel runs, which a wedged DMA may
        never do; here every poll has a deadline and failure is left to the error message
        (which says: reload the overlay).
        """
        mmio = self.dma.mmio
        try:
            mmio.write(R.MM2S + R.DMACR, R.CR_RESET)           # resets both channels (PG021)
            deadline = time.perf_counter() + budget_s
            while mmio.read(R.MM2S + R.DMACR) & R.CR_RESET and time.perf_counter() < deadline:
                pass
            for base, ch in ((R.MM2S, self.dma.sendchannel), (R.S2MM, self.dma.recvchannel)):
                mmio.write(base + R.DMACR, R.CR_RS)
                while mmio.read(base + R.DMASR) & R.SR_HALTED and time.perf_counter() < deadline:
                    pass
                ch._first_transfer = True      # PYNQ's flag: allow transfer() before the first idle
        except Exception:  # noqa: BLE001 - a wedged DMA may not come back; the raised error says reload
            pass

    def run_words(self, words, batch: int) -> tuple[np.ndarray, float]:
        """One IP run / DMA transfer of ``batch`` pulses given as packed words -> (output words, seconds).

        Holds the DMA's lock (:func:`dma_lock`) for the whole transfer: another thread's transfer
        waits for this one to finish (or to fail within its deadline).
        """
        batch = self.check_batch_size(batch)
        words = np.asarray(words, dtype=np.uint32).reshape(-1)
        n_in, n_out = batch * CFG.words_per_pulse, batch * self.n_out
        if words.size != n_in:
            raise ValueError(f"{words.size} input words for batch {batch}: need {n_in} "
                             f"({CFG.words_per_pulse} per pulse, labkit.stream.pack_pulses)")
        with self._lock:
            return self._transfer(words, batch, n_in, n_out)

    def _transfer(self, words: np.ndarray, batch: int, n_in: int, n_out: int) -> tuple[np.ndarray, float]:
        in_buf, out_buf = self._buffers(batch)
        in_buf[:n_in] = words
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        t0 = time.perf_counter()
        self.ip.launch(batch)                                  # batch register, then ap_start
        recv.transfer(out_buf, nbytes=n_out * WORD_BYTES)      # arm the receive first ...
        send.transfer(in_buf, nbytes=n_in * WORD_BYTES)        # ... then stream the pulses in
        deadline = t0 + self.timeout_s
        self._wait(send, "send", deadline, batch)
        self._wait(recv, "receive", deadline, batch)
        dt = time.perf_counter() - t0
        got = int(recv.transferred)
        if got != n_out * WORD_BYTES:
            raise BoardError(
                f"short transfer: received {got} of {n_out * WORD_BYTES} bytes for {batch} pulses — the IP "
                "asserted TLAST early (S2MM stops at TLAST); check the stream wrapper's TLAST logic and the "
                "batch register; reload the overlay before the next transfer")
        return np.array(out_buf[:n_out], dtype=np.uint32), dt

    def classify(self, X, batch_size: Optional[int] = None) -> BoardRun:
        """(n, 161) raw ADC codes -> :class:`BoardRun` (logits, timings, saturation count).

        ``batch_size``: pulses per DMA transfer, an int in 1…:attr:`max_batch`; ``None`` (only)
        means as many as fit (``min(max_batch, n)``).
        """
        X = np.asarray(X)
        if X.dtype.kind not in "iuf":
            raise ValueError(f"pulses must be integer ADC codes, got dtype {X.dtype}")
        X = check_pulses(X)
        if len(X) == 0:
            raise ValueError("no pulses to classify")
        batch_size = self.check_batch_size(min(self.max_batch, len(X)) if batch_size is None else batch_size)
        n_sat = count_saturating(X, self.input_format, self.input)
        if n_sat:
            warnings.warn(f"{n_sat} of {len(X)} pulses have samples outside {self.input_format.hls()} after the "
                          f"IP's input stage ({self.input}): the IP clips them (check the ADC window / baseline)",
                          InputSaturationWarning, stacklevel=2)
        words = pack_pulses(X)
        out, lat = [], []
        for i in range(0, len(X), batch_size):
            b = min(batch_size, len(X) - i)
            w, dt = self.run_words(words[i * CFG.words_per_pulse:(i + b) * CFG.words_per_pulse], b)
            out.append(w)
            lat.append(dt)
        out_words = np.concatenate(out)
        return BoardRun(words=out_words, logits=decode_logits(out_words, self.logit_format, self.n_out),
                        batch_size=batch_size, batch_latency_s=lat, n_saturated=n_sat, mode=self.mode)
