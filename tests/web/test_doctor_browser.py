"""Browser tests of the doctor's screens (Playwright + Debian Chromium against the live server): the script
editor shows a checker error at its line as the doctor types, she fixes it and publishes version 2, the next call
uses version 2 while old responses keep version 1; an alert raised by a nurse's answer appears in the doctor's
inbox live and is acknowledged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from callcenter import call_form, questionnaires
from callcenter.db import session_scope
from callcenter.events import DOCTORS
from callcenter.models import Alert, Questionnaire, Response, Task
from tests.web.conftest import POST_DISCHARGE_SCRIPT, in_room

pytestmark = pytest.mark.browser


@pytest.fixture
def sqlite_engine(web_engine):
    """These screens run on SQLite and on PostgreSQL (``web_engine``)."""
    return web_engine


def test_doctor_fixes_a_checker_error_publishes_version_2_and_the_next_call_uses_it_while_old_answers_keep_v1(
        new_page, ui, published_script, queue_data, sqlite_engine, staff, clock):
    """Acceptance A3 in one scenario: an answer recorded under version 1 before the edit; the doctor edits the
    script in the browser, sees the checker's error at its line, fixes it and publishes version 2; a nurse opens a
    NEW task and the call screen shows version 2's wording; the earlier response still points at version 1 (in the
    database and on the patient's results page)."""
    nurse = staff["nurse"]
    with session_scope(sqlite_engine) as session:  # an earlier call to 王五, on version 1
        form = call_form.open_form(session, queue_data.callback_task_id, nurse, attempt_id=None, hospital_name="医院",
                                   today=clock.now().date(), now=clock.now() - timedelta(days=1))
        assert form is not None and form.version == 1
        old_response_id = form.response_id
        for item, value in (("feeling", "better"), ("bp", "128/82")):
            call_form.record_answer(session, queue_data.callback_task_id, old_response_id, nurse, item_id=item,
                                    value=value, now=clock.now() - timedelta(days=1))
        assert call_form.close_form(session, queue_data.callback_task_id, completed=True, task_closed=True,
                                    now=clock.now() - timedelta(days=1)) == "completed"
        other_patient_id = session.get(Task, queue_data.callback_task_id).patient_id  # 王五

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
        v2_id = latest.id

    # the next call: a nurse opens a new task for this questionnaire and is walked through version 2
    call = new_page()
    ui.login(call, "nurse")
    expect(call).to_have_url(f"{ui.base_url}/workspace/queue")
    ui.open_task_from_queue(call, queue_data.due_task_id)
    expect(call).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.due_task_id}")
    expect(call.locator("#guided-form h2 small")).to_have_text("post_discharge · 第2版")
    expect(call.locator("#question")).to_have_attribute("data-item-id", "feeling")
    call.click('#answer-form button[value="better"]')
    expect(call.locator("#question")).to_have_attribute("data-item-id", "bp")
    expect(call.locator("#question")).to_have_text("今天早上量的血压是多少？")
    call.fill("#answer-value", "135/85")
    call.press("#answer-value", "Enter")
    expect(call.locator("#guided-form")).to_contain_text("问卷已答完")

    with session_scope(sqlite_engine) as session:
        by_task = {r.task_id: r for r in session.exec(select(Response))}
        assert by_task[queue_data.due_task_id].questionnaire_id == v2_id
        old = by_task[queue_data.callback_task_id]
        assert (old.id, old.questionnaire_id, old.status) == (old_response_id, published_script, "completed")
        assert session.get(Questionnaire, old.questionnaire_id).version == 1
    # the doctor reads each patient's answers with the version and wording they were asked under
    for patient_id, ref, wording, value in (
            (other_patient_id, "post_discharge@1", "最近量的血压是多少？", "128/82 mmHg"),
            (queue_data.patient_id, "post_discharge@2", "今天早上量的血压是多少？", "135/85 mmHg")):
        page.goto(f"{ui.base_url}/doctor/patients/{patient_id}/results")
        bp_row = page.locator("#answers tbody tr", has_text=value)
        expect(bp_row.locator("td").nth(1)).to_have_text(ref)
        expect(bp_row.locator("td").nth(2)).to_have_text(wording)


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
