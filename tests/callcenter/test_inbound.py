"""Patients calling in, in the core on SQLite and PostgreSQL: the caller matched by number to the patient and
the task the call is about, answering leases that task to the nurse, declining and missing file the call
without asking for an outcome, and calls in never count against the per-number caps of calls out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from callcenter import call_events, inbound, outcomes, queue, tasks, users, worklist
from callcenter.call_rules import CallRules
from callcenter.errors import NotFound
from callcenter.models import CallAttempt, Patient, PatientPhone, Role, Task, TaskStatus
from callcenter.tasks import queue_rank

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(session: Session):
    outcomes.seed_outcomes(session)
    nurse = users.create_user(session, username="n1", password="password-1", role=Role.nurse, team_key="t")
    other = users.create_user(session, username="n2", password="password-1", role=Role.nurse, team_key="t")
    patient = Patient(name="王五", source_system="his", mrn="9", language="zh-CN")
    family_a = Patient(name="赵一", source_system="his", mrn="10")
    family_b = Patient(name="赵二", source_system="his", mrn="11")
    session.add_all([patient, family_a, family_b])
    session.flush()
    session.add_all([PatientPhone(patient_id=patient.id, number="13700137000"),
                     PatientPhone(patient_id=family_a.id, number="13600136000"),
                     PatientPhone(patient_id=family_b.id, number="13600136000")])
    later = Task(patient_id=patient.id, questionnaire_key="q", status=TaskStatus.due, due_at=NOW - timedelta(hours=1),
                 team_id=nurse.team_id)
    callback = Task(patient_id=patient.id, questionnaire_key="q", status=TaskStatus.callback,
                    due_at=NOW - timedelta(days=2), callback_at=NOW + timedelta(hours=3), team_id=nurse.team_id)
    done = Task(patient_id=patient.id, questionnaire_key="q", status=TaskStatus.completed, due_at=NOW,
                team_id=nurse.team_id)
    for task in (later, callback, done):
        task.queue_rank = queue_rank(task, NOW)
    session.add_all([later, callback, done])
    session.flush()
    return nurse, other, patient, callback, later


@pytest.mark.parametrize(("uri", "number"), [
    ('"王五" <sip:13700137000@10.0.0.1:5060>;tag=abc', "13700137000"),
    ("sip:+8613700137000@pbx.hospital.local", "13700137000"),
    ("<sip:01062345678@pbx>", "010-62345678"),
    ("sip:anonymous@anonymous.invalid", "anonymous"),
])
def test_the_callers_number_is_read_from_the_sip_uri_in_canonical_form(uri, number):
    assert inbound.caller_number(uri) == number


def test_a_known_number_is_filed_under_its_patient_and_the_callback_it_is_probably_about(session, world):
    nurse, _, patient, callback, _ = world
    ringing = inbound.register_incoming(session, nurse, call_ref="c1", remote_uri="<sip:13700137000@pbx>", now=NOW)
    assert (ringing.patient_id, ringing.task_id, ringing.masked_number) == (patient.id, callback.id, "137****7000")
    attempt = session.get(CallAttempt, ringing.attempt_id)
    assert (attempt.direction, attempt.user_id, attempt.number, attempt.answered_at) == (
        "inbound", nurse.id, "13700137000", None)
    assert inbound.patient_language(session, ringing.patient_id) == "zh-CN"


def test_unknown_and_shared_numbers_are_not_filed(session, world):
    nurse = world[0]
    before = len(session.exec(select(CallAttempt)).all())
    for uri in ("sip:13900000000@pbx", "sip:13600136000@pbx"):  # nobody's; a family phone of two patients
        ringing = inbound.register_incoming(session, nurse, call_ref="c", remote_uri=uri, now=NOW)
        assert (ringing.attempt_id, ringing.patient_id, ringing.task_id) == (None, None, None)
    assert len(session.exec(select(CallAttempt)).all()) == before
    command = inbound.unknown_caller_command(nurse, "c", "answer")
    assert command.payload == {"command": "answer", "call_ref": "c"} and command.room == f"agent:{nurse.id}"
    with pytest.raises(NotFound):
        inbound.unknown_caller_command(nurse, "c", "dial")


def test_answering_makes_the_waiting_callback_due_and_leases_it_to_the_nurse(session, world):
    nurse, other, _, callback, _ = world
    ringing = inbound.register_incoming(session, nurse, call_ref="c1", remote_uri="sip:13700137000@pbx", now=NOW)
    with pytest.raises(NotFound):
        inbound.answer_incoming(session, ringing.attempt_id, other, now=NOW, rules=CallRules())
    task_id, command = inbound.answer_incoming(session, ringing.attempt_id, nurse, now=NOW, rules=CallRules())
    assert task_id == callback.id
    assert command.payload == {"command": "answer", "attempt_id": ringing.attempt_id}
    session.refresh(callback)
    assert (callback.status, callback.lease_owner) == (TaskStatus.leased, worklist.owner_of(nurse))
    # the call screen of that task restores this attempt, as if she had dialled it
    assert worklist.call_screen(session, callback.id, nurse, now=NOW, rules=CallRules()).open_attempt_id == \
        ringing.attempt_id


def test_a_task_another_nurse_holds_stays_hers_and_the_call_is_answered_without_it(session, world):
    nurse, other, _, callback, _ = world
    session.get(Task, callback.id).status = TaskStatus.due
    session.flush()
    queue.claim_task(session, callback.id, owner=worklist.owner_of(other), now=NOW, rules=CallRules())
    ringing = inbound.register_incoming(session, nurse, call_ref="c1", remote_uri="sip:13700137000@pbx", now=NOW)
    task_id, _ = inbound.answer_incoming(session, ringing.attempt_id, nurse, now=NOW, rules=CallRules())
    assert task_id is None and session.get(CallAttempt, ringing.attempt_id).task_id is None
    assert session.get(Task, callback.id).lease_owner == worklist.owner_of(other)


def test_declined_and_missed_calls_are_on_the_timeline_with_nothing_to_wrap_up(session, world):
    nurse, _, patient, callback, _ = world
    declined = inbound.register_incoming(session, nurse, call_ref="c1", remote_uri="sip:13700137000@pbx", now=NOW)
    command = inbound.decline_incoming(session, declined.attempt_id, nurse, now=NOW)
    assert command.payload == {"command": "decline", "attempt_id": declined.attempt_id}
    with pytest.raises(inbound.NotRinging):
        inbound.answer_incoming(session, declined.attempt_id, nurse, now=NOW, rules=CallRules())
    missed = inbound.register_incoming(session, nurse, call_ref="c2", remote_uri="sip:13700137000@pbx", now=NOW)
    call_events.accept_agent_event(session, nurse, {"kind": "call_state", "attempt_id": missed.attempt_id,
                                                    "state": "disconnected"}, now=NOW)
    for attempt_id in (declined.attempt_id, missed.attempt_id):
        attempt = session.get(CallAttempt, attempt_id)
        assert attempt.ended_at is not None and attempt.wrapped_up_at is not None and attempt.outcome_code is None
    assert session.get(Task, callback.id).status == TaskStatus.callback  # untouched: still waiting for its time


def test_calls_in_do_not_count_against_the_caps_of_calls_out(session, world):
    nurse, _, patient, _, _ = world
    inbound.register_incoming(session, nurse, call_ref="c1", remote_uri="sip:13700137000@pbx", now=NOW)
    session.add(CallAttempt(patient_id=patient.id, number="13700137000", direction="outbound",
                            started_at=NOW - timedelta(hours=1)))
    session.flush()
    assert [a.direction for a in tasks.recent_attempts(session, patient.id, NOW + timedelta(minutes=1))] == [
        "outbound"]
