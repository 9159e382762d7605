"""Pure planning: a follow-up plan's time points, expanded from an anchor (the discharge) to due dates.

A schedule is written in a plan file as::

    schedule:
      points: [7d, 30d, 90d]              # offsets from the anchor: d(ays), w(eeks), m(onths), y(ears)
      repeat: {every: 90d, until: 2y}     # then every 90 days after the last point, up to 2 years
      window: 3d                          # a task may be done on its due day and this many days after

Time point keys are stable (``d7``, ``d30``, ``m1`` …): with the plan, patient and anchor encounter they make a
task unique, which is what makes task generation idempotent.
"""

from __future__ import annotations

import calendar as _stdcal
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from callcenter.errors import InvalidInput

_DURATION = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$")
MAX_POINTS = 400


class PlanError(InvalidInput):
    """A plan definition is wrong; the message names the plan and the field."""


@dataclass(frozen=True, order=True)
class Offset:
    """A distance from the anchor in days or in calendar months (months keep the day of month)."""

    months: int = 0
    days: int = 0

    @property
    def key(self) -> str:
        if self.months and not self.days:
            return f"m{self.months}"
        if self.days and not self.months:
            return f"d{self.days}"
        return f"m{self.months}d{self.days}"

    def after(self, anchor: date) -> date:
        return add_months(anchor, self.months) + timedelta(days=self.days)

    def __add__(self, other: Offset) -> Offset:
        return Offset(self.months + other.months, self.days + other.days)


def parse_offset(text: Any, where: str = "") -> Offset:
    """``7d`` / ``2w`` / ``3m`` / ``2y`` (or a bare integer of days) -> Offset."""
    if isinstance(text, int) and not isinstance(text, bool):
        return Offset(days=text)
    m = _DURATION.match(str(text))
    if not m:
        raise PlanError(f"{where}: {text!r} is not a duration; write e.g. 7d, 2w, 3m or 2y")
    n, unit = int(m.group(1)), m.group(2)
    if unit == "d":
        return Offset(days=n)
    if unit == "w":
        return Offset(days=7 * n)
    if unit == "m":
        return Offset(months=n)
    return Offset(months=12 * n)


def add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, _stdcal.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Schedule:
    points: tuple[Offset, ...]
    repeat_every: Offset | None = None
    repeat_until: Offset | None = None
    window_days: int = 3

    def offsets(self) -> tuple[Offset, ...]:
        """Every time point of the plan in order (fixed points, then the repeats)."""
        out = list(self.points)
        if self.repeat_every is not None and self.repeat_until is not None:
            ref = date(2001, 1, 31)  # a reference anchor to compare month and day offsets
            last = out[-1] if out else Offset()
            limit = self.repeat_until.after(ref)
            step = last + self.repeat_every
            while step.after(ref) <= limit:
                if len(out) >= MAX_POINTS:
                    raise PlanError(f"schedule has more than {MAX_POINTS} time points; use a longer 'every'")
                out.append(step)
                step = step + self.repeat_every
        return tuple(out)


