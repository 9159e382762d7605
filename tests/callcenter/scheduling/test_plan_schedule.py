from datetime import date

import pytest

from callcenter.planning import (
    Offset,
    PlanError,
    add_months,
    expand,
    parse_offset,
    points_to_generate,
    schedule_from_dict,
    stop_rules_from_dict,
    superseded_anchors,
)


def test_discharge_plan_points_then_every_90_days_until_two_years() -> None:
    s = schedule_from_dict({"points": ["7d", "30d", "90d"], "repeat": {"every": "90d", "until": "2y"}})
    keys = [p.point for p in expand(s, date(2025, 1, 10))]
    assert keys[:4] == ["d7", "d30", "d90", "d180"]
    assert keys[-1] == "d720"  # 810 days would pass the two-year mark (730)
    assert len(keys) == 3 + 7


def test_due_dates_and_windows() -> None:
    s = schedule_from_dict({"points": ["7d"], "window": "3d"})
    (p,) = expand(s, date(2025, 9, 30))
    assert (p.due_on, p.last_day) == (date(2025, 10, 7), date(2025, 10, 10))


def test_monthly_plan_keeps_the_day_of_month_and_clamps_short_months() -> None:
    s = schedule_from_dict({"points": ["1m"], "repeat": {"every": "1m", "until": "1y"}})
    due = [p.due_on for p in expand(s, date(2025, 1, 31))]
    assert due[:3] == [date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]
    assert [p.point for p in expand(s, date(2025, 1, 31))][:2] == ["m1", "m2"]
    assert len(due) == 12


def test_rolling_horizon_skips_past_windows_and_far_points() -> None:
    s = schedule_from_dict({"points": ["7d", "30d", "90d"], "window": "3d"})
    got = points_to_generate(s, date(2025, 9, 1), today=date(2025, 9, 20), horizon_days=30)
    assert [p.point for p in got] == ["d30"]  # d7 window ended 9-11; d90 is beyond the horizon


@pytest.mark.parametrize("text", ["7", "7x", "", "-3d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(PlanError, match="duration"):
        parse_offset(text, "p")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"points": ["30d", "7d"]}, "increasing"),
        ({}, "give points"),
        ({"points": ["7d"], "repeat": {"every": "0d", "until": "1y"}}, "longer than zero"),
        ({"points": ["7d"], "window": "1m"}, "days or weeks"),
        ({"points": ["7d"], "every": "1m"}, "unknown keys"),
    ],
)
def test_bad_schedules_name_the_problem(data: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        schedule_from_dict(data)


def test_offsets_and_months() -> None:
    assert parse_offset("2w") == Offset(days=14)
    assert parse_offset("2y") == Offset(months=24)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_stop_rules_merge_over_defaults_and_validate() -> None:
    rules = stop_rules_from_dict({"refused": "patient"})
    assert rules == {"deceased": "patient", "readmitted": "restart", "refused": "patient", "completed": "point"}
    assert stop_rules_from_dict({"readmitted": False})["readmitted"] == "none"
    with pytest.raises(PlanError, match="restart"):
        stop_rules_from_dict({"refused": "restart"})
    with pytest.raises(PlanError, match="unknown stop rule"):
        stop_rules_from_dict({"moved": "plan"})


def test_latest_discharge_is_the_anchor_and_earlier_ones_are_superseded() -> None:
    latest, old = superseded_anchors({11: date(2025, 1, 1), 12: date(2025, 3, 1)})
    assert (latest, old) == (12, {11})
