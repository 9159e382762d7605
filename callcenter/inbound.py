"""Patients calling in (回电): an incoming call on a nurse's softphone is matched to the patient by number and
to the follow-up task it is most likely about; the nurse answers from her browser and lands on that task's call
screen, as if she had dialled it.

    agent: incoming_call {call_ref, number}
      -> ``register_incoming``: CallAttempt(direction=inbound) for a known number (bound to the agent's call)
      -> the nurse's pages ring (ids only over Socket.IO; the banner is fetched over authenticated HTTP)
    nurse: 接听 -> ``answer_incoming``: the task leased to her (a callback waiting for its time is due now),
      the agent answers; 拒接 -> the agent declines (486), the attempt ends unanswered

Unknown numbers get no attempt (an attempt belongs to a patient): the nurse can still answer or decline them;
the call is recorded by the softphone but not filed under a patient.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from callcenter import queue
from callcenter.call_rules import CallRules
from callcenter.errors import Conflict, NotFound
from callcenter.events import agent_room
from callcenter.identity import InvalidPhone, normalize_phone
from callcenter.models import CallAttempt, Patient, PatientPhone, Task, TaskStatus
from callcenter.nurse_calls import AgentCommand
from callcenter.privacy import mask_phone
from callcenter.tasks import transition
from callcenter.users import StaffMember
from callcenter.worklist import owner_of

logger = logging.getLogger(__name__)

# a task the caller is probably calling about: one we are trying to reach, or waiting to call back
CALLED_ABOUT = (TaskStatus.callback, TaskStatus.due, TaskStatus.leased, TaskStatus.in_call)
_SIP_USER = re.compile(r"^(?:sips?:|tel:)?([^@;>]+)")


class NotRinging(Conflict):
    """The incoming call was answered, declined or hung up already."""


@dataclass(frozen=True)
class Incoming:
    """One ringing call as the nurse's pages see it."""

    call_ref: str  # the softphone's id for the call
    attempt_id: int | None  # None: unknown number
    patient_id: int | None
    task_id: int | None  # the task the call is probably about
    masked_number: str

    def event(self) -> dict[str, object]:
        """The ``incoming_call`` event for her pages: ids and the masked number, never the name."""
        return {"call_ref": self.call_ref, "attempt_id": self.attempt_id, "patient_id": self.patient_id,
                "task_id": self.task_id, "masked_number": self.masked_number}


def caller_number(remote_uri: str) -> str:
    """The caller's number from a SIP From URI (``"x" <sip:13900139000@pbx>`` -> ``13900139000``), canonical when
    it is a Chinese number, else the user part as sent."""
    text = remote_uri.strip()
    if "<" in text:
        text = text.split("<", 1)[1]
    match = _SIP_USER.match(text.strip())
    user = match.group(1) if match else text
    try:
        return normalize_phone(user).number
    except InvalidPhone:
        return user[:32]


def register_incoming(session: Session, nurse: StaffMember, *, call_ref: str, remote_uri: str,
                      now: datetime) -> Incoming:
    """File an incoming call on ``nurse``'s softphone: the patient whose number calls, the task it is about."""
    number = caller_number(remote_uri)
    phones = session.exec(select(PatientPhone).where(PatientPhone.number == number)).all()
    patient_ids = sorted({p.patient_id for p in phones})
    if len(patient_ids) != 1:  # unknown, or a number shared by several patients (a family phone): ask who calls
        logger.info("incoming call %s on user=%s: %s matching patients", call_ref, nurse.id, len(patient_ids))
        return Incoming(call_ref, None, None, None, mask_phone(number))
    patient = session.get(Patient, patient_ids[0])
    assert patient is not None and patient.id is not None
    task = session.exec(
        select(Task).where(Task.patient_id == patient.id, col(Task.status).in_(CALLED_ABOUT))
        .order_by(col(Task.callback_at).desc().nulls_last(), col(Task.due_at))
    ).first()
    attempt = CallAttempt(task_id=task.id if task else None, patient_id=patient.id, phone_id=phones[0].id,
                          number=number, user_id=nurse.id, direction="inbound", sip_call_id=call_ref[:200],
                          started_at=now)
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    logger.info("incoming call %s on user=%s filed as attempt=%s (task=%s)", call_ref, nurse.id, attempt.id,
                attempt.task_id)
    return Incoming(call_ref, attempt.id, patient.id, attempt.task_id, mask_phone(number))


