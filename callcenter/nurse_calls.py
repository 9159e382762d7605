"""Call control of a nurse's call: start an attempt on a task she holds, the commands her softphone agent
receives, and the attempt's times as the agent reports the call's state.

The agent is told over Socket.IO (``EventKind.agent_command`` to her agent room); this module only decides and
records — what to send, to whom, and whether it is allowed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from callcenter import queue
from callcenter.errors import Conflict, InvalidInput, NotFound
from callcenter.events import agent_room
from callcenter.models import CallAttempt, Patient, PatientPhone
from callcenter.users import StaffMember
from callcenter.worklist import owner_of, require_holder

logger = logging.getLogger(__name__)

SIMPLE_COMMANDS = ("hangup", "hold", "resume", "mute", "unmute")
_DTMF = re.compile(r"^[0-9*#]{1,32}$")


class CallInProgress(Conflict):
    pass


class AttemptEnded(Conflict):
    pass


@dataclass(frozen=True)
class AgentCommand:
    room: str
    payload: dict[str, Any] = field(default_factory=dict)


def start_attempt(session: Session, task_id: int, nurse: StaffMember, *, phone_id: int, now: datetime
                  ) -> tuple[int, AgentCommand]:
    """A new call attempt on the task she holds, to one of the patient's valid numbers; the dial command."""
    task = require_holder(session, task_id, nurse, now=now)
    phone = session.get(PatientPhone, phone_id)
    if phone is None or phone.patient_id != task.patient_id:
        raise InvalidInput(f"phone {phone_id} is not a number of this task's patient")
    if phone.invalid:
        raise InvalidInput("this number is marked invalid (空号/错号); choose another number")
    open_call = session.exec(
        select(CallAttempt.id).where(CallAttempt.task_id == task_id, CallAttempt.user_id == nurse.id,
                                     col(CallAttempt.ended_at).is_(None), col(CallAttempt.wrapped_up_at).is_(None))
    ).first()
    if open_call is not None:
        raise CallInProgress(f"call attempt {open_call} of this task is still open: hang up and save its outcome first")
    patient = session.get(Patient, task.patient_id)
    attempt = CallAttempt(task_id=task_id, patient_id=task.patient_id, phone_id=phone.id, number=phone.number,
                          user_id=nurse.id, started_at=now)
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    queue.mark_in_call(session, task_id, owner=owner_of(nurse), now=now)
    logger.info("task=%s attempt=%s dial by user=%s", task_id, attempt.id, nurse.id)
    return attempt.id, AgentCommand(agent_room(nurse.id), {
        "command": "dial", "attempt_id": attempt.id, "task_id": task_id, "number": phone.number,
        "locale": patient.language if patient else "zh-CN",
    })


def control(session: Session, attempt_id: int, nurse: StaffMember, command: str, *, argument: str = ""
            ) -> AgentCommand:
    """hangup / hold / resume / mute / unmute / dtmf DIGITS / transfer URI for her call in progress."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.user_id != nurse.id:
        raise NotFound(f"call attempt {attempt_id} is not one of your calls")
    if attempt.ended_at is not None:
        raise AttemptEnded(f"call attempt {attempt_id} has ended; save its outcome")
    payload: dict[str, Any] = {"command": command, "attempt_id": attempt_id}
    if command == "dtmf":
        if not _DTMF.match(argument):
            raise InvalidInput("DTMF digits are 0-9, * and # (up to 32)")
        payload["digits"] = argument
    elif command == "transfer":
        if not argument.strip():
            raise InvalidInput("transfer needs a number or SIP URI")
        payload["target"] = argument.strip()
    elif command not in SIMPLE_COMMANDS:
        raise InvalidInput(f"unknown call command {command!r}")
    return AgentCommand(agent_room(nurse.id), payload)


@dataclass(frozen=True)
class AgentHello:
    """What a (re)connected softphone agent's ``hello`` means for its user's open call attempts."""

    resume_attempt_id: int | None  # the agent still has this call: send it the current question's grammar again
    lost_attempt_ids: tuple[int, ...]  # open before the agent connected, unknown to it (it restarted): ended now


def agent_hello(session: Session, nurse: StaffMember, reported: Any, *, connected_at: datetime, now: datetime
                ) -> AgentHello:
    """Reconcile the attempts the database holds open for ``nurse`` with the call her agent reports.

    An agent that lost its link keeps its call and reports it: the server re-sends what it may have missed
    (the grammar of the question now on screen). An agent that restarted mid-call has lost the call: its open
    attempts are ended so the screen says so and the nurse can save an outcome. Attempts started after this
    connection are left alone (their dial command reaches the agent after its ``hello``)."""
    open_attempts = session.exec(
        select(CallAttempt).where(CallAttempt.user_id == nurse.id, col(CallAttempt.ended_at).is_(None),
                                  col(CallAttempt.wrapped_up_at).is_(None))
    ).all()
    reported_id = reported if isinstance(reported, int) and not isinstance(reported, bool) else None
    resume = next((a.id for a in open_attempts if a.id == reported_id), None)
    lost: list[int] = []
    for attempt in open_attempts:
        if attempt.id != resume and attempt.id is not None and attempt.started_at < connected_at:
            attempt.ended_at = now
            session.add(attempt)
            lost.append(attempt.id)
            logger.warning("attempt=%s ended: the softphone agent of user=%s reconnected without it", attempt.id,
                           nurse.id)
    session.flush()
    return AgentHello(resume, tuple(lost))


def known_call_state(session: Session, attempt_id: int) -> str | None:
    """The call state the database can vouch for (answered, ended), for a screen that joins a call late: an
    event sent before it joined the call's room is not replayed. None when only the agent knows (ringing…)."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        return None
    if attempt.ended_at is not None:
        return "disconnected"
    if attempt.answered_at is not None:
        return "confirmed"
    return None


def note_call_state(session: Session, attempt_id: int, state: str, *, now: datetime, sip_call_id: str = "") -> None:
    """Record the answer and end times of an attempt from the states its agent reports."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        return
    if sip_call_id and not attempt.sip_call_id:
        attempt.sip_call_id = sip_call_id[:200]
    if state == "confirmed" and attempt.answered_at is None:
        attempt.answered_at = now
    elif attempt.ended_at is None and (state == "disconnected" or (
            state == "failed" and attempt.direction == "inbound" and attempt.answered_at is None)):
        # "failed" on a ringing call in: the agent could not bind or answer it, the caller hung up meanwhile
        attempt.ended_at = now
        if attempt.direction == "inbound" and attempt.answered_at is None:
            attempt.wrapped_up_at = now  # a missed incoming call: on the patient's timeline, no outcome to save
            logger.info("attempt=%s: incoming call missed (the caller hung up before it was answered)", attempt_id)
    session.add(attempt)
    session.flush()
