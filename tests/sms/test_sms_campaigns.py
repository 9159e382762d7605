"""Campaigns that fill the outbox, and the `callcenter sms` command end to end against the real SMPP server."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from callcenter import migrate
from callcenter.cli import main
from callcenter.clock import FrozenClock
from callcenter.db import make_engine, session_scope
from callcenter.models import (
    Appointment,
    Channel,
    FollowUpPlan,
    GroupMembership,
    Patient,
    PatientGroup,
    PatientPhone,
    Sex,
    Task,
    TaskEvent,
    TaskStatus,
)
from callcenter.models.sms import SmsMessage, SmsStatus
from callcenter.sms import campaigns

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))


def _patient(session: Session, n: int, *, consent: bool = True, sex: Sex = Sex.female) -> int:
    patient = Patient(name=f"李{n}", sex=sex, sms_consent=consent, mrn=f"p{n}")
    session.add(patient)
    session.flush()
    assert patient.id is not None
    session.add(PatientPhone(patient_id=patient.id, number=f"1390013900{n}", kind="mobile"))
    return patient.id


def test_monthly_message_goes_once_per_member_and_month(engine: Engine, clock: FrozenClock) -> None:
    with session_scope(engine) as session:
        group = PatientGroup(key="hypertension", name="高血压")
        session.add(group)
        session.flush()
        for n, consent in ((1, True), (2, False)):
            session.add(GroupMembership(group_id=group.id or 0, patient_id=_patient(session, n, consent=consent)))
    with session_scope(engine) as session:
        first = campaigns.queue_chronic_monthly(session, group_key="hypertension", month=date(2026, 11, 1),
                                                hospital_name="示例医院", clock=clock)
    clock.advance(timedelta(hours=1))
    with session_scope(engine) as session:
        again = campaigns.queue_chronic_monthly(session, group_key="hypertension", month=date(2026, 11, 1),
                                                hospital_name="示例医院", clock=clock)
    assert (first.queued, first.blocked, first.already) == (1, 1, 0)
    assert (again.queued, again.blocked, again.already) == (0, 0, 2)
    with Session(engine) as session:
        queued = session.exec(select(SmsMessage).where(SmsMessage.status == SmsStatus.queued)).one()
    assert queued.body.startswith("【示例医院】李女士您好，本月请按时服用降压药")
    assert queued.template_key == "chronic_hypertension_monthly"


def test_unknown_group_is_a_clear_error(sqlite_engine: Engine, clock: FrozenClock) -> None:
    with session_scope(sqlite_engine) as session, pytest.raises(Exception, match="groups list"):
        campaigns.queue_chronic_monthly(session, group_key="nope", month=date(2026, 11, 1), hospital_name="医院",
                                        clock=clock)


def test_reminder_names_department_date_and_place_of_tomorrows_revisit(engine: Engine, clock: FrozenClock) -> None:
    with session_scope(engine) as session:
        pid = _patient(session, 3, sex=Sex.male)
        tomorrow = datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)
        session.add(Appointment(patient_id=pid, department="心内科", place="门诊楼3楼", scheduled_for=tomorrow))
        session.add(Appointment(patient_id=pid, department="眼科", scheduled_for=tomorrow + timedelta(days=1)))
        session.add(Appointment(patient_id=pid, department="骨科", scheduled_for=tomorrow, status="declined"))
    with session_scope(engine) as session:
        report = campaigns.queue_appointment_reminders(session, days_ahead=1, tz=SHANGHAI, hospital_name="示例医院",
                                                       clock=clock)
    assert report.queued == 1
    with Session(engine) as session:
        message = session.exec(select(SmsMessage)).one()
    assert "李先生您好，提醒您于11月26日 09:30到心内科复诊，地点：门诊楼3楼。" in message.body


def test_pre_call_notice_is_queued_once_per_task(sqlite_engine: Engine, clock: FrozenClock) -> None:
    with session_scope(sqlite_engine) as session:
        pid = _patient(session, 4)
        task = Task(patient_id=pid, due_at=clock.now())
        session.add(task)
        session.flush()
        assert task.id is not None
        first = campaigns.queue_pre_call_notice(session, task_id=task.id, hospital_name="示例医院", clock=clock)
        second = campaigns.queue_pre_call_notice(session, task_id=task.id, hospital_name="示例医院", clock=clock)
    assert first.id == second.id and first.task_id == task.id
    assert "示例医院随访中心近日将致电您" in first.body


def test_sms_command_sends_and_counts_the_outbox(tmp_path: Path, smsc: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    tomorrow = datetime.now(SHANGHAI) + timedelta(days=1)
    with session_scope(engine) as session:
        pid = _patient(session, 5)
        session.add(Appointment(patient_id=pid, department="内分泌科", scheduled_for=tomorrow))
    env = {"CALLCENTER_DATABASE_URL": url, "CALLCENTER_SMPP_HOST": "127.0.0.1", "CALLCENTER_SMPP_PORT": str(smsc.port),
           "CALLCENTER_SMPP_SYSTEM_ID": smsc.system_id, "CALLCENTER_SMPP_PASSWORD": smsc.password,
           "CALLCENTER_HOSPITAL_NAME": "测试医院", "CALLCENTER_SMS_SEND_WINDOW": "00:00-24:00"}
    runner = CliRunner()
    queued = runner.invoke(main, ["sms", "reminders", "--days-ahead", "1"], env=env)
    assert queued.exit_code == 0, queued.output
    assert "queued 1" in queued.output
    sent = runner.invoke(main, ["sms", "send", "--poll-seconds", "5"], env=env)
    assert sent.exit_code == 0, sent.output
    assert "submitted 1" in sent.output and "delivered 1" in sent.output
    assert smsc.wait_for("submit")["text"].startswith("【测试医院】李女士您好，提醒您")
    counts = runner.invoke(main, ["sms", "outbox", "--json"], env=env)
    assert '"delivered": 1' in counts.output
    engine.dispose()


def test_due_tasks_of_an_sms_plan_become_messages_and_are_done(engine: Engine, clock: FrozenClock) -> None:
    with session_scope(engine) as session:
        plan = FollowUpPlan(key="dm_sms", name="糖尿病短信随访", questionnaire_key="chronic_diabetes_monthly",
                            channel=Channel.sms)
        session.add(plan)
        session.flush()
        due = Task(patient_id=_patient(session, 6), plan_id=plan.id, point="m1", channel=Channel.sms,
                   status=TaskStatus.due, due_at=clock.now())
        later = Task(patient_id=_patient(session, 7), plan_id=plan.id, point="m1", channel=Channel.sms,
                     status=TaskStatus.planned, due_at=clock.now() + timedelta(days=3))
        session.add(due)
        session.add(later)
        session.flush()
        due_id, later_id = due.id, later.id
    with session_scope(engine) as session:
        report = campaigns.queue_sms_tasks(session, hospital_name="示例医院", tz=SHANGHAI, clock=clock)
    with session_scope(engine) as session:
        again = campaigns.queue_sms_tasks(session, hospital_name="示例医院", tz=SHANGHAI, clock=clock)
    assert (report.queued, again.queued) == (1, 0)
    with Session(engine) as session:
        message = session.exec(select(SmsMessage)).one()
        done, waiting = session.get(Task, due_id), session.get(Task, later_id)
        events = session.exec(select(TaskEvent).where(TaskEvent.task_id == due_id)).all()
    assert message.task_id == due_id and message.template_key == "chronic_diabetes_monthly"
    assert done is not None and (done.status, done.final_outcome) == (TaskStatus.completed, "sms_queued")
    assert waiting is not None and waiting.status is TaskStatus.planned
    assert [e.actor for e in events] == ["sms", "sms"]