def ringing_for(session: Session, nurse: StaffMember, *, now: datetime, within_s: int = 120) -> list[Incoming]:
    """The filed calls ringing on her phone now (a page that connects late — she was navigating — rings too)."""
    rows = session.exec(
        select(CallAttempt).where(CallAttempt.user_id == nurse.id, CallAttempt.direction == "inbound",
                                  col(CallAttempt.answered_at).is_(None), col(CallAttempt.ended_at).is_(None),
                                  col(CallAttempt.started_at) >= now - timedelta(seconds=within_s))
        .order_by(col(CallAttempt.started_at))
    ).all()
    return [Incoming(a.sip_call_id, a.id, a.patient_id, a.task_id, mask_phone(a.number)) for a in rows]


def bind_command(nurse: StaffMember, incoming: Incoming, *, locale: str) -> AgentCommand:
    """Tell the agent which attempt its ringing call is (its later events are reported under it)."""
    return AgentCommand(agent_room(nurse.id), {"command": "bind", "attempt_id": incoming.attempt_id,
                                               "call_ref": incoming.call_ref, "locale": locale})


def ringing_attempt(session: Session, attempt_id: int, nurse: StaffMember) -> CallAttempt:
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.user_id != nurse.id or attempt.direction != "inbound":
        raise NotFound(f"incoming call {attempt_id} is not a call to you")
    if attempt.ended_at is not None or attempt.answered_at is not None:
        raise NotRinging(f"incoming call {attempt_id} was answered or has ended")
    return attempt


def answer_incoming(session: Session, attempt_id: int, nurse: StaffMember, *, now: datetime,
                    rules: CallRules) -> tuple[int | None, AgentCommand]:
    """The nurse answers: the task it is about is leased to her (when nobody else holds it); the agent's command.
    Returns the task id whose call screen to open (None: the patient's page)."""
    attempt = ringing_attempt(session, attempt_id, nurse)
    task_id = attempt.task_id
    task = session.get(Task, task_id) if task_id is not None else None
    if task is not None:
        owner = owner_of(nurse)
        if task.status == TaskStatus.callback:  # the patient calls before the agreed time: due now
            transition(session, task, TaskStatus.due, actor=owner, now=now, reason="patient called in")
            session.flush()
        if task.status == TaskStatus.due:
            queue.claim_task(session, task.id or 0, owner=owner, now=now, rules=rules)
        elif task.lease_owner != owner:  # another nurse is on it: the call is filed, the form is hers
            logger.info("attempt=%s: task=%s is held by someone else; answered without it", attempt_id, task.id)
            attempt.task_id = None
            session.add(attempt)
            task_id = None
    session.flush()
    return task_id, AgentCommand(agent_room(nurse.id), {"command": "answer", "attempt_id": attempt_id})


def decline_incoming(session: Session, attempt_id: int, nurse: StaffMember, *, now: datetime) -> AgentCommand:
    attempt = ringing_attempt(session, attempt_id, nurse)
    attempt.ended_at = attempt.wrapped_up_at = now  # nothing to wrap up: the call was never taken
    session.add(attempt)
    return AgentCommand(agent_room(nurse.id), {"command": "decline", "attempt_id": attempt_id})


def unknown_caller_command(nurse: StaffMember, call_ref: str, command: str) -> AgentCommand:
    """Answer or decline a call from a number no patient has (no attempt: addressed by the softphone's id)."""
    if command not in ("answer", "decline"):
        raise NotFound(f"unknown command {command!r} for an incoming call")
    return AgentCommand(agent_room(nurse.id), {"command": command, "call_ref": call_ref[:64]})


def patient_language(session: Session, patient_id: int | None) -> str:
    patient = session.get(Patient, patient_id) if patient_id is not None else None
    return patient.language if patient is not None and patient.language else ""
