"""The nurse's call in the core, on SQLite and PostgreSQL: claim, guided form with provenance, alerts,
dial, agent reports, wrap-up, and the audit trail of disclosures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from callcenter import (
    audit,
    call_events,
    call_form,
    disclosure,
    nurse_calls,
    outcomes,
    questionnaires,
    queue,
    users,
    worklist,
)
from callcenter.call_rules import CallRules
from callcenter.errors import InvalidInput, PermissionDenied
from callcenter.models import (
    Alert,
    Answer,
    AnswerSource,
    CallAttempt,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Recording,
    Response,
    Role,
    Task,
    TaskStatus,
    TranscriptSegment,
)
from callcenter.tasks import queue_rank

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SCRIPT = """
key: t_call
version: 1
title: 测试
locale: zh-CN
items:
  - id: feeling
    type: yes_no
    text: "{patient.name}，好些了吗？"
    options:
      - {value: "yes", label: 是, say: [是]}
      - {value: "no", label: 否, say: [否]}
  - id: temp
    type: number
    text: 体温多少？
    min: 34
    max: 43
    decimals: 1
    unit: ℃
alerts:
  - id: fever
    when: temp >= 38.5
    severity: high
    message: 发热
"""


@pytest.fixture
def world(session: Session):
    outcomes.seed_outcomes(session)
    nurse = users.create_user(session, username="n1", password="password-1", role=Role.nurse, team_key="t")
    other = users.create_user(session, username="n2", password="password-1", role=Role.nurse, team_key="t")
    questionnaires.publish(session, SCRIPT, "t.yaml")
    plan = FollowUpPlan(key="p", name="计划", questionnaire_key="t_call")
    patient = Patient(name="王五", source_system="his", mrn="9")
    session.add_all([plan, patient])
    session.flush()
    phone = PatientPhone(patient_id=patient.id, number="13700137000")
    task = Task(patient_id=patient.id, plan_id=plan.id, questionnaire_key="t_call", status=TaskStatus.due,
                due_at=NOW - timedelta(hours=1), team_id=nurse.team_id)
    task.queue_rank = queue_rank(task, NOW)
    session.add_all([phone, task])
    session.flush()
    return nurse, other, task, phone


def test_a_whole_call_in_the_core(session, world):
    nurse, other, task, phone = world
    rules = CallRules()
    assert [r.task_id for r in worklist.worklist(session, nurse)] == [task.id]
    queue.claim_task(session, task.id, owner=worklist.owner_of(nurse), now=NOW, rules=rules)
    attempt_id, command = nurse_calls.start_attempt(session, task.id, nurse, phone_id=phone.id, now=NOW)
    assert command.payload["command"] == "dial" and command.payload["number"] == "13700137000"
    form = call_form.open_form(session, task.id, nurse, attempt_id=attempt_id, hospital_name="医院",
                               today=NOW.date(), now=NOW)
    assert form.current.item_id == "feeling" and form.current.text == "王五，好些了吗？"
    call_events.accept_agent_event(session, nurse, {"kind": "call_state", "attempt_id": attempt_id,
                                                    "state": "confirmed"}, now=NOW)
    forward = call_events.accept_agent_event(session, nurse, {"kind": "transcript", "attempt_id": attempt_id,
                                                              "speaker": "patient", "text": "是的",
                                                              "t0_s": 1.0, "t1_s": 1.5}, now=NOW)
    assert forward.room == f"attempt:{attempt_id}"
    with pytest.raises(PermissionDenied):
        call_events.accept_agent_event(session, other, {"kind": "partial", "attempt_id": attempt_id}, now=NOW)
    form = call_form.record_answer(session, task.id, form.response_id, nurse, item_id="feeling", value="yes",
                                   now=NOW, source=AnswerSource.asr, confidence=0.9, t0_s=1.0, t1_s=1.5)
    with pytest.raises(InvalidInput, match="temp"):
        call_form.record_answer(session, task.id, form.response_id, nurse, item_id="temp", value="99", now=NOW)
    form = call_form.record_answer(session, task.id, form.response_id, nurse, item_id="temp", value="38.6", now=NOW)
    assert form.current is None and [a.id for a in form.alerts] == ["fever"]
    fever_row = session.exec(select(Alert)).one()
    assert [(a.alert_id, a.rule_id) for a in form.new_alerts] == [(fever_row.id, "fever")]
    # amending another answer re-evaluates, but the fever alert is not raised (or announced) a second time
    form = call_form.record_answer(session, task.id, form.response_id, nurse, item_id="feeling", value="no", now=NOW)
    assert form.new_alerts == () and [a.id for a in form.alerts] == ["fever"]
    form = call_form.record_answer(session, task.id, form.response_id, nurse, item_id="feeling", value="yes",
                                   now=NOW, source=AnswerSource.asr, confidence=0.9, t0_s=1.0, t1_s=1.5)
    closed = worklist.wrap_up(session, task.id, nurse, outcome_code="completed", now=NOW, rules=rules)
    assert closed.status == TaskStatus.completed
    response = session.exec(select(Response)).one()
    assert response.status == "completed" and response.attempt_id == attempt_id
    current = session.exec(select(Answer).where(Answer.superseded == False).order_by(Answer.id))  # noqa: E712
    assert sorted((a.item_id, a.value, a.source) for a in current) == [("feeling", "yes", "asr"), ("temp", 38.6, "nurse")]
    assert len(session.exec(select(Answer)).all()) == 4  # the amendments stay in the edit history
    assert [a.rule_id for a in session.exec(select(Alert))] == ["fever"]
    attempt = session.get(CallAttempt, attempt_id)
    assert attempt.outcome_code == "completed" and attempt.answered_at == NOW
    assert session.exec(select(TranscriptSegment.text)).all() == ["是的"]


def test_disclosures_are_audited_and_refused_outside_the_rules(session, world, tmp_path):
    nurse, other, task, phone = world
    attempt = CallAttempt(task_id=task.id, patient_id=task.patient_id, user_id=nurse.id, number=phone.number)
    session.add(attempt)
    session.flush()
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    recording = Recording(attempt_id=attempt.id, path="a.wav")
    session.add(recording)
    session.flush()
    found = disclosure.recording_for_playback(session, recording.id, nurse, at=NOW, recordings_root=tmp_path,
                                              remote_addr="10.0.0.9")
    assert found.path == tmp_path / "a.wav" and found.mimetype == "audio/wav"
    with pytest.raises(PermissionDenied):
        disclosure.recording_for_playback(session, recording.id, other, at=NOW, recordings_root=tmp_path)
    revealed = disclosure.reveal_identifiers(session, task.patient_id, other, at=NOW)
    assert revealed.phones == ("13700137000",)
    entries = audit.recent(session)
    assert [(e.action, e.username, e.remote_addr) for e in entries] == [
        ("patient.reveal", "n2", ""), ("recording.play", "n1", "10.0.0.9")]
    assert [e.action for e in audit.recent(session, action="recording.play")] == ["recording.play"]


def test_replacing_a_confirmed_answer_is_audited_with_ids_only(session, world, caplog):
    nurse, _other, task, phone = world
    queue.claim_task(session, task.id, owner=worklist.owner_of(nurse), now=NOW, rules=CallRules())
    attempt_id, _ = nurse_calls.start_attempt(session, task.id, nurse, phone_id=phone.id, now=NOW)
    form = call_form.open_form(session, task.id, nurse, attempt_id=attempt_id, hospital_name="医院",
                               today=NOW.date(), now=NOW)
    call_form.record_answer(session, task.id, form.response_id, nurse, item_id="feeling", value="yes", now=NOW,
                            remote_addr="10.0.0.7")
    call_form.record_answer(session, task.id, form.response_id, nurse, item_id="temp", value="38.6", now=NOW,
                            remote_addr="10.0.0.7")
    assert audit.recent(session, action=audit.AuditAction.answer_edit) == []  # first answers are no edits
    (first,) = session.exec(select(Answer.id).where(Answer.item_id == "temp")).all()
    later = NOW + timedelta(minutes=2)
    with caplog.at_level("INFO", logger="callcenter"):
        call_form.record_answer(session, task.id, form.response_id, nurse, item_id="temp", value="37.4", now=later,
                                remote_addr="10.0.0.7")
    (edit,) = audit.recent(session, action=audit.AuditAction.answer_edit)
    (new,) = session.exec(select(Answer.id).where(Answer.item_id == "temp", Answer.superseded == False)).all()  # noqa: E712
    assert (edit.user_id, edit.at, edit.object_type, edit.object_id, edit.remote_addr) == (
        nurse.id, later, "response", str(form.response_id), "10.0.0.7")
    assert edit.detail == {"task_id": task.id, "attempt_id": attempt_id, "item_id": "temp",
                           "old_answer_ids": [first], "new_answer_id": new, "source": "nurse"}
    assert session.get(Answer, first).value == 38.6  # the old value stays in its (superseded) row
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"response={form.response_id} item=temp amended" in logged
    assert "37.4" not in logged and "38.6" not in logged and "王五" not in logged
