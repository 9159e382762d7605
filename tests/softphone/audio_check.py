"""Compare audio the way the telephony lab did: 20 ms loudness envelopes, best lag, Pearson correlation."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

RATE_HZ = 8000
FRAME = RATE_HZ // 50  # 20 ms


def read_channel(path: Path, channel: int = 0) -> np.ndarray:
    """One channel of a WAV as float samples at 8 kHz (resampled with sox when needed)."""
    with wave.open(str(path)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if rate != RATE_HZ or width != 2:
        out = subprocess.run(["sox", str(path), "-t", "raw", "-r", str(RATE_HZ), "-e", "signed", "-b", "16", "-"],
                             check=True, capture_output=True).stdout
        data = np.frombuffer(out, dtype="<i2").reshape(-1, channels)
    else:
        data = np.frombuffer(raw, dtype="<i2").reshape(-1, channels)
    return data[:, channel].astype(np.float64)


def envelope(samples: np.ndarray) -> np.ndarray:
    n = len(samples) // FRAME
    frames = samples[: n * FRAME].reshape(n, FRAME)
    return np.sqrt((frames**2).mean(axis=1))


def envelope_correlation(reference: np.ndarray, received: np.ndarray, max_lag_frames: int = 150) -> float:
    """Best correlation of the two envelopes over lags of up to 3 s (received may start later or earlier)."""
    a, b = envelope(reference), envelope(received)
    best = -1.0
    for lag in range(-max_lag_frames, max_lag_frames + 1):
        x, y = (a, b[lag:]) if lag >= 0 else (a[-lag:], b)
        n = min(len(x), len(y))
        if n < 50:
            continue
        x, y = x[:n], y[:n]
        if x.std() == 0 or y.std() == 0:
            continue
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def rms_dbfs(samples: np.ndarray) -> float:
    rms = float(np.sqrt((samples**2).mean())) if len(samples) else 0.0
    return 20 * np.log10(max(rms, 1e-9) / 32768)
