"""The audio tap: the patient channel of every call leaves the pjsua2 process for an ASR worker.

The media thread only does ``FrameTap.put`` (a non-blocking put into a bounded queue; when the queue is full
the frame is dropped and counted). A sender thread takes frames off the queue and hands them to a
``callcenter.ports.TapSink``, which may block (e.g. a pipe to a busy worker process) without ever touching the
media thread. ``PipeTapSink`` sends pickled ``AudioFrame``s over a ``multiprocessing`` connection; the worker
reads them with ``conn.recv()`` (see docs/softphone.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from multiprocessing.connection import Connection

from callcenter.ports import AudioFrame, TapSink
from softphone.errors import log_exception

logger = logging.getLogger(__name__)


class PipeTapSink:
    """Sends frames over a ``multiprocessing`` Connection (``Pipe()`` end, or ``connection.Client``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def send(self, frame: AudioFrame) -> None:
        self.conn.send(frame)

    def close(self) -> None:
        self.conn.close()


class FrameTap:
    """Bounded hand-off from the media thread to a sink, with per-call drop counts."""

    def __init__(self, sink: TapSink, max_frames: int = 250) -> None:
        self.sink = sink
        self.dropped: defaultdict[str, int] = defaultdict(int)
        self.sent = 0
        self.dropped_total = 0
        self.max_gap_s = 0.0  # longest interval between two frames of one call seen by the media thread
        self.late_frames = 0  # intervals over 40 ms (two frame times): audible stalls
        self._last_at: dict[str, float] = {}
        self._queue: queue.Queue[AudioFrame | None] = queue.Queue(maxsize=max_frames)
        self._broken = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="audio-tap", daemon=True)
        self._thread.start()

    # media thread ---------------------------------------------------------------------------------------------
    def put(self, call_id: str, seq: int, pcm: bytes) -> None:
        now = time.monotonic()
        last = self._last_at.get(call_id)
        self._last_at[call_id] = now
        if last is not None:
            gap = now - last
            if gap > self.max_gap_s:
                self.max_gap_s = gap
            if gap > 0.040:
                self.late_frames += 1
        try:
            self._queue.put_nowait(AudioFrame(call_id, seq, pcm, dropped=self.dropped[call_id]))
        except queue.Full:
            self.dropped[call_id] += 1
            self.dropped_total += 1

    # pj thread ------------------------------------------------------------------------------------------------
    def end(self, call_id: str, last_seq: int) -> None:
        """The call's media stopped: tell the consumer (never dropped, may wait briefly for room)."""
        self._last_at.pop(call_id, None)
        frame = AudioFrame(call_id, last_seq, b"", end=True, dropped=self.dropped.pop(call_id, 0))
        try:
            self._queue.put(frame, timeout=1.0)
        except queue.Full:
            logger.warning("audio tap queue full: end of call %s not delivered", call_id)

    def close(self, timeout_s: float = 2.0) -> None:
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            logger.warning("audio tap queue still full at close; the consumer is stuck")
        self._thread.join(timeout_s)
        self._closing = True  # a sender still stuck in send() fails quietly once the sink is closed
        try:
            self.sink.close()
        except Exception:
            log_exception(logger, "closing the tap sink failed")

    # sender thread --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._broken:
                continue  # keep draining so the media thread never sees a full queue forever
            try:
                self.sink.send(frame)
                self.sent += 1
            except (OSError, EOFError, ValueError):
                if self._closing:
                    logger.warning("audio tap closed with frames still queued for a slow consumer")
                    return
                log_exception(logger, "audio tap consumer went away; frames are discarded from now on")
                self._broken = True
