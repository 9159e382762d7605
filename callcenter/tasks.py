"""Task use cases: state changes (each one a ``TaskEvent``), applying an attempt's outcome, stop rules,
callbacks and revisit appointments. Functions take a Session inside the caller's transaction.

The web layer and the robot caller call ``apply_outcome`` when an attempt ends; ``next_phone`` tells them
which number to dial. Queue reads and claims are in ``callcenter.queue``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from callcenter.calendar import preferred_window
from callcenter.call_rules import CallRules
from callcenter.dialing import (
    WINDOW_24H,
    Action,
    PastAttempt,
    PhoneChoice,
    PhoneOption,
    StopScope,
    choose_phone,
    decide,
)
from callcenter.errors import Conflict, InvalidInput, OutsideCallWindow, TaskNotFound
from callcenter.models import (
    Appointment,
    CallAttempt,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Task,
    TaskEvent,
    TaskStatus,
)
from callcenter.outcomes import get_rule

logger = logging.getLogger(__name__)

OPEN = (TaskStatus.planned, TaskStatus.due, TaskStatus.leased, TaskStatus.in_call, TaskStatus.callback)
CLOSED = (TaskStatus.completed, TaskStatus.unreachable, TaskStatus.cancelled)
RANK_CALLBACK, RANK_OVERDUE, RANK_DUE = 0, 1, 2

ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.planned: frozenset({TaskStatus.due, TaskStatus.cancelled}),
    TaskStatus.due: frozenset({TaskStatus.due, TaskStatus.leased, TaskStatus.planned, TaskStatus.callback,
                               TaskStatus.cancelled}),
    TaskStatus.leased: frozenset({TaskStatus.in_call, TaskStatus.due, TaskStatus.planned, TaskStatus.callback,
                                  TaskStatus.completed, TaskStatus.unreachable, TaskStatus.cancelled}),
    TaskStatus.in_call: frozenset({TaskStatus.leased, TaskStatus.due, TaskStatus.planned, TaskStatus.callback,
                                   TaskStatus.completed, TaskStatus.unreachable, TaskStatus.cancelled}),
    TaskStatus.callback: frozenset({TaskStatus.due, TaskStatus.cancelled}),
}


class TaskClosed(Conflict):
    """The task is already completed, unreachable or cancelled."""


class InvalidTransition(Conflict):
    pass


class TaskHeldByOther(Conflict):
    """Another nurse or robot holds the task's lease."""


def queue_rank(task: Task, now: datetime) -> int:
    """Queue order: callbacks first, then overdue, then by priority (higher first); ties by due date."""
    if task.callback_at is not None:
        cls = RANK_CALLBACK
    elif task.window_end_at is not None and task.window_end_at < now:
        cls = RANK_OVERDUE
    else:
        cls = RANK_DUE
    return cls * 1000 + (999 - max(0, min(999, task.priority)))


def get_task(session: Session, task_id: int, *, lock: bool = False) -> Task:
    query = select(Task).where(Task.id == task_id)
    if lock:
        query = query.with_for_update()
    task = session.exec(query).first()
    if task is None:
        raise TaskNotFound(f"task {task_id} does not exist; refresh the queue")
    return task


def transition(session: Session, task: Task, to: TaskStatus, *, actor: str, now: datetime, reason: str = "") -> None:
    """Change the task's status and record who, when, from -> to and why."""
    before = TaskStatus(task.status)
    if before in CLOSED:
        raise TaskClosed(f"task {task.id} is already {before.value}; nothing more can be done with it")
    if to not in ALLOWED[before]:
        raise InvalidTransition(f"task {task.id} cannot go from {before.value} to {to.value}")
    task.status = to
    if to in CLOSED:
        task.closed_at = now
        task.lease_owner, task.lease_expires_at = "", None
    task.queue_rank = queue_rank(task, now)
    task.reason = reason[:200]
    session.add(task)
    session.add(TaskEvent(task_id=task.id or 0, at=now, actor=actor, from_status=before.value, to_status=to.value,
                          reason=reason[:200]))
    logger.debug("task=%s %s -> %s by %s (%s)", task.id, before.value, to.value, actor, reason)


