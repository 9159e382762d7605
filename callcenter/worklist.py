"""A nurse's worklist as the workspace shows it: her queue (``callcenter.queue.nurse_queue`` for her team and
the shared pool) with the patient, the plan, why the task is there, the number to try and the last attempt.
Identifiers are masked here; the full number is shown only when she acts. Also the call screen of a task she
holds and its wrap-up (the outcome, through ``callcenter.tasks.apply_outcome``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from callcenter import privacy, queue
from callcenter.call_form import close_form
from callcenter.call_rules import CallRules
from callcenter.errors import Conflict, InvalidInput
from callcenter.models import CallAttempt, FollowUpPlan, Outcome, Patient, PatientPhone, Task, TaskStatus
from callcenter.outcomes import OutcomeRule, outcome_table
from callcenter.tasks import CLOSED, RANK_CALLBACK, RANK_OVERDUE, apply_outcome, get_task, next_phone
from callcenter.users import StaffMember


class RowClass(enum.StrEnum):
    callback = "callback"
    overdue = "overdue"
    due = "due"


@dataclass(frozen=True)
class WorklistRow:
    task_id: int
    patient_id: int
    patient_name: str
    masked_phone: str
    plan: str
    point: str
    reason: str
    row_class: RowClass
    due_at: datetime
    callback_at: datetime | None
    attempts: int
    max_attempts: int
    last_attempt_at: datetime | None
    last_outcome: str


def _row_class(task: Task) -> RowClass:
    rank_class = task.queue_rank // 1000
    if rank_class == RANK_CALLBACK:
        return RowClass.callback
    if rank_class == RANK_OVERDUE:
        return RowClass.overdue
    return RowClass.due


def worklist(session: Session, nurse: StaffMember, *, limit: int = 50) -> list[WorklistRow]:
    """Callbacks first, then overdue, then priority, then due date (the queue's order)."""
    tasks = queue.nurse_queue(session, team_id=nurse.team_id, user_id=nurse.id, limit=limit)
    if nurse.team_id is not None:  # the shared pool is everyone's
        tasks += queue.nurse_queue(session, team_id=None, user_id=nurse.id, limit=limit)
        tasks.sort(key=lambda t: (t.queue_rank, t.due_at, t.id or 0))
        tasks = tasks[:limit]
    if not tasks:
        return []
    patient_ids = {t.patient_id for t in tasks}
    patients = {p.id: p for p in session.exec(select(Patient).where(col(Patient.id).in_(patient_ids)))}
    plans = {p.id: p for p in session.exec(
        select(FollowUpPlan).where(col(FollowUpPlan.id).in_({t.plan_id for t in tasks if t.plan_id})))}
    first_phone: dict[int, str] = {}
    for phone in session.exec(
        select(PatientPhone)
        .where(col(PatientPhone.patient_id).in_(patient_ids), col(PatientPhone.invalid).is_(False))
        .order_by(col(PatientPhone.rank), col(PatientPhone.id))
    ):
        first_phone.setdefault(phone.patient_id, phone.number)
    labels = dict(session.exec(select(Outcome.code, Outcome.label_zh)).all())
    last: dict[int, CallAttempt] = {}
    for attempt in session.exec(
        select(CallAttempt).where(col(CallAttempt.task_id).in_([t.id for t in tasks]))
        .order_by(col(CallAttempt.started_at))
    ):
        last[attempt.task_id or 0] = attempt
    rows = []
    for task in tasks:
        patient = patients.get(task.patient_id)
        plan = plans.get(task.plan_id)
        previous = last.get(task.id or 0)
        rows.append(WorklistRow(
            task_id=task.id or 0,
            patient_id=task.patient_id,
            patient_name=patient.name if patient else "",
            masked_phone=privacy.mask_phone(first_phone.get(task.patient_id, "")),
            plan=plan.name if plan else task.questionnaire_key,
            point=task.point,
            reason=task.reason,
            row_class=_row_class(task),
            due_at=task.due_at,
            callback_at=task.callback_at,
            attempts=task.attempts,
            max_attempts=task.max_attempts,
            last_attempt_at=previous.started_at if previous else None,
            last_outcome=labels.get(previous.outcome_code or "", previous.outcome_code or "") if previous else "",
        ))
    return rows


# --- the call screen and its wrap-up -------------------------------------------------------------------------------


class NotYourTask(Conflict):
    """The task is not leased to this nurse (taken by someone else, released or expired)."""


@dataclass(frozen=True)
class PhoneChoiceView:
    phone_id: int
    masked: str
    owner: str
    suggested: bool


@dataclass(frozen=True)
class CallScreen:
    task_id: int
    patient_id: int
    status: str
    held_by_me: bool
    plan: str
    point: str
    questionnaire_key: str
    lease_expires_at: datetime | None
    phones: tuple[PhoneChoiceView, ...]
    outcomes: tuple[OutcomeRule, ...]
    open_attempt_id: int | None  # her call on this task not wrapped up yet: a reload restores it


def owner_of(nurse: StaffMember) -> str:
    """The lease owner / actor string of a nurse (``callcenter.tasks`` convention)."""
    return f"user:{nurse.id}"


def _holds(task: Task, nurse: StaffMember, now: datetime) -> bool:
    return (task.status in (TaskStatus.leased, TaskStatus.in_call) and task.lease_owner == owner_of(nurse)
            and (task.lease_expires_at is None or task.lease_expires_at >= now))


def _open_attempt(session: Session, task_id: int, nurse: StaffMember) -> int | None:
    return session.exec(
        select(CallAttempt.id).where(CallAttempt.task_id == task_id, CallAttempt.user_id == nurse.id,
                                     col(CallAttempt.wrapped_up_at).is_(None))
        .order_by(col(CallAttempt.started_at).desc())
    ).first()


def call_screen(session: Session, task_id: int, nurse: StaffMember, *, now: datetime, rules: CallRules) -> CallScreen:
    task = get_task(session, task_id)
    plan = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
    held = _holds(task, nurse, now)
    suggested = next_phone(session, task_id, now=now, rules=rules).phone_id if held else None
    phones = tuple(
        PhoneChoiceView(p.id or 0, privacy.mask_phone(p.number), str(p.owner), p.id == suggested)
        for p in session.exec(
            select(PatientPhone).where(PatientPhone.patient_id == task.patient_id, col(PatientPhone.invalid).is_(False))
            .order_by(col(PatientPhone.rank), col(PatientPhone.id))
        )
    )
    table = sorted(outcome_table(session).values(), key=lambda o: o.sort)
    open_attempt = _open_attempt(session, task_id, nurse) if held else None
    return CallScreen(task.id or 0, task.patient_id, str(task.status), held, plan.name if plan else "",
                      task.point, task.questionnaire_key, task.lease_expires_at, phones, tuple(table), open_attempt)


def claim_next_for(session: Session, nurse: StaffMember, *, now: datetime, rules: CallRules) -> queue.Claim | None:
    """Auto-advance: lease the first task of her queue that may be called now (her team, then the pool)."""
    teams: list[int | None] = [nurse.team_id] + ([None] if nurse.team_id is not None else [])
    for team_id in teams:
        claim = queue.claim_next(session, owner=owner_of(nurse), now=now, rules=rules, team_id=team_id,
                                 user_id=nurse.id)
        if claim is not None:
            return claim
    return None


def require_holder(session: Session, task_id: int, nurse: StaffMember, *, now: datetime) -> Task:
    """The task, locked, if ``nurse`` holds its lease; else ``NotYourTask``."""
    task = get_task(session, task_id, lock=True)
    if not _holds(task, nurse, now):
        raise NotYourTask(f"task {task_id} is not yours any more (lease lost or taken); reopen it from the queue")
    return task


def wrap_up(session: Session, task_id: int, nurse: StaffMember, *, outcome_code: str, now: datetime,
            rules: CallRules, phone_id: int | None = None, note: str = "",
            callback_at: datetime | None = None) -> Task:
    """The nurse closes her call: the outcome is applied to the task she holds (``tasks.apply_outcome``), on
    her open attempt when the call was dialled (else an attempt is recorded for ``phone_id``). A requested
    callback stays bound to her."""
    require_holder(session, task_id, nurse, now=now)
    if outcome_code == "callback_requested" and callback_at is None:
        raise InvalidInput("a callback needs the time the patient chose (回访时间)")
    task = apply_outcome(session, task_id, outcome_code, actor=owner_of(nurse), now=now, rules=rules,
                         phone_id=phone_id, attempt_id=_open_attempt(session, task_id, nurse), note=note,
                         callback_at=callback_at,
                         callback_assignee_id=nurse.id if outcome_code == "callback_requested" else None)
    close_form(session, task_id, completed=outcome_code == "completed", task_closed=task.status in CLOSED, now=now)
    return task
