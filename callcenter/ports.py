"""Ports: the Protocols the core talks to, and the value types that cross them.

Adapters implement them (``softphone.PjsuaPhone``, ``asr`` workers, ``web.realtime.SocketIONotifier``); every
port has a scripted synchronous fake for unit tests (``tests/fakes.py``). Values are frozen dataclasses so they
can be queued between threads and pickled between processes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scripts_questionnaires import Problem, Script

# --------------------------------------------------------------------------------------------------------------
# Telephony
# --------------------------------------------------------------------------------------------------------------


class CallState(enum.StrEnum):
    calling = "calling"  # INVITE sent
    incoming = "incoming"
    early = "early"  # ringing / early media
    connecting = "connecting"
    confirmed = "confirmed"  # answered, media flowing
    held = "held"
    disconnected = "disconnected"


@dataclass(frozen=True)
class CallStateChanged:
    call_id: str
    state: CallState
    sip_status: int = 0  # last SIP status code (486 busy, 480/408 no answer, 404 invalid, 603 declined …)
    reason: str = ""
    at_s: float = 0.0  # seconds since the call started


@dataclass(frozen=True)
class MediaStarted:
    call_id: str
    codec: str = ""


@dataclass(frozen=True)
class DtmfReceived:
    call_id: str
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True)
class CallFailed:
    call_id: str
    message: str


@dataclass(frozen=True)
class RecordingReady:
    call_id: str
    path: str
    duration_s: float
    sha256: str


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    remote_uri: str


@dataclass(frozen=True)
class RegistrationChanged:
    """The softphone's SIP registration changed (``call_id`` is empty: it concerns the phone, not a call)."""

    registered: bool
    sip_status: int = 0  # 200 ok, 401/403 bad credentials, 408/503 registrar unreachable
    reason: str = ""
    call_id: str = ""


@dataclass(frozen=True)
class PlaybackFinished:
    """A WAV played into a call (prompt) reached its end, or was cut short (``stopped``: barge-in)."""

    call_id: str
    path: str
    stopped: bool = False


CallEvent = (
    CallStateChanged | MediaStarted | DtmfReceived | CallFailed | RecordingReady | IncomingCall
    | RegistrationChanged | PlaybackFinished
)


@dataclass(frozen=True)
class AudioFrame:
    """20 ms of one call's patient audio leaving the softphone process for an ASR worker (pickled).

    ``pcm`` is 16-bit little-endian mono at 8 kHz (320 bytes); ``seq`` counts frames from the start of the
    call's media, so the frame starts at ``seq * 0.02`` s. The last message of a call has ``end=True`` and
    empty ``pcm``. ``dropped`` is how many frames of this call were dropped so far because the consumer was slow.
    """

    call_id: str
    seq: int
    pcm: bytes
    end: bool = False
    dropped: int = 0


class TapSink(Protocol):
    """Where the softphone's audio tap sends frames (called on the tap's sender thread, never the media one)."""

    def send(self, frame: AudioFrame) -> None: ...

    def close(self) -> None: ...


class Phone(Protocol):
    """A softphone. Methods return at once; what happens is reported as ``CallEvent``s to the listener."""

    def dial(self, uri: str, *, record_path: str | None = None) -> str:
        """Place a call; returns the call id. Raises ``TooManyCalls`` past the per-process limit."""
        ...

    def answer(self, call_id: str) -> None: ...

    def hangup(self, call_id: str) -> None: ...

    def hold(self, call_id: str) -> None: ...

    def resume(self, call_id: str) -> None: ...

    def mute(self, call_id: str, muted: bool) -> None: ...

    def send_dtmf(self, call_id: str, digits: str) -> None: ...

    def transfer(self, call_id: str, uri: str) -> None: ...

    def add_listener(self, listener: Callable[[CallEvent], None]) -> None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------------------------
# Speech
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    text: str
    t0_s: float
    t1_s: float
    confidence: float


@dataclass(frozen=True)
class Utterance:
    """One final utterance of one speaker, times relative to the start of the call."""

    call_id: str
    text: str
    t0_s: float
    t1_s: float
    confidence: float
    words: tuple[Word, ...] = ()
    alternatives: tuple[str, ...] = ()
    speaker: str = "patient"
    item_id: str = ""  # the question whose grammar was active
    closed_at: float = 0.0  # wall clock (epoch s) when endpointing closed the utterance; 0 when unknown


@dataclass(frozen=True)
class PartialText:
    call_id: str
    text: str
    speaker: str = "patient"


@dataclass(frozen=True)
class Proposal:
    """A typed answer proposed from speech for the current question; the nurse confirms or corrects it."""

    call_id: str
    item_id: str
    value: Any
    confidence: float
    text: str
    t0_s: float
    t1_s: float
    needs_confirmation: bool = True
    reasons: tuple[str, ...] = ()
    closed_at: float = 0.0  # the utterance's ``closed_at``: latency is measured from here (bench/assisted_call.py)


class SpeechCode(enum.StrEnum):
    """Why speech recognition for a call stopped, or that it is back (what the nurse's screen shows)."""

    no_model = "no_model"  # no model serves the patient's language: no proposals for the whole call
    model_failed = "model_failed"  # the language's model could not be loaded
    restarting = "restarting"  # the recogniser's worker process died; a new one is starting
    back = "back"  # recognition works again (after a restart)


@dataclass(frozen=True)
class SpeechStatus:
    """Speech recognition for a call became unavailable or available again (the call itself goes on; the nurse
    types the answers meanwhile). ``code`` is for screens, ``reason`` says it in words for logs."""

    call_id: str
    available: bool
    reason: str = ""
    code: SpeechCode = SpeechCode.back


class Recognizer(Protocol):
    """Speech recognition for live calls (an ASR worker pool behind it). Besides results it reports
    ``SpeechStatus`` changes of a call."""

    def open_stream(self, call_id: str, locale: str) -> bool:
        """Start listening to a call; False when no model serves the locale (the call runs without proposals)."""
        ...

    def set_grammar(self, call_id: str, item_id: str, phrases: Sequence[str]) -> None:
        """Switch to the grammar of the current question (applied between utterances)."""
        ...

    def feed(self, call_id: str, pcm: bytes) -> None:
        """20 ms of 16-bit mono PCM at 8 kHz. Never blocks."""
        ...

    def close_stream(self, call_id: str) -> None: ...


@dataclass(frozen=True)
class VocabularyReport:
    """What the speech models' vocabularies say about a script's spoken phrases.

    ``problems`` are warnings at the lines of the phrases (``say:``) that use words a model lacks: the recogniser
    could never hear them. ``checked`` lists ``(locale, model)`` pairs that were checked, ``unchecked``
    ``(locale, why)`` pairs that could not be (no model configured or installed for that language).
    """

    problems: tuple[Problem, ...] = ()
    checked: tuple[tuple[str, str], ...] = ()
    unchecked: tuple[tuple[str, str], ...] = ()

    def notes(self) -> list[str]:
        """One line per locale that was not checked, saying why (for the doctor)."""
        return [f"spoken words not checked for {locale}: {why}" for locale, why in self.unchecked]


class SpeechVocabulary(Protocol):
    """Checks a script's spoken phrases against the vocabulary of the speech model of each of its locales."""

    def check_script(self, script: Script) -> VocabularyReport: ...


# --------------------------------------------------------------------------------------------------------------
# Real-time notifications to browsers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    event: str
    payload: dict[str, Any] = field(default_factory=dict)
    room: str = ""


class Notifier(Protocol):
    def emit(self, event: str, payload: dict[str, Any], room: str) -> None: ...
