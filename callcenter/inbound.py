"""Patients calling in (回电): an incoming call on a nurse's softphone is matched to the patient by number and
to the follow-up task it is most likely about; the nurse answers from her browser and lands on that task's call
screen, as if she had dialled it.

    agent: incoming_call {call_ref, number}
      -> ``register_incoming``: CallAttempt(direction=inbound), bound to the agent's call, for EVERY call: under
         the patient when one patient has the number, else with no patient yet (unknown or shared number)
      -> the nurse's pages ring (ids only over Socket.IO; the banner is fetched over authenticated HTTP)
    nurse: 接听 -> ``answer_incoming``: the task leased to her (a callback waiting for its time is due now),
      the agent answers; 拒接 -> the agent declines (486), the attempt ends unanswered

A call answered without a task (an unknown or shared number, or a patient with nothing open for her) has its own
page: the nurse says who called (``caller_candidates`` searches patients; ``identify_caller`` files the attempt,
its recording and transcript under the patient, optionally adds the number to the patient's phones, audited),
may take the task the call is about (``take_task_for_call``: its call screen then holds this call), or saves how
the call went (``wrap_up_call``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from callcenter import audit, queue
from callcenter.audit import AuditAction
from callcenter.call_rules import CallRules
from callcenter.errors import Conflict, InvalidInput, NotFound, PatientNotFound, TaskAlreadyLeased
from callcenter.events import agent_room
from callcenter.identity import InvalidPhone, normalize_phone
from callcenter.models import (
    CallAttempt,
    FollowUpPlan,
    Patient,
    PatientPhone,
    PhoneOwner,
    Recording,
    Task,
    TaskStatus,
    TranscriptSegment,
)
from callcenter.nurse_calls import AgentCommand
from callcenter.outcomes import OutcomeRule, get_rule, outcome_table
from callcenter.patients import add_phone, search_patients
from callcenter.privacy import mask_national_id, mask_phone
from callcenter.tasks import transition
from callcenter.users import StaffMember
from callcenter.worklist import owner_of

logger = logging.getLogger(__name__)

# a task the caller is probably calling about: one we are trying to reach, or waiting to call back
CALLED_ABOUT = (TaskStatus.callback, TaskStatus.due, TaskStatus.leased, TaskStatus.in_call)
_SIP_USER = re.compile(r"^(?:sips?:|tel:)?([^@;>]+)")
# contacted outcomes a call in without a task cannot have: a callback is booked on a task
NO_TASK_OUTCOMES_EXCLUDED = ("callback_requested",)
OWNER_LABELS = {PhoneOwner.self_: "本人", PhoneOwner.spouse: "配偶", PhoneOwner.child: "子女",
                PhoneOwner.parent: "父母", PhoneOwner.relative: "亲属", PhoneOwner.caregiver: "护工/陪护",
                PhoneOwner.other: "其他"}


class NotRinging(Conflict):
    """The incoming call was answered, declined or hung up already."""


class CallWrappedUp(Conflict):
    """The call's outcome was saved already."""


class CallStillUp(Conflict):
    """The call is still going on: hang up before saving how it went."""


@dataclass(frozen=True)
class Incoming:
    """One ringing call as the nurse's pages see it."""

    call_ref: str  # the softphone's id for the call
    attempt_id: int
    patient_id: int | None  # None: an unknown number, or one several patients share
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


def likely_task(session: Session, patient_id: int) -> Task | None:
    """The patient's open task a call from her is most likely about: a callback waiting for its time first, then
    the one due first."""
    return session.exec(
        select(Task).where(Task.patient_id == patient_id, col(Task.status).in_(CALLED_ABOUT))
        .order_by(col(Task.callback_at).desc().nulls_last(), col(Task.due_at), col(Task.id))
    ).first()


