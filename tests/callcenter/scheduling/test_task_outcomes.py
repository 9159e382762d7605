from datetime import date, timedelta

import pytest
from sched_world import SH, local
from sqlmodel import select

from callcenter.db import session_scope
from callcenter.errors import InvalidInput, OutsideCallWindow
from callcenter.generation import plan_all
from callcenter.models import CallAttempt, Patient, PatientPhone, Task, TaskEvent, TaskStatus
from callcenter.outcomes import UnknownOutcome, seed_outcomes
from callcenter.queue import claim, release_due
from callcenter.tasks import TaskClosed, apply_outcome, book_appointment, next_phone, upcoming_appointments

MON_0900 = local(2025, 9, 15, 9, 0)  # Monday


def setup(engine, hospital, rules, *, phones=2, patients=1):
    hospital.plan()
    pids = []
    for _ in range(patients):
        pid = hospital.patient(phones=phones)
        hospital.stay(pid, date(2025, 9, 8))
        pids.append(pid)
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 9, 2, 0), rules=rules)
        release_due(s, now=MON_0900)
    return pids


def take(engine, rules, now=MON_0900):
    c = claim(engine, owner="user:1", now=now, rules=rules, team_id=None, user_id=1)
    assert c is not None
    return c


def outcome(engine, rules, task_id, code, now=MON_0900, **kw):
    with session_scope(engine) as s:
        return apply_outcome(s, task_id, code, actor="user:1", now=now, rules=rules, **kw)


def status(engine, task_id):
    with session_scope(engine) as s:
        return s.get(Task, task_id)


def test_seeding_outcomes_is_idempotent_and_keeps_hospital_edits(engine, hospital):
    from callcenter.models import Outcome

    with session_scope(engine) as s:
        s.get(Outcome, "busy").retry_delay_min = 5
    with session_scope(engine) as s:
        assert seed_outcomes(s) == 0
        assert s.get(Outcome, "busy").retry_delay_min == 5


def test_busy_retries_after_the_noon_rest_on_the_same_line(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules, now=local(2025, 9, 15, 11, 20))
    t = outcome(engine, rules, c.task_id, "busy", now=local(2025, 9, 15, 11, 20), phone_id=c.phone_id)
    assert t.status == TaskStatus.planned
    assert t.next_attempt_at == local(2025, 9, 15, 14, 30)  # 11:50 is in the noon gap
    with session_scope(engine) as s:
        assert next_phone(s, c.task_id, now=t.next_attempt_at, rules=rules).phone_id == c.phone_id


def test_no_answer_goes_to_the_next_number(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules)
    t = outcome(engine, rules, c.task_id, "no_answer", phone_id=c.phone_id)
    assert t.next_attempt_at == MON_0900
    with session_scope(engine) as s:
        phones = s.exec(select(PatientPhone).order_by(PatientPhone.rank)).all()
        assert c.phone_id == phones[0].id
        assert next_phone(s, c.task_id, now=MON_0900, rules=rules).phone_id == phones[1].id


def test_invalid_number_is_marked_and_never_dialled_again(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules)
    outcome(engine, rules, c.task_id, "number_invalid", phone_id=c.phone_id)
    with session_scope(engine) as s:
        assert s.get(PatientPhone, c.phone_id).invalid
        for later in (MON_0900, MON_0900 + timedelta(days=3)):
            assert next_phone(s, c.task_id, now=later, rules=rules).phone_id != c.phone_id


def test_attempts_exhausted_make_the_task_unreachable(engine, hospital, rules):
    setup(engine, hospital, rules, phones=1)
    now = MON_0900
    for _ in range(3):
        with session_scope(engine) as s:
            release_due(s, now=now)
        c = take(engine, rules, now=now)
        t = outcome(engine, rules, c.task_id, "busy", now=now, phone_id=c.phone_id)
        now = t.next_attempt_at or now
    assert t.status == TaskStatus.unreachable and t.attempts == 3 and t.closed_at is not None


def test_every_state_change_is_recorded_with_who_and_why(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules)
    outcome(engine, rules, c.task_id, "completed", phone_id=c.phone_id)
    with session_scope(engine) as s:
        events = s.exec(select(TaskEvent).where(TaskEvent.task_id == c.task_id).order_by(TaskEvent.id)).all()
        trail = [(e.actor, e.from_status, e.to_status) for e in events]
        assert trail == [("planner", "", "planned"), ("scheduler", "planned", "due"), ("user:1", "due", "leased"),
                         ("user:1", "leased", "completed")]
        assert events[-1].reason == "outcome completed"
        (attempt,) = s.exec(select(CallAttempt)).all()
        assert (attempt.outcome_code, attempt.user_id, attempt.task_id) == ("completed", 1, c.task_id)


