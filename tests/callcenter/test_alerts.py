"""The alerts inbox in the core, on SQLite and PostgreSQL: an alert raised by an answer in a call is listed
(patient masked, the answer that raised it), acknowledged with a note (audited, time-to-acknowledge), and
escalated by the scheduler job when left unacknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from callcenter import alerts, audit, call_form, questionnaires, scheduler, users
from callcenter.call_rules import CallRules
from callcenter.errors import InvalidInput
from callcenter.models import Alert, FollowUpPlan, Patient, Role, Task, TaskStatus
from callcenter.settings import Settings

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SCRIPT = """
key: t_alert
version: 1
title: 血压随访
locale: zh-CN
items:
  - id: bp
    type: blood_pressure
    text: 血压多少？
    systolic: {min: 60, max: 260}
    diastolic: {min: 30, max: 160}
alerts:
  - id: bp_crisis
    when: bp.systolic >= 180
    severity: critical
    message: 血压过高
"""


@pytest.fixture
def raised(session: Session):
    """A call whose answer 190/100 raised the ``bp_crisis`` alert; returns (alert id, nurse, doctor)."""
    nurse = users.create_user(session, username="n1", password="password-1", role=Role.nurse, team_key="t")
    doctor = users.create_user(session, username="d1", password="password-1", role=Role.doctor,
                               display_name="李医生")
    questionnaires.publish(session, SCRIPT, "t.yaml")
    plan = FollowUpPlan(key="p", name="计划", questionnaire_key="t_alert")
    patient = Patient(name="王五", national_id="110101199003071234", source_system="his", mrn="9")
    session.add_all([plan, patient])
    session.flush()
    task = Task(patient_id=patient.id, plan_id=plan.id, questionnaire_key="t_alert", status=TaskStatus.due,
                due_at=NOW - timedelta(hours=1))
    session.add(task)
    session.flush()
    form = call_form.open_form(session, task.id, nurse, attempt_id=None, hospital_name="医院", today=NOW.date(),
                               now=NOW)
    call_form.record_answer(session, task.id, form.response_id, nurse, item_id="bp",
                            value={"systolic": 190, "diastolic": 100}, now=NOW)
    session.commit()
    (alert,) = session.exec(select(Alert)).all()
    return alert.id, nurse, doctor


def test_an_alert_raised_in_a_call_is_listed_with_the_patient_masked_and_the_answer(session, raised):
    alert_id, _nurse, _doctor = raised
    (row,) = alerts.list_alerts(session)
    assert (row.id, row.severity, row.message, row.item_id) == (alert_id, "critical", "血压过高", "bp")
    assert row.answer == "190/100" and row.questionnaire == "t_alert@1"
    assert row.patient_label == "王*" and row.national_id_masked == "110***********1234"
    assert row.acknowledged_at is None and row.minutes_to_acknowledge is None


def test_acknowledging_needs_a_note_records_who_and_when_and_is_audited(session, raised):
    alert_id, _nurse, doctor = raised
    with pytest.raises(InvalidInput, match="note"):
        alerts.acknowledge(session, alert_id, user_id=doctor.id, note="  ", now=NOW)
    later = NOW + timedelta(minutes=25)
    alerts.acknowledge(session, alert_id, user_id=doctor.id, note="已电话联系，嘱今日急诊", now=later,
                       remote_addr="10.0.0.5")
    session.commit()
    assert alerts.list_alerts(session, status="open") == []
    (row,) = alerts.list_alerts(session, status="acknowledged")
    assert row.acknowledged_by == "李医生" and row.ack_note == "已电话联系，嘱今日急诊"
    assert row.minutes_to_acknowledge == 25.0
    assert alerts.summary([row]).median_minutes == 25.0
    (event,) = audit.recent(session, action="alert.acknowledge")
    assert (event.user_id, event.object_id, event.remote_addr) == (doctor.id, str(alert_id), "10.0.0.5")
    with pytest.raises(alerts.AlertAlreadyAcknowledged):
        alerts.acknowledge(session, alert_id, user_id=doctor.id, note="again", now=later)


def test_the_scheduler_escalates_an_alert_left_unacknowledged_once(engine, session, raised, tmp_path):
    alert_id, _nurse, _doctor = raised
    settings = Settings(database_url=str(engine.url), alert_escalation_minutes=30)
    rt = scheduler.Runtime(engine=engine, settings=settings, rules=CallRules(), lock=_AlwaysLeader())
    assert scheduler.alerts(rt, NOW + timedelta(minutes=29)) == 0
    assert scheduler.alerts(rt, NOW + timedelta(minutes=30)) == 1
    assert scheduler.alerts(rt, NOW + timedelta(minutes=90)) == 0  # escalated once, not every minute
    session.commit()  # end this session's read transaction: the job committed in its own
    assert session.get(Alert, alert_id).escalated_at is not None
    (row,) = alerts.list_alerts(session)
    assert row.escalated_at is not None and alerts.summary([row]).escalated == 1


def test_an_escalation_is_pushed_to_the_doctors_and_supervisors_inboxes(engine, session, raised):
    alert_id, _nurse, _doctor = raised
    pushed: list[tuple[str, dict, str]] = []

    class Recorder:
        def emit(self, event, payload, room):
            pushed.append((event, payload, room))

    settings = Settings(database_url=str(engine.url), alert_escalation_minutes=30)
    rt = scheduler.Runtime(engine=engine, settings=settings, rules=CallRules(), lock=_AlwaysLeader(),
                           notifier=Recorder())
    assert scheduler.alerts(rt, NOW + timedelta(minutes=10)) == 0 and pushed == []
    assert scheduler.alerts(rt, NOW + timedelta(minutes=31)) == 1
    assert pushed == [("alert", {"alert_id": alert_id, "escalated": True}, "doctors"),
                      ("alert", {"alert_id": alert_id, "escalated": True}, "supervisors")]


class _AlwaysLeader:
    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def test_time_to_acknowledge_over_a_period_counts_open_and_handled_alerts(session, raised):
    alert_id, _nurse, doctor = raised
    before = alerts.summary_since(session, NOW - timedelta(days=30))
    assert (before.acknowledged, before.open, before.median_minutes) == (0, 1, None)
    alerts.acknowledge(session, alert_id, user_id=doctor.id, note="已处理", now=NOW + timedelta(minutes=12))
    session.commit()
    after = alerts.summary_since(session, NOW - timedelta(days=30))
    assert (after.acknowledged, after.open, after.median_minutes, after.max_minutes) == (1, 0, 12.0, 12.0)
    assert alerts.summary_since(session, NOW + timedelta(minutes=1)).acknowledged == 0  # raised before the period