def schedule_from_dict(data: Mapping[str, Any], where: str = "schedule") -> Schedule:
    unknown = sorted(set(data) - {"points", "repeat", "window"})
    if unknown:
        raise PlanError(f"{where}: unknown keys {unknown}; allowed: points, repeat, window")
    raw_points = data.get("points") or []
    if not isinstance(raw_points, list):
        raise PlanError(f"{where}.points: write a list such as [7d, 30d, 90d]")
    points = tuple(parse_offset(p, f"{where}.points") for p in raw_points)
    ref = date(2001, 1, 31)
    if [p.after(ref) for p in points] != sorted({p.after(ref) for p in points}):
        raise PlanError(f"{where}.points must be increasing and distinct, got {raw_points}")
    every = until = None
    repeat = data.get("repeat")
    if repeat is not None:
        if not isinstance(repeat, Mapping) or set(repeat) != {"every", "until"}:
            raise PlanError(f"{where}.repeat: write {{every: 90d, until: 2y}}")
        every = parse_offset(repeat["every"], f"{where}.repeat.every")
        until = parse_offset(repeat["until"], f"{where}.repeat.until")
        if every.after(ref) <= ref:
            raise PlanError(f"{where}.repeat.every must be longer than zero")
    if not points and every is None:
        raise PlanError(f"{where}: give points, repeat, or both")
    window = parse_offset(data.get("window", "3d"), f"{where}.window")
    if window.months:
        raise PlanError(f"{where}.window: give the window in days or weeks, e.g. 3d")
    return Schedule(points, every, until, window.days)


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    def text(o: Offset) -> str:
        return f"{o.months}m" if o.months and not o.days else f"{o.days}d"

    out: dict[str, Any] = {"points": [text(p) for p in schedule.points], "window": f"{schedule.window_days}d"}
    if schedule.repeat_every is not None and schedule.repeat_until is not None:
        out["repeat"] = {"every": text(schedule.repeat_every), "until": text(schedule.repeat_until)}
    return out


@dataclass(frozen=True)
class DuePoint:
    point: str  # stable key, e.g. "d7"
    due_on: date  # local date the follow-up is due
    last_day: date  # last local day of its window (inclusive)


def expand(schedule: Schedule, anchor: date) -> list[DuePoint]:
    return [
        DuePoint(o.key, o.after(anchor), o.after(anchor) + timedelta(days=schedule.window_days))
        for o in schedule.offsets()
    ]


def points_to_generate(schedule: Schedule, anchor: date, *, today: date, horizon_days: int) -> list[DuePoint]:
    """Time points to materialise as tasks today: due within the horizon and whose window has not passed.

    Points far in the future are created by a later nightly run (a rolling horizon keeps the task table
    small and lets a readmission restart the plan before those tasks exist)."""
    until = today + timedelta(days=horizon_days)
    return [p for p in expand(schedule, anchor) if p.last_day >= today and p.due_on <= until]


STOP_DECEASED = "deceased"
STOP_READMITTED = "readmitted"
STOP_REFUSED = "refused"
STOP_COMPLETED = "completed"
STOP_RULE_KEYS = (STOP_DECEASED, STOP_READMITTED, STOP_REFUSED, STOP_COMPLETED)
STOP_SCOPES = ("none", "point", "plan", "patient", "restart")
DEFAULT_PLAN_STOP_RULES: dict[str, str] = {
    STOP_DECEASED: "patient",
    STOP_READMITTED: "restart",
    STOP_REFUSED: "plan",
    STOP_COMPLETED: "point",
}


def stop_rules_from_dict(data: Mapping[str, Any] | None, where: str = "stop_rules") -> dict[str, str]:
    """Merge a plan's stop rules over the defaults; values are scopes from ``STOP_SCOPES``."""
    out = dict(DEFAULT_PLAN_STOP_RULES)
    for key, value in (data or {}).items():
        if key not in STOP_RULE_KEYS:
            raise PlanError(f"{where}: unknown stop rule {key!r}; allowed: {', '.join(STOP_RULE_KEYS)}")
        scope = "none" if value is False else str(value)
        restart_ok = scope != "restart" or key == STOP_READMITTED
        if scope not in STOP_SCOPES or not restart_ok:
            raise PlanError(f"{where}.{key}: {value!r} is not allowed; use one of {STOP_SCOPES} "
                            "('restart' only for readmitted)")
        out[key] = scope
    return out


def superseded_anchors(discharges: Mapping[int, date]) -> tuple[int | None, set[int]]:
    """Among one patient's matching encounters (id -> discharge date), the latest is the plan's anchor and the
    earlier ones are superseded (readmission restarts the plan from the new discharge)."""
    if not discharges:
        return None, set()
    latest = max(discharges, key=lambda k: (discharges[k], k))
    return latest, {k for k in discharges if k != latest}
