"""The supervisors' live board: nurse states from call attempts, queues and today's progress; agent call states
reach the supervisors' room, and so do claims, dials, wrap-ups and releases; a supervisor's browser shows a nurse's
call as it starts and her row back to available when she saves the outcome (Chromium)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import socketio
from playwright.sync_api import expect
from sqlmodel import select

from callcenter import board as boards
from callcenter import nurse_calls, queue, users
from callcenter.board import NurseState
from callcenter.call_rules import rules_from_settings
from callcenter.db import session_scope
from callcenter.events import SUPERVISORS
from callcenter.models import CallAttempt, Encounter, Task, TaskStatus, Team
from callcenter.privacy import mask_name
from tests.web.conftest import in_room
from web.realtime import board_for, socketio_for

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


def test_board_fragment_counts_the_queue_per_task_department(client, auth, sqlite_engine, staff, queue_data):
    with session_scope(sqlite_engine) as s:
        due = s.get(Task, queue_data.due_task_id)
        encounter = Encounter(patient_id=due.patient_id, department="肿瘤科", source_id="e-onc")
        s.add(encounter)
        s.flush()
        due.anchor_encounter_id = encounter.id
        s.get(Team, staff["nurse"].team_id).department = "心内科"
    auth.login("supervisor")
    body = client.get("/supervisor/board/fragment").get_data(as_text=True)
    departments = body[body.index('id="department-queues"'):]
    # team-a (心内科) holds the oncology patient's task and one of its own; team-b's task has no department
    assert 'data-department="肿瘤科"><td>肿瘤科</td><td data-figure="due">1</td>' in departments
    assert 'data-department="心内科"><td>心内科</td><td data-figure="due">1</td>' in departments
    assert 'data-department=""><td>未分科室</td><td data-figure="due">1</td>' in departments


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


def test_claim_release_dial_and_wrap_up_tell_the_supervisors_room(app, client, auth, auth_for, sqlite_engine, clock,
                                                                  staff, queue_data):
    board_for(app).every_s = 0  # every change told at once here; the throttle: tests/callcenter/test_board_push.py
    server = socketio_for(app)
    supervisor = server.test_client(app, flask_test_client=auth_for("supervisor")[0])
    other_nurse = server.test_client(app, flask_test_client=auth_for("nurse2")[0])
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    agent = server.test_client(app, flask_test_client=app.test_client(), auth={"agent_token": token})
    assert agent.is_connected()
    auth.login("nurse")
    task = queue_data.due_task_id

    def told() -> list[dict]:
        return [e["args"][0] for e in supervisor.get_received() if e["name"] == "queue_changed"]

    for step in ("claim", "release", "claim", "dial"):
        response = client.post(f"/workspace/tasks/{task}/{step}",
                               data={"csrf_token": auth.csrf, "phone_id": queue_data.phone_id})
        assert response.status_code == 302, step
        assert told() == [{"task_id": task}], step
    with session_scope(sqlite_engine) as s:
        attempt_id = s.exec(select(CallAttempt.id).where(CallAttempt.task_id == task)).one()
        nurse_calls.note_call_state(s, attempt_id, "disconnected", now=clock.now())  # her agent's report
    response = client.post(f"/workspace/tasks/{task}/wrap-up",
                           data={"csrf_token": auth.csrf, "outcome": "completed", "phone_id": queue_data.phone_id})
    assert response.status_code == 302
    assert told() == [{"task_id": task}]
    assert [e for e in other_nurse.get_received() if e["name"] == "queue_changed"] == []


@pytest.mark.browser
def test_the_board_shows_a_nurse_back_to_available_when_she_saves_the_outcome(
        new_page, ui, live_app, sqlite_engine, clock, staff, queue_data):
    nurse_page = new_page()
    ui.login(nurse_page, "nurse")
    ui.open_task_from_queue(nurse_page, queue_data.due_task_id)  # her claim (the route tells the board)
    expect(nurse_page).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.due_task_id}")
    with session_scope(sqlite_engine) as s:  # what her softphone agent reports: dialled, answered, hung up
        attempt_id, _ = nurse_calls.start_attempt(s, queue_data.due_task_id, staff["nurse"], phone_id=queue_data.phone_id,
                                                  now=clock.now())
        nurse_calls.note_call_state(s, attempt_id, "confirmed", now=clock.now())
        nurse_calls.note_call_state(s, attempt_id, "disconnected", now=clock.now() + timedelta(minutes=2))
    board = new_page()
    ui.login(board, "supervisor")
    board.goto(f"{ui.base_url}/supervisor/board")
    expect(board.locator("#conn")).to_have_attribute("data-state", "connected")
    row = board.locator(f'#nurses tr[data-user-id="{staff["nurse"].id}"]')
    expect(row).to_have_attribute("data-state", "wrap_up")
    expect(row).to_contain_text("整理中")
    done = board.locator('#progress [data-figure="done"]')
    expect(done).to_have_text("0")
    # the reload a (re)connection triggers has happened: from here only a push refreshes the board (its own slow
    # reload comes after a minute, well past expect's timeout)
    expect(board.locator("#board")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    assert in_room(live_app, SUPERVISORS), "the board page did not join the supervisors' room"
    nurse_page.reload()  # the call screen on her open attempt
    nurse_page.select_option("#outcome", "completed")
    nurse_page.uncheck("#wrap-up-next")  # back to her queue, holding no task: available
    nurse_page.click("#wrap-up-submit")
    expect(nurse_page).to_have_url(f"{ui.base_url}/workspace/queue")
    expect(row).to_have_attribute("data-state", "available")  # no reload: the push made the board fetch
    expect(row).to_contain_text("空闲")
    expect(done).to_have_text("1")
    with session_scope(sqlite_engine) as s:
        assert s.get(CallAttempt, attempt_id).outcome_code == "completed"
