"""What a finished robot reminder call changes in the database (one transaction, the caller's session).

- the answers become a Response of the recall-reminder script, each Answer with provenance ``dtmf`` or ``asr``;
- the script's alert rules are evaluated on those answers (``alerts.raise_alerts``, as in a nurse's call): the
  ``Alert`` rows are returned in the record, for the doctors' inbox to be told once the transaction commits;
- the revisit appointment is marked confirmed / rescheduled / declined;
- the task gets the outcome through ``tasks.apply_outcome`` (retries, next number, stop rules of the plan);
- reschedule, "talk to a nurse", a transfer and unanswered questions hand the task to the nurses: its channel
  becomes ``nurse_call`` and it waits as a callback (with the patient's preference in the note);
- a robot task that ends unreachable escalates along the plan's channels (robot → SMS → nurse).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from callcenter import questionnaires
from callcenter.alerts import RaisedAlertRow, raise_alerts
from callcenter.call_rules import CallRules
from callcenter.clock import FrozenClock
from callcenter.errors import NotFound
from callcenter.models import (
    Answer,
    AnswerSource,
    Appointment,
    Channel,
    FollowUpPlan,
    Patient,
    Questionnaire,
    QuestionnaireStatus,
    Response,
    Task,
    TaskStatus,
)
from callcenter.robocall import CallResult, FollowUp, RecordedAnswer
from callcenter.sms import campaigns as sms_campaigns
from callcenter.sms import service as sms_service
from callcenter.tasks import apply_outcome, upcoming_appointments
from scripts_questionnaires import Engine, ScriptError
from scripts_questionnaires.runstate import AnswerSource as RunSource
from scripts_questionnaires.runstate import Provenance, RunState

logger = logging.getLogger(__name__)

RECALL_SCRIPT_KEY = "recall-reminder"
NURSE_CALLBACK_DELAY = timedelta(minutes=30)  # a nurse calls back after this, inside the call windows
DEFAULT_ESCALATION: tuple[Channel, ...] = (Channel.robot_call, Channel.sms, Channel.nurse_call)
_APPOINTMENT_STATUS = {"confirm": "confirmed", "reschedule": "rescheduled", "decline": "declined"}
_HAND_TO_NURSE = (FollowUp.reschedule, FollowUp.nurse_callback, FollowUp.transfer)


@dataclass(frozen=True)
class RobotCallRecord:
    task_status: TaskStatus
    response_id: int | None
    appointment_id: int | None
    escalated_to: Channel | None = None
    alerts: tuple[RaisedAlertRow, ...] = ()  # raised by the answers (rows written; announce after the commit)


def recall_questionnaire(session: Session, key: str = RECALL_SCRIPT_KEY) -> Questionnaire:
    row = session.exec(
        select(Questionnaire).where(Questionnaire.key == key, Questionnaire.status == QuestionnaireStatus.published)
        .order_by(col(Questionnaire.version).desc())
    ).first()
    if row is None:
        raise NotFound(f"the questionnaire {key!r} is not published; publish the recall-reminder script "
                       "before starting robot reminder calls")
    return row


def reminder_appointment(session: Session, task: Task, now: datetime) -> Appointment | None:
    """The revisit the call is about: the task's own appointment, else the patient's next one."""
    own = session.exec(select(Appointment).where(Appointment.task_id == task.id)
                       .order_by(col(Appointment.scheduled_for))).first()
    if own is not None:
        return own
    upcoming = upcoming_appointments(session, task.patient_id, now=now)
    return upcoming[0] if upcoming else None


def store_answers(session: Session, result: CallResult, *, task: Task, questionnaire: Questionnaire,
                  attempt_id: int | None, now: datetime) -> Response | None:
    """The call's answers as a Response; a later answer to the same item supersedes the earlier one."""
    if not result.answers:
        return None
    response = Response(
        questionnaire_id=questionnaire.id or 0, patient_id=task.patient_id, task_id=task.id, attempt_id=attempt_id,
        status="completed" if result.decision in ("confirm", "reschedule", "decline") else "partial",
        run_state={"channel": "robot_call", "outcome": result.outcome, "follow_up": str(result.follow_up)},
        started_at=now, finished_at=now,
    )
    session.add(response)
    session.flush()
    latest: dict[str, Answer] = {}
    for recorded in result.answers:
        answer = Answer(
            response_id=response.id or 0, item_id=recorded.item_id, value=recorded.value, text=recorded.text,
            source=AnswerSource(recorded.source), confidence=recorded.confidence, audio_t0_s=recorded.t0_s,
            audio_t1_s=recorded.t1_s, confirmed_at=now,
        )
        if recorded.item_id in latest:
            latest[recorded.item_id].superseded = True
        latest[recorded.item_id] = answer
        session.add(answer)
    session.flush()
    return response


