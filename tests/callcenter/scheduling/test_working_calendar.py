from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from callcenter.calendar import (
    CalendarError,
    CalendarOutOfRange,
    CallPolicy,
    DayKind,
    TimeWindow,
    WorkingCalendar,
    parse_overrides,
    parse_windows,
)

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2025, 9, 28), DayKind.makeup_workday),  # Sunday worked before National Day 2025
        (date(2025, 10, 11), DayKind.makeup_workday),  # Saturday worked after National Day 2025
        (date(2025, 10, 1), DayKind.holiday),
        (date(2025, 10, 4), DayKind.holiday),  # a Saturday inside the holiday
        (date(2025, 10, 9), DayKind.workday),
        (date(2025, 10, 18), DayKind.weekend),
        (date(2026, 1, 1), DayKind.holiday),
        (date(2026, 2, 14), DayKind.makeup_workday),  # Saturday worked for Spring Festival 2026
    ],
)
def test_library_holidays_and_makeup_days(day: date, kind: DayKind) -> None:
    assert WorkingCalendar().day_kind(day) is kind


def test_makeup_days_are_working_days_and_holidays_are_not() -> None:
    cal = WorkingCalendar()
    assert cal.is_working_day(date(2025, 9, 28))
    assert not cal.is_working_day(date(2025, 10, 6))


def test_year_outside_the_library_without_override_says_what_to_do() -> None:
    with pytest.raises(CalendarOutOfRange, match="complete_years: \\[2027\\]"):
        WorkingCalendar().is_working_day(date(2027, 3, 3))


def test_override_file_describes_a_year_the_library_lacks() -> None:
    ov = parse_overrides(
        "holidays:\n  - {from: 2027-02-06, to: 2027-02-12, name: 春节}\n"
        "workdays:\n  - {date: 2027-02-14, name: 春节调休}\ncomplete_years: [2027]\n"
    )
    cal = WorkingCalendar(ov)
    assert cal.day_kind(date(2027, 2, 8)) is DayKind.holiday
    assert cal.day_kind(date(2027, 2, 14)) is DayKind.makeup_workday  # a Sunday
    assert cal.day_kind(date(2027, 2, 20)) is DayKind.weekend
    assert cal.day_kind(date(2027, 3, 3)) is DayKind.workday


def test_override_closes_the_hospital_on_a_library_working_day() -> None:
    cal = WorkingCalendar(parse_overrides("holidays:\n  - 2025-10-09\n"))
    assert cal.day_kind(date(2025, 10, 9)) is DayKind.holiday
    assert cal.day_kind(date(2025, 10, 10)) is DayKind.workday


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("holidays: [2025-01-01]\nworkdays: [2025-01-01]\n", "both"),
        ("holiday: []\n", "unknown keys"),
        ("holidays:\n  - {from: 2025-01-05, to: 2025-01-01}\n", "before"),
        ("holidays:\n  - {date: not-a-date}\n", "not a date"),
        ("complete_years: 2027\n", "list of years"),
    ],
)
def test_bad_override_files_are_rejected_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_overrides(text, "h.yaml")


def test_windows_parse_merge_and_reject_garbage() -> None:
    assert parse_windows("14:30-20:00, 08:30-11:30,11:00-12:00") == (
        TimeWindow(time(8, 30), time(12, 0)), TimeWindow(time(14, 30), time(20, 0)))
    with pytest.raises(CalendarError, match="HH:MM"):
        parse_windows("morning")
    with pytest.raises(CalendarError, match="ends before"):
        parse_windows("12:00-08:00")


def policy(windows: str = "08:30-11:30,14:30-20:00") -> CallPolicy:
    return CallPolicy.build(WorkingCalendar(), windows)


def test_noon_rest_is_cut_out_of_wide_windows() -> None:
    p = policy("08:00-18:00")
    assert p.is_allowed(local(2025, 10, 9, 11, 59))
    assert not p.is_allowed(local(2025, 10, 9, 12, 30))
    assert p.next_allowed(local(2025, 10, 9, 12, 30)) == local(2025, 10, 9, 14, 0).astimezone(UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2025, 10, 9, 9, 0), local(2025, 10, 9, 9, 0)),  # already allowed
        (local(2025, 10, 9, 3, 0), local(2025, 10, 9, 8, 30)),  # 3 a.m. -> morning window
        (local(2025, 10, 9, 20, 0), local(2025, 10, 10, 8, 30)),  # window end is exclusive
        (local(2025, 9, 30, 21, 0), local(2025, 10, 9, 8, 30)),  # over the National Day holiday
        (local(2025, 9, 27, 10, 0), local(2025, 9, 28, 8, 30)),  # Saturday -> the 调休 Sunday
        (local(2025, 10, 10, 21, 0), local(2025, 10, 11, 8, 30)),  # Friday night -> the 调休 Saturday
    ],
)
def test_next_allowed_moment(at: datetime, expected: datetime) -> None:
    assert policy().next_allowed(at) == expected.astimezone(UTC)


def test_patient_preference_narrows_the_windows() -> None:
    p = policy()
    evening = TimeWindow(time(18, 0), time(21, 0))
    assert p.next_allowed(local(2025, 10, 9, 9, 0), evening) == local(2025, 10, 9, 18, 0).astimezone(UTC)
    assert not p.is_allowed(local(2025, 10, 9, 20, 30), evening)  # the plan window still ends at 20:00


def test_preference_outside_plan_windows_is_honoured_within_outer_bounds() -> None:
    p = policy("08:30-11:30")
    late = TimeWindow(time(19, 0), time(23, 0))
    assert p.windows_for(late) == (TimeWindow(time(19, 0), time(21, 0)),)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(CalendarError, match="naive"):
        policy().next_allowed(datetime(2025, 10, 9, 9, 0))
