"""The nurse's first-day headset check (``callcenter devices test``): a speaker test tone, a microphone level
meter and a loopback check, all through the same PyAudio streams the calls use (``softphone.headset``).

No timers: the microphone's frames are the clock (50 per second), and the speaker callback signals when the
tone has been handed to the device.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hardware.devices import HeadsetChoice
from hardware.errors import HardwareError
from hardware.levels import FLOOR_DBFS, rms_dbfs, tone, tone_dbfs
from softphone.headset import FRAME_MS, HeadsetStreams, negotiate_rate, open_pyaudio

logger = logging.getLogger(__name__)

FRAMES_PER_S = 1000 // FRAME_MS
NO_SIGNAL_DBFS = -55.0  # below this the microphone is muted, unplugged or not the selected one
QUIET_DBFS = -35.0  # speech peaks below this are hard to understand on the phone
CLIPPING_DBFS = -1.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    message: str
    level_dbfs: float = FLOOR_DBFS
    latency_ms: float | None = None


class HeadsetCheck:
    """Open the headset's streams for a check; use as a context manager."""

    def __init__(self, choice: HeadsetChoice, *, rate_hz: int | None = None, mic_timeout_s: float = 3.0) -> None:
        self.choice = choice
        self.pa = open_pyaudio()
        try:
            self.rate_hz = rate_hz or negotiate_rate(self.pa, choice)
        except HardwareError:
            self.pa.terminate()
            raise
        self.frame_bytes = self.rate_hz * FRAME_MS // 1000 * 2
        self.mic_timeout_s = mic_timeout_s
        self._to_play: deque[bytes] = deque()
        self._played = threading.Event()
        self._played.set()
        self._tone_started_at: float | None = None
        self._mic: queue.Queue[tuple[float, bytes]] = queue.Queue(maxsize=10 * FRAMES_PER_S)
        self.streams = HeadsetStreams(self.pa, choice, self.rate_hz, self._on_mic, self._speaker)

    def __enter__(self) -> HeadsetCheck:
        try:
            self.streams.start()
        except HardwareError:
            self.pa.terminate()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.streams.close()
        self.pa.terminate()

    # -- PortAudio threads ---------------------------------------------------------------------------------------
    def _on_mic(self, pcm: bytes) -> None:
        try:
            self._mic.put_nowait((time.monotonic(), pcm))
        except queue.Full:
            pass  # nobody is listening right now; the checks drain before they measure

    def _speaker(self) -> bytes:
        try:
            frame = self._to_play.popleft()
        except IndexError:
            self._played.set()
            return bytes(self.frame_bytes)
        if self._tone_started_at is None:
            self._tone_started_at = time.monotonic()
        return frame

    # -- helpers -------------------------------------------------------------------------------------------------
    def _play(self, pcm: bytes) -> None:
        self._played.clear()
        self._tone_started_at = None
        n = self.frame_bytes
        pcm += bytes(-len(pcm) % n)
        self._to_play.extend(pcm[i : i + n] for i in range(0, len(pcm), n))

    def _wait_played(self, seconds: float) -> None:
        if not self._played.wait(seconds + 5.0):
            raise HardwareError("the speaker does not take audio (no callback from the output device)")

    def _drain_mic(self) -> None:
        while True:
            try:
                self._mic.get_nowait()
            except queue.Empty:
                return

    def _mic_frames(self, count: int) -> Iterator[tuple[float, bytes]]:
        for _ in range(count):
            try:
                yield self._mic.get(timeout=self.mic_timeout_s)
            except queue.Empty:
                raise HardwareError(
                    f"the microphone ({self.choice.input.label}) delivers no audio: is it in use by another "
                    "program, or disabled in the sound settings?"
                ) from None

    # -- the three checks ----------------------------------------------------------------------------------------
    def speaker_tone(self, seconds: float = 2.0, freq_hz: float = 1000.0, dbfs: float = -18.0) -> CheckResult:
        """Play a tone in the earphones; only the nurse can say if she heard it."""
        self._play(tone(freq_hz, seconds, self.rate_hz, dbfs=dbfs))
        self._wait_played(seconds)
        return CheckResult("speaker", True, f"played a {freq_hz:.0f} Hz tone for {seconds:.1f} s: did you hear it "
                           "in both ears, clearly and not too loud?", level_dbfs=dbfs)

    def microphone_meter(self, seconds: float = 5.0, on_level: Callable[[float], None] | None = None) -> CheckResult:
        """Measure the microphone while the nurse speaks; ``on_level`` gets the level every 100 ms."""
        self._drain_mic()
        block: list[bytes] = []
        levels: list[float] = []
        for _, pcm in self._mic_frames(max(1, int(seconds * FRAMES_PER_S))):
            block.append(pcm)
            if len(block) == FRAMES_PER_S // 10:
                level = rms_dbfs(b"".join(block))
                levels.append(level)
                block.clear()
                if on_level is not None:
                    on_level(level)
        peak = max(levels, default=FLOOR_DBFS)
        if peak < NO_SIGNAL_DBFS:
            return CheckResult("microphone", False, "no signal: unmute the microphone (button on the cable or "
                               "earcup) or check that the headset is the selected device", peak)
        if peak > CLIPPING_DBFS:
            return CheckResult("microphone", False, "clipping: lower the microphone gain in the sound settings",
                               peak)
        if peak < QUIET_DBFS:
            return CheckResult("microphone", False, "quiet: bring the boom two fingers from the corner of the "
                               "mouth, or raise the microphone gain", peak)
        return CheckResult("microphone", True, "level good", peak)

    def loopback(self, seconds: float = 1.0, freq_hz: float = 1000.0, dbfs: float = -12.0) -> CheckResult:
        """Play a tone and listen for it on the microphone (hold the earcup against the microphone)."""
        self._drain_mic()
        self._play(tone(freq_hz, seconds, self.rate_hz, dbfs=dbfs))
        heard_at: float | None = None
        best = FLOOR_DBFS
        for at, pcm in self._mic_frames(int((seconds + 1.5) * FRAMES_PER_S)):
            level = tone_dbfs(pcm, freq_hz, self.rate_hz)
            best = max(best, level)
            if heard_at is None and level > NO_SIGNAL_DBFS:
                heard_at = at
        started = self._tone_started_at
        if heard_at is None:
            return CheckResult("loopback", False, f"the {freq_hz:.0f} Hz tone was not heard on the microphone "
                               "(hold the earcup against the microphone and retry)", best)
        latency = (heard_at - started) * 1000 if started is not None else None
        return CheckResult("loopback", True, "the tone played in the earphones reached the microphone", best,
                           latency_ms=latency)

