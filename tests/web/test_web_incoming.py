"""A patient calling in, in Chromium on the live server: the nurse's page rings with the caller's name (fetched over
HTTP; the Socket.IO event has ids only), she answers and lands on the call screen of the task the call is about,
and her softphone agent (a python-socketio client here; tests/e2e has the real one) gets bind, answer and the
first question's grammar. An unknown number rings too and can be declined."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import socketio
from playwright.sync_api import expect
from sqlmodel import select

from callcenter import users
from callcenter.db import session_scope
from callcenter.models import CallAttempt

pytestmark = pytest.mark.browser


class FakeAgent:
    """The softphone agent's side of the protocol, over a real WebSocket."""

    def __init__(self, url: str, token: str) -> None:
        self.commands: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("agent_command", self._command)
        self.sio.connect(url, auth={"agent_token": token}, transports=["websocket"], wait_timeout=10)

    def _command(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.changed:
            self.commands.append(data)
            self.changed.notify_all()
        return {"ok": True}

    def wait_commands(self, names: list[str], timeout_s: float = 10.0) -> list[dict[str, Any]]:
        with self.changed:
            self.changed.wait_for(lambda: [c["command"] for c in self.commands] == names, timeout_s)
            return list(self.commands)


@pytest.fixture
def agent(live_server, sqlite_engine):
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    fake = FakeAgent(live_server.url, token)
    yield fake
    fake.sio.disconnect()


def test_a_patient_calling_in_rings_the_nurses_page_and_answering_opens_the_call_screen_of_that_task(
        new_page, ui, agent, queue_data, published_script, sqlite_engine):
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    filed = agent.sio.call("incoming_call", {"call_ref": "in-1", "remote_uri": '"x" <sip:13700137000@pbx>'})
    assert filed["ok"] is True and isinstance(filed["attempt_id"], int)
    banner = page.locator(".incoming-call")
    expect(banner).to_contain_text("王五")
    expect(banner).to_contain_text("137****7000")
    expect(banner).not_to_contain_text("13700137000")
    ui.screenshot(page, "workspace-incoming-call.png")
    assert [c["command"] for c in agent.commands] == ["bind"]
    assert agent.commands[0]["call_ref"] == "in-1" and agent.commands[0]["locale"] == "zh-CN"
    page.click("#incoming-answer")
    expect(page).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.callback_task_id}")
    expect(page.locator("#form-column")).to_have_attribute("data-attempt-id", str(filed["attempt_id"]))
    commands = agent.wait_commands(["bind", "answer", "grammar"])
    assert [c["command"] for c in commands] == ["bind", "answer", "grammar"]
    assert commands[1]["attempt_id"] == filed["attempt_id"] and commands[2]["item_id"] == "feeling"
    with session_scope(sqlite_engine) as s:
        attempt = s.get(CallAttempt, filed["attempt_id"])
        assert (attempt.direction, attempt.task_id) == ("inbound", queue_data.callback_task_id)


def test_an_unknown_number_rings_and_is_declined_without_filing_anything(new_page, ui, agent, queue_data,
                                                                          sqlite_engine):
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    assert agent.sio.call("incoming_call", {"call_ref": "in-2", "remote_uri": "sip:13911112222@pbx"}) == {
        "ok": True, "attempt_id": None}
    expect(page.locator(".incoming-call")).to_contain_text("未登记号码")
    page.click("#incoming-decline")
    expect(page).to_have_url(f"{ui.base_url}/workspace/queue")
    assert agent.wait_commands(["decline"]) == [{"command": "decline", "call_ref": "in-2"}]
    with session_scope(sqlite_engine) as s:
        assert s.exec(select(CallAttempt)).all() == []
    # a caller who gives up stops the ringing
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")  # the queue page, after the decline
    agent.sio.call("incoming_call", {"call_ref": "in-3", "remote_uri": "sip:13911113333@pbx"})
    expect(page.locator(".incoming-call")).to_have_count(1)
    agent.sio.call("incoming_call_ended", {"call_ref": "in-3"})
    expect(page.locator(".incoming-call")).to_have_count(0)


def test_a_page_opened_while_a_known_patient_is_calling_rings_too(new_page, ui, agent, queue_data, sqlite_engine):
    """She was between pages when the call came: the page that connects next rings (filed calls only)."""
    filed = agent.sio.call("incoming_call", {"call_ref": "in-4", "remote_uri": "sip:13700137000@pbx"})
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator(f'.incoming-call[data-attempt-id="{filed["attempt_id"]}"]')).to_contain_text("王五")
