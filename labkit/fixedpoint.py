"""Fixed-point numbers shared by every stage: one ``ap_fixed`` format and the quantizer -> format rules.

* :class:`FixedFormat` -- ``ap_fixed<width, integer>`` / ``ap_ufixed`` with optional rounding and
  saturation modes: range, LSB, the hls4ml / C++ type strings, and the bit/word encoding of
  values (two's complement, never value conversions);
* the QKeras quantizer -> ap_fixed rules (:func:`bits_precision`, :func:`relu_precision`,
  :func:`grid_precision`, :func:`exact_accumulator`);
* :func:`quantize_logits` (the numpy twin of the IP's logit rounding) and :func:`predicted_classes`.

A leaf, numpy only: it imports no other labkit module (a test checks), so every other module,
``labkit.config`` included, may import it.  The student contract that reads a network through
these rules is stage 03's (:mod:`labkit.training.contract`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FixedFormat", "bits_precision", "grid_precision", "relu_precision", "activation_precision",
           "exact_accumulator", "predicted_classes", "quantize_logits"]


@dataclass(frozen=True)
class FixedFormat:
    """An ``ap_fixed<width, integer>`` (signed) or ``ap_ufixed`` number format.

    ``rounding`` / ``saturation`` are the hls4ml/ap_fixed mode names without the ``AP_`` prefix
    (e.g. ``"RND_CONV"``, ``"SAT"``); empty means the ap_fixed defaults TRN and WRAP.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = ""     # '' = TRN (truncate, the default)
    saturation: str = ""   # '' = WRAP (the default)

    @classmethod
    def of(cls, fmt: "FixedFormat", rounding="", saturation="") -> "FixedFormat":
        """``fmt``'s width/integer/sign with the given rounding and saturation modes."""
        return cls(fmt.width, fmt.integer, fmt.signed, rounding, saturation)

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    @property
    def min(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def max(self) -> float:
        top = self.integer - 1 if self.signed else self.integer
        return 2.0 ** top - self.lsb

    @property
    def max_abs(self) -> float:
        return 2.0 ** (self.integer - 1 if self.signed else self.integer)

    def _modes(self) -> list:
        modes = [m for m in (self.rounding, self.saturation) if m]
        if self.saturation and not self.rounding:
            modes = ["TRN", self.saturation]
        return modes

    def hls(self) -> str:
        """C++ type, e.g. ``ap_fixed<16,7>`` (``ap_ufixed<8,3,AP_RND_CONV,AP_SAT>`` with modes)."""
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{kind}<{self.width},{self.integer}{''.join(',AP_' + m for m in self._modes())}>"

    def hls4ml(self) -> str:
        """hls4ml precision string, e.g. ``fixed<16,7,RND_CONV,SAT>``."""
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.integer}{''.join(',' + m for m in self._modes())}>"

    # -- bit patterns (two's complement), never value conversions ---------------------------
    def _integers(self, values) -> np.ndarray:
        """Values that lie exactly on this format's grid and range -> value / lsb as int64."""
        v = np.asarray(values, dtype=np.float64)
        q = np.round(v / self.lsb)
        if not np.array_equal(q * self.lsb, v):
            raise ValueError(f"values are not on the {self.hls()} grid (lsb {self.lsb}); quantise first")
        if v.size and (v.min() < self.min or v.max() > self.max):
            raise ValueError(f"values outside the {self.hls()} range [{self.min}, {self.max}]")
        return q.astype(np.int64)

    def to_bits(self, values) -> np.ndarray:
        """Values that lie exactly on this format's grid -> raw two's-complement bit patterns."""
        return self._integers(values) & ((1 << self.width) - 1)

    def from_bits(self, bits) -> np.ndarray:
        """Raw bit patterns (any integer dtype; upper bits ignored) -> float values."""
        b = np.asarray(bits).astype(np.int64) & ((1 << self.width) - 1)
        if self.signed:
            b = np.where(b >= (1 << (self.width - 1)), b - (1 << self.width), b)
        return b.astype(np.float64) * self.lsb

    def to_word(self, values) -> np.ndarray:
        """Values -> 32-bit stream words: the bit pattern sign-extended to 32 bits."""
        return self._integers(values).astype(np.int32).view(np.uint32)


# ------------------------------------------------------------------------------------------
# QKeras quantizers -> ap_fixed
# ------------------------------------------------------------------------------------------

def bits_precision(quantizer) -> FixedFormat:
    """QKeras ``quantized_bits`` -> the ap_fixed holding exactly its grid."""
    name = type(quantizer).__name__
    if name != "quantized_bits":
        raise ValueError(f"weight quantizer {quantizer} is not quantized_bits: the student must use "
                         "quantized_bits(bits, integer, alpha=1) (see lab 03)")
    alpha = getattr(quantizer, "alpha", None)
    if alpha not in (None, 1, 1.0):
        raise ValueError(f"quantized_bits alpha={alpha!r} scales the weights by a learned factor hls4ml "
                         "cannot fold exactly here: train the student with alpha=1")
    bits, integer = int(quantizer.bits), int(quantizer.integer)
    signed = bool(getattr(quantizer, "keep_negative", True))
    return FixedFormat(bits, integer + (1 if signed else 0), signed)


