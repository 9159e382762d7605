"""Follow-up statistics (pure): tasks due / completed / unreachable, contact and completion rates, AAPOR
RR1 / CON1 / REF1, calls per hour, talk and wrap-up time, answer distributions and daily trends.

Input is plain facts (``TaskFact``, ``AttemptFact``, ``AnswerFact``) loaded by ``callcenter.statistics_queries``;
every formula is written out in docs/statistics.md. Nothing here touches the database or the clock.
"""

from __future__ import annotations

import enum
import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

NOT_ATTEMPTED = "未拨打"
ROBOT = "机器人"


class Dimension(enum.StrEnum):
    """How the figures are broken down."""

    total = "total"
    department = "department"
    plan = "plan"
    nurse = "nurse"
    day = "day"


class AaporClass(enum.StrEnum):
    """AAPOR final disposition classes (Standard Definitions, telephone surveys)."""

    I = "I"  # noqa: E741 - AAPOR's own letter: 1.1 complete interview
    P = "P"  # 1.2 partial interview
    R = "R"  # 2.1x refusal and break-off
    NC = "NC"  # 2.2x non-contact
    O = "O"  # noqa: E741 - AAPOR's own letter: 2.3x other (dead, unable)
    U = "U"  # 3.x unknown eligibility (UH + UO)
    NE = "NE"  # 4.x not eligible: out of every denominator


@functools.cache
def aapor_class(code: str) -> AaporClass | None:
    """``"2.11"`` -> R. Codes that are empty or not AAPOR (e.g. a hospital's own row) give None."""
    parts = code.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    major, minor = parts[0], parts[1]
    if major == "1":
        return AaporClass.I if minor == "1" else AaporClass.P
    if major == "2":
        return {"1": AaporClass.R, "2": AaporClass.NC, "3": AaporClass.O}.get(minor[:1])
    if major == "3":
        return AaporClass.U
    if major == "4":
        return AaporClass.NE
    return None


def _code_key(code: str) -> tuple[int, ...]:
    return tuple(int(p) for p in code.split("."))


def disposition(codes: Iterable[str]) -> str | None:
    """A case's final AAPOR code: the lowest code among its attempts (1.1 < 1.2 < 2.x < 3.x < 4.x), so a
    completion outranks a refusal, any contact outranks a non-contact, and unknown eligibility outranks
    "not eligible" on one number (the patient may be reachable on another)."""
    valid = [c.strip() for c in codes if aapor_class(c) is not None]
    return min(valid, key=_code_key) if valid else None


@dataclass(frozen=True)
class TaskFact:
    task_id: int
    due_at: datetime
    status: str  # TaskStatus value
    department: str
    plan: str
    channel: str


@dataclass(frozen=True)
class AttemptFact:
    attempt_id: int
    task_id: int | None
    user_id: int | None
    nurse: str  # display label; ROBOT for robot calls
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wrapped_up_at: datetime | None
    outcome_code: str | None
    aapor: str  # the outcome's AAPOR code ("" when unknown)
    contacted: bool


@dataclass(frozen=True)
class AnswerFact:
    task_id: int | None
    questionnaire_key: str
    item_id: str
    value: str  # the value as displayed (lists joined with "+")


@dataclass(frozen=True)
class Rates:
    """AAPOR rates; None when the denominator is empty."""

    rr1: float | None
    con1: float | None
    ref1: float | None


@dataclass(frozen=True)
class Figures:
    key: str
    tasks_due: int
    completed: int
    unreachable: int
    cancelled: int
    attempted: int  # tasks with at least one call attempt
    contacted: int  # tasks with at least one contacted attempt
    contact_rate: float | None  # contacted / attempted
    completion_rate: float | None  # completed / (due - cancelled)
    dispositions: dict[str, int]  # AAPOR class -> cases
    rates: Rates
    calls: int
    answered_calls: int
    talk_s_total: float
    talk_s_mean: float | None
    wrap_up_s_mean: float | None


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # exclusive
    dimension: Dimension
    total: Figures
    groups: tuple[Figures, ...]
    calls_by_hour: tuple[int, ...]  # 24 counts, local hour of the attempt's start
    trend: tuple[tuple[date, int, int, int], ...]  # (day, due, completed, calls)
    answers: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # (questionnaire, item) -> counts


def aapor_rates(classes: Counter[AaporClass]) -> Rates:
    """RR1 = I / (I+P+R+NC+O+U); CON1 = (I+P+R+O) / (I+P+R+O+NC+U); REF1 = R / (I+P+R+NC+O+U)."""
    i, p, r, nc, o, u = (classes[c] for c in (AaporClass.I, AaporClass.P, AaporClass.R, AaporClass.NC,
                                               AaporClass.O, AaporClass.U))
    denominator = i + p + r + nc + o + u
    if denominator == 0:
        return Rates(None, None, None)
    return Rates(i / denominator, (i + p + r + o) / denominator, r / denominator)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def figures(key: str, tasks: Sequence[TaskFact], attempts: Sequence[AttemptFact],
            case_attempts: Sequence[AttemptFact] | None = None) -> Figures:
    """The figures of one group: ``tasks`` due in the period and the calls (``attempts``) counted for it.

    Task outcomes (attempted, contacted, AAPOR disposition) look at every attempt of the group's tasks in
    ``case_attempts`` (default: ``attempts``), whoever made it and whichever day."""
    task_ids = {t.task_id for t in tasks}
    by_task: dict[int, list[AttemptFact]] = defaultdict(list)
    for attempt in attempts if case_attempts is None else case_attempts:
        if attempt.task_id in task_ids:
            by_task[attempt.task_id].append(attempt)
    status = Counter(t.status for t in tasks)
    classes: Counter[AaporClass] = Counter()
    for task_attempts in by_task.values():
        code = disposition(a.aapor for a in task_attempts)
        cls = aapor_class(code) if code else None
        if cls is not None:
            classes[cls] += 1
    talk = [(a.ended_at - a.answered_at).total_seconds() for a in attempts if a.answered_at and a.ended_at]
    wrap = [(a.wrapped_up_at - a.ended_at).total_seconds() for a in attempts if a.ended_at and a.wrapped_up_at]
    attempted = len(by_task)
    contacted = sum(1 for rows in by_task.values() if any(a.contacted for a in rows))
    countable = len(tasks) - status["cancelled"]
    return Figures(
        key=key, tasks_due=len(tasks), completed=status["completed"], unreachable=status["unreachable"],
        cancelled=status["cancelled"], attempted=attempted, contacted=contacted,
        contact_rate=_ratio(contacted, attempted), completion_rate=_ratio(status["completed"], countable),
        dispositions={c.value: classes[c] for c in AaporClass}, rates=aapor_rates(classes),
        calls=len(attempts), answered_calls=len(talk), talk_s_total=sum(talk),
        talk_s_mean=_ratio(sum(talk), len(talk)), wrap_up_s_mean=_ratio(sum(wrap), len(wrap)),
    )


