"""Browser tests: Playwright driving Debian's Chromium against the live threading server (own app instance)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from callcenter.db import session_scope
from callcenter.events import SUPERVISORS, EventKind, attempt_room, user_room
from callcenter.models import Answer, AuditEvent, CallAttempt, Response
from callcenter.recording_copies import RecordingCopies
from tests.web.conftest import in_room
from web.realtime import notifier_for

pytestmark = pytest.mark.browser


def test_nurse_logs_in_and_sees_her_queue_live(new_page, ui, queue_data):
    page = new_page()
    ui.login(page, "nurse")
    expect(page).to_have_url(f"{ui.base_url}/workspace/queue")
    rows = page.locator("#queue .queue-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-task-id", str(queue_data.callback_task_id))
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(page.locator("#queue")).to_contain_text("139****9000")
    expect(page.locator("#queue")).not_to_contain_text("13900139000")
    ui.screenshot(page, "workspace-queue.png")


def test_an_event_reaches_only_the_nurse_it_is_for(new_page, ui, live_app, staff):
    first, second = new_page(), new_page()
    ui.login(first, "nurse")
    ui.login(second, "nurse2")
    for page in (first, second):
        expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    notifier = notifier_for(live_app)
    notifier.emit(EventKind.notice, {"text": "给护士一的消息"}, user_room(staff["nurse"].id))
    expect(first.locator("#toasts")).to_contain_text("给护士一的消息")
    # Positive control: the second page is connected and receives ITS event; the first event, emitted earlier,
    # would have reached it before this one if it were in the first nurse's room.
    notifier.emit(EventKind.notice, {"text": "给护士二的消息"}, user_room(staff["nurse2"].id))
    expect(second.locator("#toasts")).to_contain_text("给护士二的消息")
    expect(second.locator("#toasts")).not_to_contain_text("给护士一的消息")
    expect(first.locator("#toasts")).not_to_contain_text("给护士二的消息")


def test_call_screen_live_transcript_proposals_accepted_with_enter_then_completed(
    new_page, ui, live_app, queue_data, published_script, sqlite_engine, staff, clock
):
    page = new_page()
    ui.login(page, "nurse")
    ui.open_task_from_queue(page, queue_data.due_task_id)  # keyboard first: Enter on a row claims and opens it
    expect(page).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.due_task_id}")
    expect(page.locator("#question")).to_have_attribute("data-item-id", "feeling")
    # Dialing is the softphone agent's part: record the attempt it creates, then reload (a reload mid-call
    # restores the call screen on the open attempt and the form where it was).
    with session_scope(sqlite_engine) as s:
        attempt = CallAttempt(task_id=queue_data.due_task_id, patient_id=queue_data.patient_id,
                              phone_id=queue_data.phone_id, number="13900139000", user_id=staff["nurse"].id,
                              started_at=clock.now())
        s.add(attempt)
        s.flush()
        attempt_id = attempt.id
    page.reload()
    expect(page.locator("#form-column")).to_have_attribute("data-attempt-id", str(attempt_id))
    room = attempt_room(attempt_id)
    assert in_room(live_app, room), "the call page did not join its attempt's room"
    notifier = notifier_for(live_app)
    notifier.emit(EventKind.call_state, {"attempt_id": attempt_id, "state": "confirmed"}, room)
    notifier.emit(EventKind.transcript, {"attempt_id": attempt_id, "speaker": "nurse",
                                         "text": "李四您好，出院后感觉怎么样？", "t0_s": 1.0, "t1_s": 3.0}, room)
    notifier.emit(EventKind.transcript, {"attempt_id": attempt_id, "speaker": "patient",
                                         "text": "好多了", "t0_s": 4.0, "t1_s": 5.0}, room)
    notifier.emit(EventKind.proposal, {"attempt_id": attempt_id, "item_id": "feeling", "value": "better",
                                       "confidence": 0.93, "text": "好多了", "t0_s": 4.0, "t1_s": 5.0,
                                       "needs_confirmation": False}, room)
    expect(page.locator("#call-state")).to_have_text("通话中")
    expect(page.locator("#transcript li")).to_have_count(2)
    expect(page.locator("#proposal")).to_be_visible()
    expect(page.locator('#answer-form button[value="better"]')).to_have_class(re.compile("proposed"))
    page.locator("body").press("Enter")  # accept the proposal
    expect(page.locator("#question")).to_have_attribute("data-item-id", "bp")
    notifier.emit(EventKind.transcript, {"attempt_id": attempt_id, "speaker": "patient",
                                         "text": "一百三八十五", "t0_s": 8.0, "t1_s": 9.5}, room)
    notifier.emit(EventKind.proposal, {"attempt_id": attempt_id, "item_id": "bp",
                                       "value": {"systolic": 130, "diastolic": 85}, "confidence": 0.81,
                                       "text": "一百三八十五", "t0_s": 8.0, "t1_s": 9.5,
                                       "needs_confirmation": True}, room)
    expect(page.locator("#proposal-confidence")).to_contain_text("81%")
    ui.screenshot(page, "workspace-call.png")
    page.locator("body").press("Enter")
    expect(page.locator("#guided-form")).to_contain_text("问卷已答完")
    expect(page.locator("#guided-form .answered")).to_contain_text("130/85")
    page.select_option("#outcome", "completed")
    expect(page.locator("#wrap-up-next")).to_be_checked()
    page.click("#wrap-up-submit")  # auto-advance: the next patient of her queue opens at once
    expect(page).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.callback_task_id}")
    with session_scope(sqlite_engine) as s:
        assert s.get(CallAttempt, attempt_id).outcome_code == "completed"
        answers = s.exec(select(Answer).order_by(Answer.id)).all()
        response = s.exec(select(Response).where(Response.task_id == queue_data.due_task_id)).one()
    assert [(a.item_id, a.source, a.confidence, a.audio_t0_s) for a in answers] == [
        ("feeling", "asr", 0.93, 4.0), ("bp", "asr", 0.81, 8.0)]
    assert response.status == "completed" and response.attempt_id == attempt_id


def test_recording_plays_and_seeks_in_chromium_through_the_guarded_route(new_page, ui, call_data, sqlite_engine):
    page = new_page()
    ui.login(page, "nurse")
    page.goto(f"{ui.base_url}/recordings/{call_data.recording_id}")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    assert page.evaluate("() => document.getElementById('player').duration") > 0.9
    page.evaluate("() => { const a = document.getElementById('player'); a.muted = true; return a.play(); }")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.05")
    page.evaluate("() => { document.getElementById('player').currentTime = 0.5; }")
    page.wait_for_function("() => document.getElementById('player').currentTime >= 0.5")
    with session_scope(sqlite_engine) as s:
        plays = s.exec(select(AuditEvent).where(AuditEvent.action == "recording.play")).all()
    assert plays and all(p.object_id == str(call_data.recording_id) for p in plays)


def test_the_browser_copy_of_a_recording_plays_and_seeks_in_chromium(new_page, ui, call_data, sqlite_engine,
                                                                     settings):
    assert RecordingCopies(sqlite_engine, settings.recordings_path).copy_one(call_data.recording_id)
    served: list[tuple[str, int, str]] = []
    page = new_page()
    page.on("response", lambda r: served.append((r.url, r.status, r.headers.get("content-type", "")))
            if "/audio" in r.url else None)
    ui.login(page, "nurse")
    page.goto(f"{ui.base_url}/recordings/{call_data.recording_id}")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    assert page.evaluate("() => document.getElementById('player').duration") == pytest.approx(1.0, abs=0.1)
    page.evaluate("() => { const a = document.getElementById('player'); a.muted = true; return a.play(); }")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.05")
    page.evaluate("() => { document.getElementById('player').currentTime = 0.5; }")
    page.wait_for_function("() => document.getElementById('player').currentTime >= 0.5")
    assert served and all(url.endswith("?format=compressed") and status in (200, 206) and ctype == "audio/mpeg"
                          for url, status, ctype in served), served


def test_a_refused_proposal_is_corrected_by_typing_and_the_typed_value_is_stored(
    new_page, ui, live_app, queue_data, published_script, sqlite_engine, staff, clock
):
    page = new_page()
    ui.login(page, "nurse")
    ui.open_task_from_queue(page, queue_data.due_task_id)
    page.click('#answer-form button[value="better"]')
    expect(page.locator("#question")).to_have_attribute("data-item-id", "bp")
    with session_scope(sqlite_engine) as s:
        attempt = CallAttempt(task_id=queue_data.due_task_id, patient_id=queue_data.patient_id,
                              phone_id=queue_data.phone_id, number="13900139000", user_id=staff["nurse"].id,
                              started_at=clock.now(), answered_at=clock.now())
        s.add(attempt)
        s.flush()
        attempt_id = attempt.id
    page.reload()
    room = attempt_room(attempt_id)
    assert in_room(live_app, room), "the call page did not join its attempt's room"
    # the call was answered while the page reloaded: no event is replayed, the page asks when it joins
    expect(page.locator("#call-state")).to_have_attribute("data-state", "confirmed")
    # misheard: 300/85 is outside the script's range, so accepting it is refused...
    notifier_for(live_app).emit(EventKind.proposal, {
        "attempt_id": attempt_id, "item_id": "bp", "value": {"systolic": 300, "diastolic": 85}, "confidence": 0.7,
        "text": "三百八十五", "t0_s": 8.0, "t1_s": 9.5, "needs_confirmation": True}, room)
    expect(page.locator("#proposal")).to_be_visible()
    page.locator("body").press("Enter")
    expect(page.locator("#toasts")).to_contain_text("未保存")
    expect(page.locator("#question")).to_have_attribute("data-item-id", "bp")
    # ...and what the nurse types instead is what gets stored, as her answer
    page.fill("#answer-value", "130/85")
    page.locator("#answer-value").press("Enter")
    expect(page.locator("#guided-form")).to_contain_text("问卷已答完")
    with session_scope(sqlite_engine) as s:
        bp = s.exec(select(Answer).where(Answer.item_id == "bp")).one()
    assert (bp.source, bp.confidence, bp.audio_t0_s, bp.value) == ("nurse", None, None,
                                                                   {"systolic": 130, "diastolic": 85})


def test_a_changed_queue_is_announced_and_reloaded_once_the_page_is_left_alone(new_page, ui, live_app, queue_data):
    # supervisors get queue_changed as nurses and robots work; a reload must not take the row from under the keys
    page = new_page()
    ui.login(page, "supervisor")
    page.goto(f"{ui.base_url}/workspace/queue")
    expect(page.locator("#queue")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    assert in_room(live_app, SUPERVISORS)
    notifier = notifier_for(live_app)

    page.evaluate("window.__same_page = true")
    notifier.emit(EventKind.queue_changed, {"task_id": queue_data.due_task_id}, SUPERVISORS)
    expect(page.locator("#queue-stale")).to_be_visible()
    expect(page.locator("#queue")).to_have_attribute("data-stale", "true")
    page.locator("#queue-stale button").click()  # 刷新: at once
    page.wait_for_function("window.__same_page === undefined", timeout=10_000)
    expect(page.locator("#queue-stale")).to_be_hidden()

    expect(page.locator("#queue")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    assert in_room(live_app, SUPERVISORS)
    page.evaluate("window.__same_page = true")
    notifier.emit(EventKind.queue_changed, {"task_id": queue_data.due_task_id}, SUPERVISORS)
    expect(page.locator("#queue-stale")).to_be_visible()
    # nobody touches the page: it reloads by itself after the idle time (5 s)
    page.wait_for_function("window.__same_page === undefined", timeout=15_000)
    expect(page.locator("#queue .queue-row")).to_have_count(2)
