"""Signal levels for the device test: RMS in dBFS, a test tone, the level of one frequency, a text meter.

All on 16-bit little-endian mono PCM.
"""

from __future__ import annotations

import math

import numpy as np

FLOOR_DBFS = -120.0
_FULL_SCALE = 32768.0


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)


def rms_dbfs(pcm: bytes) -> float:
    """RMS level in dB relative to full scale (a full-scale sine is -3 dBFS); ``FLOOR_DBFS`` for silence."""
    x = _samples(pcm)
    if x.size == 0:
        return FLOOR_DBFS
    rms = math.sqrt(float(np.mean(x * x))) / _FULL_SCALE
    return max(FLOOR_DBFS, 20.0 * math.log10(rms)) if rms > 0 else FLOOR_DBFS


def tone(freq_hz: float, seconds: float, rate_hz: int, dbfs: float = -12.0, fade_ms: float = 10.0) -> bytes:
    """A sine tone at ``dbfs`` RMS with short fades (no clicks)."""
    n = int(round(seconds * rate_hz))
    t = np.arange(n) / rate_hz
    amplitude = _FULL_SCALE * math.sqrt(2.0) * 10 ** (dbfs / 20.0)
    x = amplitude * np.sin(2 * math.pi * freq_hz * t)
    fade = min(n // 2, int(rate_hz * fade_ms / 1000))
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[n - fade :] *= ramp[::-1]
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def tone_dbfs(pcm: bytes, freq_hz: float, rate_hz: int) -> float:
    """The RMS level (dBFS) of the component at ``freq_hz`` (single-bin DFT with a Hann window)."""
    x = _samples(pcm)
    if x.size == 0:
        return FLOOR_DBFS
    window = np.hanning(x.size)
    t = np.arange(x.size) / rate_hz
    bin_value = np.sum(x * window * np.exp(-2j * math.pi * freq_hz * t))
    amplitude = 2.0 * abs(bin_value) / float(np.sum(window))
    rms = amplitude / math.sqrt(2.0) / _FULL_SCALE
    return max(FLOOR_DBFS, 20.0 * math.log10(rms)) if rms > 0 else FLOOR_DBFS


def apply_gain(pcm: bytes, gain_db: float) -> bytes:
    """Scale PCM by ``gain_db`` with clipping; 0 dB returns the input unchanged."""
    if gain_db == 0.0:
        return pcm
    x = _samples(pcm) * 10 ** (gain_db / 20.0)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def meter(dbfs: float, width: int = 30, floor_dbfs: float = -60.0) -> str:
    """A text level meter: ``[#########.....................]  -33.1 dBFS``."""
    filled = round(width * min(1.0, max(0.0, (dbfs - floor_dbfs) / -floor_dbfs)))
    return f"[{'#' * filled}{'.' * (width - filled)}] {dbfs:6.1f} dBFS"


def mono_to_stereo(pcm: bytes) -> bytes:
    """Duplicate each sample into left and right (for headsets that only open in stereo)."""
    x = np.frombuffer(pcm, dtype="<i2")
    return np.repeat(x, 2).tobytes()


def stereo_to_mono(pcm: bytes) -> bytes:
    """Keep the left channel (a headset microphone is mono; the right channel is a copy or silence)."""
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 4], dtype="<i2")
    return x[0::2].tobytes()
