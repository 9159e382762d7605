"""Acceptance: two real processes claiming from the same queue never get the same task."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sched_world import local
from sqlmodel import select

from callcenter.db import session_scope
from callcenter.models import Patient, PatientPhone, Task, TaskEvent, TaskStatus

WORKER = Path(__file__).with_name("claim_worker.py")
AT = local(2025, 9, 15, 9, 0)
N_TASKS = {"postgresql": 2000, "sqlite": 600}  # SQLite serialises claims (BEGIN IMMEDIATE)


def fill_queue(engine, n):
    with session_scope(engine) as s:
        patients = [Patient(name="", mrn=f"C{i}") for i in range(n)]
        s.add_all(patients)
        s.flush()
        s.add_all(PatientPhone(patient_id=p.id, number=f"139{p.id:08d}") for p in patients)
        s.add_all(Task(patient_id=p.id, point=f"c{i}", status=TaskStatus.due, due_at=AT, next_attempt_at=AT,
                       priority=i % 100) for i, p in enumerate(patients))


@pytest.mark.slow
def test_two_processes_never_claim_the_same_task(engine):
    n_tasks = N_TASKS[engine.dialect.name]
    fill_queue(engine, n_tasks)
    url = engine.url.render_as_string(hide_password=False)
    procs = [subprocess.Popen([sys.executable, str(WORKER), url, f"robot:w{i}", AT.isoformat()],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=240)[0].splitlines() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs)
    assert all(out[-1] == f"done {len(out) - 1}" for out in outputs)
    claimed = [[int(x) for x in out[:-1]] for out in outputs]
    everything = claimed[0] + claimed[1]
    assert len(everything) == n_tasks
    assert len(set(everything)) == n_tasks  # no task handed out twice
    assert all(len(c) > 0 for c in claimed)  # both processes really competed
    with session_scope(engine) as s:
        rows = s.exec(select(Task.id, Task.lease_owner, Task.status)).all()
        owner = {tid: o for tid, o, _st in rows}
        assert {st for _t, _o, st in rows} == {TaskStatus.leased}
        leases = Counter(e.task_id for e in s.exec(select(TaskEvent).where(TaskEvent.to_status == "leased")).all())
    assert set(leases.values()) == {1}
    for i, ids in enumerate(claimed):
        assert all(owner[t] == f"robot:w{i}" for t in ids)
