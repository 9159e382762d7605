"""Voice activity detection: the one module that imports ``webrtcvad`` (a thin adapter)."""

from __future__ import annotations

import webrtcvad

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE_HZ * FRAME_MS // 1000 * 2  # 16-bit mono


class WebrtcVad:
    """webrtcvad on 20 ms frames of 8 kHz 16-bit mono PCM. Mode 2 is the measured sweet spot (RECIPES)."""

    def __init__(self, mode: int = 2, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"VAD mode must be 0–3, got {mode}")
        self._vad = webrtcvad.Vad(mode)
        self.sample_rate_hz = sample_rate_hz
        self.frame_bytes = sample_rate_hz * FRAME_MS // 1000 * 2

    def is_speech(self, pcm: bytes) -> bool:
        """True when the frame holds speech; a frame of the wrong size (a short last frame) counts as silence."""
        if len(pcm) != self.frame_bytes:
            return False
        return bool(self._vad.is_speech(pcm, self.sample_rate_hz))