def _run_state(engine: Engine, answers: Sequence[RecordedAnswer], by: str) -> RunState:
    """The robot's answers replayed on the engine in the order given (a later answer to an item amends it);
    an answer the script does not accept (value or branching) is left out of the evaluation, with a warning."""
    state = engine.start()
    for recorded in answers:
        provenance = Provenance(RunSource(recorded.source), recorded.confidence, recorded.t0_s, recorded.t1_s,
                                recorded.text, by)
        try:
            state = engine.amend(state, recorded.item_id, recorded.value, provenance)
        except ScriptError as exc:
            logger.warning("robot answer to item=%s not evaluated for alerts: %s", recorded.item_id,
                           type(exc).__name__)
    return state


def raise_robot_alerts(session: Session, result: CallResult, response: Response, questionnaire: Questionnaire,
                       *, by: str, now: datetime) -> tuple[RaisedAlertRow, ...]:
    """The script's alert rules on the call's answers (e.g. ``declined_revisit``), as ``Alert`` rows."""
    if not questionnaire.compiled:  # only a row not published by questionnaires.publish; the call is still recorded
        logger.warning("questionnaire=%s has no compiled script: robot call alerts not evaluated", questionnaire.id)
        return ()
    engine = Engine(questionnaires.script_of(questionnaire))
    state = _run_state(engine, result.answers, by)
    if not state.entries:
        return ()
    return raise_alerts(session, engine, state, response, item_id=state.entries[-1].item_id, now=now)


def record_robot_call(
    session: Session,
    task_id: int,
    result: CallResult,
    *,
    robot: str,
    now: datetime,
    rules: CallRules,
    hospital_name: str,
    attempt_id: int | None = None,
    phone_id: int | None = None,
    escalation: Sequence[Channel] | None = None,
) -> RobotCallRecord:
    """Apply one finished robot call (``robot`` is the worker's name, e.g. ``w1``). ``escalation``: the order of
    channels after an unreachable robot task; None: the task's plan's ``escalation``, else the default."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if escalation is None:
        plan_row = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
        escalation = tuple(Channel(c) for c in plan_row.escalation) if plan_row and plan_row.escalation \
            else DEFAULT_ESCALATION
    actor = f"robot:{robot}"
    response = None
    raised: tuple[RaisedAlertRow, ...] = ()
    if result.answers:
        questionnaire = recall_questionnaire(session)
        response = store_answers(session, result, task=task, questionnaire=questionnaire, attempt_id=attempt_id,
                                 now=now)
        if response is not None:
            raised = raise_robot_alerts(session, result, response, questionnaire, by=actor, now=now)
    appointment = reminder_appointment(session, task, now)
    decision = result.decision
    if appointment is not None and decision in _APPOINTMENT_STATUS:
        appointment.status = _APPOINTMENT_STATUS[decision]
        session.add(appointment)
    note = result.note + (f"；希望时间：{result.preference}" if result.preference else "")
    if result.follow_up in _HAND_TO_NURSE:
        plan = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
        callback_at = rules.policy(plan.call_windows if plan else "").next_allowed(now + NURSE_CALLBACK_DELAY)
        task.channel = Channel.nurse_call
        session.add(task)
        task = apply_outcome(session, task_id, "callback_requested", actor=actor, now=now, rules=rules,
                             attempt_id=attempt_id, phone_id=phone_id, callback_at=callback_at, note=note)
    else:
        task = apply_outcome(session, task_id, result.outcome, actor=actor, now=now, rules=rules,
                             attempt_id=attempt_id, phone_id=phone_id, note=note)
    escalated = None
    if task.status is TaskStatus.unreachable:
        escalated = escalate(session, task, escalation, now=now, rules=rules, hospital_name=hospital_name,
                             appointment=appointment)
    logger.info("task=%s robot call %s -> %s (%s)", task_id, result.outcome, task.status, result.follow_up)
    return RobotCallRecord(task.status, response.id if response else None,
                           appointment.id if appointment else None, escalated, raised)


def next_channel(escalation: Sequence[Channel], current: Channel) -> Channel | None:
    """The channel after ``current`` in a plan's escalation order, or None at its end."""
    steps = list(escalation)
    if current not in steps:
        return None
    index = steps.index(current)
    return steps[index + 1] if index + 1 < len(steps) else None


