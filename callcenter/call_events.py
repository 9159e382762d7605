"""Live events a softphone agent reports about its user's calls (call state, transcript lines, partial text,
proposed answers, speech recognition stopped or back): checked against the attempt, transcript lines stored, and
forwarded to the attempt's room.

The agent sends ``{"kind": ..., "attempt_id": ..., ...}``; only the fields listed per kind are kept, so an
agent cannot push arbitrary data to browsers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from callcenter.errors import InvalidInput, PermissionDenied
from callcenter.events import EventKind, attempt_room
from callcenter.models import CallAttempt, Recording, TranscriptSegment
from callcenter.nurse_calls import note_call_state
from callcenter.ports import SpeechCode
from callcenter.users import StaffMember

logger = logging.getLogger(__name__)

FIELDS: dict[EventKind, tuple[str, ...]] = {
    EventKind.call_state: ("state", "sip_status", "reason"),
    EventKind.transcript: ("speaker", "text", "t0_s", "t1_s", "confidence", "item_id"),
    EventKind.partial: ("speaker", "text"),
    EventKind.proposal: ("item_id", "value", "confidence", "text", "t0_s", "t1_s", "needs_confirmation", "reasons",
                         "closed_at"),
    EventKind.recording: ("duration_s",),  # + path / sha256, stored, never forwarded
    EventKind.speech: ("available", "code"),  # the nurse's screen: recognition restarting / unavailable / back
}
SPEAKERS = ("patient", "nurse", "robot")
SPEECH_CODES = tuple(c.value for c in SpeechCode)


class NotYourAttempt(PermissionDenied):
    pass


@dataclass(frozen=True)
class Forward:
    kind: EventKind
    room: str
    payload: dict[str, Any]


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number of seconds, got {value!r}")
    return float(value)


def _store_recording(session: Session, attempt_id: int, data: dict[str, Any]) -> int:
    """The softphone finished the call's two-channel WAV (path relative to the recordings folder, or absolute
    on a one-PC setup). One recording per attempt: a repeated report updates it."""
    path = data.get("path")
    if not isinstance(path, str) or not path.strip() or ".." in path.replace("\\", "/").split("/"):
        raise InvalidInput("a recording report needs the file's path (no '..')")
    row = session.exec(select(Recording).where(Recording.attempt_id == attempt_id)).first() or Recording(
        attempt_id=attempt_id, path=path)
    sha256 = str(data.get("sha256", ""))[:64]
    if (row.path, row.sha256) != (path.strip(), sha256):
        row.compressed_path = ""  # another file: its browser copy is made again (callcenter.recording_copies)
    row.path = path.strip()
    row.duration_s = _number(data.get("duration_s", 0.0), "duration_s")
    row.sha256 = sha256
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def accept_agent_event(session: Session, agent: StaffMember, data: Any, *, now: datetime) -> Forward:
    """Validate one event from ``agent``'s softphone; store transcript lines and the call's answer / end
    times; say where to forward it."""
    if not isinstance(data, dict):
        raise InvalidInput("an agent event is an object with kind and attempt_id")
    try:
        kind = EventKind(str(data.get("kind")))
    except ValueError:
        raise InvalidInput(f"agents may report only {', '.join(k.value for k in FIELDS)}") from None
    if kind not in FIELDS:
        raise InvalidInput(f"agents may report only {', '.join(k.value for k in FIELDS)}")
    attempt_id = data.get("attempt_id")
    if not isinstance(attempt_id, int) or isinstance(attempt_id, bool):
        raise InvalidInput("attempt_id must be the integer id of the call attempt")
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.user_id != agent.id:
        raise NotYourAttempt(f"attempt {attempt_id} is not a call of this agent's user")
    payload: dict[str, Any] = {name: data[name] for name in FIELDS[kind] if name in data}
    payload["attempt_id"] = attempt_id
    if kind in (EventKind.transcript, EventKind.partial) and payload.get("speaker", "patient") not in SPEAKERS:
        raise InvalidInput(f"speaker must be one of {', '.join(SPEAKERS)}")
    if kind is EventKind.speech:
        if not isinstance(payload.get("available"), bool):
            raise InvalidInput("a speech report says available: true or false")
        if payload.get("code") not in SPEECH_CODES:
            raise InvalidInput(f"a speech report's code is one of {', '.join(SPEECH_CODES)}")
    if kind is EventKind.transcript:
        confidence = payload.get("confidence")
        session.add(TranscriptSegment(
            attempt_id=attempt_id, speaker=payload.get("speaker", "patient"),
            t0_s=_number(payload.get("t0_s", 0.0), "t0_s"), t1_s=_number(payload.get("t1_s", 0.0), "t1_s"),
            text=str(payload.get("text", "")),
            confidence=None if confidence is None else _number(confidence, "confidence"),
            item_id=str(payload.get("item_id", ""))[:64],
        ))
        session.flush()
    if kind is EventKind.recording:
        payload["recording_id"] = _store_recording(session, attempt_id, data)
    if kind is EventKind.call_state:
        note_call_state(session, attempt_id, str(payload.get("state", "")), now=now,
                        sip_call_id=str(data.get("sip_call_id", "")))
    logger.debug("attempt=%s agent event %s", attempt_id, kind.value)
    return Forward(kind, attempt_room(attempt_id), payload)
