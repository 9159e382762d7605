from datetime import date, time, timedelta

import pytest
from sched_world import local
from sqlmodel import select

from callcenter.db import session_scope
from callcenter.errors import TaskAlreadyLeased
from callcenter.generation import plan_all
from callcenter.models import Task, TaskEvent, TaskStatus
from callcenter.queue import (
    LeaseLost,
    claim,
    claim_task,
    expire_leases,
    nurse_queue,
    refresh_overdue,
    release_due,
    release_lease,
    renew_lease,
)
from callcenter.tasks import apply_outcome, overdue_callbacks_to_pool

MON_0900 = local(2025, 9, 15, 9, 0)


def generate(engine, hospital, rules, discharges, department="心内科", **plan):
    hospital.plan(cohort={"departments": [department]}, **plan)
    pids = []
    for d in discharges:
        pid = hospital.patient()
        hospital.stay(pid, d, department=department)
        pids.append(pid)
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 1, 2, 0), rules=rules)
    return pids


def queue_ids(engine, *, user_id=1, team_id=None, now=MON_0900):
    with session_scope(engine) as s:
        release_due(s, now=now)
        refresh_overdue(s, now=now)
    with session_scope(engine) as s:
        return [(t.patient_id, t.point) for t in nurse_queue(s, team_id=team_id, user_id=user_id)]


def test_queue_order_callbacks_then_overdue_then_priority_then_due_date(engine, hospital, rules):
    # due d7 on 9-05 (window ends 9-09: overdue on 9-15), 9-08, 9-10
    a, b, c = generate(engine, hospital, rules, [date(2025, 8, 29), date(2025, 9, 3), date(2025, 9, 1)])
    assert [p for p, _ in queue_ids(engine)] == [a, c, b]
    with session_scope(engine) as s:
        task_b = s.exec(select(Task).where(Task.patient_id == b)).first()
    cl = claim(engine, owner="user:1", now=MON_0900, rules=rules, team_id=None, user_id=1)
    assert cl.patient_id == a
    with session_scope(engine) as s:
        # b asks to be called back at 10:00: callbacks come first once their time has come
        c_ = claim_task(s, task_b.id, owner="user:1", now=MON_0900, rules=rules)
        apply_outcome(s, c_.task_id, "callback_requested", actor="user:1", now=MON_0900, rules=rules,
                      callback_at=local(2025, 9, 15, 10, 0), callback_assignee_id=1)
    assert [p for p, _ in queue_ids(engine, now=local(2025, 9, 15, 10, 0))] == [b, c]
    # another nurse does not see a callback bound to nurse 1
    assert [p for p, _ in queue_ids(engine, user_id=None, now=local(2025, 9, 15, 10, 0))] == [c]


def test_higher_priority_comes_first(engine, hospital, rules):
    (low,) = generate(engine, hospital, rules, [date(2025, 9, 6)])  # d7 due 9-13 (Sat) -> Monday 9-15
    (high,) = generate(engine, hospital, rules, [date(2025, 9, 7)], "肿瘤科", key="urgent", priority=90)
    assert [p for p, _ in queue_ids(engine)] == [high, low]


def test_team_queues_are_separate(engine, hospital, rules):
    t = hospital.team("cardio")
    (mine,) = generate(engine, hospital, rules, [date(2025, 9, 3)], key="cardio", team="cardio")
    (pool,) = generate(engine, hospital, rules, [date(2025, 9, 3)], "骨科", key="general")
    assert [p for p, _ in queue_ids(engine, team_id=t)] == [mine]
    assert [p for p, _ in queue_ids(engine, team_id=None)] == [pool]


def test_a_claimed_task_leaves_the_queue_and_cannot_be_claimed_twice(engine, hospital, rules):
    generate(engine, hospital, rules, [date(2025, 9, 3)])
    queue_ids(engine)
    first = claim(engine, owner="user:1", now=MON_0900, rules=rules, team_id=None, user_id=1)
    assert first is not None
    assert claim(engine, owner="robot:r1", now=MON_0900, rules=rules, team_id=None) is None
    with session_scope(engine) as s, pytest.raises(TaskAlreadyLeased):
        claim_task(s, first.task_id, owner="user:2", now=MON_0900, rules=rules)


