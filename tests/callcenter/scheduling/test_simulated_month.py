"""Acceptance: a simulated month with an injected clock, stepping every hour around the clock.

2025-09-15 .. 2025-10-20 covers the National Day holiday (10-01..10-08) and its 调休 working days
(Sunday 09-28 and Saturday 10-11). A robot claims whatever the queue offers at each step and answers with
each patient's scripted behaviour; afterwards the attempt log is checked against the rules.
"""

from collections import defaultdict
from datetime import date, time, timedelta

import pytest
from sched_world import SH, local
from sqlmodel import select

from callcenter import scheduler
from callcenter.calendar import preferred_window
from callcenter.call_rules import CallRules
from callcenter.clock import FrozenClock
from callcenter.db import session_scope
from callcenter.dialing import WINDOW_24H
from callcenter.models import CallAttempt, Encounter, Patient, Task, TaskStatus
from callcenter.queue import claim
from callcenter.settings import Settings
from callcenter.tasks import apply_outcome

START, END = local(2025, 9, 15, 0, 0), local(2025, 10, 21, 0, 0)
STEP = timedelta(hours=1)
POLICY = CallRules().policy()  # the default windows, for the patients' callback wishes


def behaviour_outcome(kind, n, now):
    """(outcome code, extra kwargs) for the n-th attempt (0-based) at this patient."""
    if kind == "never_answers":
        return "no_answer", {}
    if kind == "busy_then_done":
        return ("busy", {}) if n < 2 else ("completed", {})
    if kind == "callback":
        if n == 0:
            at = (now.astimezone(SH) + timedelta(days=1)).replace(hour=15, minute=0)
            while not POLICY.is_allowed(at):
                at += timedelta(days=1)
            return "callback_requested", {"callback_at": at}
        return "completed", {}
    if kind == "refuses":
        return "refused", {"note": "不想再接电话"}
    if kind == "dies":
        return "deceased", {"note": "家属告知"}
    if kind == "first_number_dead":
        return ("number_invalid", {}) if n == 0 else ("completed", {})
    return "completed", {}


def simulate(engine, hospital, rules, rt, patients, readmitted):
    readmit_on = local(2025, 9, 20, 12, 0)
    by_patient = defaultdict(int)
    refused_at, died_at = {}, {}
    now = START
    while now < END:
        if now == readmit_on:
            hospital.stay(readmitted, date(2025, 9, 20))  # readmission: the plan restarts from here
        local_now = now.astimezone(SH)
        if local_now.hour == 1:  # nightly planning
            scheduler.run_once(rt, now)
        else:
            for body in (scheduler.leases, scheduler.callbacks, scheduler.release):
                body(rt, now)
        for _ in range(5):
            c = claim(engine, owner="robot:sim", now=now, rules=rules)
            if c is None:
                break
            kind = patients[c.patient_id]
            code, extra = behaviour_outcome(kind, by_patient[c.patient_id], now)
            by_patient[c.patient_id] += 1
            with session_scope(engine) as s:
                apply_outcome(s, c.task_id, code, actor="robot:sim", now=now, rules=rules, phone_id=c.phone_id,
                              **extra)
            if code == "refused":
                refused_at[c.patient_id] = now
            if code == "deceased":
                died_at[c.patient_id] = now
        now += STEP
    return by_patient, refused_at, died_at


