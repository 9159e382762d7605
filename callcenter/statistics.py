"""Follow-up statistics (pure): tasks due / completed / unreachable, contact and completion rates, AAPOR
RR1 / CON1 / REF1, calls per hour, talk and wrap-up time, answer distributions and daily trends.

Input is counts the database has already added up (``TaskCounts``, ``CallCounts``, per group and per local day
and hour; ``callcenter.statistics_queries`` runs the GROUP BY queries); every formula is written out in
docs/statistics.md. Nothing here touches the database or the clock.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

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


def _code_key(code: str) -> tuple[tuple[int, ...], str]:
    return tuple(int(p) for p in code.split(".")), code


def disposition_ranks(codes: Iterable[str]) -> dict[str, int]:
    """Each AAPOR code -> its rank in disposition order, 0 the most informative (1.1 < 1.2 < 2.x < 3.x < 4.x,
    numerically: 2.2 < 2.11). A case's disposition is its attempts' code of lowest rank, so the database can take
    the minimum of ranks. Codes that are not AAPOR (empty, a hospital's own) have no rank."""
    valid = sorted({c.strip() for c in codes if aapor_class(c) is not None}, key=_code_key)
    return {code: rank for rank, code in enumerate(valid)}


def disposition(codes: Iterable[str]) -> str | None:
    """A case's final AAPOR code: the lowest code among its attempts (1.1 < 1.2 < 2.x < 3.x < 4.x), so a
    completion outranks a refusal, any contact outranks a non-contact, and unknown eligibility outranks
    "not eligible" on one number (the patient may be reachable on another)."""
    ranks = disposition_ranks(codes)
    return min(ranks, key=ranks.__getitem__) if ranks else None


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


def _zero_classes() -> dict[AaporClass, int]:
    return dict.fromkeys(AaporClass, 0)


@dataclass(frozen=True)
class TaskCounts:
    """Counts over a set of tasks due in the period; groups add up to the total."""

    tasks_due: int = 0
    completed: int = 0
    unreachable: int = 0
    cancelled: int = 0
    attempted: int = 0  # tasks with at least one call attempt (any day, anyone)
    contacted: int = 0  # tasks with at least one attempt whose outcome is ``contacted``
    dispositions: Mapping[AaporClass, int] = field(default_factory=_zero_classes)  # cases by final AAPOR class

    def __add__(self, other: TaskCounts) -> TaskCounts:
        return TaskCounts(
            self.tasks_due + other.tasks_due, self.completed + other.completed, self.unreachable + other.unreachable,
            self.cancelled + other.cancelled, self.attempted + other.attempted, self.contacted + other.contacted,
            {c: self.dispositions.get(c, 0) + other.dispositions.get(c, 0) for c in AaporClass})


@dataclass(frozen=True)
class CallCounts:
    """Counts over a set of call attempts started in the period; groups add up to the total."""

    calls: int = 0
    answered_calls: int = 0  # with answered_at and ended_at
    talk_us_total: int = 0  # ended_at - answered_at over the answered calls, microseconds (sums stay exact)
    wrapped_calls: int = 0  # with ended_at and wrapped_up_at
    wrap_up_us_total: int = 0  # wrapped_up_at - ended_at over them, microseconds

    def __add__(self, other: CallCounts) -> CallCounts:
        return CallCounts(self.calls + other.calls, self.answered_calls + other.answered_calls,
                          self.talk_us_total + other.talk_us_total, self.wrapped_calls + other.wrapped_calls,
                          self.wrap_up_us_total + other.wrap_up_us_total)


@dataclass(frozen=True)
class DayCounts:
    """One local day of the trend: tasks due that day, those completed, calls started that day."""

    due: int = 0
    completed: int = 0
    calls: int = 0

    def __add__(self, other: DayCounts) -> DayCounts:
        return DayCounts(self.due + other.due, self.completed + other.completed, self.calls + other.calls)


def aapor_rates(classes: Mapping[AaporClass, int]) -> Rates:
    """RR1 = I / (I+P+R+NC+O+U); CON1 = (I+P+R+O) / (I+P+R+O+NC+U); REF1 = R / (I+P+R+NC+O+U)."""
    i, p, r, nc, o, u = (classes.get(c, 0) for c in (AaporClass.I, AaporClass.P, AaporClass.R, AaporClass.NC,
                                                      AaporClass.O, AaporClass.U))
    denominator = i + p + r + nc + o + u
    if denominator == 0:
        return Rates(None, None, None)
    return Rates(i / denominator, (i + p + r + o) / denominator, r / denominator)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def figures(key: str, tasks: TaskCounts, calls: CallCounts) -> Figures:
    """The figures of one group from its task counts (tasks due in the period; attempted, contacted and AAPOR
    disposition judged on every attempt of those tasks) and its call counts (calls started in the period)."""
    countable = tasks.tasks_due - tasks.cancelled
    return Figures(
        key=key, tasks_due=tasks.tasks_due, completed=tasks.completed, unreachable=tasks.unreachable,
        cancelled=tasks.cancelled, attempted=tasks.attempted, contacted=tasks.contacted,
        contact_rate=_ratio(tasks.contacted, tasks.attempted), completion_rate=_ratio(tasks.completed, countable),
        dispositions={c.value: tasks.dispositions.get(c, 0) for c in AaporClass}, rates=aapor_rates(tasks.dispositions),
        calls=calls.calls, answered_calls=calls.answered_calls, talk_s_total=calls.talk_us_total / 1e6,
        talk_s_mean=_ratio(calls.talk_us_total / 1e6, calls.answered_calls),
        wrap_up_s_mean=_ratio(calls.wrap_up_us_total / 1e6, calls.wrapped_calls),
    )


def report(
    *,
    start: date,
    end: date,
    dimension: Dimension,
    tasks: Mapping[str, TaskCounts],
    calls: Mapping[str, CallCounts],
    total_calls: CallCounts,
    calls_by_hour: Sequence[int],
    days: Mapping[date, DayCounts],
    answers: Mapping[tuple[str, str], Mapping[str, int]],
) -> Report:
    """Figures for the whole period and per group of ``dimension``.

    ``tasks`` and ``calls`` are counted per group key. A task belongs to one group (per nurse: the nurse of its last
    call, ``NOT_ATTEMPTED`` if none); a call follows its task's group, except by day and by nurse (its own day and
    nurse). ``total_calls`` counts every call of the period: per department or plan it also holds calls on tasks
    not due in the period (e.g. a callback from last week) and calls without a task, which are in no group."""
    total_tasks = sum(tasks.values(), TaskCounts())
    keys = sorted(set(tasks) | (set(calls) if dimension in (Dimension.nurse, Dimension.day) else set()))
    groups = tuple(figures(k, tasks.get(k, TaskCounts()), calls.get(k, CallCounts()))
                   for k in keys) if dimension is not Dimension.total else ()
    period = [date.fromordinal(start.toordinal() + i) for i in range(max((end - start).days, 0))]
    trend = tuple((d, c.due, c.completed, c.calls) for d, c in ((d, days.get(d, DayCounts())) for d in period))
    return Report(start, end, dimension, figures("合计", total_tasks, total_calls), groups, tuple(calls_by_hour),
                  trend, answer_distribution(answers))


def answer_distribution(counts: Mapping[tuple[str, str], Mapping[str, int]]) -> dict[tuple[str, str], dict[str, int]]:
    """(questionnaire, item) -> {value: count}, keys sorted, values in descending count order (ties by value)."""
    return {key: dict(sorted(counts[key].items(), key=lambda vc: (-vc[1], vc[0]))) for key in sorted(counts)}