def escalate(session: Session, task: Task, escalation: Sequence[Channel], *, now: datetime, rules: CallRules,
             hospital_name: str, appointment: Appointment | None = None) -> Channel | None:
    """A robot task ended unreachable: send the reminder by SMS and/or give it to a nurse, per ``escalation``.

    SMS and nurse follow each other in one go: the message goes out and a nurse task is opened as well when the
    plan lists both; the SMS is skipped (blocked row) without consent."""
    step = next_channel(escalation, task.channel)
    first = step
    clock = FrozenClock(now)
    while step is not None:
        if step is Channel.sms:
            if appointment is not None:
                variables = sms_campaigns.reminder_variables(appointment, ZoneInfo(rules.timezone))
                sms_service.enqueue(session, patient_id=task.patient_id, template_key="robot_call_missed",
                                    variables={k: variables[k] for k in ("date", "department")},
                                    hospital_name=hospital_name, clock=clock, task_id=task.id,
                                    dedupe_key=f"escalate:{task.id}:sms")
            else:
                sms_campaigns.queue_pre_call_notice(session, task_id=task.id or 0, hospital_name=hospital_name,
                                                    clock=clock)
        elif step is Channel.nurse_call:
            _open_nurse_task(session, task, now)
            break
        step = next_channel(escalation, step)
    return first


def _open_nurse_task(session: Session, task: Task, now: datetime) -> Task:
    patient = session.get(Patient, task.patient_id)
    if patient is None or patient.deceased or patient.do_not_call:
        return task
    point = f"{task.point}:nurse"[:32]
    existing = session.exec(select(Task).where(Task.plan_id == task.plan_id, Task.patient_id == task.patient_id,
                                               Task.anchor_encounter_id == task.anchor_encounter_id,
                                               Task.point == point)).first()
    if existing is not None:  # escalated before (idempotent)
        return existing
    nurse_task = Task(
        patient_id=task.patient_id, plan_id=task.plan_id, anchor_encounter_id=task.anchor_encounter_id,
        point=point, questionnaire_key=task.questionnaire_key, channel=Channel.nurse_call,
        status=TaskStatus.planned, due_at=now, next_attempt_at=now, window_end_at=task.window_end_at,
        team_id=task.team_id, priority=task.priority, max_attempts=task.max_attempts, created_at=now,
        reason=f"escalated from robot task {task.id}",
    )
    session.add(nurse_task)
    session.flush()
    logger.info("task=%s escalated to nurse task=%s", task.id, nurse_task.id)
    return nurse_task