def grid_precision(values, what: str = "weights") -> FixedFormat:
    """The smallest signed ap_fixed whose grid and range hold every one of ``values`` exactly.

    For weights whose grid is not ``quantized_bits(bits, integer)``'s alone: a QKeras quantizer with
    ``alpha='auto_po2'`` multiplies each output channel's grid by its own power of two (and ``'auto'``
    by a float32 scale); the quantized float32 values are dyadic, so one ap_fixed holds them all.
    Refused (one sentence) when that needs more than 32 bits.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[v != 0]
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what} hold NaN or inf: train the model again")
    frac = 0
    while v.size and not np.array_equal(np.round(v * 2.0 ** frac), v * 2.0 ** frac):
        frac += 1
        if frac > 64:
            raise ValueError(f"{what} are not on any fixed-point grid of up to 64 fraction bits")
    integer = 0
    lsb = 2.0 ** -frac
    while v.size and (v.max() > 2.0 ** integer - lsb or v.min() < -(2.0 ** integer)):
        integer += 1
    width = max(2, 1 + integer + frac)
    if width > 32:
        raise ValueError(f"{what} need ap_fixed<{width},{integer + 1}> to be held exactly (more than 32 bits; "
                         "a float alpha='auto' scale does that): use alpha='auto_po2' or alpha=1")
    return FixedFormat(width, integer + 1, True)


def relu_precision(quantizer) -> FixedFormat:
    """QKeras ``quantized_relu(bits, integer)`` -> ap_ufixed<bits, integer, RND_CONV, SAT>."""
    name = type(quantizer).__name__
    if name != "quantized_relu" or getattr(quantizer, "negative_slope", 0.0) or \
            getattr(quantizer, "use_sigmoid", False):
        raise ValueError(f"activation quantizer {quantizer} is not a plain quantized_relu(bits, integer)")
    # tf.round is round-half-to-even = AP_RND_CONV; the clip at 2**integer - lsb = AP_SAT
    return FixedFormat(int(quantizer.bits), int(quantizer.integer), False, "RND_CONV", "SAT")


def activation_precision(quantizer) -> FixedFormat:
    """The format a ``QActivation``'s quantizer gives: :func:`relu_precision` for ``quantized_relu``;
    a saturating linear ``quantized_bits(bits, integer)`` (``alpha`` 1, not symmetric) ->
    ap_fixed<bits, integer + 1, RND_CONV, SAT> (QKeras: ``clip(round(x * 2**frac), -2**(bits-1),
    2**(bits-1) - 1) / 2**frac`` with ``frac = bits - 1 - integer``, tf.round = half to even), or with
    ``keep_negative=False`` ap_ufixed<bits, integer, RND_CONV, SAT> (``clip(round(x * 2**(bits-integer)),
    0, 2**bits - 1)``)."""
    if type(quantizer).__name__ != "quantized_bits":
        return relu_precision(quantizer)
    if (getattr(quantizer, "symmetric", False) or getattr(quantizer, "alpha", None) not in (None, 1, 1.0)
            or getattr(quantizer, "use_stochastic_rounding", False)):
        raise ValueError(f"activation quantizer {quantizer} is not a plain quantized_bits(bits, integer) "
                         "(symmetric=False, alpha=1, no stochastic rounding)")
    if not getattr(quantizer, "keep_negative", True):
        return FixedFormat(int(quantizer.bits), int(quantizer.integer), False, "RND_CONV", "SAT")
    return FixedFormat(int(quantizer.bits), int(quantizer.integer) + 1, True, "RND_CONV", "SAT")


def exact_accumulator(x: FixedFormat, w: FixedFormat, b: FixedFormat | None, fan_in: int) -> FixedFormat:
    """Smallest signed ap_fixed holding sum(x*w) + b exactly for every operand value."""
    frac = x.frac + w.frac
    if b is not None:
        frac = max(frac, b.frac)
    bound = fan_in * x.max_abs * w.max_abs + (b.max_abs if b is not None else 0.0)
    integer = math.ceil(math.log2(bound)) + 1 + 1  # magnitude bits + sign + one guard bit
    return FixedFormat(integer + frac, integer, True)


def predicted_classes(logits) -> np.ndarray:
    """Class per row of (n, n_out) logits: the argmax, or ``logit > 0`` for one (sigmoid) output."""
    z = np.asarray(logits)
    z = z.reshape(len(z), -1)
    return (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else z.argmax(axis=1)


def quantize_logits(logits, fmt: FixedFormat) -> np.ndarray:
    """The numpy twin of ap_fixed<..., AP_RND_CONV, AP_SAT>: round half to even, saturate
    (``fmt``: the logits' format, e.g. ``CFG.logit_format``)."""
    q = np.round(np.asarray(logits, np.float64) / fmt.lsb) * fmt.lsb  # np.round = half to even
    return np.clip(q, fmt.min, fmt.max)
