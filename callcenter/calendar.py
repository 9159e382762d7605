"""The Chinese working calendar and call windows: when may the centre call a patient?

Pure: statutory holidays (法定节假日) and make-up working days (调休) come from the ``chinese_calendar`` package
(PyPI ``chinesecalendar``), corrected by a hospital override file (extra closures, extra working days, and the
years the library does not know yet). Calls happen only on working days, inside the call windows, never in the
noon rest (午休). Times are timezone-aware; the local zone is the hospital's (``Settings.timezone``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

from callcenter.errors import CallCenterError

DEFAULT_NOON_REST = "12:00-14:00"
# Outer bounds for a patient's own preference when it does not overlap the plan's windows: never earlier or
# later than this, whatever the patient asked for (no 3 a.m. calls).
PREFERENCE_BOUNDS = "08:00-21:00"
SEARCH_DAYS = 400


class CalendarError(CallCenterError):
    """The calendar cannot answer; the message says which file or date and what to add."""


class CalendarOutOfRange(CalendarError):
    """A date in a year the library does not cover and no override file describes."""


class DayKind(enum.StrEnum):
    workday = "workday"  # an ordinary Monday-Friday
    makeup_workday = "makeup_workday"  # 调休: a weekend day worked to bridge a holiday
    weekend = "weekend"
    holiday = "holiday"  # 法定节假日 or a hospital closure


@dataclass(frozen=True)
class TimeWindow:
    """A daily window [start, end) in local time."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise CalendarError(f"call window {self} ends before it starts; write it as HH:MM-HH:MM")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_windows(spec: str) -> tuple[TimeWindow, ...]:
    """``"08:30-11:30,14:30-20:00"`` -> sorted, merged windows. Empty text -> no windows."""
    windows: list[TimeWindow] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        start_s, sep, end_s = part.partition("-")
        try:
            if not sep:
                raise ValueError(part)
            start, end = time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())
        except ValueError as exc:
            raise CalendarError(f"call window {part!r} is not HH:MM-HH:MM (e.g. 08:30-11:30)") from exc
        windows.append(TimeWindow(start, end))
    return _merge(windows)


def _merge(windows: Iterable[TimeWindow]) -> tuple[TimeWindow, ...]:
    out: list[TimeWindow] = []
    for w in sorted(windows, key=lambda w: w.start):
        if out and w.start <= out[-1].end:
            out[-1] = TimeWindow(out[-1].start, max(out[-1].end, w.end))
        else:
            out.append(w)
    return tuple(out)


def intersect(a: Sequence[TimeWindow], b: Sequence[TimeWindow]) -> tuple[TimeWindow, ...]:
    out = []
    for x in a:
        for y in b:
            start, end = max(x.start, y.start), min(x.end, y.end)
            if start < end:
                out.append(TimeWindow(start, end))
    return _merge(out)


def subtract(windows: Sequence[TimeWindow], cut: Sequence[TimeWindow]) -> tuple[TimeWindow, ...]:
    """``windows`` minus every window in ``cut`` (used for the noon rest)."""
    pieces = list(windows)
    for c in cut:
        nxt: list[TimeWindow] = []
        for w in pieces:
            if c.end <= w.start or c.start >= w.end:
                nxt.append(w)
                continue
            if w.start < c.start:
                nxt.append(TimeWindow(w.start, c.start))
            if c.end < w.end:
                nxt.append(TimeWindow(c.end, w.end))
        pieces = nxt
    return _merge(pieces)


@dataclass(frozen=True)
class CalendarOverrides:
    """The hospital's corrections: closures, extra working days, and years it describes completely."""

    holidays: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)
    # Years the library does not know: the override lists ARE the holidays/调休 of that year (weekends otherwise).
    complete_years: frozenset[int] = frozenset()
    source: str = ""