def test_expired_lease_returns_the_task_and_the_old_holder_loses_it(engine, hospital, rules):
    generate(engine, hospital, rules, [date(2025, 9, 3)])
    queue_ids(engine)
    c = claim(engine, owner="user:1", now=MON_0900, rules=rules, team_id=None, user_id=1)
    later = MON_0900 + timedelta(seconds=rules.lease_seconds - 1)
    with session_scope(engine) as s:
        renewed = renew_lease(s, c.task_id, owner="user:1", now=later, rules=rules)
        assert expire_leases(s, now=later + timedelta(seconds=2)) == 0
    with session_scope(engine) as s:
        assert expire_leases(s, now=renewed + timedelta(seconds=1)) == 1
        assert s.get(Task, c.task_id).status == TaskStatus.due
    with session_scope(engine) as s, pytest.raises(LeaseLost):
        renew_lease(s, c.task_id, owner="user:1", now=renewed + timedelta(seconds=2), rules=rules)
    with session_scope(engine) as s:
        last = s.exec(select(TaskEvent).where(TaskEvent.task_id == c.task_id).order_by(TaskEvent.id.desc())).first()
        assert (last.actor, last.from_status, last.to_status) == ("scheduler", "leased", "due")
        assert "expired" in last.reason


def test_a_skipped_task_goes_back_to_the_queue(engine, hospital, rules):
    generate(engine, hospital, rules, [date(2025, 9, 3)])
    queue_ids(engine)
    c = claim(engine, owner="user:1", now=MON_0900, rules=rules, team_id=None, user_id=1)
    with session_scope(engine) as s:
        release_lease(s, c.task_id, owner="user:1", now=MON_0900, reason="patient is in a meeting")
    assert len(queue_ids(engine)) == 1


def test_nothing_is_claimed_outside_the_windows_or_the_patients_preference(engine, hospital, rules):
    hospital.plan()
    pid = hospital.patient(preferred=(time(18, 0), time(20, 0)))
    hospital.stay(pid, date(2025, 9, 3))
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 1, 2, 0), rules=rules)
        release_due(s, now=MON_0900)
    for at in (MON_0900, local(2025, 9, 15, 12, 30), local(2025, 9, 15, 21, 0), local(2025, 10, 1, 19, 0)):
        assert claim(engine, owner="robot:r", now=at, rules=rules, team_id=None) is None
    assert claim(engine, owner="robot:r", now=local(2025, 9, 15, 18, 30), rules=rules, team_id=None) is not None


def test_overdue_callback_bound_to_a_nurse_goes_to_the_pool(engine, hospital, rules):
    generate(engine, hospital, rules, [date(2025, 9, 3)])
    queue_ids(engine)
    c = claim(engine, owner="user:1", now=MON_0900, rules=rules, team_id=None, user_id=1)
    at = local(2025, 9, 15, 10, 0)
    with session_scope(engine) as s:
        apply_outcome(s, c.task_id, "callback_requested", actor="user:1", now=MON_0900, rules=rules,
                      callback_at=at, callback_assignee_id=1)
    assert queue_ids(engine, user_id=None, now=at) == []
    with session_scope(engine) as s:
        assert overdue_callbacks_to_pool(s, now=at + timedelta(minutes=rules.callback_grace_min - 1), rules=rules) == 0
        assert overdue_callbacks_to_pool(s, now=at + timedelta(minutes=rules.callback_grace_min + 1), rules=rules) == 1
    assert len(queue_ids(engine, user_id=None, now=at + timedelta(hours=1))) == 1


def test_only_the_lease_holder_records_the_outcome(engine, hospital, rules):
    from callcenter.tasks import TaskHeldByOther

    generate(engine, hospital, rules, [date(2025, 9, 3)])
    queue_ids(engine)
    c = claim(engine, owner="robot:r1", now=MON_0900, rules=rules, team_id=None)
    with session_scope(engine) as s, pytest.raises(TaskHeldByOther, match="robot:r1"):
        apply_outcome(s, c.task_id, "completed", actor="user:1", now=MON_0900, rules=rules)
    with session_scope(engine) as s:
        assert apply_outcome(s, c.task_id, "completed", actor="robot:r1", now=MON_0900, rules=rules).status == "completed"


def test_callable_tasks_are_not_hidden_behind_ones_that_must_wait(engine, hospital, rules):
    hospital.plan()
    for _ in range(12):  # evening-only patients first in the queue (earlier due dates)
        hospital.stay(hospital.patient(phones=1, preferred=(time(18, 0), time(20, 0))), date(2025, 9, 2))
    anytime = hospital.patient(phones=1)
    hospital.stay(anytime, date(2025, 9, 6))
    with session_scope(engine) as s:
        plan_all(s, now=local(2025, 9, 1, 2, 0), rules=rules)
    assert len(queue_ids(engine)) == 13
    c = claim(engine, owner="robot:r", now=MON_0900, rules=rules, team_id=None)
    assert c is not None and c.patient_id == anytime