def test_completion_stops_reminders_of_the_same_time_point(engine, hospital, rules):
    hospital.plan()
    hospital.plan(key="sms_reminder", channel="sms", questionnaire="discharge_general")
    pid = hospital.patient()
    hospital.stay(pid, date(2025, 9, 8))
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 9, 2, 0), rules=rules)
        release_due(s, now=MON_0900)
    c = take(engine, rules)
    outcome(engine, rules, c.task_id, "completed", phone_id=c.phone_id)
    with session_scope(engine) as s:
        rows = s.exec(select(Task).where(Task.id != c.task_id)).all()
        same_point = [t for t in rows if t.point == "d7"]
        other_point = [t for t in rows if t.point != "d7"]
    assert [t.channel for t in same_point] == ["sms"] and same_point[0].status == TaskStatus.cancelled
    assert other_point and all(t.status == TaskStatus.planned for t in other_point)


def test_refusal_cancels_the_plan_and_planning_does_not_bring_it_back(engine, hospital, rules):
    (pid,) = setup(engine, hospital, rules)
    c = take(engine, rules)
    outcome(engine, rules, c.task_id, "refused", phone_id=c.phone_id, note="不需要随访")
    with session_scope(engine) as s:
        report = plan_all(s, now=local(2025, 10, 20, 2, 0), rules=rules)
        rows = s.exec(select(Task).where(Task.patient_id == pid)).all()
    assert report.skipped_stopped == 1 and report.created == 0
    assert {t.status for t in rows} == {TaskStatus.cancelled}


def test_death_stops_every_plan_of_the_patient(engine, hospital, rules):
    hospital.plan()
    hospital.plan(key="oncology", cohort={"kinds": ["inpatient"]})
    pid = hospital.patient()
    hospital.stay(pid, date(2025, 9, 8))
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 9, 2, 0), rules=rules)
        release_due(s, now=MON_0900)
    c = take(engine, rules)
    outcome(engine, rules, c.task_id, "deceased", phone_id=c.phone_id, note="家属告知 9 月 12 日去世")
    with session_scope(engine) as s:
        rows = s.exec(select(Task)).all()
        assert {t.status for t in rows} == {TaskStatus.cancelled}
        assert len({t.plan_id for t in rows}) == 2
        assert s.get(Patient, pid).deceased


def test_callback_is_released_at_the_chosen_time_to_the_nurse_first(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules)
    at = local(2025, 9, 16, 15, 10)
    t = outcome(engine, rules, c.task_id, "callback_requested", phone_id=c.phone_id, callback_at=at,
                callback_assignee_id=1)
    assert (t.status, t.callback_at, t.assignee_id) == (TaskStatus.callback, at, 1)
    with session_scope(engine) as s:
        assert release_due(s, now=at - timedelta(minutes=1)) == 0
        assert release_due(s, now=at) == 1
    assert status(engine, c.task_id).status == TaskStatus.due


def test_callback_outside_the_call_windows_is_refused(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules)
    with pytest.raises(OutsideCallWindow, match="next allowed time is 2025-10-09 08:30"):
        outcome(engine, rules, c.task_id, "callback_requested", callback_at=local(2025, 10, 2, 10, 0))


def test_bad_outcomes_are_refused_and_change_nothing(engine, hospital, rules):
    setup(engine, hospital, rules)
    c = take(engine, rules)
    with pytest.raises(UnknownOutcome, match="busy"):
        outcome(engine, rules, c.task_id, "exploded")
    with pytest.raises(InvalidInput, match="needs a note"):
        outcome(engine, rules, c.task_id, "refused")
    assert status(engine, c.task_id).attempts == 0
    outcome(engine, rules, c.task_id, "completed")
    with pytest.raises(TaskClosed):
        outcome(engine, rules, c.task_id, "completed")


def test_revisit_appointment_is_booked_for_the_future(engine, hospital, rules):
    (pid,) = setup(engine, hospital, rules)
    with session_scope(engine) as s:
        book_appointment(s, patient_id=pid, scheduled_for=local(2025, 9, 30, 9, 0), now=MON_0900, department="心内科")
        with pytest.raises(InvalidInput, match="future"):
            book_appointment(s, patient_id=pid, scheduled_for=MON_0900, now=MON_0900)
    with session_scope(engine) as s:
        (appt,) = upcoming_appointments(s, pid, now=MON_0900)
        assert appt.scheduled_for.astimezone(SH).date() == date(2025, 9, 30)
