from pathlib import Path

import pytest
from sqlmodel import select

from callcenter.calendar import CalendarError, CalendarOutOfRange
from callcenter.call_rules import rules_from_settings
from callcenter.planning import PlanError
from callcenter.plans_repo import (
    DEFAULT_PLANS_DIR,
    check_plans,
    load_plan_dir,
    parse_plan,
    questionnaire_keys,
)
from callcenter.settings import Settings

GOOD = {"key": "p", "name": "P", "questionnaire": "q", "schedule": {"points": ["7d"]}}


def test_every_shipped_plan_loads_and_names_a_questionnaire_in_the_library():
    plans = load_plan_dir(DEFAULT_PLANS_DIR)
    assert {p.key for p in plans} >= {"discharge_general", "oncology", "post_surgical", "hypertension_monthly",
                                      "diabetes_monthly"}
    assert check_plans(plans, questionnaire_keys()) == []


def test_monthly_chronic_plans_call_every_month_for_two_years():
    plans = {p.key: p for p in load_plan_dir(DEFAULT_PLANS_DIR)}
    assert [o.key for o in plans["hypertension_monthly"].schedule.offsets()] == [f"m{i}" for i in range(1, 25)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"questionnaire": ""}, "'questionnaire' is required"),
        ({"channel": "fax"}, "channel must be one of"),
        ({"priority": 5000}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"cohort": {"department": ["x"]}}, "cohort: unknown cohort rule field"),
        ({"call_windows": "9-5"}, "call_windows"),
        ({"stop_rules": {"refused": "restart"}}, "restart"),
        ({"colour": "red"}, "unknown keys"),
        ({"key": "bad key!"}, "letters, digits"),
        ({"escalation": ["sms", "nurse_call"]}, "escalation: starts with the plan's own channel"),
        ({"escalation": ["nurse_call", "fax"]}, "escalation: channels are"),
        ({"escalation": ["nurse_call", "sms", "nurse_call"]}, "each channel at most once"),
        ({"escalation": "sms"}, "escalation: a list of channels"),
    ],
)
def test_bad_plans_name_the_file_and_the_field(change, message):
    with pytest.raises(PlanError, match=message) as err:
        parse_plan({**GOOD, **change}, "plans/p.yaml")
    assert "plans/p.yaml" in str(err.value)


def test_duplicate_plan_keys_and_broken_yaml_are_reported_with_the_file(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("key: p\nname: A\nquestionnaire: q\nschedule: {points: [7d]}\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("key: p\nname: B\nquestionnaire: q\nschedule: {points: [7d]}\n", encoding="utf-8")
    with pytest.raises(PlanError, match="already used by .*a.yaml"):
        load_plan_dir(tmp_path)
    (tmp_path / "b.yaml").write_text("key: [p\n", encoding="utf-8")
    with pytest.raises(PlanError, match=r"b.yaml:\d+: not valid YAML"):
        load_plan_dir(tmp_path)


def test_missing_questionnaire_is_reported_by_check():
    (plan,) = [parse_plan(GOOD, "p.yaml")]
    assert check_plans([plan], {"other"}) == [
        "p.yaml: questionnaire 'q' is not in the questionnaire library; add the script or change 'questionnaire'"]


def test_rules_from_settings_read_the_override_file(tmp_path: Path):
    from datetime import date

    f = tmp_path / "calendar.yaml"
    f.write_text("holidays: [2025-10-09]\ncomplete_years: [2027]\n", encoding="utf-8")
    rules = rules_from_settings(Settings(calendar_overrides=str(f), call_window="09:00-10:00"))
    assert not rules.calendar.is_working_day(date(2025, 10, 9))
    assert rules.calendar.is_working_day(date(2027, 3, 3))
    with pytest.raises(CalendarOutOfRange):
        rules_from_settings(Settings()).calendar.is_working_day(date(2027, 3, 3))
    with pytest.raises(CalendarError, match="cannot read"):
        rules_from_settings(Settings(calendar_overrides=str(tmp_path / "missing.yaml")))
    with pytest.raises(CalendarError, match="HH:MM"):
        rules_from_settings(Settings(call_window="all day"))


def test_a_plan_sets_its_escalation_order_and_it_survives_the_database(session):
    from callcenter.models import Channel, FollowUpPlan
    from callcenter.plans_repo import definition_from_row, upsert_plans

    plan = parse_plan({**GOOD, "channel": "robot_call", "escalation": ["robot_call", "nurse_call"]}, "p.yaml")
    assert plan.escalation == (Channel.robot_call, Channel.nurse_call)
    assert parse_plan(GOOD, "p.yaml").escalation == ()  # the default order applies
    upsert_plans(session, [plan])
    row = session.exec(select(FollowUpPlan).where(FollowUpPlan.key == plan.key)).one()
    assert row.escalation == ["robot_call", "nurse_call"]
    assert definition_from_row(row).escalation == plan.escalation
