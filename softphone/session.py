"""State and media of one call inside the pj thread: frame ports, recorder, tap, prompts, media hook."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pjsua2 as pj

from callcenter.ports import CallEvent, PlaybackFinished, RecordingReady
from softphone.errors import log_exception
from softphone.media import CallMedia, FramePort, MediaHook, PortPool, Prompt
from softphone.recording import NURSE, PATIENT, StereoRecorder
from softphone.sipcall import SipCall
from softphone.tap import FrameTap

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallInfo:
    """A snapshot of one call for callers outside the pj thread."""

    call_id: str
    sip_call_id: str
    remote_uri: str
    direction: str  # "outbound" | "inbound"
    state: str
    muted: bool
    held: bool
    recording_path: str
    tap_frames: int  # patient frames seen so far (20 ms each)


class CallSession:
    """Owned by the pj thread; every method runs there."""

    def __init__(self, key: str, sip: SipCall, direction: str, record_path: Path | None,
                 emit: Callable[[CallEvent], None]) -> None:
        self.key = key
        self.sip: SipCall | None = sip
        self.direction = direction
        self.record_path = record_path
        self.emit = emit
        self.started_mono = time.monotonic()
        self.state = "calling" if direction == "outbound" else "incoming"
        self.sip_call_id = ""
        self.remote_uri = ""
        self.muted = False
        self.held = False
        self.ended = False
        self.conf_slot = -1
        self.audio: pj.AudioMedia | None = None
        self.patient_port: FramePort | None = None
        self.nurse_port: FramePort | None = None
        self.recorder: StereoRecorder | None = None
        self.prompts: list[Prompt] = []
        self._tap: FrameTap | None = None

    @property
    def at_s(self) -> float:
        return round(time.monotonic() - self.started_mono, 3)

    def info(self) -> CallInfo:
        return CallInfo(self.key, self.sip_call_id, self.remote_uri, self.direction, self.state, self.muted,
                        self.held, str(self.record_path or ""),
                        self.patient_port.seq if self.patient_port is not None else 0)

    # -- media ----------------------------------------------------------------------------------------------
    def media_active(self, audio: pj.AudioMedia, conf_slot: int, tap: FrameTap | None,
                     hook: MediaHook | None, pool: PortPool) -> bool:
        """Connect the call's audio (first time, or again after a re-INVITE moved its conference slot).
        Returns True the first time media starts."""
        first = self.patient_port is None
        if not first and conf_slot == self.conf_slot:
            return False
        self.audio, self.conf_slot = audio, conf_slot
        if first:
            self._tap = tap
            if self.record_path is not None:
                self.recorder = StereoRecorder(self.key, self.record_path, self._recording_ready)
            self.patient_port = pool.take(self._patient_frame)
            self.nurse_port = pool.take(self._nurse_frame)
        assert self.patient_port is not None and self.nurse_port is not None
        audio.startTransmit(self.patient_port)
        for prompt in self.prompts:
            prompt.startTransmit(audio)
        self._apply_mute()
        if hook is not None:
            try:
                hook.media_started(CallMedia(self.key, audio, self.nurse_port))
            except Exception:
                log_exception(logger, "media hook failed to start for call %s", self.key)
        return first

    def play(self, path: str, on_end: Callable[[], None] | None = None) -> None:
        if self.audio is None or self.nurse_port is None:
            raise RuntimeError("no media yet")
        key = self.key

        def ended(stopped: bool) -> None:  # media thread at the WAV's end: only enqueue
            self.emit(PlaybackFinished(key, path, stopped=stopped))
            if on_end is not None:
                on_end()

        prompt = Prompt(path, ended)
        prompt.startTransmit(self.audio)
        prompt.startTransmit(self.nurse_port)
        self.prompts.append(prompt)

    def stop_playback(self, graveyard: list[object]) -> int:
        """Cut every prompt still playing (barge-in); each reports ``PlaybackFinished(stopped=True)``. The
        players go to the graveyard (never freed while the bridge clock runs). Returns how many were cut."""
        cut = 0
        for prompt in [p for p in self.prompts if p.playing]:
            if prompt.stop((self.audio, self.nurse_port)):
                cut += 1
            self.prompts.remove(prompt)
            graveyard.append(prompt)
        return cut

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self._apply_mute()

    def _apply_mute(self) -> None:
        level = 0.0 if self.muted else 1.0
        for media in (self.audio, self.nurse_port):
            if media is not None:
                media.adjustRxLevel(level)  # rx = from the bridge into the port = what we send

    def stop_media(self, hook: MediaHook | None, pool: PortPool, graveyard: list[object]) -> None:
        """Release the call's pj media objects (ports back to the pool, prompts to the graveyard: neither is
        freed while the bridge clock runs) and finish the recording (idempotent)."""
        if hook is not None and self.patient_port is not None:
            try:
                hook.media_stopped(self.key)
            except Exception:
                log_exception(logger, "media hook failed to stop for call %s", self.key)
        last_seq = self.patient_port.seq if self.patient_port is not None else 0
        for prompt in self.prompts:
            for target in (self.audio, self.nurse_port):
                if target is not None:
                    try:
                        prompt.stopTransmit(target)
                    except pj.Error:
                        logger.debug("prompt of call %s already disconnected", self.key)
        graveyard.extend(self.prompts)
        self.prompts.clear()
        for port in (self.patient_port, self.nurse_port):
            if port is not None:
                pool.give_back(port)
        self.patient_port = None
        self.nurse_port = None
        self.audio = None
        if self._tap is not None:
            self._tap.end(self.key, last_seq)
            self._tap = None
        if self.recorder is not None:
            self.recorder.close()

    # -- media thread ---------------------------------------------------------------------------------------
    def _patient_frame(self, seq: int, pcm: bytes) -> None:
        recorder, tap = self.recorder, self._tap
        if recorder is not None:
            recorder.put(PATIENT, seq, pcm)
        if tap is not None:
            tap.put(self.key, seq, pcm)

    def _nurse_frame(self, seq: int, pcm: bytes) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.put(NURSE, seq, pcm)

    # -- recorder thread ------------------------------------------------------------------------------------
    def _recording_ready(self, event: RecordingReady) -> None:
        self.emit(event)