def register_incoming(session: Session, nurse: StaffMember, *, call_ref: str, remote_uri: str,
                      now: datetime) -> Incoming:
    """File an incoming call on ``nurse``'s softphone: the patient whose number calls, the task it is about. A
    number no patient has, or several share (a family phone), is filed too, with no patient until the nurse says
    who called: its recording and transcript are kept all the same."""
    number = caller_number(remote_uri)
    phones = _phones_with(session, number)
    patient_ids = sorted({p.patient_id for p in phones})
    known = len(patient_ids) == 1
    task = likely_task(session, patient_ids[0]) if known else None
    attempt = CallAttempt(task_id=task.id if task else None, patient_id=patient_ids[0] if known else None,
                          phone_id=phones[0].id if known else None, number=number, user_id=nurse.id,
                          direction="inbound", sip_call_id=call_ref[:200], started_at=now)
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    logger.info("incoming call %s on user=%s filed as attempt=%s (%s matching patients, task=%s)", call_ref,
                nurse.id, attempt.id, len(patient_ids), attempt.task_id)
    return Incoming(call_ref, attempt.id, attempt.patient_id, attempt.task_id, mask_phone(number))


def ringing_for(session: Session, nurse: StaffMember, *, now: datetime, within_s: int = 120) -> list[Incoming]:
    """The calls ringing on her phone now (a page that connects late — she was navigating — rings too)."""
    rows = session.exec(
        select(CallAttempt).where(CallAttempt.user_id == nurse.id, CallAttempt.direction == "inbound",
                                  col(CallAttempt.answered_at).is_(None), col(CallAttempt.ended_at).is_(None),
                                  col(CallAttempt.started_at) >= now - timedelta(seconds=within_s))
        .order_by(col(CallAttempt.started_at))
    ).all()
    return [Incoming(a.sip_call_id, a.id or 0, a.patient_id, a.task_id, mask_phone(a.number)) for a in rows]


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


@dataclass(frozen=True)
class RingingBanner:
    """What the ringing banner says (fetched over authenticated HTTP: names never travel over Socket.IO)."""

    attempt_id: int
    call_ref: str
    masked_number: str
    patient_name: str  # "" : not one patient's number
    sharing: int  # how many patients have the number (0: unknown; 2+: a family phone, she asks who calls)
    plan: str  # the task the call is probably about ("" : none)


def ringing_banner(session: Session, attempt_id: int, nurse: StaffMember) -> RingingBanner:
    attempt = ringing_attempt(session, attempt_id, nurse)
    patient = session.get(Patient, attempt.patient_id) if attempt.patient_id is not None else None
    sharing = 0 if patient is not None else len(_owners(session, attempt.number))
    task = session.get(Task, attempt.task_id) if attempt.task_id else None
    plan = ""
    if task is not None:
        plan_row = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
        plan = f"{plan_row.name if plan_row else task.questionnaire_key} · {task.reason}"
    return RingingBanner(attempt_id, attempt.sip_call_id, mask_phone(attempt.number),
                         patient.name if patient is not None else "", sharing, plan)


def _take_task(session: Session, task: Task, nurse: StaffMember, *, now: datetime, rules: CallRules) -> bool:
    """Lease the task to her for a call in (a callback waiting for its time is due now). False: another nurse
    holds it."""
    owner = owner_of(nurse)
    if task.status == TaskStatus.callback:  # the patient calls before the agreed time: due now
        transition(session, task, TaskStatus.due, actor=owner, now=now, reason="patient called in")
        session.flush()
    if task.status == TaskStatus.due:
        queue.claim_task(session, task.id or 0, owner=owner, now=now, rules=rules)
        return True
    return task.lease_owner == owner


def answer_incoming(session: Session, attempt_id: int, nurse: StaffMember, *, now: datetime,
                    rules: CallRules) -> tuple[int | None, AgentCommand]:
    """The nurse answers: the task it is about is leased to her (when nobody else holds it); the agent's command.
    Returns the task id whose call screen to open (None: the page of a call without a task)."""
    attempt = ringing_attempt(session, attempt_id, nurse)
    task_id = attempt.task_id
    task = session.get(Task, task_id) if task_id is not None else None
    if task is not None and not _take_task(session, task, nurse, now=now, rules=rules):
        # another nurse is on it: the call is filed, the form is hers
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


