"""Patients calling in, in the core on SQLite and PostgreSQL: the caller matched by number to the patient and
the task the call is about, answering leases that task to the nurse, declining and missing file the call
without asking for an outcome, and calls in never count against the per-number caps of calls out. A call from a
number no patient has (or several share) is filed too; the nurse says who called (patient search), the call with
its recording and transcript goes to that patient (audited), the number may join her phones, the task the call is
about can be taken into the call, and a call without a task is saved with an outcome that fits it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from callcenter import call_events, inbound, outcomes, qa, queue, tasks, users, worklist
from callcenter.call_rules import CallRules
from callcenter.errors import Conflict, InvalidInput, NotFound, PatientNotFound, TaskAlreadyLeased
from callcenter.models import (
    AuditEvent,
    CallAttempt,
    Patient,
    PatientIdentifier,
    PatientPhone,
    PhoneOwner,
    Role,
    Task,
    TaskStatus,
)
from callcenter.patient_panel import patient_panel
from callcenter.patients import search_patients
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


def test_unknown_and_shared_numbers_are_filed_with_no_patient_and_ring_a_page_that_connects_late(session, world):
    nurse, other = world[0], world[1]
    filed = []
    for ref, uri in (("c1", "sip:13900000000@pbx"), ("c2", "sip:13600136000@pbx")):  # nobody's; a family phone
        ringing = inbound.register_incoming(session, nurse, call_ref=ref, remote_uri=uri, now=NOW)
        assert isinstance(ringing.attempt_id, int)
        assert (ringing.patient_id, ringing.task_id) == (None, None)
        filed.append(ringing.attempt_id)
    attempts = [session.get(CallAttempt, a) for a in filed]
    assert [(a.direction, a.user_id, a.patient_id, a.phone_id, a.number, a.sip_call_id) for a in attempts] == [
        ("inbound", nurse.id, None, None, "13900000000", "c1"), ("inbound", nurse.id, None, None, "13600136000", "c2")]
    assert [r.attempt_id for r in inbound.ringing_for(session, nurse, now=NOW + timedelta(seconds=5))] == filed
    assert inbound.ringing_for(session, other, now=NOW) == []
    command = inbound.bind_command(nurse, inbound.ringing_for(session, nurse, now=NOW)[0], locale="zh-CN")
    assert command.payload == {"command": "bind", "attempt_id": filed[0], "call_ref": "c1", "locale": "zh-CN"}
    banner = inbound.ringing_banner(session, filed[1], nurse)
    assert (banner.patient_name, banner.sharing, banner.masked_number) == ("", 2, "136****6000")
    assert inbound.ringing_banner(session, filed[0], nurse).sharing == 0


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


# -- a call in from a number no patient has (or several share): the nurse says who called ---------------------------


def _answered(session, nurse, *, ref="u1", uri="sip:13911112222@pbx"):
    """A call in the nurse answered and talked through, as her softphone agent reports it."""
    ringing = inbound.register_incoming(session, nurse, call_ref=ref, remote_uri=uri, now=NOW)
    task_id, command = inbound.answer_incoming(session, ringing.attempt_id, nurse, now=NOW, rules=CallRules())
    assert task_id is None and command.payload == {"command": "answer", "attempt_id": ringing.attempt_id}
    for event in ({"kind": "call_state", "state": "confirmed"},
                  {"kind": "transcript", "speaker": "patient", "text": "我是王五的老伴", "t0_s": 1.0, "t1_s": 2.5},
                  {"kind": "call_state", "state": "disconnected"},
                  {"kind": "recording", "path": f"2026/{ref}.wav", "duration_s": 12.5, "sha256": "ab" * 32}):
        call_events.accept_agent_event(session, nurse, {**event, "attempt_id": ringing.attempt_id},
                                       now=NOW + timedelta(minutes=1))
    return ringing.attempt_id


def test_patients_are_found_by_name_national_id_record_number_and_phone(session, world):
    _, _, patient, _, _ = world
    patient.national_id = "110101199003071234"
    session.add_all([patient, PatientIdentifier(patient_id=patient.id, source_system="clinic", mrn="OP-77"),
                     Patient(name="王五", source_system="his", mrn="99", merged_into_id=patient.id),  # a tombstone
                     Patient(name="100%纯", source_system="his", mrn="12")])
    session.flush()
    for term in ("王五", "五", "110101199003071234", "110101 19900307 1234", "9", "OP-77", "+86 137 0013 7000"):
        found = [p.id for p in search_patients(session, term)]
        assert found == ([patient.id] if term != "五" else []), term  # one character finds nothing
    assert [p.name for p in search_patients(session, "赵")] == []
    assert [p.name for p in search_patients(session, "赵一")] == ["赵一"]
    assert [p.name for p in search_patients(session, "0%")] == ["100%纯"]  # % is a character, not a wildcard
    assert search_patients(session, "110101199003079999") == []


def test_the_nurse_identifies_an_unknown_caller_and_the_call_recording_and_transcript_go_to_the_patient(
        session, world, caplog):
    nurse, other, patient, callback, _ = world
    caplog.set_level(logging.INFO, logger="callcenter")
    attempt_id = _answered(session, nurse)
    view = inbound.inbound_call(session, attempt_id, nurse, today=NOW.date())
    assert (view.caller, view.sharing, view.task, view.masked_number, view.number_can_be_added) == (
        None, (), None, "139****2222", True)
    assert [line.text for line in view.transcript] == ["我是王五的老伴"] and view.recording_id is not None
    assert inbound.open_calls(session, nurse) == [attempt_id]
    with pytest.raises(NotFound):  # only the nurse who took the call says who called
        inbound.caller_candidates(session, attempt_id, other, "王五", today=NOW.date())
    [match] = inbound.caller_candidates(session, attempt_id, nurse, "王五", today=NOW.date())
    assert (match.patient_id, match.number_owner, match.number_addable) == (patient.id, "", True)
    with pytest.raises(NotFound):
        inbound.identify_caller(session, attempt_id, other, patient.id, now=NOW)

    done = inbound.identify_caller(session, attempt_id, nurse, patient.id, now=NOW + timedelta(minutes=2),
                                   add_number_as="spouse", remote_addr="10.0.0.9")
    assert (done.patient_id, done.phone_added, done.task_id) == (patient.id, True, callback.id)
    attempt = session.get(CallAttempt, attempt_id)
    phone = session.get(PatientPhone, done.phone_id)
    assert (attempt.patient_id, attempt.phone_id) == (patient.id, phone.id)
    assert (phone.patient_id, phone.number, phone.owner, phone.kind, phone.rank) == (
        patient.id, "13911112222", PhoneOwner.spouse, "mobile", 1)  # after her own number (rank 0)
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "call.identify")).all()
    assert (event.user_id, event.object_type, event.object_id, event.remote_addr) == (
        nurse.id, "attempt", str(attempt_id), "10.0.0.9")
    assert event.detail == {"patient_id": patient.id, "previous_patient_id": None, "phone_id": phone.id,
                            "phone_added": True, "owner": "spouse"}
    # on her page: the call in, with its recording
    panel = patient_panel(session, patient.id, today=NOW.date())
    [entry] = [e for e in panel.entries if e.ref == f"attempt:{attempt_id}"]
    assert entry.title.startswith("来电") and entry.recording_id == view.recording_id
    assert [p.owner for p in panel.phones] == ["self", "spouse"]
    # the page now offers the callback the call is probably about
    offer = inbound.inbound_call(session, attempt_id, nurse, today=NOW.date()).task
    assert (offer.task_id, offer.held_by_other) == (callback.id, False)
    # names and numbers never reach the INFO log
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "identified" in logged
    for secret in ("13911112222", "王五", "139****2222"):
        assert secret not in logged


def test_a_wrong_pick_is_corrected_and_both_choices_are_audited(session, world):
    nurse, _, patient, _, _ = world
    family_a = session.exec(select(Patient).where(Patient.name == "赵一")).one()
    attempt_id = _answered(session, nurse)
    inbound.identify_caller(session, attempt_id, nurse, family_a.id, now=NOW)
    done = inbound.identify_caller(session, attempt_id, nurse, patient.id, now=NOW)
    assert (done.phone_id, done.phone_added) == (None, False)  # the number was not added: not hers
    assert session.get(CallAttempt, attempt_id).patient_id == patient.id
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "call.identify")
                          .order_by(AuditEvent.id)).all()
    assert [(e.detail["previous_patient_id"], e.detail["patient_id"]) for e in events] == [
        (None, family_a.id), (family_a.id, patient.id)]
    with pytest.raises(PatientNotFound):
        inbound.identify_caller(session, attempt_id, nurse, 424242, now=NOW)


def test_a_shared_number_offers_the_patients_who_have_it_and_keeps_their_phone_as_it_is(session, world):
    nurse = world[0]
    family_a, family_b = session.exec(select(Patient).where(Patient.name.in_(["赵一", "赵二"]))
                                      .order_by(Patient.name)).all()
    attempt_id = _answered(session, nurse, uri="sip:13600136000@pbx")
    view = inbound.inbound_call(session, attempt_id, nurse, today=NOW.date())
    assert [(c.patient_id, c.number_owner, c.number_addable) for c in view.sharing] == [
        (family_a.id, "本人", False), (family_b.id, "本人", False)]
    done = inbound.identify_caller(session, attempt_id, nurse, family_b.id, now=NOW, add_number_as="child")
    their_phone = session.exec(select(PatientPhone).where(PatientPhone.patient_id == family_b.id)).one()
    assert (done.phone_id, done.phone_added, their_phone.owner) == (their_phone.id, False, PhoneOwner.self_)


def test_an_anonymous_number_cannot_become_a_patients_phone(session, world):
    nurse, _, patient, _, _ = world
    attempt_id = _answered(session, nurse, uri="sip:anonymous@anonymous.invalid")
    assert inbound.inbound_call(session, attempt_id, nurse, today=NOW.date()).number_can_be_added is False
    with pytest.raises(InvalidInput):
        inbound.identify_caller(session, attempt_id, nurse, patient.id, now=NOW, add_number_as="self")
    assert session.get(CallAttempt, attempt_id).patient_id is None  # nothing half-done: the caller may retry
    done = inbound.identify_caller(session, attempt_id, nurse, patient.id, now=NOW)
    assert (done.patient_id, done.phone_added) == (patient.id, False)


def test_the_call_is_taken_into_the_task_it_is_about_and_wrapped_up_on_its_call_screen(session, world):
    nurse, other, patient, callback, _ = world
    attempt_id = _answered(session, nurse)
    with pytest.raises(InvalidInput):  # say who called first
        inbound.take_task_for_call(session, attempt_id, nurse, callback.id, now=NOW, rules=CallRules())
    inbound.identify_caller(session, attempt_id, nurse, patient.id, now=NOW)
    done_task = session.exec(select(Task).where(Task.status == TaskStatus.completed)).one()
    with pytest.raises(NotFound):  # only an open task of the caller
        inbound.take_task_for_call(session, attempt_id, nurse, done_task.id, now=NOW, rules=CallRules())
    assert inbound.take_task_for_call(session, attempt_id, nurse, callback.id, now=NOW,
                                      rules=CallRules()) == callback.id
    session.refresh(callback)
    assert (callback.status, callback.lease_owner) == (TaskStatus.leased, worklist.owner_of(nurse))
    assert session.get(CallAttempt, attempt_id).task_id == callback.id
    assert worklist.call_screen(session, callback.id, nurse, now=NOW, rules=CallRules()).open_attempt_id == attempt_id
    worklist.wrap_up(session, callback.id, nurse, outcome_code="completed", now=NOW, rules=CallRules())
    attempt = session.get(CallAttempt, attempt_id)
    assert (attempt.outcome_code, attempt.wrapped_up_at is not None) == ("completed", True)
    assert session.get(Task, callback.id).status == TaskStatus.completed
    with pytest.raises(Conflict):  # the call belongs to its task now
        inbound.inbound_call(session, attempt_id, nurse, today=NOW.date())


def test_a_task_another_nurse_holds_is_not_taken_into_the_call(session, world):
    nurse, other, patient, callback, _ = world
    session.get(Task, callback.id).status = TaskStatus.due
    session.flush()
    queue.claim_task(session, callback.id, owner=worklist.owner_of(other), now=NOW, rules=CallRules())
    attempt_id = _answered(session, nurse)
    inbound.identify_caller(session, attempt_id, nurse, patient.id, now=NOW)
    assert inbound.inbound_call(session, attempt_id, nurse, today=NOW.date()).task.held_by_other is True
    with pytest.raises(TaskAlreadyLeased):
        inbound.take_task_for_call(session, attempt_id, nurse, callback.id, now=NOW, rules=CallRules())
    assert session.get(CallAttempt, attempt_id).task_id is None
    assert session.get(Task, callback.id).lease_owner == worklist.owner_of(other)


def test_a_call_without_a_task_is_saved_after_it_ended_with_an_outcome_that_fits_it(session, world):
    nurse = world[0]
    ringing = inbound.register_incoming(session, nurse, call_ref="u1", remote_uri="sip:13911112222@pbx", now=NOW)
    inbound.answer_incoming(session, ringing.attempt_id, nurse, now=NOW, rules=CallRules())
    call_events.accept_agent_event(session, nurse, {"kind": "call_state", "state": "confirmed",
                                                    "attempt_id": ringing.attempt_id}, now=NOW)
    with pytest.raises(inbound.CallStillUp):
        inbound.wrap_up_call(session, ringing.attempt_id, nurse, outcome_code="completed", now=NOW)
    call_events.accept_agent_event(session, nurse, {"kind": "call_state", "state": "disconnected",
                                                    "attempt_id": ringing.attempt_id}, now=NOW)
    codes = [r.code for r in inbound.no_task_outcomes(session)]
    assert "callback_requested" not in codes and "no_answer" not in codes
    assert {"completed", "wrong_number", "refused"} <= set(codes)
    with pytest.raises(InvalidInput):  # a callback needs a task to book it on
        inbound.wrap_up_call(session, ringing.attempt_id, nurse, outcome_code="callback_requested", now=NOW)
    with pytest.raises(InvalidInput):  # this outcome needs a note
        inbound.wrap_up_call(session, ringing.attempt_id, nurse, outcome_code="refused", now=NOW)
    inbound.wrap_up_call(session, ringing.attempt_id, nurse, outcome_code="wrong_number", note=" 打错了 ", now=NOW)
    attempt = session.get(CallAttempt, ringing.attempt_id)
    assert (attempt.outcome_code, attempt.note, attempt.wrapped_up_at, attempt.patient_id) == (
        "wrong_number", "打错了", NOW, None)
    assert inbound.open_calls(session, nurse) == []
    with pytest.raises(inbound.CallWrappedUp):
        inbound.wrap_up_call(session, ringing.attempt_id, nurse, outcome_code="completed", now=NOW)


def test_a_caller_who_hangs_up_while_the_call_is_being_filed_leaves_a_missed_call(session, world):
    nurse, other = world[0], world[1]
    gave_up = inbound.register_incoming(session, nurse, call_ref="u1", remote_uri="sip:13911112222@pbx", now=NOW)
    assert inbound.caller_gave_up(session, other, "u1", now=NOW) is None  # not her call
    assert inbound.caller_gave_up(session, nurse, "u1", now=NOW) == gave_up.attempt_id
    # the bind reached the agent after the caller left: it reports the call failed
    unbound = inbound.register_incoming(session, nurse, call_ref="u2", remote_uri="sip:13911112222@pbx", now=NOW)
    call_events.accept_agent_event(session, nurse, {"kind": "call_state", "state": "failed",
                                                    "attempt_id": unbound.attempt_id}, now=NOW)
    for attempt_id in (gave_up.attempt_id, unbound.attempt_id):
        attempt = session.get(CallAttempt, attempt_id)
        assert (attempt.ended_at, attempt.wrapped_up_at, attempt.answered_at) == (NOW, NOW, None)
    assert inbound.ringing_for(session, nurse, now=NOW) == []
    assert inbound.caller_gave_up(session, nurse, "u1", now=NOW) is None  # once


def test_qa_finds_and_opens_a_call_whose_caller_is_not_identified(session, world):
    nurse = world[0]
    supervisor = users.create_user(session, username="s1", password="password-1", role=Role.supervisor)
    attempt_id = _answered(session, nurse)
    rows = qa.search(session, qa.SearchFilters(), UTC)
    assert [(r.attempt_id, r.patient_id, r.patient_name, r.masked_phone) for r in rows] == [
        (attempt_id, None, qa.UNIDENTIFIED_CALLER, "139****2222")]
    detail = qa.call_detail(session, attempt_id, supervisor, UTC, now=NOW)
    assert [line.text for line in detail.transcript] == ["我是王五的老伴"]
    scores = {"identity": 0, "script": 0, "accuracy": 0, "communication": 0, "closing": 0}
    with pytest.raises(InvalidInput):  # nobody to call back
        qa.review(session, attempt_id, supervisor, scores=scores, comment="重打", now=NOW, create_callback=True)
    assert qa.search(session, qa.SearchFilters(patient="王五"), UTC) == []
