"""Landmark fingerprints of sound: spectral peak pairs hashed with their time gap (Shazam-like).

Pure numpy over mono samples (decoded by provenance.media.audio). The recipe, after Wang's
Shazam paper and Ellis's audfprint, with two changes for evidence:

1. A log-magnitude spectrogram of the sound at 8 kHz (512-sample frames, 32 ms hop),
   250-3500 Hz only: the telephone band every copy of a call still carries.
2. Each frequency bin minus its own running mean over 4 s. A fixed filter (a phone
   line, a cheap speaker, a volume change) is a constant per bin in log terms and vanishes;
   so do steady tones and hum, which carry no information about *which* recording this is.
3. Peaks: points that are the maximum of their neighbourhood (+-5 frames, +-10 bins), stand
   PEAK_CONTRAST dB above that background, and lie in a frame whose level is above
   SILENCE_DBFS. Silence and near-silence therefore yield no peaks at all, and never match.
   At most PEAKS_PER_SECOND, the strongest, are kept in any second.
4. Each peak (the anchor) is paired with the next FANOUT peaks in time within 1.3 s and
   +-63 bins; the pair's (anchor bin, bin difference, frame gap) is a 21-bit hash, stored
   as 4 bytes with the anchor's time in seconds.

Matching (time alignment, shares, verdicts) is provenance.matching.audiomatch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

RATE = 8000
N_FFT = 512
HOP = 256
SECONDS_PER_FRAME = HOP / RATE
LOW_BIN, HIGH_BIN = 16, 224  # 250 Hz .. 3500 Hz at 15.6 Hz a bin
BACKGROUND = 62  # frames either side of the running mean each bin is measured against (2 s)
PEAK_TIME, PEAK_FREQ = 5, 10  # neighbourhood half-widths: frames, bins
PEAK_CONTRAST = 9.0  # dB above the bin's running median
SILENCE_DBFS = -50.0  # frame level (RMS, dB full scale) below which nothing is a peak
PEAKS_PER_SECOND = 8
FANOUT = 3
MAX_DT = 40  # frames (1.28 s)
MAX_DF = 63  # bins
ALGORITHM = "audio"
# Query-only copies of a sound resampled by these factors, so that a copy played 3% fast
# or slow (pitch and tempo together, as a re-encoder's speed change does) is still found
# (see `variants`).
SPEED_FACTORS = (0.97, 0.98, 0.99, 1.01, 1.02, 1.03)


def landmarks(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint32, anchor times in seconds float64) of mono float samples at RATE."""
    import numpy as np

    peaks_t, peaks_f = peaks(samples)
    if len(peaks_t) < 2:
        return np.zeros(0, np.uint32), np.zeros(0, np.float64)
    hashes: list[np.ndarray] = []
    anchors: list[np.ndarray] = []
    n = len(peaks_t)
    for step in range(1, FANOUT * 4 + 1):
        if step >= n:
            break
        a, b = np.arange(n - step), np.arange(step, n)
        dt = peaks_t[b] - peaks_t[a]
        df = peaks_f[b].astype(np.int64) - peaks_f[a]
        ok = (dt >= 1) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF)
        hashes.append(_hash(peaks_f[a][ok], df[ok], dt[ok]))
        anchors.append(a[ok])
    if not hashes:
        return np.zeros(0, np.uint32), np.zeros(0, np.float64)
    h, a = np.concatenate(hashes), np.concatenate(anchors)
    # Keep each anchor's FANOUT nearest-in-time targets (the pairs above come in order of
    # peak distance, so a stable sort by anchor keeps the nearest first).
    order = np.argsort(a, kind="stable")
    h, a = h[order], a[order]
    first = np.searchsorted(a, a, side="left")
    keep = (np.arange(len(a)) - first) < FANOUT
    h, a = h[keep], a[keep]
    times = peaks_t[a] * SECONDS_PER_FRAME
    return h, np.round(times, 3)


def _hash(f1: np.ndarray, df: np.ndarray, dt: np.ndarray) -> np.ndarray:
    import numpy as np

    return ((f1.astype(np.uint32) - LOW_BIN) << 13 | (df + MAX_DF).astype(np.uint32) << 6
            | dt.astype(np.uint32))