def record_events(session: Session, rows: Iterable[tuple[int, str, str]], *, actor: str, now: datetime,
                  reason: str) -> None:
    """Bulk form of the event trail: (task id, from, to) rows."""
    session.add_all(TaskEvent(task_id=i, at=now, actor=actor, from_status=f, to_status=t, reason=reason)
                    for i, f, t in rows)


# --- phones and history -------------------------------------------------------------------------------------------


def phone_options(session: Session, patient_id: int) -> list[PhoneOption]:
    rows = session.exec(select(PatientPhone).where(PatientPhone.patient_id == patient_id)).all()
    return [PhoneOption(p.id or 0, p.rank, p.invalid) for p in rows]


def recent_attempts(session: Session, patient_id: int, now: datetime) -> list[CallAttempt]:
    since = now - WINDOW_24H
    query = select(CallAttempt).where(CallAttempt.patient_id == patient_id, col(CallAttempt.started_at) > since,
                                      CallAttempt.direction == "outbound")  # the patient calling us is no cap
    return list(session.exec(query.order_by(col(CallAttempt.started_at))).all())


def next_phone(session: Session, task_id: int, *, now: datetime, rules: CallRules) -> PhoneChoice:
    """The number to dial for this task now: rank order, skipping invalid and capped numbers, and after the
    number of the last attempt when its outcome said "try the next number"."""
    return phone_for_task(session, get_task(session, task_id), now=now, rules=rules)


def phone_for_task(session: Session, task: Task, *, now: datetime, rules: CallRules) -> PhoneChoice:
    history = recent_attempts(session, task.patient_id, now)
    after = None
    last = session.exec(select(CallAttempt).where(CallAttempt.task_id == task.id)
                        .order_by(col(CallAttempt.started_at).desc()).limit(1)).first()
    if last is not None and last.outcome_code:
        if get_rule(session, last.outcome_code).try_next_number:
            after = last.phone_id
    return choose_phone(phone_options(session, task.patient_id),
                        [PastAttempt(a.phone_id, a.started_at) for a in history],
                        now=now, max_per_24h=rules.max_calls_per_number_24h, after_phone_id=after)


# --- stop rules ------------------------------------------------------------------------------------------------------


def cancel_open(session: Session, tasks: Iterable[Task], *, actor: str, now: datetime, reason: str) -> list[int]:
    done = []
    for t in tasks:
        if t.status in CLOSED:
            continue
        transition(session, t, TaskStatus.cancelled, actor=actor, now=now, reason=reason)
        done.append(t.id or 0)
    return done


def apply_stop(session: Session, task: Task, scope: StopScope, *, actor: str, now: datetime, why: str) -> list[int]:
    """Cancel the tasks a stop rule covers (never ``task`` itself). Returns the cancelled ids."""
    if scope is StopScope.none:
        return []
    query = select(Task).where(Task.patient_id == task.patient_id, col(Task.status).in_(OPEN), Task.id != task.id)
    if scope is StopScope.point:
        query = query.where(Task.anchor_encounter_id == task.anchor_encounter_id, Task.point == task.point)
    elif scope is StopScope.plan:
        query = query.where(Task.plan_id == task.plan_id)
    cancelled = cancel_open(session, session.exec(query).all(), actor=actor, now=now, reason=f"stopped: {why}")
    if cancelled:
        logger.info("task=%s stop rule %s (%s) cancelled %s tasks", task.id, why, scope.value, len(cancelled))
    return cancelled


