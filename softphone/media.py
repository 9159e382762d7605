"""Media objects of one call: Python frame ports on the conference bridge, WAV players, and the hook through
which other audio (the USB headset) joins a call.

All of these are created, connected and destroyed on the pj thread. Only ``FramePort.onFrameReceived`` and
``Prompt.onEof2`` run on pjmedia's clock thread: they convert and enqueue, nothing else (any Python work there
stalls every call's audio).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import Protocol

import pjsua2 as pj

from softphone.sipcall import guarded

logger = logging.getLogger(__name__)

FRAME_MS = 20
SAMPLE_RATE_HZ = 8000
FRAME_BYTES = SAMPLE_RATE_HZ * FRAME_MS // 1000 * 2  # 320: 16-bit mono
SILENCE = bytes(FRAME_BYTES)

FrameSink = Callable[[int, bytes], None]  # (seq, 20 ms of PCM)


def _bytes_by_iteration(vector: pj.ByteVector) -> bytes:
    return bytes(vector)  # SWIG iterates element by element: 0.2-0.8 ms per frame, all holding the GIL


def _bytes_by_address(vector: pj.ByteVector) -> bytes:
    """Copy a ``std::vector<unsigned char>`` through its begin/end pointers (libstdc++ layout): ~5 µs."""
    address = int(vector.this)
    begin = ctypes.c_void_p.from_address(address).value or 0
    end = ctypes.c_void_p.from_address(address + ctypes.sizeof(ctypes.c_void_p)).value or 0
    return ctypes.string_at(begin, end - begin) if end > begin else b""


def _pick_frame_reader() -> Callable[[pj.ByteVector], bytes]:
    """Use the fast copy only if it reads a known vector exactly (else the wheel's layout differs)."""
    probe = bytes(range(256)) + bytes(range(64))
    try:
        fast_ok = _bytes_by_address(pj.ByteVector(probe)) == probe
    except (ValueError, TypeError, OSError, AttributeError):
        fast_ok = False
    if fast_ok:
        return _bytes_by_address
    logger.warning("fast frame copy unavailable; media frames are copied element by element (more CPU)")
    return _bytes_by_iteration


frame_bytes = _pick_frame_reader()


class FramePort(pj.AudioMediaPort):  # type: ignore[misc]
    """A bridge port that receives 20 ms frames of whatever transmits to it, padded with silence when nothing
    does, and numbers them so that two ports of one call stay aligned on the bridge clock.

    Never delete one while the bridge clock runs: pjsua2 2.15 removes ports from the bridge asynchronously, so
    the clock thread may still call a port whose object is being freed (seen as AttributeError then SIGSEGV).
    Ports are therefore pooled (``PortPool``) and reused by later calls, and freed only after ``setNoDev()``.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.sink: FrameSink | None = None
        self.seq = 0
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE_HZ, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)

    def attach(self, sink: FrameSink) -> None:
        self.seq = 0
        self.sink = sink

    def detach(self) -> None:
        self.sink = None

    @guarded
    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API name
        sink = self.sink
        if sink is None:
            return
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size == FRAME_BYTES:
            pcm = frame_bytes(frame.buf)
        else:
            pcm = SILENCE
        seq = self.seq
        self.seq = seq + 1
        sink(seq, pcm)


class PortPool:
    """Frame ports kept for reuse (pj thread only). ``clear()`` only once the bridge clock is stopped."""

    def __init__(self) -> None:
        self._free: list[FramePort] = []
        self._made = 0

    def take(self, sink: FrameSink) -> FramePort:
        if self._free:
            port = self._free.pop()
        else:
            self._made += 1
            port = FramePort(f"frames-{self._made}")
        port.attach(sink)
        return port

    def give_back(self, port: FramePort) -> None:
        port.detach()
        self._free.append(port)

    @property
    def size(self) -> int:
        return self._made

    def clear(self) -> None:
        self._free.clear()


class Prompt(pj.AudioMediaPlayer):  # type: ignore[misc]
    """A WAV played once into a call. ``on_end(stopped)`` runs exactly once: on the media thread when the WAV
    ends (``stopped`` False; only enqueue there), or on the pj thread when ``stop`` cuts it short (True)."""

    def __init__(self, path: str, on_end: Callable[[bool], None]) -> None:
        super().__init__()
        self.path = path
        self.on_end = on_end
        self._lock = threading.Lock()
        self._finished = False
        self.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)

    def _finish(self) -> bool:
        with self._lock:
            first, self._finished = not self._finished, True
            return first

    @property
    def playing(self) -> bool:
        return not self._finished

    def stop(self, targets: tuple[pj.AudioMedia | None, ...]) -> bool:
        """Cut the prompt short (pj thread): disconnect it from ``targets``. False if it had already ended."""
        if not self._finish():
            return False
        for target in targets:
            if target is not None:
                try:
                    self.stopTransmit(target)
                except pj.Error as exc:
                    logger.debug("stopTransmit: %s", exc.info())
        self.on_end(True)
        return True

    @guarded
    def onEof2(self) -> None:  # noqa: N802
        if self._finish():
            self.on_end(False)


class CallMedia:
    """Handle on one call's audio, given to a ``MediaHook`` on the pj thread.

    ``add_source`` sends audio to the patient AND to the nurse channel of the recording; ``add_sink`` receives
    the patient's audio. Do not keep this object past ``media_stopped``.
    """

    def __init__(self, call_id: str, audio: pj.AudioMedia, nurse_port: pj.AudioMedia | None) -> None:
        self.call_id = call_id
        self.audio = audio
        self._nurse_port = nurse_port

    def add_source(self, media: pj.AudioMedia) -> None:
        media.startTransmit(self.audio)
        if self._nurse_port is not None:
            media.startTransmit(self._nurse_port)

    def remove_source(self, media: pj.AudioMedia) -> None:
        for target in (self.audio, self._nurse_port):
            if target is not None:
                try:
                    media.stopTransmit(target)
                except pj.Error as exc:
                    logger.debug("stopTransmit: %s", exc.info())

    def add_sink(self, media: pj.AudioMedia) -> None:
        self.audio.startTransmit(media)

    def remove_sink(self, media: pj.AudioMedia) -> None:
        try:
            self.audio.stopTransmit(media)
        except pj.Error as exc:
            logger.debug("stopTransmit: %s", exc.info())


class MediaHook(Protocol):
    """Extra audio for calls (the nurse's USB headset). Both methods run on the pj thread.

    Do NOT delete an ``AudioMediaPort`` in ``media_stopped`` while the phone runs: pjsua2 2.15 removes ports
    from the bridge asynchronously and the clock thread may still call the freed object (AttributeError, then
    SIGSEGV). Keep one port for the phone's life and only disconnect it per call. If the hook also has a
    ``phone_closing()`` method, the phone calls it at ``close()`` after the bridge clock is stopped: free ports
    there (``media_stopped`` of calls still up at close also runs after the clock is stopped).
    """

    def media_started(self, media: CallMedia) -> None:
        """The call's audio is up (also again after resume): connect sources/sinks, keep your pj objects."""
        ...

    def media_stopped(self, call_id: str) -> None:
        """The call ended: disconnect what you connected for it."""
        ...
