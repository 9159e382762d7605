"""Endpointing (pure): 20 ms frames + a voice-activity decision per frame → utterance start / audio / end.

The rules measured to work on telephone speech (RECIPES, lab-asr §3):

- a frame counts as voiced only if the VAD says so AND its energy is ≥ 6 dB above the noise floor (the 10th
  percentile of frame energies over the last 3 s);
- speech starts when ≥ 70 % of the last 200 ms is voiced, and the 300 ms before the start (pre-roll) is sent;
- speech ends when ≥ 90 % of the last 700 ms is unvoiced (hesitations of 0.2–0.6 s do not split a turn);
- an utterance longer than ``max_utterance_s`` is ended anyway (noise that never stops must not hold the grammar).

Times are seconds since the stream started (the call), counted in frames, so they are exact and testable.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

SILENCE_DB = -100.0
FLOOR_EVERY_FRAMES = 10


@dataclass(frozen=True)
class SegmenterConfig:
    frame_ms: int = 20
    start_window_ms: int = 200
    start_ratio: float = 0.7
    end_window_ms: int = 700
    end_ratio: float = 0.9
    snr_gate_db: float = 6.0  # 0 disables the noise-floor gate
    noise_window_ms: int = 3000
    noise_percentile: float = 10.0
    gate_warmup_ms: int = 500
    preroll_ms: int = 300
    max_utterance_s: float = 20.0

    def frames(self, ms: int) -> int:
        return max(1, ms // self.frame_ms)


@dataclass(frozen=True)
class SpeechStarted:
    t_s: float  # start of the first pre-roll frame
    speech_s: float = 0.0  # start of the first voiced frame of the start window: where the speaking began


@dataclass(frozen=True)
class SpeechAudio:
    pcm: bytes  # one frame to decode (pre-roll frames come first, in order)
    voiced: bool = True  # the gated decision for this frame (pre-roll frames count as voiced)


@dataclass(frozen=True)
class SpeechEnded:
    t_s: float  # when the end was decided
    last_voiced_s: float  # end of the last voiced frame: the end of the utterance
    forced: bool = False  # ended by max_utterance_s


SegmentEvent = SpeechStarted | SpeechAudio | SpeechEnded


def frame_energy_db(pcm: bytes) -> float:
    """Mean power of a 16-bit PCM frame in dB relative to full scale."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return SILENCE_DB
    power = float(np.dot(samples, samples)) / samples.size / (32768.0 * 32768.0)
    return SILENCE_DB if power <= 1e-10 else 10.0 * math.log10(power)


class Segmenter:
    """Feeds on (frame, vad decision) pairs; returns the events each frame causes."""

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self.config = c = config or SegmenterConfig()
        self._start_ring: deque[bool] = deque(maxlen=c.frames(c.start_window_ms))
        self._end_ring: deque[bool] = deque(maxlen=c.frames(c.end_window_ms))
        self._energies: deque[float] = deque(maxlen=c.frames(c.noise_window_ms))
        self._preroll: deque[bytes] = deque(maxlen=c.frames(c.preroll_ms))
        self._frame_s = c.frame_ms / 1000.0
        self._frames_seen = 0
        self._in_speech = False
        self._started_at_s = 0.0
        self._last_voiced_s = 0.0
        self._floor_db: float | None = None
        self._floor_age = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def now_s(self) -> float:
        return self._frames_seen * self._frame_s

    def noise_floor_db(self) -> float:
        """The 10th percentile of recent frame energies, recomputed every 200 ms (a percentile per frame
        cost more than the VAD itself)."""
        if self._floor_age >= FLOOR_EVERY_FRAMES or self._floor_db is None:
            self._floor_age = 0
            self._floor_db = (SILENCE_DB if not self._energies else float(
                np.percentile(np.fromiter(self._energies, dtype=np.float64), self.config.noise_percentile)))
        return self._floor_db

    def _gated(self, pcm: bytes, vad_speech: bool) -> bool:
        energy = frame_energy_db(pcm)
        self._floor_age += 1
        warming_up = len(self._energies) < self.config.frames(self.config.gate_warmup_ms)
        floor = self.noise_floor_db()
        self._energies.append(energy)
        if not vad_speech:
            return False
        # no floor yet (a patient who speaks as the call connects): trust the VAD alone
        return self.config.snr_gate_db <= 0 or warming_up or energy >= floor + self.config.snr_gate_db

    def push(self, pcm: bytes, vad_speech: bool) -> list[SegmentEvent]:
        c = self.config
        voiced = self._gated(pcm, vad_speech)
        self._frames_seen += 1
        now = self.now_s
        if voiced:
            self._last_voiced_s = now
        events: list[SegmentEvent] = []
        if not self._in_speech:
            self._preroll.append(pcm)
            self._start_ring.append(voiced)
            if len(self._start_ring) == self._start_ring.maxlen and \
                    sum(self._start_ring) >= math.ceil(c.start_ratio * len(self._start_ring) - 1e-9):
                self._in_speech = True
                self._started_at_s = now - len(self._preroll) * self._frame_s
                first_voiced = next(i for i, v in enumerate(self._start_ring) if v)
                onset_s = now - (len(self._start_ring) - first_voiced) * self._frame_s
                self._end_ring.clear()
                events.append(SpeechStarted(round(self._started_at_s, 3), round(onset_s, 3)))
                events.extend(SpeechAudio(p) for p in self._preroll)
                self._preroll.clear()
            return events
        events.append(SpeechAudio(pcm, voiced))
        self._end_ring.append(voiced)
        unvoiced = len(self._end_ring) - sum(self._end_ring)
        full = len(self._end_ring) == self._end_ring.maxlen
        ended = full and unvoiced >= math.ceil(c.end_ratio * len(self._end_ring) - 1e-9)
        if ended or now - self._started_at_s >= c.max_utterance_s:
            events.append(self._end(now, forced=not ended))
        return events

    def _end(self, now: float, forced: bool) -> SpeechEnded:
        self._in_speech = False
        self._start_ring.clear()
        return SpeechEnded(round(now, 3), round(max(self._last_voiced_s, self._started_at_s), 3), forced)

    def flush(self) -> list[SegmentEvent]:
        """End an utterance in progress (the call hung up or the stream closed)."""
        return [self._end(self.now_s, False)] if self._in_speech else []
