"""Two-channel call recording (nurse left = what we send, patient right = what we receive).

Frames arrive from the two ``FramePort``s of a call on the media thread: ``put`` only enqueues (bounded; drops
and counts when full). A writer thread per call interleaves the channels by frame number (so they stay aligned
to the 20 ms bridge tick even when a frame is dropped) and keeps the WAV header valid every ``SYNC_FRAMES``.
The browser copy (MP3) is made later, outside this process, by whoever stores the recording row
(``callcenter.recording_copies``): no compression load here, next to the media thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from callcenter.ports import RecordingReady
from softphone.errors import log_exception
from softphone.wav import WavAppender, sha256_file

logger = logging.getLogger(__name__)

NURSE, PATIENT = 0, 1  # channel index: left, right
FRAME_BYTES = 320
SYNC_FRAMES = 25  # rewrite the header every 0.5 s of audio
QUEUE_FRAMES = 500  # both channels, 5 s


class StereoRecorder:
    def __init__(self, call_id: str, path: Path, on_ready: Callable[[RecordingReady], None],
                 sample_rate_hz: int = 8000) -> None:
        self.call_id = call_id
        self.path = path
        self.dropped = 0
        self._on_ready = on_ready
        self._queue: queue.Queue[tuple[int, int, bytes] | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._wav = WavAppender(path, channels=2, sample_rate_hz=sample_rate_hz)
        self._pending: list[bytearray] = [bytearray(), bytearray()]
        self._next_seq = [0, 0]
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"recorder-{call_id}", daemon=True)
        self._thread.start()

    # media thread ---------------------------------------------------------------------------------------------
    def put(self, channel: int, seq: int, pcm: bytes) -> None:
        try:
            self._queue.put_nowait((channel, seq, pcm))
        except queue.Full:
            self.dropped += 1

    # any thread -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish the file on the writer thread; ``on_ready`` is called there when it is complete."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)  # blocking put: the sentinel must arrive

    def join(self, timeout_s: float = 5.0) -> None:
        self._thread.join(timeout_s)

    # writer thread --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        unsynced = 0
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.5)
                except queue.Empty:
                    if unsynced:
                        self._wav.sync()
                        unsynced = 0
                    continue
                if item is None:
                    break
                unsynced += self._accept(*item)
                if unsynced >= SYNC_FRAMES:
                    self._wav.sync()
                    unsynced = 0
            self._flush(final=True)
            self._wav.close()
        except Exception:
            log_exception(logger, "recording of call %s failed", self.call_id)
            return
        if self.dropped:
            logger.warning("call %s: recorder dropped %d frames (disk too slow?)", self.call_id, self.dropped)
        try:
            self._on_ready(RecordingReady(self.call_id, str(self.path), round(self._wav.duration_s, 3),
                                          sha256_file(self.path)))
        except Exception:
            log_exception(logger, "recording-ready listener failed for call %s", self.call_id)

    def _accept(self, channel: int, seq: int, pcm: bytes) -> int:
        gap = seq - self._next_seq[channel]
        if gap > 0:  # frames dropped from this channel: keep alignment with silence
            self._pending[channel] += bytes(gap * FRAME_BYTES)
        elif gap < 0:
            return 0
        self._pending[channel] += pcm
        self._next_seq[channel] = seq + 1
        return self._flush(final=False)

    def _flush(self, final: bool) -> int:
        left, right = self._pending
        if final:  # pad the shorter channel so both end together
            longest = max(len(left), len(right))
            left += bytes(longest - len(left))
            right += bytes(longest - len(right))
        n = min(len(left), len(right)) // FRAME_BYTES * FRAME_BYTES
        if n == 0:
            return 0
        stereo = np.empty(n, dtype="<i2")
        stereo[0::2] = np.frombuffer(bytes(left[:n]), dtype="<i2")
        stereo[1::2] = np.frombuffer(bytes(right[:n]), dtype="<i2")
        self._wav.append(stereo.tobytes())
        del left[:n]
        del right[:n]
        return n // FRAME_BYTES