def _task_keys(dimension: Dimension, tasks: Sequence[TaskFact], attempts: Sequence[AttemptFact],
               zone: tzinfo) -> dict[int, str]:
    if dimension is Dimension.nurse:  # a task belongs to whoever made its last attempt
        last: dict[int, AttemptFact] = {}
        for a in sorted(attempts, key=lambda a: (a.started_at, a.attempt_id)):
            if a.task_id is not None:
                last[a.task_id] = a
        return {t.task_id: (last[t.task_id].nurse if t.task_id in last else NOT_ATTEMPTED) for t in tasks}
    pick: dict[Dimension, Callable[[TaskFact], str]] = {
        Dimension.total: lambda t: "",
        Dimension.department: lambda t: t.department or "—",
        Dimension.plan: lambda t: t.plan or "—",
        Dimension.day: lambda t: t.due_at.astimezone(zone).date().isoformat(),
    }
    return {t.task_id: pick[dimension](t) for t in tasks}


def report(
    tasks: Sequence[TaskFact],
    attempts: Sequence[AttemptFact],
    answers: Sequence[AnswerFact],
    *,
    start: date,
    end: date,
    dimension: Dimension,
    zone: tzinfo,
    case_attempts: Sequence[AttemptFact] | None = None,
) -> Report:
    """Figures for the whole period and per group of ``dimension``.

    ``attempts`` are the calls started in the period; ``case_attempts`` every attempt of the period's tasks
    (default ``attempts``), which decide whether a task was attempted, contacted and its AAPOR disposition.
    Calls follow their task's group (by day and by nurse: their own day and nurse); calls without a task
    (rare manual calls) count only in the total, by day and by nurse."""
    cases = attempts if case_attempts is None else case_attempts
    task_key = _task_keys(dimension, tasks, cases, zone)
    groups_tasks: dict[str, list[TaskFact]] = defaultdict(list)
    for t in tasks:
        groups_tasks[task_key[t.task_id]].append(t)
    groups_attempts: dict[str, list[AttemptFact]] = defaultdict(list)
    for a in attempts:
        if dimension is Dimension.nurse:
            groups_attempts[a.nurse].append(a)
        elif dimension is Dimension.day:
            groups_attempts[a.started_at.astimezone(zone).date().isoformat()].append(a)
        elif a.task_id is not None and a.task_id in task_key:
            groups_attempts[task_key[a.task_id]].append(a)
    # per nurse, the task-based figures count the tasks whose last call was hers; the call figures all her calls
    keys = sorted(set(groups_tasks) | (set(groups_attempts) if dimension in (Dimension.nurse, Dimension.day) else set()))
    cases_by_task: dict[int, list[AttemptFact]] = defaultdict(list)
    for a in cases:
        if a.task_id is not None:
            cases_by_task[a.task_id].append(a)

    def group_cases(group: list[TaskFact]) -> list[AttemptFact]:
        return [a for t in group for a in cases_by_task.get(t.task_id, ())]

    groups = tuple(figures(k, groups_tasks.get(k, []), groups_attempts.get(k, []), group_cases(groups_tasks.get(k, [])))
                   for k in keys) if dimension is not Dimension.total else ()
    hours = [0] * 24
    for a in attempts:
        hours[a.started_at.astimezone(zone).hour] += 1
    return Report(start, end, dimension, figures("合计", tasks, attempts, cases), groups, tuple(hours),
                  _trend(tasks, attempts, start, end, zone), answer_distribution(answers))


def _trend(tasks: Sequence[TaskFact], attempts: Sequence[AttemptFact], start: date, end: date,
           zone: tzinfo) -> tuple[tuple[date, int, int, int], ...]:
    due: Counter[date] = Counter(t.due_at.astimezone(zone).date() for t in tasks)
    done: Counter[date] = Counter(t.due_at.astimezone(zone).date() for t in tasks if t.status == "completed")
    calls: Counter[date] = Counter(a.started_at.astimezone(zone).date() for a in attempts)
    days = (end - start).days
    return tuple((d, due[d], done[d], calls[d]) for d in (date.fromordinal(start.toordinal() + i)
                                                          for i in range(max(days, 0))))


def answer_distribution(answers: Iterable[AnswerFact]) -> dict[tuple[str, str], dict[str, int]]:
    """(questionnaire, item) -> {value: count}, values in descending count order."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for a in answers:
        counts[(a.questionnaire_key, a.item_id)][a.value] += 1
    return {key: dict(c.most_common()) for key, c in sorted(counts.items())}