def caller_gave_up(session: Session, nurse: StaffMember, call_ref: str, *, now: datetime) -> int | None:
    """The agent says a ringing call ended before it knew the call's attempt (the caller hung up while the call
    was being filed): that attempt ends as missed. Returns its id (None: no such ringing call)."""
    attempt = session.exec(
        select(CallAttempt).where(CallAttempt.user_id == nurse.id, CallAttempt.direction == "inbound",
                                  CallAttempt.sip_call_id == call_ref[:200], col(CallAttempt.answered_at).is_(None),
                                  col(CallAttempt.ended_at).is_(None))
    ).first()
    if attempt is None:
        return None
    attempt.ended_at = attempt.wrapped_up_at = now
    session.add(attempt)
    session.flush()
    logger.info("attempt=%s: incoming call missed (the caller hung up while it was being filed)", attempt.id)
    return attempt.id


def patient_language(session: Session, patient_id: int | None) -> str:
    patient = session.get(Patient, patient_id) if patient_id is not None else None
    return patient.language if patient is not None and patient.language else ""


# -- a call in without a task: who called, which task, how it went -------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A patient as the nurse sees her when choosing who called (identifiers masked)."""

    patient_id: int
    name: str
    sex: str
    age: int | None
    masked_national_id: str
    mrn: str
    number_owner: str  # whose phone the calling number is for this patient ("" : not one of her numbers)
    number_addable: bool  # the calling number can become one of her phones (a Chinese number she has not)


@dataclass(frozen=True)
class TaskOffer:
    task_id: int
    label: str  # plan name (or questionnaire) · reason
    status: str
    held_by_other: bool


@dataclass(frozen=True)
class InboundCall:
    """The page of a call in that has no task: who called (or who may have), the task on offer, how it went."""

    attempt_id: int
    call_ref: str
    masked_number: str
    number_can_be_added: bool  # a Chinese number (an anonymous or foreign caller's cannot be a patient's phone)
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wrapped_up_at: datetime | None
    outcome: str
    note: str
    caller: Caller | None  # None: not identified yet
    sharing: tuple[Caller, ...]  # the patients who have the calling number (none, or several)
    task: TaskOffer | None  # the caller's open task the call is probably about
    outcomes: tuple[OutcomeRule, ...]
    recording_id: int | None
    transcript: tuple[TranscriptSegment, ...]

    @property
    def live(self) -> bool:
        return self.ended_at is None


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _caller(patient: Patient, owners: dict[int, PhoneOwner], today: date, *, valid_number: bool) -> Caller:
    owner = owners.get(patient.id or 0)
    return Caller(patient.id or 0, patient.name, {"male": "男", "female": "女"}.get(str(patient.sex), "未知"),
                  _age(patient.birth_date, today), mask_national_id(patient.national_id), patient.mrn,
                  OWNER_LABELS.get(owner, str(owner)) if owner is not None else "", valid_number and owner is None)


def _phones_with(session: Session, number: str) -> list[PatientPhone]:
    """The live patients' phone rows with this number (a merged record keeps a copy of a shared number: not a
    second patient)."""
    return list(session.exec(
        select(PatientPhone).join(Patient, col(Patient.id) == col(PatientPhone.patient_id))
        .where(PatientPhone.number == number, col(Patient.merged_into_id).is_(None))
        .order_by(col(PatientPhone.patient_id), col(PatientPhone.rank))))


def _owners(session: Session, number: str) -> dict[int, PhoneOwner]:
    return {p.patient_id: p.owner for p in _phones_with(session, number)}


