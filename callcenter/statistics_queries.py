"""Loading the facts the statistics are computed from (``callcenter.statistics`` is the pure part).

A period is a range of local dates [start, end) in the hospital's time zone. A task belongs to the period when it
is due in it; a call when it started in it. A task's department is its anchor encounter's department, else its
team's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, case, cast, func, literal, null, or_, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from callcenter import local_time_sql, statistics
from callcenter.models import (
    Answer,
    CallAttempt,
    Encounter,
    FollowUpPlan,
    Outcome,
    Questionnaire,
    Response,
    Task,
    TaskStatus,
    Team,
    User,
)
from callcenter.statistics import CallCounts, DayCounts, Dimension, Report, TaskCounts


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


class _Scope:
    """The SQL pieces one report is built from: the period's bounds, local day / hour expressions, the outcome
    table as CASE ranks, and the filters."""

    def __init__(self, session: Session, filters: Filters, zone: tzinfo) -> None:
        self.filters = filters
        self.start_at, self.end_at = filters.bounds(zone)
        self.zone = zone
        found = session.execute(sa_select(col(Outcome.code), col(Outcome.aapor), col(Outcome.contacted))).all()
        ranks = statistics.disposition_ranks(aapor for _code, aapor, _contacted in found)
        self.outcome_rank = {code: ranks[aapor.strip()] for code, aapor, _contacted in found if aapor.strip() in ranks}
        self.rank_class = {rank: statistics.aapor_class(code) for code, rank in ranks.items()}
        self.contacted_codes = [code for code, _aapor, contacted in found if contacted]

    def day(self, at: Any) -> ColumnElement[int]:
        return local_time_sql.local_day(at, self.zone, self.start_at, self.end_at)

    def hour(self, at: Any) -> ColumnElement[int]:
        return local_time_sql.local_hour(at, self.zone, self.start_at, self.end_at)

    def due(self) -> ColumnElement[bool]:
        return and_(col(Task.due_at) >= self.start_at, col(Task.due_at) < self.end_at)

    def started(self) -> ColumnElement[bool]:
        return and_(col(CallAttempt.started_at) >= self.start_at, col(CallAttempt.started_at) < self.end_at)

    def task_joins(self, query: Select[Any]) -> Select[Any]:
        """Department (encounter, team) and plan of ``Task``, outer-joined."""
        return (query.join(Encounter, col(Task.anchor_encounter_id) == col(Encounter.id), isouter=True)
                .join(Team, col(Task.team_id) == col(Team.id), isouter=True)
                .join(FollowUpPlan, col(Task.plan_id) == col(FollowUpPlan.id), isouter=True))

    def task_filters(self, *, nurse: bool = True) -> list[ColumnElement[bool]]:
        """The period's tasks as filtered (over ``task_joins``): department, plan, and the nurse's tasks."""
        where = [self.due()]
        if self.filters.department:
            where.append(DEPARTMENT == self.filters.department)
        if self.filters.plan_key:
            where.append(col(FollowUpPlan.key) == self.filters.plan_key)
        if nurse and self.filters.nurse_id is not None:  # tasks with at least one attempt by her
            where.append(col(Task.id).in_(sa_select(col(CallAttempt.task_id)).where(
                col(CallAttempt.user_id) == self.filters.nurse_id)))
        return where

    def task_ids(self) -> Select[Any]:
        """Ids of the period's tasks as filtered."""
        return self.task_joins(sa_select(col(Task.id))).where(*self.task_filters())


# a task's department: its anchor encounter's, else its team's
DEPARTMENT = func.coalesce(func.nullif(col(Encounter.department), ""), func.nullif(col(Team.department), ""), "")
_NOT_ATTEMPTED, _ROBOT = -1, 0  # nurse keys besides user ids: a task never called; robot calls
_NURSE = case((or_(col(CallAttempt.robot) != "", col(CallAttempt.user_id).is_(None)), _ROBOT),
              else_=col(CallAttempt.user_id))