@pytest.mark.slow
def test_a_simulated_month_respects_every_calling_rule(engine, hospital, rules, tmp_path):
    hospital.plan(schedule={"points": ["7d", "30d"], "window": "3d"}, max_attempts=3)
    kinds = ["never_answers", "busy_then_done", "callback", "refuses", "dies", "first_number_dead",
             "completes", "evening_only", "readmitted"]
    patients = {}
    discharges = [date(2025, 9, 8), date(2025, 9, 12), date(2025, 9, 14), date(2025, 9, 19), date(2025, 9, 21),
                  date(2025, 9, 24), date(2025, 9, 11), date(2025, 9, 29), date(2025, 9, 4)]
    for kind, day in zip(kinds, discharges, strict=True):
        pref = (time(18, 0), time(19, 30)) if kind == "evening_only" else None
        pid = hospital.patient(phones=2, preferred=pref)
        hospital.stay(pid, day)
        patients[pid] = kind
    readmitted = next(p for p, k in patients.items() if k == "readmitted")

    rt = scheduler.Runtime(engine=engine, settings=Settings(data_dir=str(tmp_path)), rules=rules,
                           clock=FrozenClock(START))
    try:
        by_patient, refused_at, died_at = simulate(engine, hospital, rules, rt, patients, readmitted)
    finally:
        rt.lock.release()

    with session_scope(engine) as s:
        attempts = s.exec(select(CallAttempt).order_by(CallAttempt.started_at)).all()
        tasks = s.exec(select(Task)).all()
        prefs = {p.id: preferred_window(p.preferred_call_start, p.preferred_call_end)
                 for p in s.exec(select(Patient)).all()}
        stays = s.exec(select(Encounter).where(Encounter.patient_id == readmitted).order_by(Encounter.id)).all()
    policy = rules.policy()
    assert len(attempts) > 20
    days = {a.started_at.astimezone(SH).date() for a in attempts}
    # no attempt outside the windows, in the noon rest, on a holiday or a weekend; preferences honoured
    for a in attempts:
        assert policy.is_allowed(a.started_at, prefs[a.patient_id]), a.started_at.astimezone(SH)
    assert not any(date(2025, 10, 1) <= d <= date(2025, 10, 8) for d in days)
    # the 调休 working days were used as working days
    assert date(2025, 9, 28) in days and date(2025, 10, 11) in days
    # per-number cap in any rolling 24 hours, and max attempts per task
    by_phone = defaultdict(list)
    for a in attempts:
        by_phone[a.phone_id].append(a.started_at)
    for times in by_phone.values():
        for t in times:
            assert sum(1 for u in times if t - WINDOW_24H < u <= t) <= rules.max_calls_per_number_24h
    per_task = defaultdict(int)
    for a in attempts:
        per_task[a.task_id] += 1
    by_id = {t.id: t for t in tasks}
    for task_id, n in per_task.items():
        assert n <= by_id[task_id].max_attempts
    # never answers -> 失访 after exactly max attempts
    never = [t for t in tasks if patients[t.patient_id] == "never_answers" and t.point == "d7"]
    assert never[0].status == TaskStatus.unreachable and per_task[never[0].id] == 3
    # callback honoured at the patient's time
    cb = [a for a in attempts if patients[a.patient_id] == "callback"]
    assert cb[0].outcome_code == "callback_requested" and cb[1].outcome_code == "completed"
    assert cb[1].started_at.astimezone(SH).time() == time(15, 0)
    assert cb[1].started_at.astimezone(SH).date() > cb[0].started_at.astimezone(SH).date()
    # stop rules: refusal and death cancel the rest, no attempt after them
    for pid, at in list(refused_at.items()) + list(died_at.items()):
        assert all(a.started_at <= at for a in attempts if a.patient_id == pid)
        assert {t.status for t in tasks if t.patient_id == pid} <= {TaskStatus.cancelled}
    assert refused_at and died_at
    # completion stops further calls for that time point
    for t in tasks:
        if t.status == TaskStatus.completed:
            last = max(a.started_at for a in attempts if a.task_id == t.id)
            assert t.closed_at == last
    # a dead first number is never dialled again
    dead = [a for a in attempts if patients[a.patient_id] == "first_number_dead"]
    assert dead[0].outcome_code == "number_invalid"
    assert all(a.phone_id != dead[0].phone_id for a in dead[1:])
    # readmission restarted the plan from the new discharge
    old, new = stays
    old_tasks = [t for t in tasks if t.anchor_encounter_id == old.id]
    new_tasks = [t for t in tasks if t.anchor_encounter_id == new.id]
    assert old_tasks and all(t.status == TaskStatus.cancelled and "readmitted" in t.reason for t in old_tasks)
    assert {t.point for t in new_tasks} == {"d7", "d30"}