def plan_stop_scopes(plan: FollowUpPlan | None) -> dict[str, StopScope]:
    scopes = {"completed": StopScope.point, "refused": StopScope.plan, "deceased": StopScope.patient}
    for key, value in ((plan.stop_rules if plan else None) or {}).items():
        if key in scopes:
            scopes[key] = StopScope(value) if value in StopScope.__members__ else StopScope.none
    return scopes


# --- the outcome of an attempt ---------------------------------------------------------------------------------------


def _actor_ids(actor: str) -> tuple[int | None, str]:
    kind, _, ident = actor.partition(":")
    if kind == "user" and ident.isdigit():
        return int(ident), ""
    return None, ident if kind == "robot" else ""


def apply_outcome(
    session: Session,
    task_id: int,
    outcome_code: str,
    *,
    actor: str,
    now: datetime,
    rules: CallRules,
    phone_id: int | None = None,
    attempt_id: int | None = None,
    callback_at: datetime | None = None,
    callback_assignee_id: int | None = None,
    note: str = "",
) -> Task:
    """Apply how an attempt ended to its task: close it, schedule the retry within the call windows and the
    calendar, move to the next number, book the callback, mark the patient deceased, run the stop rules.

    ``attempt_id`` names the CallAttempt already recorded for the dialing (its outcome is set here); without it
    an attempt row is recorded now for ``phone_id``. ``actor`` is "user:ID", "robot:NAME" or "scheduler"."""
    task = get_task(session, task_id, lock=True)
    if task.status in CLOSED:
        raise TaskClosed(f"task {task_id} is already {task.status}; record a new follow-up instead")
    if task.status in (TaskStatus.leased, TaskStatus.in_call) and task.lease_owner and task.lease_owner != actor:
        raise TaskHeldByOther(f"task {task_id} is leased to {task.lease_owner}; only the holder records its outcome")
    rule = get_rule(session, outcome_code)
    if rule.note_required and not note.strip():
        raise InvalidInput(f"outcome {outcome_code} ({rule.label_zh}) needs a note saying what happened")
    plan = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
    patient = session.get(Patient, task.patient_id)
    policy = rules.policy(plan.call_windows if plan else "")
    if outcome_code == "callback_requested" and callback_at is not None and not policy.is_allowed(callback_at):
        raise OutsideCallWindow(f"the centre does not call at {callback_at.astimezone(policy.zone):%Y-%m-%d %H:%M}; "
                                f"next allowed time is {policy.next_allowed(callback_at).astimezone(policy.zone):%Y-%m-%d %H:%M}")
    user_id, robot = _actor_ids(actor)
    attempt = session.get(CallAttempt, attempt_id) if attempt_id is not None else None
    if attempt is None:
        number = ""
        if phone_id is not None:
            phone_row = session.get(PatientPhone, phone_id)
            if phone_row is None or phone_row.patient_id != task.patient_id:
                raise InvalidInput(f"phone {phone_id} is not a number of this task's patient")
            number = phone_row.number
        attempt = CallAttempt(task_id=task.id, patient_id=task.patient_id, phone_id=phone_id, number=number,
                              user_id=user_id, robot=robot, started_at=now, ended_at=now)
    phone_id = attempt.phone_id
    attempt.outcome_code, attempt.wrapped_up_at = outcome_code, now
    if note:
        attempt.note = note
    session.add(attempt)
    session.flush()
    task.attempts += 1
    history = [PastAttempt(a.phone_id, a.started_at) for a in recent_attempts(session, task.patient_id, now)]
    scopes = plan_stop_scopes(plan)
    decision = decide(
        code=rule.code, final=rule.final, contacted=rule.contacted, final_for_number=rule.final_for_number,
        try_next_number=rule.try_next_number, retry_delay_min=rule.retry_delay_min, attempts=task.attempts,
        max_attempts=task.max_attempts, now=now, phone_id=phone_id,
        phones=phone_options(session, task.patient_id), history=history,
        max_per_24h=rules.max_calls_per_number_24h, callback_at=callback_at, stop_rules=scopes,
    )
    if decision.invalidate_phone and phone_id is not None:
        phone = session.get(PatientPhone, phone_id)
        if phone is not None:
            phone.invalid = True
            session.add(phone)
    why = f"outcome {outcome_code}"
    task.lease_owner, task.lease_expires_at = "", None
    if decision.action in (Action.complete, Action.close):
        task.final_outcome = outcome_code
        to = TaskStatus.completed if decision.action is Action.complete else TaskStatus.cancelled
        transition(session, task, to, actor=actor, now=now, reason=why)
        if outcome_code == "deceased" and patient is not None:
            patient.deceased, patient.updated_at = True, now
            patient.deceased_on = patient.deceased_on or now.astimezone(policy.zone).date()
            session.add(patient)
        apply_stop(session, task, decision.stop, actor=actor, now=now, why=outcome_code)
    elif decision.action is Action.unreachable:
        task.final_outcome = outcome_code
        transition(session, task, TaskStatus.unreachable, actor=actor, now=now, reason=f"{why}: {decision.reason}")
    elif decision.action is Action.callback:
        task.callback_at = task.next_attempt_at = callback_at
        task.assignee_id = callback_assignee_id
        transition(session, task, TaskStatus.callback, actor=actor, now=now, reason=why)
    else:
        assert decision.retry_at is not None
        preferred = preferred_window(patient.preferred_call_start, patient.preferred_call_end) if patient else None
        task.next_attempt_at = policy.next_allowed(decision.retry_at, preferred)
        task.callback_at, task.assignee_id = None, None
        transition(session, task, TaskStatus.planned, actor=actor, now=now,
                   reason=f"{why}: retry at {task.next_attempt_at.isoformat()}")
    session.flush()
    logger.info("task=%s attempt=%s outcome=%s -> %s", task.id, attempt.id, outcome_code, task.status)
    return task