def _task_key(scope: _Scope, dimension: Dimension) -> ColumnElement[Any]:
    """The group of a task, per department, plan or due day (per nurse: see ``_task_counts``)."""
    if dimension is Dimension.department:
        return DEPARTMENT
    if dimension is Dimension.plan:
        return func.coalesce(col(FollowUpPlan.name), "")
    if dimension is Dimension.day:
        return scope.day(col(Task.due_at))
    return literal("")


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _call_values(calls: ColumnElement[bool]) -> list[Any]:
    """Per attempt, summed by the caller: is a call (1/0), answered (1/0), talk µs, wrapped up (1/0), wrap-up µs;
    attempts not matching ``calls`` count nothing."""
    epoch_us = local_time_sql.epoch_us
    answered = and_(calls, col(CallAttempt.answered_at).is_not(None), col(CallAttempt.ended_at).is_not(None))
    wrapped = and_(calls, col(CallAttempt.ended_at).is_not(None), col(CallAttempt.wrapped_up_at).is_not(None))
    return [case((calls, 1), else_=0), case((answered, 1), else_=0),
            case((answered, epoch_us(col(CallAttempt.ended_at)) - epoch_us(col(CallAttempt.answered_at)))),
            case((wrapped, 1), else_=0),
            case((wrapped, epoch_us(col(CallAttempt.wrapped_up_at)) - epoch_us(col(CallAttempt.ended_at))))]


def _call_counts(row: Sequence[Any]) -> CallCounts:
    calls, answered, talk_us, wrapped, wrap_us = row
    return CallCounts(int(calls or 0), int(answered or 0), int(talk_us or 0), int(wrapped or 0), int(wrap_us or 0))


