"""Statistics pages and exports: figures rendered, CSV and XLSX downloads with the same figures, every export
audited, bad filters refused with a clear message, nurses kept out. The figures themselves are checked against
hand-computed values in tests/callcenter/test_statistics.py."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from callcenter import audit
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Task, TaskStatus


@pytest.fixture
def worked(sqlite_engine, clock, staff, queue_data):
    """The due task completed by "nurse" after a 4-minute call; the callback task tried once, no answer."""
    now = clock.now()
    with session_scope(sqlite_engine) as s:
        task = s.get(Task, queue_data.due_task_id)
        task.status, task.closed_at = TaskStatus.completed, now
        s.add(CallAttempt(task_id=task.id, patient_id=task.patient_id, user_id=staff["nurse"].id,
                          started_at=now - timedelta(minutes=10), answered_at=now - timedelta(minutes=10),
                          ended_at=now - timedelta(minutes=6), wrapped_up_at=now - timedelta(minutes=5),
                          outcome_code="completed"))
        other = s.get(Task, queue_data.callback_task_id)
        s.add(CallAttempt(task_id=other.id, patient_id=other.patient_id, user_id=staff["nurse"].id,
                          started_at=now - timedelta(minutes=20), outcome_code="no_answer"))
    return queue_data


def test_statistics_page_shows_the_period_figures(client, auth, worked):
    auth.login("supervisor")
    response = client.get("/supervisor/stats/?start=2026-11-25&end=2026-11-25&by=nurse")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    # three tasks due today (queue_data), one completed, one not answered, one not called yet (3.11, U):
    # RR1 = I / (I + U) = 1 / 3
    assert 'data-key="合计"' in body
    total = body[body.index('data-key="合计"'):]
    assert '<td data-figure="due">3</td>' in total and '<td data-figure="completed">1</td>' in total
    assert '<td data-figure="rr1">33.3%</td>' in total and '<td data-figure="calls">2</td>' in total
    assert "nurse-显示名" in body  # the per-nurse group


def test_csv_and_xlsx_exports_carry_the_figures_and_are_audited(client, auth, sqlite_engine, staff, worked):
    auth.login("supervisor")
    query = "start=2026-11-25&end=2026-11-25&by=total"
    response = client.get(f"/supervisor/stats/export.csv?{query}")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0] == "分组")
    total = next(r for r in rows if r and r[0] == "合计")
    figures = dict(zip(header, total, strict=True))
    assert (figures["应访任务"], figures["已完成"], figures["RR1"], figures["呼叫次数"]) == ("3", "1", "0.3333", "2")
    book = load_workbook(io.BytesIO(client.get(f"/supervisor/stats/export.xlsx?{query}").get_data()))
    assert book.sheetnames == ["figures", "by_hour", "trend", "answers"]
    sheet = [list(r) for r in book["figures"].iter_rows(values_only=True)]
    assert sheet[-1][:3] == ["合计", 3, 1]
    with session_scope(sqlite_engine) as s:
        exports = audit.recent(s, action="export")
    assert [(e.object_id, e.user_id, e.detail["start"]) for e in exports] == [
        ("xlsx", staff["supervisor"].id, "2026-11-25"), ("csv", staff["supervisor"].id, "2026-11-25")]


@pytest.mark.parametrize(("query", "message"), [
    ("start=2026-13-01", "start must be a date"),
    ("start=2026-11-25&end=2026-11-01", "before the start date"),
    ("start=2024-01-01&end=2026-01-01", "at most 366 days"),
    ("by=colour", "by must be one of"),
])
def test_bad_filters_are_refused_with_a_clear_message(client, auth, query, message):
    auth.login("supervisor")
    response = client.get(f"/supervisor/stats/?{query}")
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_exports_are_refused_to_nurses_and_unknown_formats(client, auth, auth_for):
    nurse, _ = auth_for("nurse")
    assert nurse.get("/supervisor/stats/export.csv").status_code == 403
    auth.login("doctor")
    assert client.get("/supervisor/stats/export.pdf").status_code == 422


@pytest.mark.browser
def test_statistics_charts_draw_from_the_vendored_library(new_page, ui, worked):
    page = new_page()
    ui.login(page, "supervisor")
    page.click("text=统计报表")  # the main navigation
    page.fill('input[name="start"]', "2026-11-19")
    page.click('#stats-filters button[type="submit"]')
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    assert page.evaluate("typeof Chart") == "function"
    assert page.evaluate("Chart.getChart('chart-trend').data.datasets[0].data") == [0, 0, 0, 0, 0, 0, 3]
    ui.screenshot(page, "supervisor-stats.png")
