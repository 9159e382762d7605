"""A finished robot reminder call applied to the database (SQLite and PostgreSQL): Response with dtmf/asr
provenance, appointment status, outcome through apply_outcome, hand-over to nurses, escalation to SMS + nurse."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from callcenter import questionnaires
from callcenter.call_rules import CallRules
from callcenter.db import session_scope
from callcenter.errors import NotFound
from callcenter.models import (
    Alert,
    Answer,
    AnswerSource,
    Appointment,
    CallAttempt,
    Channel,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Questionnaire,
    QuestionnaireStatus,
    Response,
    Sex,
    Task,
    TaskStatus,
)
from callcenter.models.sms import SmsMessage
from callcenter.outcomes import seed_outcomes
from callcenter.robocall import CallResult, FollowUp, RecordedAnswer
from callcenter.robocall_results import next_channel, record_robot_call

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)  # a Wednesday, inside the call windows
RULES = CallRules()
RECALL_YAML = Path(__file__).resolve().parents[2] / "scripts_questionnaires" / "library" / "recall_reminder.yaml"


class World:
    def __init__(self, engine: Engine, *, max_attempts: int = 3, publish: bool = True, library: bool = False
                 ) -> None:
        """``library``: publish the real recall-reminder script (its alert rules), else a bare version row."""
        self.engine = engine
        with session_scope(engine) as s:
            seed_outcomes(s)
            if library:
                questionnaires.publish(s, RECALL_YAML.read_text(encoding="utf-8"), str(RECALL_YAML))
            else:
                status = QuestionnaireStatus.published if publish else QuestionnaireStatus.draft
                s.add(Questionnaire(key="recall-reminder", version=1 if publish else 0, status=status))
            plan = FollowUpPlan(key="revisit", name="复诊提醒", questionnaire_key="recall-reminder",
                                channel=Channel.robot_call, stop_rules={"refused": "plan"})
            patient = Patient(name="张三", sex=Sex.male, mrn="r1")
            s.add(plan)
            s.add(patient)
            s.flush()
            assert plan.id is not None and patient.id is not None
            self.patient_id = patient.id
            phone = PatientPhone(patient_id=patient.id, number="13800138000", kind="mobile")
            s.add(phone)
            s.flush()
            self.phone_id = phone.id
            self.task_id = self._task(s, plan.id, "m1", TaskStatus.in_call, max_attempts)
            self.later_task_id = self._task(s, plan.id, "m2", TaskStatus.planned, max_attempts)
            appt = Appointment(patient_id=patient.id, task_id=self.task_id, department="心内科", place="门诊楼3楼",
                               scheduled_for=NOW + timedelta(days=3))
            s.add(appt)
            s.flush()
            self.appointment_id = appt.id

    def _task(self, s: Session, plan_id: int, point: str, status: TaskStatus, max_attempts: int) -> int:
        task = Task(patient_id=self.patient_id, plan_id=plan_id, point=point, channel=Channel.robot_call,
                    status=status, due_at=NOW, max_attempts=max_attempts, lease_owner="robot:w1",
                    next_attempt_at=NOW + timedelta(days=30))
        s.add(task)
        s.flush()
        assert task.id is not None
        return task.id

    def record(self, result: CallResult, **kwargs: object):  # type: ignore[no-untyped-def]
        with session_scope(self.engine) as s:
            return record_robot_call(s, self.task_id, result, robot="w1", now=NOW, rules=RULES,
                                     hospital_name="示例医院", phone_id=self.phone_id, **kwargs)  # type: ignore[arg-type]

    def get(self, model: type, ident: int):  # type: ignore[no-untyped-def]
        with Session(self.engine) as s:
            return s.get(model, ident)


def test_confirmation_completes_the_task_confirms_the_appointment_and_stores_the_dtmf_answer(engine: Engine) -> None:
    world = World(engine)
    record = world.record(CallResult("completed", FollowUp.close,
                                     (RecordedAnswer("decision", "confirm", "dtmf", "1"),)))
    assert record.task_status is TaskStatus.completed
    assert world.get(Appointment, world.appointment_id).status == "confirmed"
    with Session(engine) as s:
        response = s.exec(select(Response)).one()
        answer = s.exec(select(Answer)).one()
        attempt = s.exec(select(CallAttempt)).one()
    assert (response.task_id, response.status, response.id) == (world.task_id, "completed", record.response_id)
    assert (answer.item_id, answer.value, answer.source) == ("decision", "confirm", AnswerSource.dtmf)
    assert (attempt.outcome_code, attempt.robot) == ("completed", "w1")


def test_reschedule_hands_the_task_to_a_nurse_callback_with_the_preference(engine: Engine) -> None:
    world = World(engine)
    answers = (RecordedAnswer("decision", "reschedule", "asr", "改时间", 0.8, 3.0, 3.9),
               RecordedAnswer("reschedule_when", "two_weeks", "dtmf", "2"))
    world.record(CallResult("callback_requested", FollowUp.reschedule, answers, "患者要求改期", "two_weeks"))
    task = world.get(Task, world.task_id)
    assert (task.status, task.channel) == (TaskStatus.callback, Channel.nurse_call)
    assert task.callback_at >= NOW + timedelta(minutes=30)
    assert world.get(Appointment, world.appointment_id).status == "rescheduled"
    with Session(engine) as s:
        attempt = s.exec(select(CallAttempt)).one()
        stored = s.exec(select(Answer).order_by(col(Answer.id))).all()
    assert "two_weeks" in attempt.note and attempt.outcome_code == "callback_requested"
    assert [(a.item_id, a.source, a.confidence, a.audio_t0_s) for a in stored] == [
        ("decision", AnswerSource.asr, 0.8, 3.0), ("reschedule_when", AnswerSource.dtmf, None, None)]


def test_decline_applies_the_plans_stop_rule(engine: Engine) -> None:
    world = World(engine)
    world.record(CallResult("refused", FollowUp.stop, (RecordedAnswer("decision", "decline", "dtmf", "3"),),
                            "机器人外呼：患者表示不再复诊（原因未说明）"))
    assert world.get(Task, world.task_id).status is TaskStatus.cancelled
    assert world.get(Task, world.later_task_id).status is TaskStatus.cancelled  # stop rule: refused -> plan
    assert world.get(Appointment, world.appointment_id).status == "declined"


def test_talk_to_a_nurse_queues_a_nurse_callback(engine: Engine) -> None:
    world = World(engine)
    world.record(CallResult("callback_requested", FollowUp.nurse_callback,
                            (RecordedAnswer("decision", "nurse", "dtmf", "0"),), "患者要求转人工"))
    task = world.get(Task, world.task_id)
    assert (task.status, task.channel) == (TaskStatus.callback, Channel.nurse_call)
    assert world.get(Appointment, world.appointment_id).status == "booked"


def test_repeated_decision_keeps_the_last_answer_and_supersedes_the_first(sqlite_engine: Engine) -> None:
    world = World(sqlite_engine)
    world.record(CallResult("completed", FollowUp.close, (RecordedAnswer("decision", "repeat", "dtmf", "9"),
                                                          RecordedAnswer("decision", "confirm", "asr", "好的"))))
    with Session(sqlite_engine) as s:
        answers = s.exec(select(Answer).order_by(col(Answer.id))).all()
    assert [(a.value, a.superseded) for a in answers] == [("repeat", True), ("confirm", False)]


def test_a_declined_revisit_raises_the_scripts_alert_for_the_doctors(engine: Engine) -> None:
    world = World(engine, library=True)
    record = world.record(CallResult("refused", FollowUp.stop, (
        RecordedAnswer("decision", "repeat", "dtmf", "9"),
        RecordedAnswer("decision", "decline", "asr", "不来了", 0.8, 4.0, 4.6),
        RecordedAnswer("decline_reason", "inconvenient", "dtmf", "3")), "机器人外呼：患者表示不再复诊（时间或路程不便）"))
    with Session(engine) as s:
        alert = s.exec(select(Alert)).one()
    assert (alert.rule_id, alert.severity, alert.item_id) == ("declined_revisit", "medium", "decline_reason")
    assert (alert.patient_id, alert.response_id, alert.raised_at) == (world.patient_id, record.response_id, NOW)
    assert alert.acknowledged_at is None and "不再复诊" in alert.message
    assert [(a.alert_id, a.rule_id, a.severity) for a in record.alerts] == [(alert.id, "declined_revisit", "medium")]


def test_robot_answers_that_meet_no_alert_rule_raise_none(engine: Engine) -> None:
    world = World(engine, library=True)
    record = world.record(CallResult("refused", FollowUp.stop, (
        RecordedAnswer("decision", "decline", "dtmf", "3"),
        RecordedAnswer("decline_reason", "elsewhere", "dtmf", "1")),  # checked elsewhere: no alert by the rule
        "机器人外呼：患者表示不再复诊（已在其他医院复查）"))
    assert record.alerts == () and record.response_id is not None
    with Session(engine) as s:
        assert s.exec(select(Alert)).all() == []


def test_hang_up_is_retried_by_the_robot_without_a_response(engine: Engine) -> None:
    world = World(engine)
    record = world.record(CallResult("hung_up", FollowUp.retry, note="患者在提醒过程中挂断"))
    task = world.get(Task, world.task_id)
    assert (task.status, task.channel) == (TaskStatus.planned, Channel.robot_call)
    assert task.next_attempt_at > NOW and record.response_id is None


def test_last_unanswered_robot_attempt_escalates_to_sms_and_a_nurse(engine: Engine) -> None:
    world = World(engine, max_attempts=1)
    record = world.record(CallResult("voicemail", FollowUp.retry))
    assert record.task_status is TaskStatus.unreachable and record.escalated_to is Channel.sms
    with Session(engine) as s:
        sms = s.exec(select(SmsMessage)).one()
        nurse = s.exec(select(Task).where(Task.channel == Channel.nurse_call)).one()
    assert sms.template_key == "robot_call_missed" and "11月28日到心内科复诊" in sms.body
    assert (nurse.status, nurse.point, nurse.patient_id) == (TaskStatus.planned, "m1:nurse", world.patient_id)


def test_escalation_order_comes_from_the_plan(sqlite_engine: Engine) -> None:
    robot_nurse = (Channel.robot_call, Channel.nurse_call)
    assert next_channel(robot_nurse, Channel.robot_call) is Channel.nurse_call
    assert next_channel(robot_nurse, Channel.nurse_call) is None
    assert next_channel((Channel.robot_call,), Channel.robot_call) is None
    # the plan file says: no SMS for this plan, straight to a nurse
    world = World(sqlite_engine, max_attempts=1)
    with session_scope(sqlite_engine) as s:
        s.exec(select(FollowUpPlan)).one().escalation = ["robot_call", "nurse_call"]
    record = world.record(CallResult("no_answer", FollowUp.retry))
    assert record.escalated_to is Channel.nurse_call
    with Session(sqlite_engine) as s:
        assert s.exec(select(SmsMessage)).first() is None
        assert s.exec(select(Task).where(Task.channel == Channel.nurse_call)).one().point == "m1:nurse"


def test_without_escalation_an_unreachable_task_stays_closed(sqlite_engine: Engine) -> None:
    world = World(sqlite_engine, max_attempts=1)
    record = world.record(CallResult("no_answer", FollowUp.retry), escalation=(Channel.robot_call,))
    assert record.escalated_to is None
    with Session(sqlite_engine) as s:
        assert s.exec(select(SmsMessage)).first() is None


def test_answers_need_the_published_recall_script(sqlite_engine: Engine) -> None:
    world = World(sqlite_engine, publish=False)  # only a draft exists
    with pytest.raises(NotFound, match="publish the recall-reminder script"):
        world.record(CallResult("completed", FollowUp.close, (RecordedAnswer("decision", "confirm", "dtmf", "1"),)))