def _task_counts(session: Session, scope: _Scope,
                 dimension: Dimension) -> list[tuple[Any, int, TaskCounts, CallCounts]]:
    """(raw group key, local due day, task counts, call counts) for the period's tasks. Attempted, contacted and
    the AAPOR disposition look at every attempt of a task, whoever made it and whichever day. Per department or
    plan, the calls of a group are those started in the period on its tasks (by the nurse, if filtered); other
    dimensions count calls in ``_calls_by_day_and_hour`` / ``_calls_by_nurse`` and get zero counts here."""
    rank = case(scope.outcome_rank, value=col(CallAttempt.outcome_code)) if scope.outcome_rank else null()
    in_calls = scope.started()
    if scope.filters.nurse_id is not None:
        in_calls = and_(in_calls, col(CallAttempt.user_id) == scope.filters.nurse_id)
    n_calls = 5 if dimension in (Dimension.department, Dimension.plan) else 0
    # one row per task with its attempts aggregated: a flat join keeps the plan linear even before PostgreSQL has
    # statistics (a join of two aggregates became a nested loop, quadratic, on freshly loaded tables)
    key = _task_key(scope, dimension)
    day = scope.day(col(Task.due_at))
    per_task = (scope.task_joins(sa_select(
        col(Task.id).label("id"), func.min(key).label("key"), func.min(day).label("day"),
        func.min(col(Task.status)).label("status"),  # one value per task: min() spares the sort wide keys
        func.count(col(CallAttempt.id)).label("attempts"), func.min(rank).label("best"),
        func.max(case((col(CallAttempt.outcome_code).in_(scope.contacted_codes), 1), else_=0)).label("contacted"),
        *(func.sum(v).label(f"c{i}") for i, v in enumerate(_call_values(in_calls)[:n_calls]))))
        .join(CallAttempt, col(CallAttempt.task_id) == col(Task.id), isouter=True)
        .where(*scope.task_filters()).group_by(col(Task.id)).subquery("per_task"))
    if dimension is Dimension.nurse:  # a task belongs to whoever made its last attempt (index on task_id)
        last = (sa_select(_NURSE).where(col(CallAttempt.task_id) == per_task.c.id)
                .order_by(col(CallAttempt.started_at).desc(), col(CallAttempt.id).desc()).limit(1).scalar_subquery())
        rows = sa_select(func.coalesce(last, _NOT_ATTEMPTED).label("key"),
                         *(c for c in per_task.c if c.name != "key")).subquery("tasks")
    else:
        rows = per_task
    call_columns = [rows.c[f"c{i}"] for i in range(n_calls)]

    by_class = {c: [r for r, rc in scope.rank_class.items() if rc is c] for c in statistics.AaporClass}
    in_class: dict[statistics.AaporClass, ColumnElement[bool] | None] = {
        c: rows.c.best.in_(ranks) if ranks else None for c, ranks in by_class.items()}
    # AAPOR 3.11 "not attempted or worked": a task due in the period that nobody called is a case of unknown
    # eligibility, so the rates are not flattered by the tasks a team did not get to (cancelled ones are no case)
    not_worked = and_(rows.c.attempts == 0, rows.c.status != TaskStatus.cancelled.value)
    u = in_class[statistics.AaporClass.U]
    in_class[statistics.AaporClass.U] = not_worked if u is None else or_(u, not_worked)
    sums = [func.count(), _count(rows.c.status == TaskStatus.completed.value),
            _count(rows.c.status == TaskStatus.unreachable.value), _count(rows.c.status == TaskStatus.cancelled.value),
            _count(rows.c.attempts > 0), func.coalesce(func.sum(rows.c.contacted), 0),
            *(literal(0) if cond is None else _count(cond) for cond in in_class.values()),
            *(func.sum(c) for c in call_columns)]
    out = []
    for key, day, due, completed, unreachable, cancelled, attempted, contacted, *rest in session.execute(
            sa_select(rows.c.key, rows.c.day, *sums).group_by(rows.c.key, rows.c.day)):
        classes, calls = rest[:len(by_class)], rest[len(by_class):]
        out.append((key, day, TaskCounts(due, completed, unreachable, cancelled, attempted, contacted,
                                         dict(zip(by_class, map(int, classes), strict=True))),
                    _call_counts(calls) if calls else CallCounts()))
    return out


def _calls_where(scope: _Scope) -> list[ColumnElement[bool]]:
    """Calls started in the period; by the nurse; with a department or plan, only on the period's tasks of it."""
    filters = scope.filters
    where = [scope.started()]
    if filters.nurse_id is not None:
        where.append(col(CallAttempt.user_id) == filters.nurse_id)
    if filters.department or filters.plan_key:
        ids = scope.task_joins(sa_select(col(Task.id))).where(*scope.task_filters(nurse=False))
        where.append(col(CallAttempt.task_id).in_(ids))
    return where


def _calls_by_day_and_hour(session: Session, scope: _Scope) -> list[tuple[int, int, CallCounts]]:
    started = col(CallAttempt.started_at)
    day, hour = scope.day(started).label("day"), scope.hour(started).label("hour")
    rows = sa_select(day, hour, *(v.label(f"c{i}") for i, v in enumerate(_call_values(true())))).where(
        *_calls_where(scope)).subquery("calls")
    query = sa_select(rows.c.day, rows.c.hour, *(func.sum(rows.c[f"c{i}"]) for i in range(5))).group_by(
        rows.c.day, rows.c.hour)
    return [(int(day), int(hour), _call_counts(sums)) for day, hour, *sums in session.execute(query)]


def _calls_by_nurse(session: Session, scope: _Scope) -> list[tuple[int, CallCounts]]:
    rows = sa_select(_NURSE.label("nurse"), *(v.label(f"c{i}") for i, v in enumerate(_call_values(true())))).where(
        *_calls_where(scope)).subquery("calls")
    query = sa_select(rows.c.nurse, *(func.sum(rows.c[f"c{i}"]) for i in range(5))).group_by(rows.c.nurse)
    return [(int(nurse), _call_counts(sums)) for nurse, *sums in session.execute(query)]


