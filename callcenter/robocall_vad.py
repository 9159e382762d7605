"""Voice activity on the patient's line for the reminder robot, from frame energy (pure).

The robot needs only "is someone talking, since when": to tell a voicemail greeting (long uninterrupted speech
at pick-up) from a person's short "喂？", and to hold its silence timer while the patient speaks. Frame levels
come from the telephony side (dBFS of 20 ms frames); speech recognition proper runs in the ASR workers.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from callcenter.robocall import VoiceEnded, VoiceStarted

FRAME_S = 0.02


def level_dbfs(rms: float, full_scale: float = 32768.0) -> float:
    """dBFS of an RMS sample value (16-bit PCM); silence is -120."""
    return 20.0 * math.log10(rms / full_scale) if rms > 0 else -120.0


@dataclass(frozen=True)
class VadConfig:
    threshold_dbfs: float = -40.0  # a frame louder than this is voiced (telephone speech sits near -20…-30)
    start_frames: int = 5  # voiced frames among the last ``start_window`` that start speech
    start_window: int = 8
    end_frames: int = 20  # this many unvoiced frames in a row (400 ms) end it (pauses between words are shorter)


class EnergyVad:
    """Feed one level per 20 ms frame; get VoiceStarted / VoiceEnded with the times they happened."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self.speaking = False
        self._recent: deque[bool] = deque(maxlen=self.config.start_window)
        self._silent_run = 0
        self._last_voiced_s = 0.0

    def feed(self, dbfs: float, t_s: float) -> list[VoiceStarted | VoiceEnded]:
        """``t_s`` is the start of the frame, in seconds since the call started."""
        voiced = dbfs >= self.config.threshold_dbfs
        self._recent.append(voiced)
        if voiced:
            self._silent_run = 0
            self._last_voiced_s = t_s + FRAME_S
        else:
            self._silent_run += 1
        if not self.speaking and sum(self._recent) >= self.config.start_frames:
            self.speaking = True
            first = len(self._recent) - next(i for i, v in enumerate(self._recent) if v)
            return [VoiceStarted(round(t_s + FRAME_S - first * FRAME_S, 3))]
        if self.speaking and self._silent_run >= self.config.end_frames:
            self.speaking = False
            self._recent.clear()
            return [VoiceEnded(round(self._last_voiced_s, 3))]
        return []
