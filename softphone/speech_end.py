"""A small energy-based end-of-speech detector for 20 ms frames of 8 kHz telephone audio (pure).

The patient simulator uses it to wait until the caller has finished a question before answering. (The real
speech pipeline, webrtcvad + Vosk, lives in ``asr``, which the softphone must not import.)

A frame is voiced when its level is ``margin_db`` above a tracked noise floor and above ``min_dbfs``. Speech
starts when ``start_ratio`` of the last ``start_ms`` is voiced; it ends after ``end_ms`` without a voiced frame.
Bursts shorter than ``min_speech_ms`` (a click, a cough) are ignored.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass

FRAME_MS = 20
FLOOR_DBFS = -120.0


@dataclass(frozen=True)
class SpeechEnded:
    start_seq: int  # first voiced frame of the utterance
    end_seq: int  # last voiced frame
    peak_dbfs: float

    @property
    def duration_ms(self) -> int:
        return (self.end_seq - self.start_seq + 1) * FRAME_MS


def frame_dbfs(pcm: bytes) -> float:
    """RMS level of 16-bit little-endian mono PCM in dBFS."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return FLOOR_DBFS
    power = sum(s * s for s in samples) / len(samples)
    return 10.0 * math.log10(power / (32768.0 * 32768.0)) if power > 0 else FLOOR_DBFS


class EnergyEndpointer:
    def __init__(
        self,
        *,
        start_ms: int = 200,
        start_ratio: float = 0.6,
        end_ms: int = 700,
        min_speech_ms: int = 300,
        margin_db: float = 9.0,
        min_dbfs: float = -50.0,
        floor_rise_db_per_s: float = 3.0,
    ) -> None:
        if end_ms < FRAME_MS or start_ms < FRAME_MS:
            raise ValueError("start_ms and end_ms must be at least one frame (20 ms)")
        self.start_frames = start_ms // FRAME_MS
        self.start_voiced = max(1, math.ceil(start_ratio * self.start_frames))
        self.end_frames = end_ms // FRAME_MS
        self.min_speech_frames = max(1, min_speech_ms // FRAME_MS)
        self.margin_db = margin_db
        self.min_dbfs = min_dbfs
        self._floor_rise = floor_rise_db_per_s * FRAME_MS / 1000.0
        self.noise_floor_dbfs = -70.0
        self._recent: deque[tuple[int, bool]] = deque(maxlen=self.start_frames)
        self._in_speech = False
        self._start_seq = 0
        self._last_voiced_seq = 0
        self._peak = FLOOR_DBFS

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def reset(self) -> None:
        """Forget the current utterance (e.g. while the simulator itself is talking); keep the noise floor."""
        self._recent.clear()
        self._in_speech = False
        self._peak = FLOOR_DBFS

    def push(self, seq: int, pcm: bytes) -> SpeechEnded | None:
        """Feed frame number ``seq``; returns ``SpeechEnded`` on the frame where an utterance is complete."""
        level = frame_dbfs(pcm)
        voiced = level > max(self.noise_floor_dbfs + self.margin_db, self.min_dbfs)
        if level < self.noise_floor_dbfs:
            self.noise_floor_dbfs = max(level, FLOOR_DBFS)
        elif not voiced:
            self.noise_floor_dbfs += self._floor_rise  # only silence raises the floor, never speech
        self._recent.append((seq, voiced))
        if not self._in_speech:
            if sum(v for _, v in self._recent) >= self.start_voiced:
                self._in_speech = True
                self._start_seq = next(s for s, v in self._recent if v)
                self._last_voiced_seq = seq
                self._peak = level
            return None
        if voiced:
            self._last_voiced_seq = seq
            self._peak = max(self._peak, level)
            return None
        if seq - self._last_voiced_seq < self.end_frames:
            return None
        ended = SpeechEnded(self._start_seq, self._last_voiced_seq, round(self._peak, 1))
        self.reset()
        if ended.end_seq - ended.start_seq + 1 < self.min_speech_frames:
            return None
        return ended
