"""The buffer between two clocks: a sound card and the call's media clock never tick at exactly the same rate.

One thread writes (a PyAudio callback, or the pjmedia thread), another reads 20 ms frames. The reader trims the
queue back to its target depth when the writer runs fast, and pads with silence (and re-primes) when it runs
slow; both are counted so the drift shows in ``callcenter devices test`` and the logs. Each end is touched by
one thread only; ``collections.deque`` append/popleft are atomic in CPython, so no lock is needed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class DriftStats:
    frames_in: int
    frames_out: int
    padded: int  # silence frames produced because the writer was late
    trimmed: int  # frames dropped because the writer ran ahead
    overflowed: int  # frames dropped because nobody read (e.g. a microphone between calls)
    underruns: int  # times the queue ran dry
    depth: int  # frames queued now


class DriftBuffer:
    def __init__(self, frame_bytes: int, target_frames: int = 3, max_frames: int = 10) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError("frame_bytes must be a positive even number (16-bit samples)")
        if not 1 <= target_frames < max_frames:
            raise ValueError("need 1 <= target_frames < max_frames")
        self.frame_bytes = frame_bytes
        self.target_frames = target_frames
        self.max_frames = max_frames
        self._silence = bytes(frame_bytes)
        # The writer may run while nobody reads (headset open between calls): keep at most 4x max_frames.
        self._frames: deque[bytes] = deque(maxlen=4 * max_frames)
        self._partial = b""  # writer side only
        self._overflowed = 0  # writer side only
        self._primed = False  # reader side only
        self._in = 0  # writer side only
        self._out = self._padded = self._trimmed = self._underruns = 0  # reader side only

    # -- writer ----------------------------------------------------------------------------------------------
    def write(self, pcm: bytes) -> None:
        """Queue any amount of PCM; it is cut into frames (a partial frame waits for the next write)."""
        data = self._partial + pcm if self._partial else pcm
        n = self.frame_bytes
        whole = len(data) - len(data) % n
        frames = self._frames
        for start in range(0, whole, n):
            if len(frames) == frames.maxlen:
                self._overflowed += 1  # append() below drops the oldest frame
            frames.append(data[start : start + n])
            self._in += 1
        self._partial = data[whole:]

    # -- reader ----------------------------------------------------------------------------------------------
    def read(self) -> bytes:
        """One frame: the oldest queued one, or silence while the queue fills up to its target depth."""
        frames = self._frames
        if len(frames) > self.max_frames:
            while len(frames) > self.target_frames:
                frames.popleft()  # the writer never pops, so this cannot run dry
                self._trimmed += 1
        if not self._primed:
            if len(frames) < self.target_frames:
                self._padded += 1
                return self._silence
            self._primed = True
        if not frames:
            self._primed = False
            self._underruns += 1
            self._padded += 1
            return self._silence
        self._out += 1
        return frames.popleft()

    def stats(self) -> DriftStats:
        return DriftStats(
            frames_in=self._in,
            frames_out=self._out,
            padded=self._padded,
            trimmed=self._trimmed,
            overflowed=self._overflowed,
            underruns=self._underruns,
            depth=len(self._frames),
        )
