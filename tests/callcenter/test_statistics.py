"""Statistics on a fixed data set, checked against figures worked out by hand (SQLite and PostgreSQL).

The data set (period 2026-11-23 .. 2026-11-24 local, Asia/Shanghai; end date 11-25 exclusive):

  task dept      plan due    status      attempts (nurse, outcome/AAPOR, local time, talk s, wrap-up s)
  T1   心内科    P1   11-23  completed   A no_answer 3.13 09:10; A completed 1.1 14:00 (300 s, 60 s)
  T2   心内科    P1   11-23  callback    A callback_requested 2.21 10:00 (60 s, 30 s)
  T3   心内科    P1   11-24  cancelled   B refused 2.11 09:30 (120 s, 60 s)
  T4   内分泌科  P2   11-24  unreachable B no_answer 3.13 10:00; B busy 3.12 15:00; B wrong_number 4.70 16:00
  T5   内分泌科  P2   11-24  due         (none)
  T6   内分泌科  P2   11-24  cancelled   (none)
  T7   心内科    P1   11-25  completed   A completed 11-25 09:00            <- outside the period
  T8   内分泌科  P2   11-22  callback    A hung_up 2.12 11-23 11:00 (30 s)  <- task outside, call inside
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from callcenter import outcomes, statistics_queries
from callcenter.models import (
    Answer,
    CallAttempt,
    Encounter,
    FollowUpPlan,
    Patient,
    Questionnaire,
    Response,
    Role,
    Task,
    TaskStatus,
    User,
)
from callcenter.statistics import AaporClass, Dimension, aapor_class, aapor_rates, disposition
from callcenter.statistics_queries import Filters

ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = Filters(start=date(2026, 11, 23), end=date(2026, 11, 25))


def _local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=ZONE).astimezone(UTC)


@pytest.fixture
def data(session: Session) -> dict[str, int]:
    outcomes.seed_outcomes(session)
    a = User(username="wang", role=Role.nurse, display_name="小王")
    b = User(username="li", role=Role.nurse, display_name="小李")
    session.add_all([a, b])
    session.flush()
    assert a.id is not None and b.id is not None
    p1 = FollowUpPlan(key="p1", name="心内科出院随访", questionnaire_key="post_discharge")
    p2 = FollowUpPlan(key="p2", name="糖尿病随访", questionnaire_key="post_discharge")
    patient = Patient(name="测试", source_system="t", mrn="1")
    session.add_all([p1, p2, patient])
    session.flush()
    cardio = Encounter(patient_id=patient.id or 0, department="心内科", source_system="t", source_id="e1")
    endo = Encounter(patient_id=patient.id or 0, department="内分泌科", source_system="t", source_id="e2")
    session.add_all([cardio, endo])
    session.flush()
    ids: dict[str, int] = {"a": a.id, "b": b.id, "patient": patient.id or 0}

    def task(name: str, enc: Encounter, plan: FollowUpPlan, day: int, status: TaskStatus) -> int:
        row = Task(patient_id=patient.id or 0, plan_id=plan.id, anchor_encounter_id=enc.id, point=name,
                   due_at=_local(day, 9), status=status)
        session.add(row)
        session.flush()
        ids[name] = row.id or 0
        return row.id or 0

    def call(task_id: int, nurse: int, code: str, start: datetime, talk_s: int = 0, wrap_s: int | None = None) -> None:
        answered = start if talk_s else None
        ended = start + timedelta(seconds=talk_s) if talk_s else None
        session.add(CallAttempt(task_id=task_id, patient_id=patient.id or 0, user_id=nurse, started_at=start,
                                answered_at=answered, ended_at=ended, outcome_code=code,
                                wrapped_up_at=ended + timedelta(seconds=wrap_s) if ended and wrap_s else None))

    t1 = task("T1", cardio, p1, 23, TaskStatus.completed)
    call(t1, a.id, "no_answer", _local(23, 9, 10))
    call(t1, a.id, "completed", _local(23, 14), talk_s=300, wrap_s=60)
    t2 = task("T2", cardio, p1, 23, TaskStatus.callback)
    call(t2, a.id, "callback_requested", _local(23, 10), talk_s=60, wrap_s=30)
    t3 = task("T3", cardio, p1, 24, TaskStatus.cancelled)  # refused: closed by the stop rule
    call(t3, b.id, "refused", _local(24, 9, 30), talk_s=120, wrap_s=60)
    t4 = task("T4", endo, p2, 24, TaskStatus.unreachable)
    call(t4, b.id, "no_answer", _local(24, 10))
    call(t4, b.id, "busy", _local(24, 15))
    call(t4, b.id, "wrong_number", _local(24, 16))
    task("T5", endo, p2, 24, TaskStatus.due)
    task("T6", endo, p2, 24, TaskStatus.cancelled)
    t7 = task("T7", cardio, p1, 25, TaskStatus.completed)
    call(t7, a.id, "completed", _local(25, 9), talk_s=100, wrap_s=10)
    t8 = task("T8", endo, p2, 22, TaskStatus.callback)
    call(t8, a.id, "hung_up", _local(23, 11), talk_s=30)

    form = Questionnaire(key="post_discharge", version=1, title="出院随访")
    session.add(form)
    session.flush()
    for task_id, answers in ((t1, [("feeling", "better", False), ("feeling", "worse", True),
                                   ("bp", {"systolic": 120, "diastolic": 80}, False)]),
                             (t2, [("feeling", "same", False)]), (t7, [("feeling", "worse", False)])):
        response = Response(questionnaire_id=form.id or 0, patient_id=patient.id or 0, task_id=task_id)
        session.add(response)
        session.flush()
        for item, value, superseded in answers:
            session.add(Answer(response_id=response.id or 0, item_id=item, value=value, superseded=superseded))
    session.commit()
    return ids


@pytest.mark.parametrize(("code", "expected"), [
    ("1.1", AaporClass.I), ("1.2", AaporClass.P), ("2.11", AaporClass.R), ("2.12", AaporClass.R),
    ("2.21", AaporClass.NC), ("2.31", AaporClass.O), ("3.13", AaporClass.U), ("4.70", AaporClass.NE),
    ("", None), ("x", None), ("5.1", None),
])
def test_aapor_codes_map_to_their_disposition_class(code, expected):
    assert aapor_class(code) is expected


def test_a_case_takes_its_most_informative_attempt_as_disposition():
    assert disposition(["3.13", "1.1"]) == "1.1"
    assert disposition(["3.13", "3.12", "4.70"]) == "3.12"
    assert disposition(["2.21", "2.11"]) == "2.11"
    assert disposition(["", "own-code"]) is None


def test_aapor_rates_follow_the_standard_definitions():
    from collections import Counter
    # I=2 P=1 R=1 NC=3 O=1 U=2 NE=5: denominator 10 (NE excluded)
    rates = aapor_rates(Counter({AaporClass.I: 2, AaporClass.P: 1, AaporClass.R: 1, AaporClass.NC: 3,
                                 AaporClass.O: 1, AaporClass.U: 2, AaporClass.NE: 5}))
    assert rates.rr1 == pytest.approx(2 / 10)
    assert rates.con1 == pytest.approx((2 + 1 + 1 + 1) / 10)
    assert rates.ref1 == pytest.approx(1 / 10)
    assert aapor_rates(Counter()).rr1 is None


def test_totals_match_the_hand_computed_figures(session, data):
    report = statistics_queries.build_report(session, PERIOD, Dimension.total, ZONE)
    total = report.total
    # due in the period: T1..T6 (T7 is due 11-25, T8 11-22)
    assert (total.tasks_due, total.completed, total.unreachable, total.cancelled) == (6, 1, 1, 2)
    # attempted: T1 T2 T3 T4; contacted: T1 (completed), T2 (callback), T3 (refused) -> 3/4
    assert (total.attempted, total.contacted) == (4, 3)
    assert total.contact_rate == pytest.approx(0.75)
    # completed / (due - cancelled) = 1 / (6 - 2)
    assert total.completion_rate == pytest.approx(0.25)
    # dispositions: T1 1.1 -> I; T2 2.21 -> NC; T3 2.11 -> R; T4 min(3.13, 3.12, 4.70) = 3.12 -> U;
    # T5 due and never called: 3.11 not attempted -> U; T6 never called but cancelled: no case
    assert total.dispositions == {"I": 1, "P": 0, "R": 1, "NC": 1, "O": 0, "U": 2, "NE": 0}
    # RR1 = I/(I+P+R+NC+O+U) = 1/5; CON1 = (I+P+R+O)/5 = 2/5; REF1 = R/5 = 1/5
    assert (total.rates.rr1, total.rates.con1, total.rates.ref1) == (0.2, 0.4, 0.2)
    # calls started 11-23..11-24: T1 x2, T2, T3, T4 x3, T8 (task outside, call inside) = 8; T7's is on 11-25
    assert total.calls == 8
    # talk: T1 300 + T2 60 + T3 120 + T8 30 = 510 s over 4 answered calls; wrap-up (60 + 30 + 60) / 3 = 50 s
    assert (total.answered_calls, total.talk_s_total, total.talk_s_mean) == (4, 510, 127.5)
    assert total.wrap_up_s_mean == 50
    # local start hours: 09 (T1, T3), 10 (T2, T4), 11 (T8), 14 (T1), 15 (T4), 16 (T4)
    assert {h: n for h, n in enumerate(report.calls_by_hour) if n} == {9: 2, 10: 2, 11: 1, 14: 1, 15: 1, 16: 1}
    # trend: 11-23 due T1 T2, done T1, calls T1 x2 T2 T8; 11-24 due T3..T6, calls T3 T4 x3
    assert report.trend == ((date(2026, 11, 23), 2, 1, 4), (date(2026, 11, 24), 4, 0, 4))
    # answers of the period's tasks, superseded ones left out (T1's "worse"), T7 outside
    assert report.answers == {("post_discharge", "bp"): {"120/80": 1},
                              ("post_discharge", "feeling"): {"better": 1, "same": 1}}


def test_per_department_figures(session, data):
    groups = {g.key: g for g in statistics_queries.build_report(session, PERIOD, Dimension.department, ZONE).groups}
    assert set(groups) == {"心内科", "内分泌科"}
    cardio, endo = groups["心内科"], groups["内分泌科"]
    # 心内科: T1 T2 T3, all attempted and contacted; completion 1/(3-1); I, NC, R -> RR1 1/3, CON1 2/3, REF1 1/3
    assert (cardio.tasks_due, cardio.completed, cardio.attempted, cardio.contacted) == (3, 1, 3, 3)
    assert cardio.completion_rate == pytest.approx(0.5)
    assert cardio.rates.rr1 == pytest.approx(1 / 3) and cardio.rates.con1 == pytest.approx(2 / 3)
    assert cardio.rates.ref1 == pytest.approx(1 / 3)
    assert (cardio.calls, cardio.talk_s_total) == (4, 480)  # T1 x2, T2, T3: 300 + 60 + 120
    # 内分泌科: T4 T5 T6; only T4 attempted, never contacted; completion 0/(3-1); U (T4, T5 not attempted) -> 0
    assert (endo.tasks_due, endo.unreachable, endo.attempted, endo.contacted) == (3, 1, 1, 0)
    assert endo.contact_rate == 0 and endo.completion_rate == 0
    assert (endo.rates.rr1, endo.rates.con1, endo.rates.ref1) == (0, 0, 0)
    assert (endo.calls, endo.talk_s_mean) == (3, None)  # T8's call is not in the group: its task is not due


def test_per_nurse_figures(session, data):
    groups = {g.key: g for g in statistics_queries.build_report(session, PERIOD, Dimension.nurse, ZONE).groups}
    # tasks by the nurse of their last call: 小王 T1 T2, 小李 T3 T4, 未拨打 T5 T6
    assert {k: g.tasks_due for k, g in groups.items()} == {"小王": 2, "小李": 2, "未拨打": 2}
    # calls are the nurse's own: 小王 T1 x2, T2, T8 = 4 (talk 300 + 60 + 30); 小李 T3, T4 x3 = 4 (talk 120)
    assert (groups["小王"].calls, groups["小王"].talk_s_total) == (4, 390)
    assert (groups["小李"].calls, groups["小李"].talk_s_total) == (4, 120)
    assert groups["小王"].completed == 1 and groups["小李"].unreachable == 1


def test_filters_by_plan_and_nurse(session, data):
    by_plan = statistics_queries.build_report(session, Filters(PERIOD.start, PERIOD.end, plan_key="p2"),
                                              Dimension.total, ZONE).total
    assert (by_plan.tasks_due, by_plan.calls) == (3, 3)  # T4 T5 T6; T4's three calls (T8's task not due)
    by_nurse = statistics_queries.build_report(
        session, Filters(PERIOD.start, PERIOD.end, nurse_id=data["b"]), Dimension.total, ZONE).total
    assert (by_nurse.tasks_due, by_nurse.calls, by_nurse.unreachable) == (2, 4, 1)  # T3 T4
    by_dept = statistics_queries.build_report(session, Filters(PERIOD.start, PERIOD.end, department="心内科"),
                                              Dimension.day, ZONE)
    assert [(g.key, g.tasks_due, g.calls) for g in by_dept.groups] == [("2026-11-23", 2, 3), ("2026-11-24", 1, 1)]


def test_per_day_figures(session, data):
    groups = {g.key: g for g in statistics_queries.build_report(session, PERIOD, Dimension.day, ZONE).groups}
    first, second = groups["2026-11-23"], groups["2026-11-24"]
    # 11-23: T1 (I) T2 (NC) due; calls that day T1 x2, T2 and T8's (its own day): talk 300 + 60 + 30, wrap-up 60, 30
    assert (first.tasks_due, first.completed, first.attempted, first.contacted) == (2, 1, 2, 2)
    assert first.dispositions == {"I": 1, "P": 0, "R": 0, "NC": 1, "O": 0, "U": 0, "NE": 0}
    assert (first.rates.rr1, first.rates.con1, first.rates.ref1) == (0.5, 0.5, 0)
    assert (first.calls, first.answered_calls, first.talk_s_total, first.wrap_up_s_mean) == (4, 3, 390, 45)
    # 11-24: T3 (R, cancelled) T4 (U, unreachable) T5 (U: due, not attempted) T6 (cancelled, no case);
    # completion 0 / (4 - 2); REF1 = 1 / 3
    assert (second.tasks_due, second.cancelled, second.unreachable, second.attempted, second.contacted) == (4, 2, 1, 2, 1)
    assert second.dispositions == {"I": 0, "P": 0, "R": 1, "NC": 0, "O": 0, "U": 2, "NE": 0}
    assert (second.rates.rr1, second.rates.ref1, second.completion_rate) == (0, pytest.approx(1 / 3), 0)
    assert (second.calls, second.talk_s_total, second.talk_s_mean, second.wrap_up_s_mean) == (4, 120, 120, 60)


def test_per_plan_figures(session, data):
    groups = statistics_queries.build_report(session, PERIOD, Dimension.plan, ZONE).groups
    # plans by name, sorted; T8's call is in no group (its task is not due in the period)
    assert [(g.key, g.tasks_due, g.attempted, g.calls) for g in groups] == [("心内科出院随访", 3, 3, 4), ("糖尿病随访", 3, 1, 3)]


def test_per_nurse_task_outcomes_follow_the_nurse_of_the_last_call(session, data):
    groups = {g.key: g for g in statistics_queries.build_report(session, PERIOD, Dimension.nurse, ZONE).groups}
    wang, li, never = groups["小王"], groups["小李"], groups["未拨打"]
    # 小王: T1 (I) T2 (NC); wrap-up of her calls (60 + 30) / 2
    assert (wang.attempted, wang.contacted, wang.dispositions["I"], wang.dispositions["NC"]) == (2, 2, 1, 1)
    assert (wang.rates.rr1, wang.wrap_up_s_mean) == (0.5, 45)
    # 小李: T3 (R) T4 (U)
    assert (li.attempted, li.contacted, li.dispositions["R"], li.dispositions["U"], li.rates.ref1) == (2, 1, 1, 1, 0.5)
    # never called: T5 (due: one case, 3.11 not attempted -> U) T6 (cancelled: no case); no calls;
    # completion 0 / (2 - 1); RR1 = 0 / 1
    assert (never.attempted, never.calls, never.contact_rate, never.completion_rate) == (0, 0, None, 0)
    assert (never.dispositions["U"], never.rates.rr1, never.rates.con1) == (1, 0, 0)
    assert never.talk_s_mean is None and never.wrap_up_s_mean is None


def test_robot_calls_form_their_own_group_per_nurse(session, data):
    session.add(CallAttempt(task_id=data["T5"], patient_id=data["patient"], robot="w1", started_at=_local(24, 12),
                            outcome_code="no_answer"))
    session.commit()
    report = statistics_queries.build_report(session, PERIOD, Dimension.nurse, ZONE)
    groups = {g.key: g for g in report.groups}
    assert (groups["机器人"].tasks_due, groups["机器人"].calls, groups["机器人"].dispositions["U"]) == (1, 1, 1)
    assert groups["未拨打"].tasks_due == 1  # T6 only
    assert (report.total.calls, report.total.attempted) == (9, 5)


def test_a_call_just_after_local_midnight_counts_on_its_local_day_and_hour(session, data):
    # 11-24 00:30 in Shanghai is 11-23 16:30 UTC
    session.add(CallAttempt(task_id=data["T5"], patient_id=data["patient"], user_id=data["b"], started_at=_local(24, 0, 30),
                            outcome_code="no_answer"))
    session.commit()
    report = statistics_queries.build_report(session, PERIOD, Dimension.day, ZONE)
    assert report.calls_by_hour[0] == 1
    assert report.trend == ((date(2026, 11, 23), 2, 1, 4), (date(2026, 11, 24), 4, 0, 5))
    assert {g.key: g.calls for g in report.groups} == {"2026-11-23": 4, "2026-11-24": 5}


def test_an_empty_period_has_zero_counts_and_no_rates(session, data):
    report = statistics_queries.build_report(session, Filters(date(2026, 11, 1), date(2026, 11, 3)),
                                             Dimension.nurse, ZONE)
    total = report.total
    assert (total.tasks_due, total.attempted, total.calls, total.talk_s_total) == (0, 0, 0, 0)
    assert (total.contact_rate, total.completion_rate, total.rates.rr1, total.talk_s_mean) == (None, None, None, None)
    assert report.groups == () and report.answers == {} and set(report.calls_by_hour) == {0}
    assert report.trend == ((date(2026, 11, 1), 0, 0, 0), (date(2026, 11, 2), 0, 0, 0))


def test_answer_distributions_count_displayed_values_of_the_filtered_tasks(session, data):
    form = session.exec(select(Questionnaire)).one()
    for task_name, answers in (("T3", [("symptoms", ["cough", "dizzy"], ""), ("smoker", True, ""), ("score", 1, ""),
                                       ("pain", "none", "patient declined")]),
                               ("T4", [("symptoms", ["cough", "dizzy"], ""), ("smoker", False, ""), ("score", "1", "")]),
                               ("T7", [("symptoms", ["cough"], "")])):  # T7: outside the period
        response = Response(questionnaire_id=form.id or 0, patient_id=data["patient"], task_id=data[task_name])
        session.add(response)
        session.flush()
        for item, value, skipped in answers:
            session.add(Answer(response_id=response.id or 0, item_id=item, value=value, skipped_reason=skipped))
    session.commit()
    # 小李's tasks are T3 and T4: lists joined with "+", booleans as 是/否, the number 1 and the text "1" shown alike,
    # skipped answers left out
    answers = statistics_queries.build_report(session, Filters(PERIOD.start, PERIOD.end, nurse_id=data["b"]),
                                              Dimension.total, ZONE).answers
    assert answers == {("post_discharge", "score"): {"1": 2}, ("post_discharge", "smoker"): {"否": 1, "是": 1},
                       ("post_discharge", "symptoms"): {"cough+dizzy": 2}}
    assert list(answers) == sorted(answers)
