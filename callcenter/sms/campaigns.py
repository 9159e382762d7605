"""What goes into the SMS outbox: the monthly chronic-disease messages, appointment reminders, pre-call notices.

Each function is idempotent through the message's ``dedupe_key`` (running a job twice queues nothing new) and
works inside the caller's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.errors import InvalidInput, NotFound
from callcenter.models import (
    Appointment,
    Channel,
    FollowUpPlan,
    GroupMembership,
    PatientGroup,
    Task,
    TaskStatus,
)
from callcenter.models.sms import SmsMessage, SmsStatus
from callcenter.sms import service
from callcenter.sms.templates import TEMPLATES
from callcenter.tasks import transition

logger = logging.getLogger(__name__)

# chronic-disease group key -> its monthly template (other groups use the general one with the group's name)
MONTHLY_TEMPLATES = {
    "hypertension": "chronic_hypertension_monthly",
    "diabetes": "chronic_diabetes_monthly",
}


@dataclass(frozen=True)
class QueueReport:
    queued: int = 0
    blocked: int = 0
    already: int = 0  # queued by an earlier run


def _count(report: dict[str, int], message: SmsMessage, created_before: datetime) -> None:
    if message.created_at < created_before:
        report["already"] += 1
    elif message.status is SmsStatus.blocked:
        report["blocked"] += 1
    else:
        report["queued"] += 1


def monthly_template(group_key: str) -> str:
    return MONTHLY_TEMPLATES.get(group_key, "chronic_general_monthly")


def queue_chronic_monthly(session: Session, *, group_key: str, month: date, hospital_name: str, clock: Clock,
                          template_key: str | None = None) -> QueueReport:
    """One message per member of a chronic-disease group for ``month`` (at most one per patient and month)."""
    group = session.exec(select(PatientGroup).where(PatientGroup.key == group_key)).first()
    if group is None:
        raise NotFound(f"patient group {group_key!r} does not exist; see `callcenter groups list`")
    key = template_key or monthly_template(group_key)
    members = session.exec(
        select(GroupMembership.patient_id).where(GroupMembership.group_id == group.id)
        .order_by(col(GroupMembership.patient_id))
    ).all()
    report = {"queued": 0, "blocked": 0, "already": 0}
    started = clock.now()
    for patient_id in members:
        message = service.enqueue(
            session, patient_id=patient_id, template_key=key, variables={"group_name": group.name},
            hospital_name=hospital_name, clock=clock, dedupe_key=f"chronic:{group_key}:{month:%Y-%m}:{patient_id}",
        )
        _count(report, message, started)
    logger.info("monthly sms group=%s month=%s %s", group_key, f"{month:%Y-%m}", report)
    return QueueReport(**report)


def reminder_variables(appointment: Appointment, tz: ZoneInfo) -> dict[str, str]:
    local = appointment.scheduled_for.astimezone(tz)
    return {
        "date": f"{local.month}月{local.day}日",
        "time": f"{local:%H:%M}",
        "department": appointment.department or "门诊",
        "place": appointment.place or "门诊大厅咨询台",
    }


def queue_appointment_reminders(session: Session, *, days_ahead: int, tz: ZoneInfo, hospital_name: str,
                                clock: Clock) -> QueueReport:
    """A reminder for every booked or confirmed revisit on the local day ``days_ahead`` days from today."""
    if days_ahead < 0:
        raise InvalidInput("days_ahead must be 0 (today) or more")
    today = clock.now().astimezone(tz).date()
    day = today + timedelta(days=days_ahead)
    start = datetime.combine(day, time(0), tzinfo=tz)
    appointments = session.exec(
        select(Appointment)
        .where(col(Appointment.scheduled_for) >= start, col(Appointment.scheduled_for) < start + timedelta(days=1),
               col(Appointment.status).in_(("booked", "confirmed")))
        .order_by(col(Appointment.scheduled_for), col(Appointment.id))
    ).all()
    report = {"queued": 0, "blocked": 0, "already": 0}
    started = clock.now()
    for appointment in appointments:
        message = service.enqueue(
            session, patient_id=appointment.patient_id, template_key="appointment_reminder",
            variables=reminder_variables(appointment, tz), hospital_name=hospital_name, clock=clock,
            task_id=appointment.task_id, dedupe_key=f"appt:{appointment.id}:d-{days_ahead}",
        )
        _count(report, message, started)
    logger.info("appointment reminders for %s: %s", day, report)
    return QueueReport(**report)


def queue_pre_call_notice(session: Session, *, task_id: int, hospital_name: str, clock: Clock,
                          send_at: datetime | None = None) -> SmsMessage:
    """Tell the patient the hospital will call (caller trust: unknown numbers are often not answered)."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return service.enqueue(
        session, patient_id=task.patient_id, template_key="pre_call_notice", variables={},
        hospital_name=hospital_name, clock=clock, task_id=task_id, dedupe_key=f"precall:{task_id}",
        send_at=send_at,
    )


def template_for_plan(plan: FollowUpPlan | None) -> tuple[str, dict[str, str]]:
    """The template of an SMS-channel plan: its ``questionnaire`` names a template (e.g.
    ``chronic_diabetes_monthly``), else the general monthly message with the plan's name."""
    if plan is not None and plan.questionnaire_key in TEMPLATES:
        return plan.questionnaire_key, {"group_name": plan.name}
    return "chronic_general_monthly", {"group_name": plan.name if plan else "慢病管理"}


def queue_sms_tasks(session: Session, *, hospital_name: str, tz: ZoneInfo, clock: Clock,
                    limit: int = 1000) -> QueueReport:
    """Due tasks of SMS-channel plans become outbox messages; the task is then done (actor ``sms``).

    A task whose revisit is booked gets the appointment reminder instead of the plan's message."""
    now = clock.now()
    tasks = session.exec(
        select(Task).where(Task.status == TaskStatus.due, Task.channel == Channel.sms)
        .order_by(col(Task.due_at), col(Task.id)).limit(limit)
    ).all()
    report = {"queued": 0, "blocked": 0, "already": 0}
    for task in tasks:
        plan = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
        key, variables = template_for_plan(plan)
        appointment = session.exec(select(Appointment).where(Appointment.task_id == task.id)).first()
        if appointment is not None and appointment.scheduled_for > now:
            key, variables = "appointment_reminder", reminder_variables(appointment, tz)
        message = service.enqueue(session, patient_id=task.patient_id, template_key=key, variables=variables,
                                  hospital_name=hospital_name, clock=clock, task_id=task.id,
                                  dedupe_key=f"task:{task.id}")
        _count(report, message, now)
        task.final_outcome = "sms_blocked" if message.status is SmsStatus.blocked else "sms_queued"
        transition(session, task, TaskStatus.leased, actor="sms", now=now, reason="sms")
        transition(session, task, TaskStatus.completed, actor="sms", now=now,
                   reason=f"sms {message.id} {message.status}")
    return QueueReport(**report)