def her_call_without_task(session: Session, attempt_id: int, nurse: StaffMember) -> CallAttempt:
    """One of her calls in that has no task (only she says who called: she heard the caller)."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.user_id != nurse.id or attempt.direction != "inbound":
        raise NotFound(f"incoming call {attempt_id} is not a call to you")
    if attempt.task_id is not None:
        raise Conflict(f"incoming call {attempt_id} is a call of task {attempt.task_id}: open its call screen")
    return attempt


def no_task_outcomes(session: Session) -> tuple[OutcomeRule, ...]:
    """How a call in without a task may end: the caller was reached (a callback needs a task), or it was a wrong
    number."""
    rules = outcome_table(session).values()
    return tuple(sorted((r for r in rules if (r.contacted and r.code not in NO_TASK_OUTCOMES_EXCLUDED)
                         or r.code == "wrong_number"), key=lambda r: r.sort))


def inbound_call(session: Session, attempt_id: int, nurse: StaffMember, *, today: date) -> InboundCall:
    attempt = her_call_without_task(session, attempt_id, nurse)
    owners = _owners(session, attempt.number)
    valid = _valid_number(attempt.number)
    patient = session.get(Patient, attempt.patient_id) if attempt.patient_id is not None else None
    sharing = tuple(_caller(p, owners, today, valid_number=valid) for p in session.exec(
        select(Patient).where(col(Patient.id).in_(list(owners))).order_by(col(Patient.name), col(Patient.id))))
    task = likely_task(session, patient.id or 0) if patient is not None else None
    offer = None
    if task is not None:
        plan = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
        label = " · ".join(x for x in (plan.name if plan else task.questionnaire_key, task.reason) if x)
        held = task.status in (TaskStatus.leased, TaskStatus.in_call) and task.lease_owner != owner_of(nurse)
        offer = TaskOffer(task.id or 0, label, task.status.value, held)
    recording = session.exec(select(Recording.id).where(Recording.attempt_id == attempt_id)).first()
    transcript = tuple(session.exec(select(TranscriptSegment).where(TranscriptSegment.attempt_id == attempt_id)
                                    .order_by(col(TranscriptSegment.t0_s), col(TranscriptSegment.id))))
    labels = {r.code: r.label_zh for r in outcome_table(session).values()}
    return InboundCall(
        attempt_id, attempt.sip_call_id, mask_phone(attempt.number), valid,
        attempt.started_at, attempt.answered_at, attempt.ended_at, attempt.wrapped_up_at,
        labels.get(attempt.outcome_code or "", attempt.outcome_code or ""), attempt.note,
        _caller(patient, owners, today, valid_number=valid) if patient is not None else None,
        sharing if len(sharing) > 1 else (),
        offer, no_task_outcomes(session), recording, transcript)


def _valid_number(number: str) -> bool:
    try:
        return not normalize_phone(number).extension
    except InvalidPhone:
        return False


def caller_candidates(session: Session, attempt_id: int, nurse: StaffMember, term: str, *, today: date,
                      limit: int = 20) -> list[Caller]:
    """Patients matching what the caller says (name, national ID, medical record number, another phone)."""
    attempt = her_call_without_task(session, attempt_id, nurse)
    owners = _owners(session, attempt.number)
    valid = _valid_number(attempt.number)
    return [_caller(p, owners, today, valid_number=valid) for p in search_patients(session, term, limit=limit)]


@dataclass(frozen=True)
class Identified:
    patient_id: int
    phone_id: int | None  # the calling number among her phones (None: not hers, not added)
    phone_added: bool
    task_id: int | None  # her open task the call is probably about (offered to the nurse)


def identify_caller(session: Session, attempt_id: int, nurse: StaffMember, patient_id: int, *, now: datetime,
                    add_number_as: str = "", remote_addr: str = "") -> Identified:
    """The nurse says who called: the attempt (and with it its recording and transcript) is filed under that
    patient; with ``add_number_as`` (an owner: self, spouse, child…) the calling number becomes one of the
    patient's phones. She may correct an earlier choice. Audited: who filed which call under whom."""
    attempt = her_call_without_task(session, attempt_id, nurse)
    patient = session.get(Patient, patient_id)
    if patient is None or patient.merged_into_id is not None:
        raise PatientNotFound(f"patient {patient_id} does not exist (or was merged into another record)")
    previous = attempt.patient_id
    phone = session.exec(select(PatientPhone).where(PatientPhone.patient_id == patient_id,
                                                    PatientPhone.number == attempt.number)).first()
    added = False
    if phone is None and add_number_as:
        if not _valid_number(attempt.number):
            raise InvalidInput("来电号码不是有效的国内号码，无法加入患者的电话 (the calling number is not a Chinese "
                               "number that can be called back)")
        phone, added = add_phone(session, patient_id, attempt.number, owner=add_number_as)
    attempt.patient_id = patient_id
    attempt.phone_id = phone.id if phone is not None else None
    session.add(attempt)
    session.flush()
    audit.record(session, action=AuditAction.caller_identify, at=now, user_id=nurse.id, object_type="attempt",
                 object_id=attempt_id, remote_addr=remote_addr,
                 detail={"patient_id": patient_id, "previous_patient_id": previous,
                         "phone_id": attempt.phone_id, "phone_added": added,
                         "owner": str(phone.owner) if added and phone is not None else ""})
    logger.info("attempt=%s: caller identified by user=%s as patient=%s (was %s; phone added: %s)", attempt_id,
                nurse.id, patient_id, previous, added)
    task = likely_task(session, patient_id)
    return Identified(patient_id, attempt.phone_id, added, task.id if task is not None else None)


