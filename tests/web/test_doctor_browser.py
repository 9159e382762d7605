"""Browser tests of the doctor's screens (Playwright + Debian Chromium against the live server): the script
editor shows a checker error at its line as the doctor types, she fixes it and publishes version 2; an alert
raised by a nurse's answer appears in the doctor's inbox live and is acknowledged."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from callcenter import questionnaires
from callcenter.db import session_scope
from callcenter.events import DOCTORS
from callcenter.models import Alert
from tests.web.conftest import POST_DISCHARGE_SCRIPT, in_room

pytestmark = pytest.mark.browser


def test_doctor_sees_a_checker_error_at_its_line_fixes_it_and_publishes_version_2(
        new_page, ui, published_script, sqlite_engine, staff):
    page = new_page()
    ui.login(page, "doctor")
    page.goto(f"{ui.base_url}/doctor/scripts/post_discharge/edit")
    expect(page.locator("#check-status")).to_have_attribute("data-state", "ok")
    bad = POST_DISCHARGE_SCRIPT.replace("type: blood_pressure", "type: blood_presure")
    line = bad.splitlines().index("    type: blood_presure") + 1
    page.locator("#source").fill(bad)  # fires "input": the editor checks after a short pause
    expect(page.locator(f'#gutter .ln[data-line="{line}"]')).to_have_class("ln has-error")
    expect(page.locator(f'#notes .note[data-line="{line}"]')).to_contain_text("blood_presure")
    expect(page.locator("#problems")).to_contain_text(f"post_discharge:{line}:")
    expect(page.locator("#publish")).to_be_disabled()
    ui.screenshot(page, "doctor-script-editor.png")
    fixed = POST_DISCHARGE_SCRIPT.replace("最近量的血压是多少？", "今天早上量的血压是多少？")
    page.locator("#source").fill(fixed)
    expect(page.locator("#check-status")).to_have_attribute("data-state", "ok")
    expect(page.locator(f'#gutter .ln[data-line="{line}"]')).to_have_class("ln")
    page.click("#show-preview")
    expect(page.locator('#preview .preview-item[data-item-id="bp"]')).to_contain_text("今天早上量的血压是多少？")
    page.click("#publish")
    expect(page.locator(".flash")).to_contain_text("第 2 版")
    with session_scope(sqlite_engine) as session:
        latest = questionnaires.latest_published(session, "post_discharge")
        assert (latest.version, latest.published_by_id) == (2, staff["doctor"].id)
        assert "今天早上" in latest.source


def test_an_alert_raised_in_a_call_appears_in_the_doctors_inbox_live_and_is_acknowledged(
        new_page, ui, live_app, queue_data, published_script, sqlite_engine):
    doctor = new_page()
    ui.login(doctor, "doctor")
    doctor.goto(f"{ui.base_url}/doctor/alerts/")
    expect(doctor.locator("#alerts")).to_contain_text("没有待处理的预警")
    assert in_room(live_app, DOCTORS), "the inbox did not join the doctors' room"
    nurse = new_page()
    ui.login(nurse, "nurse")
    expect(nurse).to_have_url(f"{ui.base_url}/workspace/queue")
    nurse.locator(f'.queue-row[data-task-id="{queue_data.due_task_id}"]').get_by_role("button", name="开始").click()
    expect(nurse).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.due_task_id}")
    expect(nurse.locator("#question")).to_have_attribute("data-item-id", "feeling")
    nurse.click('#answer-form button[value="worse"]')
    expect(nurse.locator("#question")).to_have_attribute("data-item-id", "bp")
    nurse.fill("#answer-value", "190/100")
    nurse.press("#answer-value", "Enter")
    expect(nurse.locator("#guided-form")).to_contain_text("问卷已答完")
    row = doctor.locator("#alerts .alert-row")
    expect(row).to_have_count(1)  # no reload by the doctor: the alert event brought it
    expect(row).to_contain_text("血压过高")
    expect(row).to_contain_text("190/100")
    expect(row).to_contain_text("李*")
    ui.screenshot(doctor, "doctor-alerts.png")
    row.locator("input[name=note]").fill("已电话联系患者，嘱今日急诊")
    row.locator("button[type=submit]").click()
    expect(doctor.locator("#alerts")).to_contain_text("没有待处理的预警")
    with session_scope(sqlite_engine) as session:
        alert = session.exec(select(Alert)).one()
    assert alert.acknowledged_at is not None and alert.ack_note == "已电话联系患者，嘱今日急诊"
