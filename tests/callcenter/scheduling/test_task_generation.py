from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sched_world import SH, local
from sqlmodel import select

from callcenter import generation
from callcenter.call_rules import CallRules
from callcenter.db import session_scope
from callcenter.generation import plan_all, plan_patients
from callcenter.models import Encounter, Task, TaskEvent, TaskStatus


def tasks(engine):
    with session_scope(engine) as s:
        return list(s.exec(select(Task).order_by(Task.id)).all())


def test_planning_creates_due_tasks_once(engine, hospital, rules):
    hospital.plan()
    pid = hospital.patient()
    hospital.stay(pid, date(2025, 9, 10))
    hospital.stay(hospital.patient(), date(2025, 9, 10), department="骨科")  # not in the cohort
    now = local(2025, 9, 12, 2, 0)
    with session_scope(engine) as s:
        first = plan_all(s, now=now, rules=rules)
    with session_scope(engine) as s:
        second = plan_all(s, now=now, rules=rules)
    got = tasks(engine)
    assert [t.point for t in got] == ["d7", "d30"]  # d90 (12-09) lies beyond the 30-day horizon
    assert first.created == 2 and second.created == 0
    t = got[0]
    assert t.status == TaskStatus.planned and t.patient_id == pid
    assert t.due_at.astimezone(SH).date() == date(2025, 9, 17)
    assert t.due_at.astimezone(SH).time() == time(8, 30)
    with session_scope(engine) as s:
        events = s.exec(select(TaskEvent).where(TaskEvent.task_id == t.id)).all()
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [("", "planned", "planner")]


def test_due_date_on_a_holiday_moves_to_the_next_working_morning(engine, hospital, rules):
    hospital.plan()
    hospital.stay(hospital.patient(), date(2025, 9, 24))  # d7 = 2025-10-01, National Day
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 25, 2, 0), rules=rules)
    (d7,) = [t for t in tasks(engine) if t.point == "d7"]
    assert d7.due_at == local(2025, 10, 9, 8, 30)


def test_due_date_on_a_makeup_sunday_stays_there(engine, hospital, rules):
    hospital.plan()
    hospital.stay(hospital.patient(), date(2025, 9, 21))  # d7 = Sunday 2025-09-28, a 调休 working day
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 22, 2, 0), rules=rules)
    (d7,) = [t for t in tasks(engine) if t.point == "d7"]
    assert d7.due_at == local(2025, 9, 28, 8, 30)


def test_readmission_cancels_the_old_stay_and_restarts_from_the_new_discharge(engine, hospital, rules):
    hospital.plan()
    pid = hospital.patient()
    first = hospital.stay(pid, date(2025, 9, 1))
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 2, 2, 0), rules=rules)
    second = hospital.stay(pid, date(2025, 9, 20))
    with session_scope(engine) as s:
        report = plan_patients(s, [pid], now=local(2025, 9, 21, 2, 0), rules=rules)
    got = tasks(engine)
    old = [t for t in got if t.anchor_encounter_id == first]
    new = [t for t in got if t.anchor_encounter_id == second]
    assert {t.status for t in old} == {TaskStatus.cancelled}
    assert all("readmitted" in t.reason for t in old)
    assert report.cancelled_readmitted == len(old) == 2
    assert [t.point for t in new] == ["d7", "d30"]
    assert new[0].due_at.astimezone(SH).date() == date(2025, 9, 28)


def test_do_not_call_and_deceased_patients_get_no_tasks(engine, hospital, rules):
    from callcenter.models import Patient

    hospital.plan()
    a, b = hospital.patient(), hospital.patient()
    hospital.stay(a, date(2025, 9, 10))
    hospital.stay(b, date(2025, 9, 10))
    with session_scope(engine) as s:
        s.get(Patient, a).do_not_call = True
        s.get(Patient, b).deceased = True
    with session_scope(engine) as s:
        assert plan_all(s, now=local(2025, 9, 12, 2, 0), rules=rules).created == 0


def test_inactive_plans_generate_nothing(engine, hospital, rules):
    hospital.plan(active=False)
    hospital.stay(hospital.patient(), date(2025, 9, 10))
    with session_scope(engine) as s:
        assert plan_all(s, now=local(2025, 9, 12, 2, 0), rules=rules).plans == 0
    assert tasks(engine) == []


def test_every_created_task_has_one_creation_event_and_a_rerun_adds_none(engine, hospital, rules):
    hospital.plan()
    for _ in range(3):
        hospital.stay(hospital.patient(), date(2025, 9, 10))
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 12, 2, 0), rules=rules)
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 12, 2, 0), rules=rules)
        events = s.exec(select(TaskEvent)).all()
    assert sorted(e.task_id for e in events) == [t.id for t in tasks(engine)] and len(events) == 6
    assert {(e.from_status, e.to_status, e.actor) for e in events} == {("", "planned", "planner")}


def test_the_anchor_is_the_local_discharge_day_on_both_sides_of_a_summer_time_change(engine, hospital):
    """New York leaves summer time on 2025-11-02: 00:30 EDT and 23:30 EST are both 04:30 UTC, so the day of the
    discharge needs the offset in force at that moment (SQLite computes it from stored UTC text)."""
    ny = ZoneInfo("America/New_York")
    hospital.plan(schedule={"points": ["14d"], "window": "3d"})
    discharges = {hospital.patient(): datetime(2025, 10, 30, 0, 30, tzinfo=ny),
                  hospital.patient(): datetime(2025, 11, 5, 23, 30, tzinfo=ny)}
    with session_scope(engine) as s:
        for n, (pid, at) in enumerate(discharges.items()):
            s.add(Encounter(patient_id=pid, department="心内科", admitted_at=at.astimezone(UTC),
                            discharged_at=at.astimezone(UTC), source_system="his", source_id=f"dst{n}"))
    with session_scope(engine) as s:
        plan_all(s, now=datetime(2025, 11, 6, 2, 0, tzinfo=ny).astimezone(UTC),
                 rules=CallRules(timezone="America/New_York", horizon_days=30))
    due = {t.patient_id: t.due_at.astimezone(ny).date() for t in tasks(engine)}
    assert due == {pid: at.date() + timedelta(days=14) for pid, at in discharges.items()}


def test_planning_in_several_insert_batches_creates_every_task_once(engine, hospital, rules, monkeypatch):
    monkeypatch.setattr(generation, "INSERT_BATCH", 2)  # patient ids per INSERT: five patients span three batches
    hospital.plan()
    for _ in range(5):
        hospital.stay(hospital.patient(), date(2025, 9, 10))
    with session_scope(engine) as s:
        first = plan_all(s, now=local(2025, 9, 12, 2, 0), rules=rules)
    with session_scope(engine) as s:
        again = plan_all(s, now=local(2025, 9, 12, 2, 0), rules=rules)
        events = s.exec(select(TaskEvent)).all()
    got = tasks(engine)
    assert (first.created, again.created, first.patients) == (10, 0, 5)
    assert len({t.patient_id for t in got}) == 5 and sorted(e.task_id for e in events) == [t.id for t in got]
