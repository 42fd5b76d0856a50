"""Oscillation content of a large load: Welch power spectral density and band power.

NERC's Level 3 alert of May 2026 cites significant oscillations of computational
loads occurring within seconds [1]_, and the Large Loads Task Force lists forced
oscillations among their stability and power-quality risks [2]_.  This module
measures the oscillation content of a PCC profile in two bands: 0.01-0.1 Hz
(periods of 10-100 s: slow power swings of training or batching cycles, the
inter-area range) and 0.1-2 Hz (periods of 0.5-10 s: local and inter-area
electromechanical modes).

Definitions (a profile ``p`` [MW] sampled every ``dt`` seconds):

* the one-sided power spectral density ``S(f)`` [MW²/Hz] from
  :func:`scipy.signal.welch` (Hann window, segments of ``segment_s`` seconds with
  50 % overlap, each segment's mean removed), so that ``sum(S) * df`` is the
  variance of ``p`` [MW²];
* the power of a band ``[f_lo, f_hi)``: ``sum of S(f) * df`` over the frequency bins
  in the band [MW²] -- the part of the variance that oscillates in the band (what
  the issue calls its energy), its RMS amplitude ``sqrt(power)`` [MW], and its share
  of the total variance;
* the Nyquist frequency ``1 / (2 dt)``: 2 Hz on the generator's 250 ms grid, 0.5 Hz
  at 1 s.  A band whose upper edge is above the Nyquist frequency cannot be
  resolved from the data; it is reported with ``resolved = False``, a reason, and
  NaN values -- never a truncated number.  A band whose lower edge is below two
  frequency bins (``2 / segment``) is unresolvable for the same honesty.

References
----------
.. [1] NERC, *Level 3 Alert -- Essential Actions to Industry: Computational Load
   Modeling, Studies, Instrumentation, Commissioning, Operations, Protection, and
   Control*, May 4, 2026.
.. [2] NERC Large Loads Task Force, *Characteristics and Risks of Emerging Large
   Loads*, white paper, July 2025.
.. [3] P. D. Welch, "The use of fast Fourier transform for the estimation of power
   spectra," IEEE Trans. Audio Electroacoust. 15(2), 70-73, 1967.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal

from gridlink.stats.base import StatsError, as_profile

__all__ = ["DEFAULT_BANDS_HZ", "Spectrum", "load_spectrum"]

logger = logging.getLogger(__name__)

#: The study's bands [Hz]: (0.01, 0.1) and (0.1, 2.0).
DEFAULT_BANDS_HZ: tuple[tuple[float, float], ...] = ((0.01, 0.1), (0.1, 2.0))


@dataclass(frozen=True)
class Spectrum:
    """Welch PSD of a profile and its band powers.

    Attributes
    ----------
    psd : pandas.DataFrame, shape (n_freq, 2)
        Columns ``frequency_hz`` [Hz] and ``psd_mw2_per_hz`` [MW²/Hz].
    bands : pandas.DataFrame, shape (n_bands, 9)
        One row per band: ``f_lo_hz``, ``f_hi_hz``, ``resolved`` (bool), ``reason``,
        ``power_mw2`` [MW²], ``rms_mw`` [MW], ``share_of_variance``,
        ``peak_frequency_hz`` (the bin with the largest PSD in the band) [Hz],
        ``n_bins``.
    nyquist_hz : float
        ``1 / (2 dt)`` [Hz].
    resolution_hz : float
        Frequency bin width ``df`` [Hz].
    variance_mw2 : float
        Variance of the profile (population) [MW²].
    step_s : float
        Sampling step ``dt`` [s].
    segment_s : float
        Welch segment length [s].
    """

    psd: pd.DataFrame
    bands: pd.DataFrame
    nyquist_hz: float
    resolution_hz: float
    variance_mw2: float
    step_s: float
    segment_s: float

    def statement(self) -> str:
        """One sentence on what the spectrum can and cannot resolve."""
        text = (
            f"Sampling step {self.step_s:g} s: Nyquist frequency {self.nyquist_hz:g} Hz, "
            f"frequency resolution {self.resolution_hz:.3g} Hz; oscillations faster than "
            f"{self.nyquist_hz:g} Hz cannot be resolved from this series."
        )
        bad = self.bands[~self.bands["resolved"]]
        for _, row in bad.iterrows():
            text += f" Band {row['f_lo_hz']:g}-{row['f_hi_hz']:g} Hz: {row['reason']}."
        return text


BAND_UNITS: dict[str, str] = {
    "f_lo_hz": "Hz",
    "f_hi_hz": "Hz",
    "power_mw2": "MW^2",
    "rms_mw": "MW",
    "share_of_variance": "dimensionless",
    "peak_frequency_hz": "Hz",
    "n_bins": "count",
}


def load_spectrum(
    profile: pd.Series,
    *,
    bands_hz: Sequence[tuple[float, float]] = DEFAULT_BANDS_HZ,
    segment_s: float = 1024.0,
) -> Spectrum:
    """Welch PSD of a PCC profile and the power in each band.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware index (the 250 ms series
        for bands up to 2 Hz).
    bands_hz : sequence of (float, float), default :data:`DEFAULT_BANDS_HZ`
        Bands ``[f_lo, f_hi)`` [Hz], ``0 <= f_lo < f_hi``.
    segment_s : float, default 1024
        Welch segment length [s] (frequency resolution ``1 / segment_s``); a
        profile shorter than one segment uses its whole length as one segment.

    Returns
    -------
    Spectrum

    Raises
    ------
    gridlink.units.UnitError
        Not a power Series with a declared unit.
    StatsError
        Naive or irregular index, non-finite values, fewer than 8 samples, a band
        with ``f_lo >= f_hi`` or a negative edge, a non-positive ``segment_s``.
    """
    prof = as_profile(profile)
    dt = prof.step_s
    fs = 1.0 / dt
    nyq = fs / 2.0
    n = prof.p_mw.size
    if n < 8:
        raise StatsError(f"profile: {n} samples; a spectrum needs at least 8")
    if not (isinstance(segment_s, int | float) and np.isfinite(segment_s) and segment_s > 0):
        raise StatsError(f"segment_s: expected a positive number of seconds, got {segment_s!r}")
    nperseg = int(min(n, max(8, round(segment_s / dt))))
    f, s = signal.welch(
        prof.p_mw, fs=fs, window="hann", nperseg=nperseg, noverlap=nperseg // 2,
        detrend="constant", scaling="density", return_onesided=True,
    )  # fmt: skip
    df = fs / nperseg
    variance = float(np.var(prof.p_mw))
    rows = []
    for k, band in enumerate(bands_hz):
        try:
            lo, hi = (float(band[0]), float(band[1]))
        except (TypeError, ValueError, IndexError) as exc:
            raise StatsError(
                f"bands_hz[{k}]: expected a pair (f_lo, f_hi) in Hz, got {band!r}"
            ) from exc
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or lo >= hi:
            raise StatsError(f"bands_hz[{k}]: ({lo}, {hi}) Hz is not a band; need 0 <= f_lo < f_hi")
        reason = ""
        if hi > nyq + 1e-12:
            reason = (
                f"upper edge {hi:g} Hz is above the Nyquist frequency {nyq:g} Hz of the "
                f"{dt:g} s series; not resolvable from this data"
            )
        elif lo < 2 * df - 1e-12 and lo > 0:
            reason = (
                f"lower edge {lo:g} Hz is below two frequency bins ({2 * df:.3g} Hz) of a "
                f"{nperseg * dt:g} s segment; pass a longer profile"
            )
        in_band = (f >= lo) & (f < hi) if hi < nyq else (f >= lo) & (f <= hi)
        if reason or not in_band.any():
            rows.append(
                {"f_lo_hz": lo, "f_hi_hz": hi, "resolved": False,
                 "reason": reason or "no frequency bin falls in the band",
                 "power_mw2": np.nan, "rms_mw": np.nan, "share_of_variance": np.nan,
                 "peak_frequency_hz": np.nan, "n_bins": int(in_band.sum())}
            )  # fmt: skip
            continue
        power = float(s[in_band].sum() * df)
        rows.append(
            {"f_lo_hz": lo, "f_hi_hz": hi, "resolved": True, "reason": "",
             "power_mw2": power, "rms_mw": float(np.sqrt(power)),
             "share_of_variance": power / variance if variance > 0 else np.nan,
             "peak_frequency_hz": float(f[in_band][np.argmax(s[in_band])]),
             "n_bins": int(in_band.sum())}
        )  # fmt: skip
    bands = pd.DataFrame(rows)
    bands.attrs["units"] = dict(BAND_UNITS)
    psd = pd.DataFrame({"frequency_hz": f, "psd_mw2_per_hz": s})
    psd.attrs["units"] = {"frequency_hz": "Hz", "psd_mw2_per_hz": "MW^2/Hz"}
    logger.debug("spectrum: %d samples, nperseg %d, nyquist %g Hz", n, nperseg, nyq)
    return Spectrum(
        psd=psd, bands=bands, nyquist_hz=nyq, resolution_hz=df, variance_mw2=variance,
        step_s=dt, segment_s=nperseg * dt,
    )  # fmt: skip
