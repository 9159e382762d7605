"""The supervisors' live board: nurse states from call attempts, queues and today's progress; agent call states
reach the supervisors' room; a supervisor's browser shows a nurse's call as it starts (Chromium)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import socketio
from playwright.sync_api import expect

from callcenter import board as boards
from callcenter import nurse_calls, queue, users
from callcenter.board import NurseState
from callcenter.call_rules import rules_from_settings
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Task, TaskStatus
from callcenter.privacy import mask_name
from web.realtime import socketio_for

ZONE = ZoneInfo("Asia/Shanghai")


def _dial(engine, settings, clock, staff, data) -> int:
    """The nurse claims the due task and dials (the same services the workspace's claim and dial routes use)."""
    nurse = staff["nurse"]
    with session_scope(engine) as s:
        queue.claim_task(s, data.due_task_id, owner=f"user:{nurse.id}", now=clock.now(),
                         rules=rules_from_settings(settings))
        attempt_id, _ = nurse_calls.start_attempt(s, data.due_task_id, nurse, phone_id=data.phone_id, now=clock.now())
    return attempt_id


def _row(engine, clock, user_id):
    with session_scope(engine) as s:
        found = boards.board(s, now=clock.now(), zone=ZONE)
    return found, next(r for r in found.nurses if r.user_id == user_id)


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李"), ("", "")])
def test_patient_names_are_masked_on_the_board(name, masked):
    assert mask_name(name) == masked


def test_nurse_state_follows_her_call_from_claim_to_wrap_up(sqlite_engine, settings, clock, staff, queue_data):
    nurse = staff["nurse"]
    _, row = _row(sqlite_engine, clock, nurse.id)
    assert row.state is NurseState.available and row.calls_today == 0
    attempt_id = _dial(sqlite_engine, settings, clock, staff, queue_data)
    _, row = _row(sqlite_engine, clock, nurse.id)
    assert (row.state, row.attempt_id, row.patient, row.number) == (NurseState.dialling, attempt_id, "李*",
                                                                     "139****9000")
    with session_scope(sqlite_engine) as s:
        nurse_calls.note_call_state(s, attempt_id, "confirmed", now=clock.now() + timedelta(seconds=5))
    _, row = _row(sqlite_engine, clock, nurse.id)
    assert row.state is NurseState.on_call and row.since == clock.now() + timedelta(seconds=5)
    with session_scope(sqlite_engine) as s:
        nurse_calls.note_call_state(s, attempt_id, "disconnected", now=clock.now() + timedelta(minutes=3))
    found, row = _row(sqlite_engine, clock, nurse.id)
    assert row.state is NurseState.wrap_up and row.calls_today == 1
    assert found.progress.calls == 1
    other = next(r for r in found.nurses if r.user_id == staff["nurse2"].id)
    assert other.state is NurseState.available and other.patient == ""


def test_queues_and_progress_count_open_and_closed_tasks(sqlite_engine, clock, staff, queue_data):
    with session_scope(sqlite_engine) as s:
        done = s.get(Task, queue_data.callback_task_id)
        done.status, done.closed_at = TaskStatus.completed, clock.now()
        found = boards.board(s, now=clock.now(), zone=ZONE)
    queues = {q.team: q for q in found.queues}
    # team-a keeps the due task; team-b its own due task; the callback task is closed today
    assert (queues["team-a"].due, queues["team-a"].callbacks) == (1, 0)
    assert queues["team-b"].due == 1
    assert (found.progress.due, found.progress.done, found.progress.unreachable) == (3, 1, 0)


def test_agent_call_state_reaches_the_supervisors_room_with_ids_only(app, sqlite_engine, settings, clock, staff,
                                                                     queue_data, auth_for):
    attempt_id = _dial(sqlite_engine, settings, clock, staff, queue_data)
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    server = socketio_for(app)
    supervisor_client, _ = auth_for("supervisor")
    nurse_client, _ = auth_for("nurse2")
    supervisor = server.test_client(app, flask_test_client=supervisor_client)
    other_nurse = server.test_client(app, flask_test_client=nurse_client)
    agent = server.test_client(app, flask_test_client=app.test_client(), auth={"agent_token": token})
    assert agent.emit("agent_event", {"kind": "call_state", "attempt_id": attempt_id, "state": "confirmed"},
                      callback=True) == {"ok": True}
    received = [e for e in supervisor.get_received() if e["name"] == "call_state"]
    assert [e["args"][0] for e in received] == [{"attempt_id": attempt_id, "state": "confirmed"}]
    assert [e for e in other_nurse.get_received() if e["name"] == "call_state"] == []


def test_board_fragment_shows_masked_patient_only(client, auth, sqlite_engine, settings, clock, staff, queue_data):
    _dial(sqlite_engine, settings, clock, staff, queue_data)
    auth.login("supervisor")
    body = client.get("/supervisor/board/fragment").get_data(as_text=True)
    assert "李*" in body and "139****9000" in body
    assert "李四" not in body and "13900139000" not in body


@pytest.mark.browser
def test_supervisor_sees_a_nurse_call_appear_live(new_page, ui, live_app, sqlite_engine, settings, clock, staff,
                                                  queue_data, live_server):
    page = new_page()
    ui.login(page, "supervisor")
    page.goto(f"{ui.base_url}/supervisor/board")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    row = page.locator(f'#nurses tr[data-user-id="{staff["nurse"].id}"]')
    expect(row).to_have_attribute("data-state", "available")
    # the reload a (re)connection triggers has happened: from here only a push can refresh the board
    expect(page.locator("#board")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    attempt_id = _dial(sqlite_engine, settings, clock, staff, queue_data)
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    agent = socketio.Client(reconnection=False)
    agent.connect(live_server.url, auth={"agent_token": token}, transports=["websocket"], wait_timeout=10)
    try:
        reply = agent.call("agent_event", {"kind": "call_state", "attempt_id": attempt_id, "state": "confirmed"},
                           timeout=10)
        assert reply == {"ok": True}
        expect(row).to_have_attribute("data-state", "on_call")  # no reload: the push made the page fetch
        expect(row).to_contain_text("李*")
        expect(row).to_contain_text("139****9000")
        expect(page.locator("#board")).not_to_contain_text("李四")
        ui.screenshot(page, "supervisor-board.png")
    finally:
        agent.disconnect()
    with session_scope(sqlite_engine) as s:
        assert s.get(CallAttempt, attempt_id).answered_at is not None
