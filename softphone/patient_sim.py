"""The patient simulator: a SIP phone that answers calls and speaks a persona's answers (demos, nurse training,
and a realistic peer for tests).

    caller audio --tap (sender thread)--> EnergyEndpointer --caller finished--> Conversation --> actions
    actions: Pause (counted in 20 ms tap frames: the call's own clock), Say (PjsuaPhone.play of a WAV
             synthesised ahead by espeak-ng), HangUp

Nothing here runs on the pjmedia thread: the tap hands frames to its sender thread, which runs the endpointer;
speech is synthesised before the first call (``TtsCache``) and played by pjsua2's native WAV player. While the
persona talks it does not listen (no barge-in): the endpointer restarts when the last action is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.ports import (
    AudioFrame,
    CallEvent,
    CallState,
    CallStateChanged,
    MediaStarted,
    PlaybackFinished,
)
from softphone.config import PhoneConfig
from softphone.errors import SoftphoneError
from softphone.persona import Action, Conversation, HangUp, Pause, Persona, Say
from softphone.phone import PjsuaPhone
from softphone.speech_end import FRAME_MS, EnergyEndpointer
from softphone.tts import TtsCache, Voice
from softphone.wav import voiced_end_s

logger = logging.getLogger(__name__)


@dataclass
class _Call:
    """One answered call (guarded by the simulator's lock)."""

    call_id: str
    conversation: Conversation
    endpointer: EnergyEndpointer
    actions: deque[Action] = field(default_factory=deque)
    last_seq: int = 0
    pause_until_seq: int | None = None
    playing: str = ""  # path of the WAV being played
    hung_up: bool = False
    utterances: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.actions) or self.pause_until_seq is not None or bool(self.playing)


@dataclass(frozen=True)
class Spoken:
    """One sentence the persona said, on the wall clock (epoch s): when its playback started and when its speech
    ended (start + the last voiced sample of its WAV). The reference for end-of-speech latency benches."""

    call_id: str
    kind: str
    started_at: float
    speech_end_at: float


@dataclass(frozen=True)
class CallSummary:
    call_id: str
    said: tuple[str, ...]  # kinds, in order: greeting, hesitation, answer, off_topic, closing, hang_up
    answers: int
    caller_utterances: int
    hung_up: bool


class _CallerAudio:
    """``callcenter.ports.TapSink`` for the phone's tap: what the caller says, frame by frame."""

    def __init__(self, simulator: PatientSimulator) -> None:
        self.simulator = simulator

    def send(self, frame: AudioFrame) -> None:
        self.simulator._on_frame(frame)

    def close(self) -> None:
        """Nothing to release: the simulator outlives its phone's tap."""


