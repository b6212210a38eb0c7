"""Synthetic CLYC pulses: the course's built-in data set, calibrated against real traces.

Why a synthetic set?  The real Zenodo files are large (≈ 460 MB); the labs must also run offline
and in CI.  This generator produces traces in exactly the real file layout (full 3001-sample
records, 100 MS/s, 10-bit codes, negative-going pulses), so the real loader path always runs,
and it is calibrated so that the shape figures of ``labkit calibrate`` agree with real traces.

The physics model, step by step (all numbers are :class:`SynthParams` fields)
------------------------------------------------------------------------------

1. **Scintillation light** of Cs₂LiYCl₆:Ce (CLYC) is a sum of exponentials whose mix depends on
   the particle.  *Gammas* (fast electrons) excite core-valence luminescence (CVL, a ≈ 2 ns
   component that only exists for low-ionisation-density tracks), prompt Ce³⁺ emission
   (≈ 50 ns) and slow Ce³⁺ emission fed by self-trapped excitons (≈ 0.8 µs).  *Neutrons* are
   detected through ⁶Li(n,α)t: the dense α/triton track suppresses CVL entirely and feeds the
   slow channels (here ≈ 0.25 µs and ≈ 0.75 µs), so neutron light starts more slowly.  That
   difference in the first ≈ 0.5 µs is all that pulse-shape discrimination (PSD) and the
   course's networks can use.

2. **Front end.**  The SiPM capacitance and the preamplifier integrate the light: the response
   to one photo-electron is a double exponential ``(e^{-t/τd} - e^{-t/τr}) / (τd - τr)``
   (CR-RC-like; fitted rise τr ≈ 50 ns, decay τd ≈ 3.9 µs).  Integrating the ≈ 0.8 µs slow light
   gives the ≈ 0.8 µs (10–90 %) rise and the ≈ 4.8 µs decay seen on the digitiser, while the fast
   gamma light (CVL + prompt Ce³⁺, ≈ 20 % of it) makes the first ≈ 0.3 µs of a gamma pulse
   steeper.  Convolving exponentials with exponentials has a closed form, so every pulse is a
   weighted sum of a handful of exponentials: generating one costs a small matrix product, not
   a numerical convolution.

3. **Photo-electron statistics.**  An event of energy E (keVee) yields on average
   ``pe_per_kev · E`` photo-electrons, shared among the light components with fractions that
   fluctuate from event to event (``frac_jitter``); each component's count is Poisson.  Low-
   energy events therefore have noisy fast/slow ratios: this is why PSD is imperfect at low
   energy.  (Photo-electron *arrival times* within a component are not simulated; the slow
   front end averages them out.)  ``pe_per_kev`` is an *effective* yield (it folds in the SiPM
   excess noise) tuned so that a simple early-charge PSD reaches ≈ 99.5–99.8 %.

4. **Energy spectra.**  Neutrons: the thermal ⁶Li capture peak (Q = 4.78 MeV, ≈ 3.2 MeVee because
   α/triton light is quenched) with a Gaussian width, plus a few per cent of a flat low-energy
   continuum (fast-neutron ³⁵Cl(n,p) reactions, partial energy deposition at the crystal edge).
   Gammas: a log-normal continuum (Compton scattering of the source/background lines), cut off
   smoothly near the highest Compton edge, plus a small exponential high-energy tail (neutron-capture
   gammas, cosmic rays) that reaches into the neutron peak region, so that a pure amplitude cut is
   ≈ 99 %, not 100 %, correct.  ``Energy`` (keVee) is the measured light (photo-electrons /
   ``pe_per_kev``); the ADC gain puts the mean neutron capture pulse at ``kev_per_count``
   keVee per count of amplitude (≈ 340 counts at 3.2 MeVee).

5. **Digitiser.**  White electronics noise (``noise_sigma``), a baseline from one of the real
   runs (≈ 385, 392, 403 or 500 counts, with the real per-class run mix), the trigger, 10-bit
   quantisation and clipping to 0…1023.  The trigger is a *leading-edge* trigger with an
   absolute threshold (``trigger_threshold`` counts) on a fast differentiating filter, the rise
   of the noisy signal over the last ``trigger_gap`` samples (0.4 µs), as in the trigger filters
   of digital pulse processors; the first sample past threshold is placed at the fixed record
   position ``trigger_position``.  The filter follows the leading edge and falls back to zero on
   the flat top, so a pulse is recorded only if its *leading edge* crosses the threshold: a
   pulse that reaches it only near its top (or a smaller one that a noise sample lifts over
   it) is never recorded.  (With a plain threshold on the signal those events were recorded
   with their leading edge long before the course window: a few per cent of the gammas showed
   0–5 counts in the window, which real data does not have.)  For every pulse that crosses the
   threshold within ``trigger_gap`` samples of its start the filter is the plain signal minus one
   baseline (noise) sample, so the trigger timing is that of a plain absolute threshold.  The light starts at a uniformly
   random time within a sample period,
   so the trigger has natural sub-sample jitter, and noise adds time walk at low amplitude.
   Because the threshold is absolute, the 10 % point of a small pulse lies *before* the
   trigger point and that of a large pulse after it, and slowly rising neutron pulses reach it
   later: this reproduces the class-dependent onset positions of the real data (10 % point
   near raw sample 135 for gammas, 144 for neutrons).

What is *not* modelled: pile-up, the authors' frequency-domain index (the ``FCI`` column is
written empty, NaN), SiPM afterpulsing/crosstalk, gain drift between runs.

Calibration: the constants in :data:`DEFAULT_PARAMS` were fitted offline against the 200 real
traces of ``shared/data/clyc_real_traces_200.csv`` and the README's spectrum facts; run
``labkit calibrate --real PATH`` to see synthetic vs real side by side.

Determinism: the same ``(n_per_class, seed)`` gives identical arrays on every run (numpy
``PCG64`` streams derived from the seed per class and per chunk; a smaller ``n_per_class``
gives a prefix of each class of a larger one).  Generation is vectorised and
chunked (memory bounded by the chunk size, not by ``n``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from ..config import CFG

__all__ = ["SynthParams", "SynthTraces", "DEFAULT_PARAMS", "generate", "write_zenodo_dataset",
           "mean_shape"]


@dataclass(frozen=True)
class SynthParams:
    """Every constant of the physics model (times in ns, energies in keVee, levels in ADC counts).

    Defaults = calibrated values, obtained offline with scratch scripts (scipy, not shipped):

    1. light + front end: least-squares fit of the *noiseless* mean pulse of each class to the
       real median figures of ``clyc_real_traces_200.csv`` (10–90 % rise, heights at t10 + 0.1 /
       0.2 / 0.4 µs, peak time, decay to 1/e; leading-edge figures weighted ×2).  CVL (2 ns) and
       prompt Ce³⁺ (50 ns) decay times were fixed at literature values; fractions, slow time
       constants and the front-end rise/decay were fitted.  Result: rise 0.81 / 0.82 µs, h(+0.1)
       0.36 / 0.27, h(+0.2) 0.51 / 0.42, h(+0.4) 0.69 / 0.64 (gamma / neutron), as real.
    2. trigger: threshold and position scanned so the synthetic 10 % points reproduce the real
       ones (gamma median 135, 25 % 129, 5 % ≈ 100; neutron median 144, tight).  The filter's
       ``trigger_gap`` was then chosen against the real development windows
       (``clyc_real_windows_dev.csv``): with 0.4 µs the synthetic gammas have, like the real ones,
       none below 5 counts of in-window amplitude, the same share per amplitude bin (0–5, 5–8,
       8–12, 12–20, 20–40, 40–100, ≥ 100 counts) within 5 percentage points, and 10 % points per
       amplitude bin that follow the real ones.
    3. noise: σ before quantisation so that the quantised baseline σ is ≈ 0.7 LSB.
    4. spectra: to the README facts (neutron peak ≈ 340 counts; gamma median ≈ 40, 90th
       percentile ≈ 107), tails so that the best pure amplitude cut is ≈ 99 % correct.
    5. ``pe_per_kev`` / ``frac_jitter``: so that a peak-normalised early-charge PSD reaches
       ≈ 99.7 % on natural spectra (electronics noise alone would allow ≈ 99.9 %).  This is an
       *effective* yield (it also stands in for SiPM excess noise and the photon arrival-time
       fluctuations the model does not simulate), not the physical ≈ 5 pe/keV of a CLYC + SiPM.

    Known deviation: the real pulses have a somewhat longer tail beyond ≈ 5 µs after the peak
    (mean pulse ≈ 0.24 vs 0.19 at t10 + 9 µs); it lies far outside the course window.
    """

    # -- light (component decay times in ns and light fractions, summing to 1) --------------
    gamma_tau_ns: Tuple[float, ...] = (2.0, 50.0, 841.0)       # CVL, prompt Ce3+, slow Ce3+ (STE)
    gamma_frac: Tuple[float, ...] = (0.093, 0.106, 0.801)
    neutron_tau_ns: Tuple[float, ...] = (255.0, 738.0)          # no CVL for the dense alpha/triton track
    neutron_frac: Tuple[float, ...] = (0.043, 0.957)
    frac_jitter: float = 0.08             # relative event-to-event fluctuation of each light fraction
    # -- front end (SiPM + preamp, double exponential) ---------------------------------------
    fe_rise_ns: float = 47.0
    fe_decay_ns: float = 3931.0
    # -- photo-electron statistics and gain -----------------------------------------------------
    pe_per_kev: float = 0.8               # effective photo-electrons per keVee
    kev_per_count: float = 3200.0 / 340.0  # keVee per count of amplitude of the mean neutron pulse
    # -- spectra -----------------------------------------------------------------------------------
    neutron_peak_kev: float = 3200.0
    neutron_peak_rel_sigma: float = 0.04
    neutron_tail_frac: float = 0.02       # flat fast-neutron / edge-effect continuum
    neutron_tail_kev: Tuple[float, float] = (300.0, 3000.0)
    gamma_median_kev: float = 380.0       # log-normal body
    gamma_log_sigma: float = 0.85
    gamma_edge_kev: float = 1500.0        # smooth upper cut-off of the body (Compton edge)
    gamma_edge_width_kev: float = 120.0
    gamma_tail_frac: float = 0.003        # exponential high-energy tail starting at the edge
    gamma_tail_scale_kev: float = 1200.0
    # -- digitiser --------------------------------------------------------------------------------
    noise_sigma: float = 0.64             # white noise before quantisation (0.7 LSB after it)
    trigger_threshold: float = 9.0        # counts (absolute leading-edge threshold on the trigger filter)
    trigger_gap: int = 40                 # trigger filter = signal now - signal trigger_gap samples earlier
    trigger_position: int = 139           # raw record sample at which the trigger sample sits
    baseline_levels: Tuple[float, ...] = (384.8, 391.5, 403.2, 500.4)
    gamma_run_weights: Tuple[float, ...] = (0.09, 0.01, 0.67, 0.23)
    neutron_run_weights: Tuple[float, ...] = (0.52, 0.0, 0.33, 0.15)
    baseline_jitter: float = 0.6          # event-to-event baseline wander within a run (counts)

    def light(self, label: int) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
        taus, fracs = ((self.gamma_tau_ns, self.gamma_frac) if label == 0
                       else (self.neutron_tau_ns, self.neutron_frac))
        return tuple(map(float, taus)), tuple(float(f) / float(sum(fracs)) for f in fracs)


DEFAULT_PARAMS = SynthParams()


@dataclass
class SynthTraces:
    """Full synthetic records in the Zenodo layout.

    ``traces``: (n, 3001) uint16 raw ADC codes (negative-going pulses); ``labels``: (n,) int64
    class index (0 gamma, 1 neutron), gammas first; ``energy_kev``: (n,) measured light in keVee
    (the Zenodo ``Energy`` column); ``amplitude``: (n,) true (noiseless) pulse amplitude in counts.
    """

    traces: np.ndarray
    labels: np.ndarray
    energy_kev: np.ndarray
    amplitude: np.ndarray
    params: SynthParams = field(default=DEFAULT_PARAMS, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def windows(self) -> np.ndarray:
        """(n, 161) course windows (raw samples ``CFG.window_start … CFG.window_stop``)."""
        return self.traces[:, CFG.window_start: CFG.window_stop + 1]


# ------------------------------------------------------------------------------------------
# closed-form pulse shapes
# ------------------------------------------------------------------------------------------

def _exp_terms(taus, fracs, tr: float, td: float):
    """Light sum_i f_i e^{-t/τi}/τi convolved with (e^{-t/τd} - e^{-t/τr})/(τd - τr).

    Returns (time constants (M,), coefficient matrix (n_comp, M)) such that component i gives
    sum_m coef[i, m] * exp(-t / tau[m]) for t >= 0 (unit area per unit light).
    """
    all_tau = list(taus) + [tr, td]
    coef = np.zeros((len(taus), len(all_tau)))
    for i, ti in enumerate(taus):
        # exact coincidences would divide by zero; nudge (far below any physical meaning)
        ti = ti * (1 + 1e-9) if min(abs(ti - tr), abs(ti - td)) < 1e-9 * ti else ti
        cd = td / ((td - ti) * (td - tr))
        cr = -tr / ((tr - ti) * (td - tr))
        coef[i, i] = -(cd + cr)
        coef[i, len(taus)] = cr
        coef[i, len(taus) + 1] = cd
    return np.asarray(all_tau, float), coef


def mean_shape(label: int, t_ns, params: SynthParams = DEFAULT_PARAMS) -> np.ndarray:
    """Noiseless mean pulse of a class (unit light) at times ``t_ns`` after the light onset."""
    taus, fracs = params.light(label)
    all_tau, coef = _exp_terms(taus, fracs, params.fe_rise_ns, params.fe_decay_ns)
    t = np.asarray(t_ns, float)
    w = np.einsum("i,im->m", np.asarray(fracs), coef)
    basis = np.exp(-np.maximum(t, 0)[..., None] / all_tau) * (t >= 0)[..., None]
    return np.einsum("...m,m->...", basis, w)


# ------------------------------------------------------------------------------------------
# spectra
# ------------------------------------------------------------------------------------------

def _sample_energy(rng: np.random.Generator, label: int, n: int, p: SynthParams) -> np.ndarray:
    if label == 1:
        e = p.neutron_peak_kev * (1 + p.neutron_peak_rel_sigma * rng.standard_normal(n))
        tail = rng.random(n) < p.neutron_tail_frac
        e[tail] = rng.uniform(*p.neutron_tail_kev, size=int(tail.sum()))
        return e
    e = p.gamma_median_kev * np.exp(p.gamma_log_sigma * rng.standard_normal(n))
    # smooth upper cut-off of the continuum: events beyond a Gaussian-smeared edge are folded
    # back to a random fraction of their energy (partial deposition)
    edge = p.gamma_edge_kev + p.gamma_edge_width_kev * rng.standard_normal(n)
    over = e > edge
    e[over] = e[over] * rng.uniform(0.05, 1.0, size=int(over.sum()))
    tail = rng.random(n) < p.gamma_tail_frac
    e[tail] = p.gamma_edge_kev + rng.exponential(p.gamma_tail_scale_kev, size=int(tail.sum()))
    return e


# ------------------------------------------------------------------------------------------
# generator
# ------------------------------------------------------------------------------------------

_CHUNK = 500          # events per vectorised block (bounds memory: ~ 500 x 3200 float64 arrays)
_MARGIN = 200         # extra samples so the trigger can move the record by up to this much


def _gain_pe(p: SynthParams) -> float:
    """ADC counts per photo-electron so that the mean neutron pulse peaks at E / kev_per_count."""
    t = np.arange(0, 20000, 2.0)
    peak_n = mean_shape(1, t, p).max()
    return 1.0 / (p.kev_per_count * p.pe_per_kev * peak_n)


def _chunk(rng: np.random.Generator, label: int, n: int, p: SynthParams, gain: float):
    """Generate n candidate events; returns (traces uint16, energy, amplitude, triggered mask)."""
    dt = CFG.sample_period_us * 1000.0
    L = CFG.raw_trace_samples
    taus, fracs = p.light(label)
    all_tau, coef = _exp_terms(taus, fracs, p.fe_rise_ns, p.fe_decay_ns)
    fr = np.asarray(fracs)

    e_true = _sample_energy(rng, label, n, p)
    # photo-electrons per component: fluctuating fractions, then Poisson
    w = np.clip(1 + p.frac_jitter * rng.standard_normal((n, len(fr))), 0, None) * fr
    w /= w.sum(axis=1, keepdims=True)
    npe = rng.poisson(np.clip(e_true, 0, None)[:, None] * p.pe_per_kev * w).astype(np.float64)
    energy = npe.sum(axis=1) / p.pe_per_kev

    # extended frame: light starts u*dt before sample k0 (u uniform: sub-sample phase)
    k0 = p.trigger_position
    Lx = L + _MARGIN
    u = rng.random(n)
    k = np.arange(Lx) - k0
    basis = np.where(k >= 0, np.exp(-np.maximum(k, 0)[None, :] * dt / all_tau[:, None]), 0.0)  # (M, Lx)
    cw = np.einsum("ni,im->nm", npe, coef) * gain * np.exp(-u[:, None] * dt / all_tau[None, :])  # (n, M)
    # einsum, not BLAS: bit-identical results whatever the BLAS library / thread count
    pulse = np.einsum("nm,mk->nk", cw, basis, optimize=False)                                    # (n, Lx)
    amplitude = pulse.max(axis=1)
    noisy = pulse + p.noise_sigma * rng.standard_normal((n, Lx))
    # leading-edge trigger: first sample at/after the light onset where the fast filter (rise of
    # the noisy signal over the last trigger_gap samples) passes the threshold; the filter is ~0
    # on a flat top, so only a leading edge fires it
    g = p.trigger_gap
    fast = noisy[:, k0: k0 + _MARGIN] - noisy[:, k0 - g: k0 + _MARGIN - g]
    region = fast >= p.trigger_threshold
    fired = region.any(axis=1)
    ktrig = k0 + region.argmax(axis=1)
    start = ktrig - p.trigger_position                    # record start in the extended frame
    levels = np.asarray(p.baseline_levels)
    weights = np.asarray(p.gamma_run_weights if label == 0 else p.neutron_run_weights, float)
    run = rng.choice(len(levels), size=n, p=weights / weights.sum())
    base = levels[run] + p.baseline_jitter * rng.standard_normal(n)
    idx = start[:, None] + np.arange(L)[None, :]
    rec = base[:, None] - np.take_along_axis(noisy, idx, axis=1)
    traces = np.clip(np.rint(rec), 0, CFG.adc_max).astype(np.uint16)
    return traces, energy, amplitude, fired


def generate(n_per_class: int, seed: int = CFG.seed, *, progress: bool = False,
             params: SynthParams = DEFAULT_PARAMS) -> SynthTraces:
    """``n_per_class`` synthetic gamma and neutron records (gammas first), deterministic per seed.

    Events whose leading edge does not cross the trigger threshold are not recorded (as on the
    real digitiser); the generator draws candidates until each class has ``n_per_class``
    triggered events.
    """
    n_per_class = int(n_per_class)
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    if not 1 <= params.trigger_gap <= params.trigger_position:
        raise ValueError(f"SynthParams.trigger_gap must be 1…trigger_position ({params.trigger_position}) samples, "
                         f"got {params.trigger_gap}")
    gain = _gain_pe(params)
    L = CFG.raw_trace_samples
    out_t, out_y, out_e, out_a = [], [], [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=2 * n_per_class, desc="synthetic CLYC", unit="pulse", leave=False)
    for label in range(CFG.n_classes):
        have = 0
        parts = []
        chunk_no = 0
        while have < n_per_class:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), label, chunk_no])))
            chunk_no += 1
            tr, en, am, ok = _chunk(rng, label, _CHUNK, params, gain)
            take = np.flatnonzero(ok)[: n_per_class - have]
            parts.append((tr[take], en[take], am[take]))
            have += len(take)
            if bar is not None:
                bar.update(len(take))
            if chunk_no > 1000 + 10 * n_per_class:
                raise RuntimeError("synthetic generator: almost no event passes the trigger; check SynthParams")
        if parts:
            out_t.append(np.concatenate([p[0] for p in parts]))
            out_e.append(np.concatenate([p[1] for p in parts]))
            out_a.append(np.concatenate([p[2] for p in parts]))
        else:
            out_t.append(np.empty((0, L), np.uint16))
            out_e.append(np.empty(0))
            out_a.append(np.empty(0))
        out_y.append(np.full(n_per_class, label, np.int64))
    if bar is not None:
        bar.close()
    return SynthTraces(np.concatenate(out_t), np.concatenate(out_y), np.concatenate(out_e),
                       np.concatenate(out_a), params)


def write_zenodo_dataset(folder, n_per_class: int, seed: int = CFG.seed, overwrite: bool = False,
                         *, progress: bool = False) -> Dict[str, Path]:
    """Write ``gamma.csv`` / ``neutron.csv`` in the real Zenodo layout into ``folder``.

    Refuses to overwrite existing files unless ``overwrite=True``.  The ``FCI`` column is left
    empty (NaN): the authors' frequency-domain index is not reimplemented here.
    """
    from .formats import ZENODO_FILES, _refuse_overwrite, write_zenodo_csv

    folder = Path(folder)
    paths = {name: folder / ZENODO_FILES[name] for name in CFG.class_names}
    for path in paths.values():  # check both before writing either
        _refuse_overwrite(path, overwrite)
    data = generate(n_per_class, seed, progress=progress)
    for label, (name, path) in enumerate(paths.items()):
        m = data.labels == label
        write_zenodo_csv(path, data.traces[m], data.energy_kev[m], None, overwrite=overwrite)
    return paths
