"""Call control: dialing starts an attempt and commands her softphone agent; the agent's call states set the
attempt's times; controls reach only her own agent."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from callcenter import users
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Task, TaskStatus
from web.realtime import socketio_for


@pytest.fixture
def agent_of(app, sqlite_engine):
    """A connected softphone agent (Socket.IO test client with the user's token)."""

    def make(username):
        with session_scope(sqlite_engine) as s:
            token = users.issue_agent_token(s, username)
        client = socketio_for(app).test_client(app, flask_test_client=app.test_client(), auth={"agent_token": token})
        assert client.is_connected()
        return client

    return make


def _commands(agent):
    return [e["args"][0] for e in agent.get_received() if e["name"] == "agent_command"]


def test_dial_without_a_connected_agent_says_so(client, auth, queue_data):
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    response = client.post(f"/workspace/tasks/{queue_data.due_task_id}/dial",
                           data={"csrf_token": auth.csrf, "phone_id": queue_data.phone_id})
    assert response.status_code == 409 and "软电话" in response.get_data(as_text=True)


def test_dial_creates_the_attempt_and_sends_dial_to_her_agent_only(client, auth, queue_data, agent_of, sqlite_engine,
                                                                   staff):
    mine, other = agent_of("nurse"), agent_of("nurse2")
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    response = client.post(f"/workspace/tasks/{queue_data.due_task_id}/dial",
                           data={"csrf_token": auth.csrf, "phone_id": queue_data.phone_id})
    assert response.status_code == 302
    with Session(sqlite_engine) as s:
        attempt = s.exec(select(CallAttempt)).one()
        task = s.get(Task, queue_data.due_task_id)
    assert (attempt.user_id, attempt.phone_id, attempt.number) == (staff["nurse"].id, queue_data.phone_id, "13900139000")
    assert task.status == TaskStatus.in_call
    assert _commands(mine) == [{"command": "dial", "attempt_id": attempt.id, "task_id": queue_data.due_task_id,
                                "number": "13900139000", "locale": "zh-CN"}]
    assert _commands(other) == []
    page = client.get(f"/workspace/tasks/{queue_data.due_task_id}").get_data(as_text=True)
    assert f'data-attempt-id="{attempt.id}"' in page
    again = client.post(f"/workspace/tasks/{queue_data.due_task_id}/dial",
                        data={"csrf_token": auth.csrf, "phone_id": queue_data.phone_id})
    assert again.status_code == 409  # one open call per task


def test_controls_and_agent_reported_states(client, auth, queue_data, agent_of, sqlite_engine, clock, auth_for):
    agent = agent_of("nurse")
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/dial",
                data={"csrf_token": auth.csrf, "phone_id": queue_data.phone_id})
    with Session(sqlite_engine) as s:
        attempt_id = s.exec(select(CallAttempt.id)).one()
    agent.get_received()
    assert client.post(f"/workspace/attempts/{attempt_id}/dtmf", data={"csrf_token": auth.csrf, "argument": "12#"}
                       ).status_code == 204
    assert client.post(f"/workspace/attempts/{attempt_id}/hold", data={"csrf_token": auth.csrf}).status_code == 204
    assert client.post(f"/workspace/attempts/{attempt_id}/dtmf", data={"csrf_token": auth.csrf, "argument": "x"}
                       ).status_code == 422
    assert _commands(agent) == [{"command": "dtmf", "attempt_id": attempt_id, "digits": "12#"},
                                {"command": "hold", "attempt_id": attempt_id}]
    other, other_auth = auth_for("nurse2")
    assert other.post(f"/workspace/attempts/{attempt_id}/hangup", data={"csrf_token": other_auth.csrf}
                      ).status_code == 404
    assert agent.emit("agent_event", {"kind": "call_state", "attempt_id": attempt_id, "state": "confirmed",
                                      "sip_call_id": "abc@127.0.0.1"}, callback=True) == {"ok": True}
    agent.emit("agent_event", {"kind": "call_state", "attempt_id": attempt_id, "state": "disconnected"},
               callback=True)
    with Session(sqlite_engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
    assert attempt.answered_at == clock.now() and attempt.ended_at == clock.now()
    assert attempt.sip_call_id == "abc@127.0.0.1"
    ended = client.post(f"/workspace/attempts/{attempt_id}/hangup", data={"csrf_token": auth.csrf})
    assert ended.status_code == 409


def test_agent_gets_the_grammar_of_the_question_on_screen_at_dial_and_after_each_answer(
    client, auth, queue_data, agent_of, published_script
):
    import re

    agent = agent_of("nurse")
    auth.login("nurse")
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/claim", data={"csrf_token": auth.csrf})
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/dial",
                data={"csrf_token": auth.csrf, "phone_id": queue_data.phone_id})
    dial, grammar = _commands(agent)
    assert dial["command"] == "dial"
    assert (grammar["command"], grammar["attempt_id"], grammar["item_id"], grammar["locale"]) == (
        "grammar", dial["attempt_id"], "feeling", "zh-CN")
    assert [o["value"] for o in grammar["item"]["options"]] == ["better", "same", "worse"]
    page = client.get(f"/workspace/tasks/{queue_data.due_task_id}").get_data(as_text=True)
    response_id = re.search(r'name="response_id" value="(\d+)"', page).group(1)
    client.post(f"/workspace/tasks/{queue_data.due_task_id}/answer",
                data={"csrf_token": auth.csrf, "response_id": response_id, "item_id": "feeling", "value": "same"})
    (moved,) = _commands(agent)
    assert moved["item_id"] == "bp" and moved["item"]["type"] == "blood_pressure"