class PatientSimulator:
    """Answers every call on ``host:port`` with ``persona``. ``start()``, then ``close()``."""

    def __init__(self, persona: Persona, *, host: str = "127.0.0.1", port: int = 5090, cache_dir: Path,
                 user: str = "patient", on_spoken: Callable[[Spoken], None] | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.persona = persona
        self.on_spoken = on_spoken
        self._wall_clock = wall_clock
        self.voice = Voice(persona.language, persona.espeak_voice, persona.rate_wpm, persona.pitch)
        self.tts = TtsCache(cache_dir)
        self.config = PhoneConfig(bind_host=host, bind_port=port, user=user, auto_answer=True,
                                  record_calls=False, recordings_dir=str(cache_dir / "recordings"))
        self.audio: dict[str, Path] = {}
        self.speech_s: dict[str, float] = {}  # text -> where its speech ends in its WAV
        self.phone: PjsuaPhone | None = None
        self.summaries: list[CallSummary] = []
        self._calls: dict[str, _Call] = {}
        self._ended: set[str] = set()
        self._started_calls = 0
        self._lock = threading.RLock()
        self._finished = threading.Condition(self._lock)

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Synthesise every sentence of the persona, then listen (a phone that is up speaks at once)."""
        for text in self.persona.texts():
            self.audio[text] = self.tts.synthesize(text, self.voice)
            self.speech_s[text] = voiced_end_s(self.audio[text])
        logger.info("persona %s: %s sentences ready", self.persona.key, len(self.audio))
        self.phone = PjsuaPhone(self.config, tap_sink=_CallerAudio(self))
        self.phone.add_listener(self._on_event)

    @property
    def uri(self) -> str:
        return self.phone.local_uri if self.phone is not None else ""

    def wait_calls(self, count: int, timeout_s: float | None = None) -> bool:
        """Wait until ``count`` calls have ended."""
        with self._finished:
            return self._finished.wait_for(lambda: len(self.summaries) >= count, timeout=timeout_s)

    def close(self) -> None:
        if self.phone is not None:
            self.phone.close()
            self.phone = None

    # -- the caller's audio, on the tap's sender thread ------------------------------------------------------
    def _on_frame(self, frame: AudioFrame) -> None:
        with self._lock:
            call = self._call(frame.call_id)
            if call is None:
                return
            call.last_seq = frame.seq
            if frame.end:
                return
            if call.pause_until_seq is not None:
                if frame.seq >= call.pause_until_seq:
                    call.pause_until_seq = None
                    self._advance(call)
                return
            if call.busy or call.hung_up:
                return
            ended = call.endpointer.push(frame.seq, frame.pcm)
            if ended is not None:
                call.utterances += 1
                logger.debug("call %s: caller spoke %s ms", call.call_id, ended.duration_ms)
                call.actions.extend(call.conversation.on_caller_finished())
                self._advance(call)

    # -- phone events, on the phone's dispatcher thread ------------------------------------------------------
    def _on_event(self, event: CallEvent) -> None:
        with self._lock:
            if isinstance(event, MediaStarted):
                call = self._call(event.call_id)
                if call is not None and not call.busy and call.utterances == 0 and not call.conversation.log:
                    call.actions.extend(call.conversation.on_answered())
                    self._advance(call)
            elif isinstance(event, PlaybackFinished):
                call = self._calls.get(event.call_id)
                if call is not None and call.playing == event.path:
                    call.playing = ""
                    self._advance(call)
            elif isinstance(event, CallStateChanged) and event.state is CallState.disconnected:
                call = self._calls.pop(event.call_id, None)
                self._ended.add(event.call_id)  # late tap frames of this call must not open a new one
                if call is not None:
                    self.summaries.append(CallSummary(call.call_id, tuple(call.conversation.log),
                                                      call.conversation.turn, call.utterances, call.hung_up))
                    logger.info("call %s ended: %s answers, patient hung up: %s", call.call_id,
                                call.conversation.turn, call.hung_up)
                    self._finished.notify_all()

    # -- the call's script (lock held) -----------------------------------------------------------------------
    def _call(self, call_id: str) -> _Call | None:
        call = self._calls.get(call_id)
        if call is None and call_id not in self._ended:
            conversation = Conversation.for_call(self.persona, self._started_calls)
            self._started_calls += 1
            call = _Call(call_id, conversation, EnergyEndpointer(end_ms=self.persona.end_of_speech_ms))
            self._calls[call_id] = call
        return call

    def _advance(self, call: _Call) -> None:
        """Run actions until one has to wait (a pause, a playback) or none are left."""
        assert self.phone is not None
        while call.actions and not call.hung_up:
            action = call.actions.popleft()
            if isinstance(action, Pause):
                call.pause_until_seq = call.last_seq + max(1, action.ms // FRAME_MS)
                return
            if isinstance(action, Say):
                path = str(self.audio[action.text])
                try:
                    self.phone.play(call.call_id, path)
                except SoftphoneError as exc:
                    logger.info("call %s: cannot play (%s); the call has probably ended", call.call_id, exc)
                    call.actions.clear()
                    return
                call.playing = path
                if self.on_spoken is not None:  # play() returns once the player is connected to the call
                    started = self._wall_clock()
                    self.on_spoken(Spoken(call.call_id, action.kind, started, started + self.speech_s[action.text]))
                return
            if isinstance(action, HangUp):
                call.hung_up = True
                try:
                    self.phone.hangup(call.call_id)
                except SoftphoneError as exc:
                    logger.info("call %s: hang-up failed (%s)", call.call_id, exc)
                return
        call.endpointer.reset()  # done talking: listen for the next question from scratch