# --- callbacks and appointments ----------------------------------------------------------------------------------


def overdue_callbacks_to_pool(session: Session, *, now: datetime, rules: CallRules, actor: str = "scheduler") -> int:
    """Callbacks bound to a nurse that nobody took within the grace time go to the team's pool."""
    limit = now - timedelta(minutes=rules.callback_grace_min)
    query = select(Task).where(col(Task.status).in_((TaskStatus.due, TaskStatus.callback)),
                               col(Task.assignee_id).is_not(None), col(Task.callback_at) < limit)
    n = 0
    for task in session.exec(query).all():
        task.assignee_id = None
        session.add(task)
        session.add(TaskEvent(task_id=task.id or 0, at=now, actor=actor, from_status=task.status, to_status=task.status,
                              reason="callback overdue: returned to the pool"))
        n += 1
    return n


def book_appointment(session: Session, *, patient_id: int, scheduled_for: datetime, now: datetime,
                     task_id: int | None = None, department: str = "", place: str = "") -> Appointment:
    """Book a revisit (复诊) during a follow-up."""
    if scheduled_for <= now:
        raise InvalidInput("a revisit appointment must be in the future; pick a later date")
    if session.get(Patient, patient_id) is None:
        raise InvalidInput(f"patient {patient_id} does not exist")
    appt = Appointment(patient_id=patient_id, task_id=task_id, department=department, place=place,
                       scheduled_for=scheduled_for, created_at=now)
    session.add(appt)
    session.flush()
    return appt


def upcoming_appointments(session: Session, patient_id: int, *, now: datetime) -> list[Appointment]:
    query = select(Appointment).where(Appointment.patient_id == patient_id, col(Appointment.scheduled_for) >= now,
                                      col(Appointment.status).in_(("booked", "confirmed")))
    return list(session.exec(query.order_by(col(Appointment.scheduled_for))).all())


def task_events(session: Session, task_id: int) -> list[TaskEvent]:
    return list(session.exec(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(col(TaskEvent.id))).all())
