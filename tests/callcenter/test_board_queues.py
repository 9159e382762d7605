"""The live board's queue sizes per team and per department: a task's department is its anchor encounter's,
else its team's (the statistics' definition, ``statistics_queries.DEPARTMENT``), not the team's label alone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import col

from callcenter import board as boards
from callcenter.db import session_scope
from callcenter.models import Channel, Encounter, Patient, Task, TaskStatus, Team
from callcenter.statistics_queries import DEPARTMENT

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")


def _hospital(engine: Engine) -> None:
    with session_scope(engine) as s:
        cardio_team = Team(key="a", name="一组", department="心内科")
        unlabelled_team = Team(key="b", name="二组", department="")
        ortho_team = Team(key="c", name="三组", department="骨科")
        s.add_all([cardio_team, unlabelled_team, ortho_team])
        patient = Patient(name="王五", mrn="q1")
        s.add(patient)
        s.flush()
        pid = patient.id or 0
        oncology = Encounter(patient_id=pid, department="肿瘤科", source_id="e1")
        no_department = Encounter(patient_id=pid, department="", source_id="e2")
        cardiology = Encounter(patient_id=pid, department="心内科", source_id="e3")
        s.add_all([oncology, no_department, cardiology])
        s.flush()

        points = itertools.count()

        def task(team: Team | None, encounter: Encounter | None, status: TaskStatus,
                 channel: Channel = Channel.nurse_call) -> None:
            s.add(Task(patient_id=pid, point=f"p{next(points)}", due_at=NOW, status=status, channel=channel,
                       team_id=team.id if team else None, anchor_encounter_id=encounter.id if encounter else None))
            s.flush()

        task(cardio_team, oncology, TaskStatus.due)  # an oncology patient in the cardiology team's queue
        task(cardio_team, None, TaskStatus.callback)  # no encounter: the team's department
        task(cardio_team, no_department, TaskStatus.leased)  # encounter without department: the team's
        task(unlabelled_team, oncology, TaskStatus.in_call)
        task(unlabelled_team, None, TaskStatus.due)  # neither has a department
        task(None, cardiology, TaskStatus.due)  # the common pool
        # not in the nurses' open queue: planned, closed, or the robot's
        task(ortho_team, oncology, TaskStatus.planned)
        task(ortho_team, oncology, TaskStatus.completed)
        task(ortho_team, oncology, TaskStatus.due, Channel.robot_call)


def test_open_queue_is_counted_per_team_and_per_task_department(engine: Engine) -> None:
    _hospital(engine)
    with session_scope(engine) as s:
        found = boards.board(s, now=NOW, zone=ZONE)

    per_team = {q.team: (q.department, q.due, q.callbacks, q.in_progress) for q in found.queues}
    assert per_team == {"一组": ("心内科", 1, 1, 1), "二组": ("", 1, 0, 1), "公共池": ("", 1, 0, 0)}
    per_department = [(d.department, d.due, d.callbacks, d.in_progress) for d in found.departments]
    # the oncology tasks count under 肿瘤科 although their teams are 心内科's and unlabelled; "" last
    assert per_department == [("心内科", 1, 1, 1), ("肿瘤科", 1, 0, 1), ("", 1, 0, 0)]


def test_department_counts_agree_with_the_statistics_department(engine: Engine) -> None:
    _hospital(engine)
    with session_scope(engine) as s:
        found = boards.board(s, now=NOW, zone=ZONE)
        departments = s.execute(
            sa_select(DEPARTMENT).select_from(Task)
            .outerjoin(Encounter, col(Encounter.id) == col(Task.anchor_encounter_id))
            .outerjoin(Team, col(Team.id) == col(Task.team_id))
            .where(col(Task.status).in_(boards.OPEN_QUEUE), col(Task.channel) == Channel.nurse_call)).scalars().all()
    expected: dict[str, int] = {}
    for department in departments:
        expected[department] = expected.get(department, 0) + 1
    assert {d.department: d.due + d.callbacks + d.in_progress for d in found.departments} == expected

