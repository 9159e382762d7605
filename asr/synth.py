"""Synthetic test speech: espeak-ng text → telephone-band 8 kHz PCM via sox, cached by text and settings.

Used by the speech tests and benches (and handy for demos): ``telephone_pcm("네", voice="ko")`` returns 16-bit
mono PCM at 8 kHz, band-limited to 300–3400 Hz and passed through G.711 µ-law like a real call. Files are
cached under ``cache_dir`` keyed by a hash of everything that shapes the audio.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path(".cache/audio")


@dataclass(frozen=True)
class Voice:
    name: str = "ko"  # espeak-ng voice, e.g. ko, ko+f2
    speed_wpm: int = 175
    pitch: int = 50


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, check=False)  # noqa: S603 - fixed program, our arguments
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:300]}"
                           " — install espeak-ng and sox (`make apt`)")


def speech_wav(text: str, voice: Voice = Voice(), telephone: bool = True,
               cache_dir: Path = DEFAULT_CACHE) -> Path:
    """A WAV of ``text``: 8 kHz telephone band + µ-law round trip, or 16 kHz clean (``telephone=False``)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _key(text, voice, telephone, "v1")
    out = cache_dir / f"{key}.wav"
    if out.exists():
        return out
    raw = cache_dir / f"{key}.espeak.wav"
    _run(["espeak-ng", "-v", voice.name, "-s", str(voice.speed_wpm), "-p", str(voice.pitch), "-w", str(raw), text])
    tmp = cache_dir / f"{key}.tmp.wav"
    if telephone:
        ulaw = cache_dir / f"{key}.ulaw.wav"
        _run(["sox", str(raw), "-r", "8000", "-c", "1", "-e", "u-law", str(ulaw), "sinc", "300-3400"])
        _run(["sox", str(ulaw), "-e", "signed-integer", "-b", "16", str(tmp)])
        ulaw.unlink()
    else:
        _run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(tmp)])
    raw.unlink()
    tmp.replace(out)
    return out


def trim(pcm: bytes, threshold_dbfs: float = -45.0) -> bytes:
    """``pcm`` without the quiet lead-in and tail espeak-ng adds (so pauses between words are exact)."""
    x = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) >= 32768 * 10 ** (threshold_dbfs / 20))
    return x[loud[0]:loud[-1] + 1].tobytes() if loud.size else b""


def read_pcm(path: Path) -> tuple[bytes, int]:
    """16-bit mono PCM and the sample rate of a WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: need 16-bit mono PCM (convert with sox: -b 16 -c 1)")
        return w.readframes(w.getnframes()), w.getframerate()


def silence(seconds: float, sample_rate_hz: int = 8000) -> bytes:
    """Digital silence; mix ``line_noise`` over a whole composed stream to make it sound like a line."""
    return b"\x00\x00" * int(seconds * sample_rate_hz)


def line_noise(pcm: bytes, level_dbfs: float = -50.0, seed: int = 0) -> bytes:
    """``pcm`` with steady background noise at ``level_dbfs`` over all of it (a line is never silent)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    amp = 32768.0 * 10 ** (level_dbfs / 20)
    noise = np.random.default_rng(seed).standard_normal(x.size) * amp
    return (x + noise).clip(-32768, 32767).astype("<i2").tobytes()


def add_noise(pcm: bytes, snr_db: float, speech_rms: float | None = None, seed: int = 0) -> bytes:
    """Mix white noise at ``snr_db`` below the speech RMS (of the voiced part if given)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = speech_rms if speech_rms is not None else float(np.sqrt(np.mean(x[np.abs(x) > 50] ** 2))) if x.size else 0.0
    noise = np.random.default_rng(seed).standard_normal(x.size) * rms / (10 ** (snr_db / 20))
    return (x + noise).clip(-32768, 32767).astype("<i2").tobytes()


def frames(pcm: bytes, frame_bytes: int = 320) -> list[bytes]:
    """Cut PCM into frames (20 ms at 8 kHz by default); the last short frame is padded with zeros."""
    out = [pcm[i:i + frame_bytes] for i in range(0, len(pcm), frame_bytes)]
    if out and len(out[-1]) < frame_bytes:
        out[-1] = out[-1] + b"\x00" * (frame_bytes - len(out[-1]))
    return out