def take_task_for_call(session: Session, attempt_id: int, nurse: StaffMember, task_id: int, *, now: datetime,
                       rules: CallRules) -> int:
    """The call in is about this open task of the identified caller: the task is leased to her and the call
    becomes its attempt, so its call screen holds the call (the form, or the wrap-up once it ended)."""
    attempt = her_call_without_task(session, attempt_id, nurse)
    if attempt.wrapped_up_at is not None:
        raise CallWrappedUp(f"incoming call {attempt_id} was saved already")
    if attempt.patient_id is None:
        raise InvalidInput("先确认来电患者，再打开其随访任务 (say who called first)")
    task = session.get(Task, task_id)
    if task is None or task.patient_id != attempt.patient_id or task.status not in CALLED_ABOUT:
        raise NotFound(f"task {task_id} is not an open task of this caller")
    if not _take_task(session, task, nurse, now=now, rules=rules):
        raise TaskAlreadyLeased(f"task {task_id} is held by another nurse; the call stays without it")
    attempt.task_id = task.id
    session.add(attempt)
    session.flush()
    logger.info("attempt=%s: incoming call taken into task=%s by user=%s", attempt_id, task_id, nurse.id)
    return task_id


def wrap_up_call(session: Session, attempt_id: int, nurse: StaffMember, *, outcome_code: str, note: str = "",
                 now: datetime) -> CallAttempt:
    """Save how a call in without a task went (after it ended): its outcome and note."""
    attempt = her_call_without_task(session, attempt_id, nurse)
    if attempt.wrapped_up_at is not None:
        raise CallWrappedUp(f"incoming call {attempt_id} was saved already")
    if attempt.ended_at is None:
        raise CallStillUp("通话仍在进行：请先挂断再保存结果 (hang up first)")
    allowed = {r.code for r in no_task_outcomes(session)}
    if outcome_code not in allowed:
        raise InvalidInput(f"a call in without a task ends as one of {', '.join(sorted(allowed))}")
    rule = get_rule(session, outcome_code)
    if rule.note_required and not note.strip():
        raise InvalidInput(f"outcome {outcome_code} ({rule.label_zh}) needs a note saying what happened")
    attempt.outcome_code, attempt.wrapped_up_at = outcome_code, now
    attempt.note = note.strip()
    session.add(attempt)
    session.flush()
    logger.info("attempt=%s: incoming call saved as %s by user=%s", attempt_id, outcome_code, nurse.id)
    return attempt


def open_calls(session: Session, nurse: StaffMember) -> list[int]:
    """Her answered calls in without a task whose outcome she has not saved yet (the queue page links them)."""
    return [a for a in session.exec(
        select(CallAttempt.id).where(CallAttempt.user_id == nurse.id, CallAttempt.direction == "inbound",
                                     col(CallAttempt.task_id).is_(None), col(CallAttempt.answered_at).is_not(None),
                                     col(CallAttempt.wrapped_up_at).is_(None))
        .order_by(col(CallAttempt.started_at))) if a is not None]