def _answer_counts(session: Session, scope: _Scope) -> dict[tuple[str, str], dict[str, int]]:
    """Confirmed answers (not superseded, not skipped) of the period's tasks, counted per questionnaire, item and
    displayed value (the database groups by the stored JSON; values displayed alike are added up here)."""
    value = cast(col(Answer.value), Text)
    rows = (sa_select(col(Questionnaire.key).label("questionnaire"), col(Answer.item_id).label("item"),
                      value.label("value"))
            .join(Response, col(Answer.response_id) == col(Response.id))
            .join(Questionnaire, col(Response.questionnaire_id) == col(Questionnaire.id))
            .where(col(Response.task_id).in_(scope.task_ids()), col(Answer.superseded).is_(False),
                   col(Answer.skipped_reason) == "")).subquery("answers")
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for questionnaire, item, stored, n in session.execute(
            sa_select(rows.c.questionnaire, rows.c.item, rows.c.value, func.count())
            .group_by(rows.c.questionnaire, rows.c.item, rows.c.value)):
        shown = display_value(None if stored is None else json.loads(stored))
        values = counts.setdefault((questionnaire, item), {})
        values[shown] = values.get(shown, 0) + int(n)
    return counts


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
    """The report, counted by the database: a few GROUP BY queries (tasks per group and due day, calls per day and
    hour, calls per nurse, answers) whose counts ``callcenter.statistics`` turns into figures."""
    scope = _Scope(session, filters, zone)
    label = _labeller(session, dimension)
    tasks: dict[str, TaskCounts] = {}
    calls: dict[str, CallCounts] = {}
    days: dict[date, DayCounts] = {}
    for key, day, task_counts, call_counts in _task_counts(session, scope, dimension):
        tasks[label(key)] = tasks.get(label(key), TaskCounts()) + task_counts
        if dimension in (Dimension.department, Dimension.plan):
            calls[label(key)] = calls.get(label(key), CallCounts()) + call_counts
        due_day = local_time_sql.day_of(int(day))
        days[due_day] = days.get(due_day, DayCounts()) + DayCounts(task_counts.tasks_due, task_counts.completed)
    total_calls = CallCounts()
    hours = [0] * 24
    for day, hour, call_counts in _calls_by_day_and_hour(session, scope):
        total_calls += call_counts
        hours[hour] += call_counts.calls
        call_day = local_time_sql.day_of(day)
        days[call_day] = days.get(call_day, DayCounts()) + DayCounts(calls=call_counts.calls)
        if dimension is Dimension.day:
            calls[label(day)] = calls.get(label(day), CallCounts()) + call_counts
    if dimension is Dimension.nurse:
        for nurse, call_counts in _calls_by_nurse(session, scope):
            calls[label(nurse)] = calls.get(label(nurse), CallCounts()) + call_counts
    return statistics.report(start=filters.start, end=filters.end, dimension=dimension, tasks=tasks, calls=calls,
                             total_calls=total_calls, calls_by_hour=hours, days=days,
                             answers=_answer_counts(session, scope))


def _labeller(session: Session, dimension: Dimension) -> Callable[[Any], str]:
    """The group's label from the key the database grouped by (nurses by id, days by number)."""
    if dimension is Dimension.nurse:
        names = {uid: display_name or username or "" for uid, display_name, username in session.execute(
            sa_select(col(User.id), col(User.display_name), col(User.username)))}
        names[_ROBOT], names[_NOT_ATTEMPTED] = statistics.ROBOT, statistics.NOT_ATTEMPTED
        return lambda key: names.get(int(key), "")
    if dimension is Dimension.day:
        return lambda key: local_time_sql.day_of(int(key)).isoformat()
    if dimension in (Dimension.department, Dimension.plan):
        return lambda key: str(key) or "—"
    return lambda key: ""