def spectrogram(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log magnitude in dB full scale of bins LOW_BIN..HIGH_BIN, per-frame level dBFS)."""
    import cv2
    import numpy as np

    x = np.asarray(samples, np.float32)
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
    count = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(count, N_FFT), strides=(x.strides[0] * HOP, x.strides[0]), writeable=False)
    window = np.hanning(N_FFT).astype(np.float32)
    # OpenCV's row-wise DFT in float32: five times numpy's rfft here, the same spectrum.
    dft = cv2.dft(np.ascontiguousarray(frames * window), flags=cv2.DFT_ROWS
                  | cv2.DFT_COMPLEX_OUTPUT)
    spectrum = cv2.magnitude(np.ascontiguousarray(dft[:, LOW_BIN:HIGH_BIN, 0]),
                             np.ascontiguousarray(dft[:, LOW_BIN:HIGH_BIN, 1]))
    # A full-scale sine peaks at sum(window) / 2 in its bin: that is 0 dB.
    full = float(window.sum()) / 2
    log = (20 * np.log10(spectrum / full + 1e-9)).astype(np.float32)
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames) / N_FFT)
    level = 20 * np.log10(rms * np.sqrt(2) + 1e-12)
    return log, level


def _background(log: np.ndarray) -> np.ndarray:
    """Per bin, the running mean over +-BACKGROUND frames (exact, so the same sound gives the
    same background wherever a copy starts; edges use what there is)."""
    import numpy as np

    n = len(log)
    total = np.concatenate([np.zeros((1, log.shape[1])), np.cumsum(log, axis=0,
                                                                  dtype=np.float64)])
    idx = np.arange(n)
    lo, hi = np.maximum(idx - BACKGROUND, 0), np.minimum(idx + BACKGROUND + 1, n)
    return ((total[hi] - total[lo]) / (hi - lo)[:, None]).astype(np.float32)


def _strongest(t: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Mask of peaks among the PEAKS_PER_SECOND strongest within half a second either side
    (a sliding window: the choice does not depend on where a copy starts)."""
    import numpy as np

    half = int(round(0.5 / SECONDS_PER_FRAME))
    lo = np.searchsorted(t, t - half, "left")
    hi = np.searchsorted(t, t + half, "right")
    keep = np.ones(len(t), bool)
    for i in range(len(t)):
        if hi[i] - lo[i] > PEAKS_PER_SECOND:
            keep[i] = int((strength[lo[i]:hi[i]] > strength[i]).sum()) < PEAKS_PER_SECOND
    return keep


def peaks(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frame index, absolute bin) of each landmark peak, in time order."""
    import cv2
    import numpy as np

    log, level = spectrogram(samples)
    contrast = log - _background(log)
    kernel = np.ones((2 * PEAK_TIME + 1, 2 * PEAK_FREQ + 1), np.uint8)
    local_max = cv2.dilate(contrast, kernel, borderType=cv2.BORDER_REPLICATE)
    loud = level >= SILENCE_DBFS
    ok = (contrast >= local_max) & (contrast >= PEAK_CONTRAST) & loud[:, None]
    ok &= log >= SILENCE_DBFS - 15  # a peak itself must be above near-silence
    t, f = np.nonzero(ok)
    if not len(t):
        return t.astype(np.int64), f.astype(np.int64)
    order = np.lexsort((f, t))  # nonzero gives time order already; keep it explicit
    t, f = t[order], f[order]
    keep = _strongest(t, contrast[t, f])
    return t[keep].astype(np.int64), (f[keep] + LOW_BIN).astype(np.int64)


def resample(samples: np.ndarray, factor: float) -> np.ndarray:
    """The sound played `factor` times as fast (pitch and tempo together), by interpolation."""
    import numpy as np

    n = int(len(samples) / factor)
    if n < 2:
        return np.asarray(samples, np.float32)
    return np.interp(np.arange(n) * factor, np.arange(len(samples)),
                     samples).astype(np.float32)


def variants() -> list[tuple[float, int]]:
    """The query-only variants: (speed factor, samples skipped at the start).

    A copy's frames fall anywhere against the held sound's 32 ms grid; a landmark whose peak
    sits near a frame boundary lands one frame off, and its hash (the frame gap) changes.
    So the sound as it is is also searched shifted by a quarter, half and three quarters of
    a hop. Speed-changed variants drift across the grid by themselves and need no shift.
    """
    shifts = [(1.0, HOP * k // 4) for k in (1, 2, 3)]
    return shifts + [(f, 0) for f in SPEED_FACTORS]


def region_of(factor: float, shift: int) -> str:
    return "full" if (factor, shift) == (1.0, 0) else f"x{factor:g}+{shift}"


def parse_region(region: str) -> tuple[float, int]:
    """(speed factor, shift in samples) of a landmark row's region."""
    if region == "full":
        return 1.0, 0
    factor, _, shift = region[1:].partition("+")
    return float(factor), int(shift or 0)


def own_seconds(variant_seconds: float, factor: float, shift: int) -> float:
    """A variant's anchor time on the original sound's own timeline."""
    return shift / RATE + variant_seconds * factor


def rows(samples: np.ndarray, *, query: bool = False) -> list[dict[str, object]]:
    """Hash rows (the `hashes` table's form) of a sound; `query`: instead, of its query-only
    variants (see `variants`), region "x0.97+0" etc., their anchor times on the variant's own
    timeline (alignment needs that one; `own_seconds` maps them back)."""
    out: list[dict[str, object]] = []
    chosen = variants() if query else [(1.0, 0)]
    for factor, shift in chosen:
        sound = samples[shift:] if shift else samples
        if factor != 1.0:
            sound = resample(sound, factor)
        hashes, times = landmarks(sound)
        region = region_of(factor, shift)
        for h, t in zip(hashes.tolist(), times.tolist(), strict=True):
            out.append({"algorithm": ALGORITHM, "region": region, "frame_seconds": t,
                        "value": int(h).to_bytes(4, "big").hex(), "quality": None})
    return out
