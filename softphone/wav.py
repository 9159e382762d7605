"""Canonical PCM WAV files written in chunks with a header that stays valid, and repair of truncated ones.

Pure file handling (no pjsua2). A recording is appended to and its RIFF/data sizes are rewritten every
``sync`` so a process killed mid-call (SIGKILL) leaves a playable file; ``repair_wav`` fixes the sizes of a
file whose writer died between two syncs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import time
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

HEADER_BYTES = 44
SAMPLE_BYTES = 2


def wav_header(data_bytes: int, channels: int, sample_rate_hz: int) -> bytes:
    block_align = channels * SAMPLE_BYTES
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate_hz, sample_rate_hz * block_align,
                                block_align, SAMPLE_BYTES * 8)
        + b"data" + struct.pack("<I", data_bytes)
    )


class WavAppender:
    """Appends 16-bit PCM to a new WAV file; ``sync()`` makes what was written so far playable."""

    def __init__(self, path: Path, channels: int, sample_rate_hz: int) -> None:
        self.path = path
        self.channels = channels
        self.sample_rate_hz = sample_rate_hz
        self.data_bytes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._fh.write(wav_header(0, channels, sample_rate_hz))
        self._fh.flush()

    def append(self, pcm: bytes) -> None:
        assert self._fh is not None, "append after close"
        self._fh.write(pcm)
        self.data_bytes += len(pcm)

    def sync(self) -> None:
        """Rewrite the sizes in the header and hand the bytes to the OS (they survive a killed process)."""
        fh = self._fh
        assert fh is not None
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + self.data_bytes))
        fh.seek(40)
        fh.write(struct.pack("<I", self.data_bytes))
        fh.seek(0, os.SEEK_END)
        fh.flush()

    def close(self) -> None:
        if self._fh is None:
            return
        self.sync()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None

    @property
    def duration_s(self) -> float:
        return self.data_bytes / (self.channels * SAMPLE_BYTES * self.sample_rate_hz)


def read_header(path: Path) -> tuple[int, int, int] | None:
    """(channels, sample_rate_hz, declared data bytes) of a canonical 44-byte-header PCM WAV, else None."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt " or head[36:40] != b"data":
        return None
    fmt_tag, channels, rate = struct.unpack("<HHI", head[20:28])
    if fmt_tag != 1 or channels < 1:
        return None
    return channels, rate, struct.unpack("<I", head[40:44])[0]


def repair_wav(path: Path) -> bool:
    """Make the header's sizes match the PCM actually in the file (whole frames). True if it was changed."""
    header = read_header(path)
    if header is None:
        logger.warning("recording %s is not a canonical PCM WAV; left as is", path.name)
        return False
    channels, _rate, declared = header
    size = path.stat().st_size
    block = channels * SAMPLE_BYTES
    actual = (size - HEADER_BYTES) // block * block
    if actual == declared and size == HEADER_BYTES + actual:
        return False
    with open(path, "r+b") as fh:
        fh.truncate(HEADER_BYTES + actual)
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + actual))
        fh.seek(40)
        fh.write(struct.pack("<I", actual))
    logger.info("repaired recording %s: %d -> %d data bytes", path.name, declared, actual)
    return True


def repair_recordings(folder: Path, min_age_s: float = 0.0) -> list[Path]:
    """Repair every WAV under ``folder`` left unfinished by a killed process; returns the repaired paths.

    Files modified less than ``min_age_s`` ago are skipped: another process may still be writing them."""
    if not folder.is_dir():
        return []
    newest = time.time() - min_age_s
    return [p for p in sorted(folder.rglob("*.wav")) if p.stat().st_mtime <= newest and repair_wav(p)]


def wav_duration_s(path: Path) -> float:
    header = read_header(path)
    if header is None:
        raise ValueError(f"{path} is not a canonical PCM WAV")
    channels, rate, declared = header
    return declared / (channels * SAMPLE_BYTES * rate)


def voiced_end_s(path: Path, threshold_dbfs: float = -45.0, window_ms: int = 10) -> float:
    """Where the speech in a mono 16-bit WAV ends: the end of the last ``window_ms`` window louder than
    ``threshold_dbfs`` (0.0 for a silent file). Synthesised speech carries trailing silence; this is the true end."""
    header = read_header(path)
    if header is None:
        raise ValueError(f"{path} is not a canonical PCM WAV")
    channels, rate, declared = header
    if channels != 1:
        raise ValueError(f"{path}: expected a mono WAV, found {channels} channels")
    with open(path, "rb") as fh:
        fh.seek(HEADER_BYTES)
        pcm = fh.read(declared)
    window = max(1, rate * window_ms // 1000)
    threshold = (10 ** (threshold_dbfs / 20.0) * 32768.0) ** 2
    samples = len(pcm) // SAMPLE_BYTES
    values = struct.unpack(f"<{samples}h", pcm[: samples * SAMPLE_BYTES])
    end = samples
    while end > 0:
        start = max(0, end - window)
        chunk = values[start:end]
        if sum(v * v for v in chunk) / len(chunk) > threshold:
            return end / rate
        end = start
    return 0.0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