def parse_overrides(text: str, source: str = "<overrides>") -> CalendarOverrides:
    """Parse the override YAML. Entries: ``- 2027-01-01`` or ``- {date: 2027-01-01, name: 元旦}`` or
    ``- {from: 2027-02-06, to: 2027-02-12, name: 春节}`` under ``holidays:`` or ``workdays:``."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CalendarError(f"{source}: not valid YAML ({exc}); fix the file named by CALLCENTER_CALENDAR_OVERRIDES") from exc
    if not isinstance(data, dict):
        raise CalendarError(f"{source}: expected a mapping with holidays:, workdays:, complete_years:")
    unknown = sorted(set(data) - {"holidays", "workdays", "complete_years"})
    if unknown:
        raise CalendarError(f"{source}: unknown keys {unknown}; allowed: holidays, workdays, complete_years")
    holidays = _parse_days(data.get("holidays") or [], source, "holidays")
    workdays = _parse_days(data.get("workdays") or [], source, "workdays")
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise CalendarError(f"{source}: {both[0]} is listed both as a holiday and as a working day; keep one")
    years_raw = data.get("complete_years") or []
    if not isinstance(years_raw, list) or not all(isinstance(y, int) for y in years_raw):
        raise CalendarError(f"{source}: complete_years must be a list of years, e.g. [2027]")
    return CalendarOverrides(holidays, workdays, frozenset(years_raw), source)


def _parse_days(entries: Any, source: str, section: str) -> dict[date, str]:
    if not isinstance(entries, list):
        raise CalendarError(f"{source}: {section} must be a list of dates or {{date:, name:}} entries")
    out: dict[date, str] = {}
    for i, entry in enumerate(entries, 1):
        where = f"{source}: {section} entry {i}"
        if isinstance(entry, date):
            out[entry] = ""
            continue
        if not isinstance(entry, dict):
            raise CalendarError(f"{where}: write a date (2027-01-01) or {{date: 2027-01-01, name: 元旦}}")
        name = str(entry.get("name", ""))
        if "date" in entry:
            out[_as_date(entry["date"], where)] = name
        elif "from" in entry and "to" in entry:
            first, last = _as_date(entry["from"], where), _as_date(entry["to"], where)
            if last < first:
                raise CalendarError(f"{where}: 'to' {last} is before 'from' {first}")
            for n in range((last - first).days + 1):
                out[first + timedelta(days=n)] = name
        else:
            raise CalendarError(f"{where}: needs 'date' or 'from' and 'to'")
    return out


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from exc


class WorkingCalendar:
    """Working days of the hospital: library holidays and 调休, then the hospital's overrides."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self.overrides = overrides or CalendarOverrides()

    def day_kind(self, day: date) -> DayKind:
        ov = self.overrides
        if day in ov.holidays:
            return DayKind.holiday
        if day in ov.workdays:
            return DayKind.makeup_workday if day.weekday() >= 5 else DayKind.workday
        weekend = day.weekday() >= 5
        if day.year in ov.complete_years:
            return DayKind.weekend if weekend else DayKind.workday
        try:
            _off, name = chinese_calendar.get_holiday_detail(day)
            working = chinese_calendar.is_workday(day)
        except NotImplementedError as exc:
            raise CalendarOutOfRange(
                f"{day} is outside the chinesecalendar library's range and no override covers it: add that "
                f"year's holidays and 调休 working days to the override file (CALLCENTER_CALENDAR_OVERRIDES) "
                f"with complete_years: [{day.year}], or upgrade the chinesecalendar package"
            ) from exc
        if working:
            return DayKind.makeup_workday if weekend else DayKind.workday
        # the library answers (True, None) for a plain weekend and names statutory holidays
        return DayKind.holiday if name is not None else DayKind.weekend

    def is_working_day(self, day: date) -> bool:
        return self.day_kind(day) in (DayKind.workday, DayKind.makeup_workday)


@dataclass(frozen=True)
class CallPolicy:
    """When calls may be placed: working days x call windows minus the noon rest, in the local zone."""

    calendar: WorkingCalendar
    windows: tuple[TimeWindow, ...]
    timezone: str = "Asia/Shanghai"
    noon_rest: tuple[TimeWindow, ...] = field(default_factory=lambda: parse_windows(DEFAULT_NOON_REST))

    @classmethod
    def build(
        cls,
        calendar: WorkingCalendar,
        default_windows: str,
        *,
        timezone: str = "Asia/Shanghai",
        plan_windows: str = "",
        noon_rest: str = DEFAULT_NOON_REST,
    ) -> CallPolicy:
        windows = parse_windows(plan_windows) or parse_windows(default_windows)
        if not windows:
            raise CalendarError("no call windows configured; set CALLCENTER_CALL_WINDOW, e.g. 08:30-11:30,14:30-20:00")
        return cls(calendar, windows, timezone, parse_windows(noon_rest))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def windows_for(self, preferred: TimeWindow | None = None) -> tuple[TimeWindow, ...]:
        """The day's windows for one patient: the plan's, narrowed to the patient's preference when they
        overlap; else the preference within the outer bounds; always minus the noon rest."""
        windows = self.windows
        if preferred is not None:
            narrowed = intersect(windows, (preferred,)) or intersect(parse_windows(PREFERENCE_BOUNDS), (preferred,))
            windows = narrowed or windows
        return subtract(windows, self.noon_rest)

    def is_allowed(self, at: datetime, preferred: TimeWindow | None = None) -> bool:
        local = _aware(at).astimezone(self.zone)
        if not self.calendar.is_working_day(local.date()):
            return False
        t = local.time().replace(tzinfo=None)
        return any(w.start <= t < w.end for w in self.windows_for(preferred))

    def next_allowed(self, at: datetime, preferred: TimeWindow | None = None) -> datetime:
        """The first moment at or after ``at`` when a call is allowed (UTC)."""
        zone = self.zone
        local = _aware(at).astimezone(zone)
        windows = self.windows_for(preferred)
        day = local.date()
        for _ in range(SEARCH_DAYS):
            if self.calendar.is_working_day(day):
                for w in windows:
                    start = datetime.combine(day, w.start, zone)
                    end = datetime.combine(day, w.end, zone)
                    if end > local:
                        return max(start, local).astimezone(UTC)
            day += timedelta(days=1)
        raise CalendarError(f"no allowed call time within {SEARCH_DAYS} days after {at}; check the calendar overrides")

    def local_day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise CalendarError("naive datetime given to the call policy; pass a timezone-aware time")
    return at


def preferred_window(start: time | None, end: time | None) -> TimeWindow | None:
    """A patient's preferred window from the two Patient columns (None when unset or inverted)."""
    if start is None or end is None or end <= start:
        return None
    return TimeWindow(start, end)
