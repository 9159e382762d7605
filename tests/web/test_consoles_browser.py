"""Browser tests (Playwright + Debian Chromium against the live server) of the consoles' remaining screens: the
doctor's plans editor (cohort preview as she types, save), a patient's results (charts and table), the QA call
list's filters, user deactivation and the audit trail. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from callcenter import audit, call_form, plan_editor, questionnaires
from callcenter.db import session_scope
from callcenter.models import (
    CallAttempt,
    Encounter,
    EncounterKind,
    FollowUpPlan,
    Patient,
    Task,
    TaskStatus,
)
from callcenter.plans_repo import upsert_plans

pytestmark = pytest.mark.browser


@pytest.fixture
def sqlite_engine(web_engine):
    """These screens run on SQLite and on PostgreSQL (``web_engine``)."""
    return web_engine


# --- plans editor ------------------------------------------------------------------------------------------------


def test_the_doctor_edits_a_plans_cohort_sees_the_match_count_follow_and_saves_it_audited(
        new_page, ui, sqlite_engine, published_script, clock, staff):
    with session_scope(sqlite_engine) as session:
        upsert_plans(session, [plan_editor.parse_source(plan_editor.NEW_PLAN_TEMPLATE.format(key="cardio_d7"))])
        # 心内科: 2 patients, 2 encounters; 骨科: 3 patients, 4 encounters (one patient discharged twice)
        for n, depts in enumerate((["心内科"], ["心内科"], ["骨科"], ["骨科"], ["骨科", "骨科"])):
            patient = Patient(name=f"病人{n}", source_system="his", mrn=f"P{n}")
            session.add(patient)
            session.flush()
            for m, dept in enumerate(depts):
                session.add(Encounter(patient_id=patient.id or 0, kind=EncounterKind.inpatient, department=dept,
                                      source_system="his", source_id=f"E{n}-{m}",
                                      discharged_at=clock.now() - timedelta(days=3 + 10 * m)))
    page = new_page()
    ui.login(page, "doctor")
    page.goto(f"{ui.base_url}/doctor/plans/")
    page.locator('#plans tr[data-key="cardio_d7"]').get_by_role("link", name="编辑").click()
    figures = page.locator("#plan-figures")
    expect(figures.locator('[data-figure="encounters"]')).to_have_text("2")  # the preview loads with the page
    expect(figures.locator('[data-figure="patients"]')).to_have_text("2")
    expect(figures).to_contain_text("第1版")
    source = page.locator("#plan-source").input_value()
    assert "departments: [心内科]" in source
    page.locator("#plan-source").fill(source.replace("departments: [心内科]", "departments: [骨科]"))
    expect(figures.locator('[data-figure="encounters"]')).to_have_text("4")  # no reload: the preview followed
    expect(figures.locator('[data-figure="patients"]')).to_have_text("3")
    page.locator("#plan-source").fill(source.replace("departments: [心内科]", "departments: [骨科"))
    expect(page.locator("#plan-problem")).to_contain_text("line")  # broken YAML: the problem, not a stale count
    page.locator("#plan-source").fill(source.replace("departments: [心内科]", "departments: [骨科]"))
    expect(figures.locator('[data-figure="patients"]')).to_have_text("3")
    page.click("#plan-save")
    expect(page.locator(".flash")).to_contain_text("随访方案 cardio_d7：已更新")
    expect(page.locator("#plan-source")).to_contain_text("departments: [骨科]")  # the stored plan, read back
    with session_scope(sqlite_engine) as session:
        stored = session.exec(select(FollowUpPlan).where(FollowUpPlan.key == "cardio_d7")).one()
        assert stored.cohort["departments"] == ["骨科"]
        (event,) = audit.recent(session, action="plan.edit")
    assert (event.user_id, event.object_id, event.remote_addr) == (staff["doctor"].id, "cardio_d7", "127.0.0.1")
    assert event.detail["result"] == "updated" and event.detail["cohort"]["departments"] == ["骨科"]


# --- patient results ---------------------------------------------------------------------------------------------

HOME_READINGS = """
key: home_readings
version: 1
title: 居家监测
locale: zh-CN
items:
  - id: bp
    type: blood_pressure
    text: 最近量的血压是多少？
  - id: glucose
    type: number
    text: 空腹血糖是多少？
    min: 1.0
    max: 33.3
    decimals: 1
    unit: mmol/L
