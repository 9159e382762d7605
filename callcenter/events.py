"""Live events pushed to browsers and softphone agents: their kinds and the rooms they go to (pure).

The core emits through ``ports.Notifier.emit(kind, payload, room)``; ``web.realtime`` delivers to Socket.IO rooms.
Rooms scope who receives what: a nurse's browser joins only her own user room and the rooms of attempts she
may follow (``callcenter.privacy``); supervisors join ``SUPERVISORS``; a softphone agent joins its user's agent
room. Payloads carry ids, never names, phone numbers or national IDs.
"""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    # server -> browsers
    call_state = "call_state"  # {attempt_id, state, sip_status}
    transcript = "transcript"  # {attempt_id, speaker, text, t0_s, t1_s, confidence, item_id}
    partial = "partial"  # {attempt_id, speaker, text}
    proposal = "proposal"  # {attempt_id, item_id, value, confidence, text, t0_s, t1_s, needs_confirmation}
    recording = "recording"  # {attempt_id, recording_id, duration_s}: the call's recording is ready
    speech = "speech"  # {attempt_id, available, code}: speech recognition for the call stopped or is back
    question = "question"  # {attempt_id, item_id}: the form moved to another question
    alert = "alert"  # {alert_id, patient_id, severity}
    queue_changed = "queue_changed"  # {task_id}
    notice = "notice"  # {text}: a message for the user
    incoming_call = "incoming_call"  # {call_ref, attempt_id, patient_id, task_id, masked_number}: her phone rings
    incoming_ended = "incoming_ended"  # {call_ref}: a ringing call was answered, declined or given up
    session_ended = "session_ended"  # {}: the user was deactivated; the page goes to the login page
    # server -> softphone agent
    agent_command = "agent_command"  # {command: dial|hangup|hold|resume|mute|dtmf|transfer, attempt_id, ...}


SUPERVISORS = "supervisors"
DOCTORS = "doctors"  # the alerts inbox: new red flags are pushed here


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def attempt_room(attempt_id: int) -> str:
    return f"attempt:{attempt_id}"


def agent_room(user_id: int) -> str:
    return f"agent:{user_id}"
