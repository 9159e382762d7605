"""Loading the facts the statistics are computed from (``callcenter.statistics`` is the pure part).

A period is a range of local dates [start, end) in the hospital's time zone. A task belongs to the period when it
is due in it; a call when it started in it. A task's department is its anchor encounter's department, else its
team's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from callcenter import statistics
from callcenter.models import (
    Answer,
    CallAttempt,
    Encounter,
    FollowUpPlan,
    Outcome,
    Questionnaire,
    Response,
    Task,
    Team,
    User,
)
from callcenter.statistics import AnswerFact, AttemptFact, Dimension, Report, TaskFact


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # exclusive
    department: str = ""
    plan_key: str = ""
    nurse_id: int | None = None

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, time(0), zone), datetime.combine(self.end, time(0), zone))


@dataclass(frozen=True)
class Choices:
    """What the filter form offers."""

    departments: tuple[str, ...]
    plans: tuple[tuple[str, str], ...]  # (key, name)
    nurses: tuple[tuple[int, str], ...]  # (user id, label)


def choices(session: Session) -> Choices:
    departments = {d for d in session.exec(select(Encounter.department).distinct()).all() if d}
    departments |= {d for d in session.exec(select(Team.department).distinct()).all() if d}
    plans = tuple((p.key, p.name) for p in session.exec(select(FollowUpPlan).order_by(col(FollowUpPlan.name))))
    nurses = tuple((u.id or 0, u.display_name or u.username) for u in session.exec(
        select(User).where(User.role == "nurse").order_by(col(User.username))))
    return Choices(tuple(sorted(departments)), plans, nurses)


def _tasks(session: Session, filters: Filters, zone: tzinfo) -> list[TaskFact]:
    start_at, end_at = filters.bounds(zone)
    query = (
        sa_select(col(Task.id), col(Task.due_at), col(Task.status), col(Task.channel), col(Encounter.department),
                  col(Team.department), col(FollowUpPlan.key), col(FollowUpPlan.name))
        .join(Encounter, col(Task.anchor_encounter_id) == col(Encounter.id), isouter=True)
        .join(Team, col(Task.team_id) == col(Team.id), isouter=True)
        .join(FollowUpPlan, col(Task.plan_id) == col(FollowUpPlan.id), isouter=True)
        .where(col(Task.due_at) >= start_at, col(Task.due_at) < end_at)
    )
    if filters.plan_key:
        query = query.where(col(FollowUpPlan.key) == filters.plan_key)
    out = []
    for task_id, due_at, status, channel, enc_dept, team_dept, _plan_key, plan_name in session.execute(query):
        department = enc_dept or team_dept or ""
        if filters.department and department != filters.department:
            continue
        out.append(TaskFact(task_id, due_at, str(status), department, plan_name or "", str(channel)))
    return out


def _attempt_rows(session: Session, where: Any) -> list[AttemptFact]:
    query = (
        sa_select(col(CallAttempt.id), col(CallAttempt.task_id), col(CallAttempt.user_id), col(CallAttempt.robot),
                  col(CallAttempt.started_at), col(CallAttempt.answered_at), col(CallAttempt.ended_at),
                  col(CallAttempt.wrapped_up_at), col(CallAttempt.outcome_code), col(Outcome.aapor),
                  col(Outcome.contacted), col(User.display_name), col(User.username))
        .join(Outcome, col(CallAttempt.outcome_code) == col(Outcome.code), isouter=True)
        .join(User, col(CallAttempt.user_id) == col(User.id), isouter=True)
        .where(where)
    )
    out = []
    for (attempt_id, task_id, user_id, robot, started_at, answered_at, ended_at, wrapped_up_at, outcome_code, aapor,
         contacted, display_name, username) in session.execute(query):
        nurse = statistics.ROBOT if robot or user_id is None else (display_name or username or "")
        out.append(AttemptFact(attempt_id, task_id, user_id, nurse, started_at, answered_at, ended_at, wrapped_up_at,
                               outcome_code, aapor or "", bool(contacted)))
    return out


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def load(session: Session, filters: Filters, zone: tzinfo) -> tuple[list[TaskFact], list[AttemptFact],
                                                                    list[AttemptFact], list[AnswerFact]]:
    """(tasks due in the period, calls started in it, every attempt of those tasks, their answers)."""
    tasks = _tasks(session, filters, zone)
    task_ids = {t.task_id for t in tasks}
    start_at, end_at = filters.bounds(zone)
    # one pass over the attempts: those started in the period and those of tasks due in it
    due_in_period = select(Task.id).where(col(Task.due_at) >= start_at, col(Task.due_at) < end_at)
    attempts = _attempt_rows(session, ((col(CallAttempt.started_at) >= start_at) & (col(CallAttempt.started_at) < end_at))
                             | col(CallAttempt.task_id).in_(due_in_period))
    cases = [a for a in attempts if a.task_id in task_ids]
    if filters.nurse_id is not None:
        mine = {a.task_id for a in cases if a.user_id == filters.nurse_id}
        tasks = [t for t in tasks if t.task_id in mine]
        cases = [a for a in cases if a.task_id in mine]
    wanted = task_ids if (filters.department or filters.plan_key) else None
    calls = [a for a in attempts if start_at <= a.started_at < end_at
             and (filters.nurse_id is None or a.user_id == filters.nurse_id)
             and (wanted is None or a.task_id in wanted)]
    answers: list[AnswerFact] = []
    for chunk in _chunks([t.task_id for t in tasks]):
        rows = session.exec(
            select(Response.task_id, Questionnaire.key, Answer.item_id, Answer.value)
            .join(Response, col(Answer.response_id) == col(Response.id))
            .join(Questionnaire, col(Response.questionnaire_id) == col(Questionnaire.id))
            .where(col(Response.task_id).in_(chunk), col(Answer.superseded).is_(False),
                   Answer.skipped_reason == "")
        )
        answers += [AnswerFact(task_id, key, item_id, display_value(value)) for task_id, key, item_id, value in rows]
    return tasks, calls, cases, answers


def display_value(value: Any) -> str:
    """An answer value as counted in a distribution: lists joined with "+", blood pressure as 120/80."""
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    if isinstance(value, dict) and {"systolic", "diastolic"} <= value.keys():
        return f"{value['systolic']}/{value['diastolic']}"
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else str(value)


def build_report(session: Session, filters: Filters, dimension: Dimension, zone: tzinfo) -> Report:
    tasks, calls, cases, answers = load(session, filters, zone)
    return statistics.report(tasks, calls, answers, start=filters.start, end=filters.end, dimension=dimension,
                             zone=zone, case_attempts=cases)