"""

# three calls, oldest first: (when, blood pressure, glucose); the second at 07:30 in Shanghai, the day before in UTC
READINGS = ((datetime(2026, 11, 5, 1, 30, tzinfo=UTC), "150/95", 8.4),
            (datetime(2026, 11, 12, 23, 30, tzinfo=UTC), "142/90", 7.2),
            (datetime(2026, 11, 20, 6, 0, tzinfo=UTC), "131/84", 6.1))


def test_a_patients_results_page_charts_bp_and_glucose_over_time_and_lists_the_answers_newest_first(
        new_page, ui, sqlite_engine, staff):
    nurse = staff["nurse"]
    with session_scope(sqlite_engine) as session:
        questionnaires.publish(session, HOME_READINGS, "home_readings.yaml")
        patient = Patient(name="孙七", source_system="his", mrn="R0001")
        session.add(patient)
        session.flush()
        patient_id = patient.id or 0
        for at, bp, glucose in READINGS:
            task = Task(patient_id=patient_id, point="m1", questionnaire_key="home_readings", status=TaskStatus.due,
                        due_at=at)
            session.add(task)
            session.flush()
            form = call_form.open_form(session, task.id or 0, nurse, attempt_id=None, hospital_name="医院",
                                       today=at.date(), now=at)
            assert form is not None
            call_form.record_answer(session, task.id or 0, form.response_id, nurse, item_id="bp", value=bp, now=at)
            call_form.record_answer(session, task.id or 0, form.response_id, nurse, item_id="glucose",
                                    value=glucose, now=at + timedelta(minutes=1))
    page = new_page()
    ui.login(page, "doctor")
    page.goto(f"{ui.base_url}/doctor/patients/{patient_id}/results")
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    charts = page.evaluate("""() => Array.from(document.querySelectorAll("canvas.result-chart")).map(canvas => {
        const chart = Chart.getChart(canvas);
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
        return {title: canvas.previousElementSibling.textContent, labels: chart.data.labels,
                data: chart.data.datasets[0].data, painted: painted, width: chart.chartArea.width};
    })""")
    days = ["2026-11-05", "2026-11-13", "2026-11-20"]  # local (Asia/Shanghai) days of the calls
    assert [(c["title"], c["labels"], c["data"]) for c in charts] == [
        ("最近量的血压是多少？ 收缩压（mmHg）", days, [150, 142, 131]),
        ("最近量的血压是多少？ 舒张压（mmHg）", days, [95, 90, 84]),
        ("空腹血糖是多少？（mmol/L）", days, [8.4, 7.2, 6.1]),
    ]
    for chart in charts:  # drawn, not only configured: a plot area and painted pixels
        assert chart["width"] > 100 and chart["painted"] > 500, chart["title"]
    rows = page.locator("#answers tbody tr")
    expect(rows).to_have_count(6)
    table = [[cell.strip() for cell in row] for row in page.evaluate(
        """() => Array.from(document.querySelectorAll("#answers tbody tr"))
                      .map(tr => Array.from(tr.cells).map(td => td.textContent))""")]
    assert [(r[0], r[3]) for r in table] == [
        ("2026-11-20 14:01", "6.1mmol/L"), ("2026-11-20 14:00", "131/84 mmHg"),
        ("2026-11-13 07:31", "7.2mmol/L"), ("2026-11-13 07:30", "142/90 mmHg"),
        ("2026-11-05 09:31", "8.4mmol/L"), ("2026-11-05 09:30", "150/95 mmHg"),
    ]
    assert {r[1] for r in table} == {"home_readings@1"}


# --- QA call list ------------------------------------------------------------------------------------------------


def test_the_qa_call_list_narrows_by_nurse_date_and_outcome(new_page, ui, sqlite_engine, staff):
    nurse, nurse2 = staff["nurse"], staff["nurse2"]
    calls = {  # name: (nurse, start in UTC, outcome)
        "周一": (nurse, datetime(2026, 11, 25, 1, 0, tzinfo=UTC), "completed"),  # 09:00 local today
        "吴二": (nurse2, datetime(2026, 11, 25, 1, 30, tzinfo=UTC), "completed"),
        "郑三": (nurse, datetime(2026, 11, 20, 7, 0, tzinfo=UTC), "completed"),  # five days ago
        "冯四": (nurse, datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "no_answer"),  # 07:30 local today, UTC yesterday
    }
    ids = {}
    with session_scope(sqlite_engine) as session:
        for name, (who, at, outcome) in calls.items():
            patient = Patient(name=name, source_system="his", mrn=name)
            session.add(patient)
            session.flush()
            attempt = CallAttempt(patient_id=patient.id or 0, number="13800138000", user_id=who.id, started_at=at,
                                  answered_at=at if outcome == "completed" else None, ended_at=at + timedelta(minutes=3),
                                  wrapped_up_at=at + timedelta(minutes=4), outcome_code=outcome)
            session.add(attempt)
            session.flush()
            ids[name] = attempt.id

    page = new_page()
    ui.login(page, "supervisor")
    page.goto(f"{ui.base_url}/supervisor/qa/")

    def listed(names: list[str]) -> None:  # newest call first
        rows = page.locator("#qa-calls .qa-row")
        expect(rows).to_have_count(len(names))
        assert [int(a) for a in rows.evaluate_all("rs => rs.map(r => r.dataset.attemptId)")] == [
            ids[n] for n in names]

    listed(["吴二", "周一", "冯四", "郑三"])
    form = page.locator("#qa-filters")
    form.locator('select[name="nurse"]').select_option(label="nurse-显示名")
    form.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(rf"/supervisor/qa/\?.*nurse={nurse.id}&"))
    listed(["周一", "冯四", "郑三"])
    form.locator('input[name="start"]').fill("2026-11-25")
    form.locator('input[name="end"]').fill("2026-11-25")
    form.get_by_role("button", name="查询").click()
    expect(form.locator('input[name="start"]')).to_have_value("2026-11-25")  # the filters stay as chosen
    listed(["周一", "冯四"])  # the local day: 07:30 in Shanghai is 25 November, though 24 November in UTC
    form.locator('select[name="outcome"]').select_option(label="无人接听")
    form.get_by_role("button", name="查询").click()
    expect(form.locator('select[name="outcome"]')).to_have_value("no_answer")
    listed(["冯四"])
    expect(page.locator("#qa-calls .qa-row")).to_contain_text("无人接听")
    form.locator('select[name="nurse"]').select_option(label="nurse2-显示名")
    form.get_by_role("button", name="查询").click()
    expect(page.locator("#qa-calls")).to_contain_text("没有符合条件的通话")


# --- user administration and the audit trail -------------------------------------------------------------------


def test_an_admin_deactivates_a_user_who_can_no_longer_log_in_and_the_audit_page_shows_it(
        new_page, ui, sqlite_engine, staff):
    nurse2 = new_page()  # logged in before the deactivation
    ui.login(nurse2, "nurse2")
    expect(nurse2).to_have_url(f"{ui.base_url}/workspace/queue")
    expect(nurse2.locator("#conn")).to_have_attribute("data-state", "connected")
    admin = new_page()
    ui.login(admin, "admin")
    admin.goto(f"{ui.base_url}/admin/users")
    row = admin.locator("#users tbody tr").filter(has=admin.locator("td:first-child", has_text="nurse2"))
    expect(row).to_have_count(1)
    row.get_by_role("button", name="停用").click()
    expect(admin.locator(".flash")).to_contain_text("已停用 nurse2")
    expect(row).to_contain_text("已停用")
    expect(row.get_by_role("button", name="恢复")).to_be_visible()
    # her open page is closed at once (its live connection is ended and it leaves for the login page) ...
    expect(nurse2).to_have_url(f"{ui.base_url}/login")
    # ... her session is over at the next request, and she cannot log in again
    nurse2.goto(f"{ui.base_url}/workspace/queue")
    expect(nurse2).to_have_url(re.compile(r"/login\?next=(/|%2F)workspace(/|%2F)queue$"))
    ui.login(nurse2, "nurse2")
    expect(nurse2.locator(".flash")).to_contain_text("账号已停用")
    expect(nurse2).to_have_url(f"{ui.base_url}/login")
    with session_scope(sqlite_engine) as session:
        assert [e.detail for e in audit.recent(session, action="auth.login_failed")] == [{"username": "nurse2"}]

    admin.goto(f"{ui.base_url}/admin/audit")
    admin.locator('#audit-filters select[name="action"]').select_option("user.deactivate")
    admin.locator("#audit-filters").get_by_role("button", name="筛选").click()
    entries = admin.locator("#audit tbody tr")
    expect(entries).to_have_count(1)
    cells = entries.first.locator("td")
    expect(cells.nth(0)).to_have_text("2026-11-25 10:00:00")  # when (the app's clock, local time)
    expect(cells.nth(1)).to_have_text("admin")  # who
    expect(cells.nth(2)).to_have_text("user.deactivate")
    expect(cells.nth(3)).to_have_text(f"user:{staff['nurse2'].id}")
    expect(cells.nth(4)).to_have_text("127.0.0.1")  # from where
