"""The scheduler's SMS hook: SMS-plan tasks become messages and go to the real SMPP server in one batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.util import ref_to_obj
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from callcenter.db import session_scope
from callcenter.models import Channel, FollowUpPlan, Patient, PatientPhone, Sex, Task, TaskStatus
from callcenter.models.sms import SmsMessage, SmsStatus
from callcenter.scheduler import BATCH_HOOKS
from callcenter.settings import Settings
from callcenter.sms import jobs

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _sms_task(engine: Engine) -> int:
    with session_scope(engine) as s:
        plan = FollowUpPlan(key="htn_sms", name="高血压短信", questionnaire_key="chronic_hypertension_monthly",
                            channel=Channel.sms)
        patient = Patient(name="孙丽", sex=Sex.female, mrn="j1")
        s.add(plan)
        s.add(patient)
        s.flush()
        assert patient.id is not None
        s.add(PatientPhone(patient_id=patient.id, number="13600000001", kind="mobile"))
        task = Task(patient_id=patient.id, plan_id=plan.id, point="m1", channel=Channel.sms, status=TaskStatus.due,
                    due_at=NOW)
        s.add(task)
        s.flush()
        assert task.id is not None
        return task.id


def test_the_scheduler_hook_is_the_sms_batch() -> None:
    assert ref_to_obj(BATCH_HOOKS["sms"]) is jobs.scheduler_batch


def test_hook_queues_sms_plan_tasks_and_sends_them(sqlite_engine: Engine, smsc: Any) -> None:
    task_id = _sms_task(sqlite_engine)
    settings = Settings(smpp_host="127.0.0.1", smpp_port=smsc.port, smpp_system_id=smsc.system_id,
                        smpp_password=smsc.password)
    assert jobs.scheduler_batch(engine=sqlite_engine, now=NOW, settings=settings) == 1
    assert smsc.wait_for("submit")["text"].startswith("【示例医院】孙女士您好，本月请按时服用降压药")
    with Session(sqlite_engine) as s:
        message = s.exec(select(SmsMessage)).one()
    assert message.task_id == task_id and message.status in (SmsStatus.submitted, SmsStatus.delivered)


def test_with_sms_disabled_the_messages_wait_in_the_outbox(sqlite_engine: Engine) -> None:
    _sms_task(sqlite_engine)
    assert jobs.scheduler_batch(engine=sqlite_engine, now=NOW, settings=Settings()) == 0
    with Session(sqlite_engine) as s:
        assert s.exec(select(SmsMessage)).one().status is SmsStatus.queued
