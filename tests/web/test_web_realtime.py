"""Socket.IO: authenticated connections, rooms per user / attempt / supervisors / agent, the notifier, Redis.

These use the Socket.IO test client, which patches the server object of THIS app only (each app owns its
SocketIO); browser tests build their own apps in another module.
"""

from __future__ import annotations

import pytest

from callcenter import users
from callcenter.db import session_scope
from callcenter.events import SUPERVISORS, EventKind, agent_room, attempt_room, user_room
from callcenter.settings import Settings
from web import Services, create_app
from web.realtime import SocketIONotifier, notifier_for, socketio_for


@pytest.fixture
def sio_client(app, auth_for):
    """A Socket.IO test client, logged in as ``username`` (or with ``auth`` data and no session)."""

    def make(username=None, auth=None):
        flask_client = auth_for(username)[0] if username else app.test_client()
        return socketio_for(app).test_client(app, flask_test_client=flask_client, auth=auth)

    return make


def _events(client, name):
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


def test_anonymous_connection_is_refused(app):
    client = socketio_for(app).test_client(app)
    assert not client.is_connected()


def test_an_event_for_one_nurse_reaches_only_her(sio_client, app, staff):
    first, second = sio_client("nurse"), sio_client("nurse2")
    assert first.is_connected() and second.is_connected()
    notifier_for(app).emit(EventKind.notice, {"text": "回电提醒"}, user_room(staff["nurse"].id))
    assert _events(first, "notice") == [{"text": "回电提醒"}]
    assert _events(second, "notice") == []


def test_only_a_permitted_user_can_follow_a_call_attempt(sio_client, app, call_data):
    owner, other, supervisor = sio_client("nurse"), sio_client("nurse2"), sio_client("supervisor")
    assert owner.emit("follow_attempt", {"attempt_id": call_data.attempt_id}, callback=True)["ok"] is True
    assert other.emit("follow_attempt", {"attempt_id": call_data.attempt_id}, callback=True) == {"ok": False}
    assert supervisor.emit("follow_attempt", {"attempt_id": str(call_data.attempt_id)}, callback=True)["ok"]
    assert other.emit("follow_attempt", {"attempt_id": 999}, callback=True) == {"ok": False}
    line = {"attempt_id": call_data.attempt_id, "speaker": "patient", "text": "好多了"}
    notifier_for(app).emit(EventKind.transcript, line, attempt_room(call_data.attempt_id))
    assert _events(owner, "transcript") == [line]
    assert _events(supervisor, "transcript") == [line]
    assert _events(other, "transcript") == []
    owner.emit("unfollow_attempt", {"attempt_id": call_data.attempt_id})
    notifier_for(app).emit(EventKind.transcript, line, attempt_room(call_data.attempt_id))
    assert _events(owner, "transcript") == []


def test_supervisors_room_excludes_nurses(sio_client, app):
    supervisor, nurse = sio_client("supervisor"), sio_client("nurse")
    notifier_for(app).emit(EventKind.queue_changed, {"task_id": 1}, SUPERVISORS)
    assert _events(supervisor, "queue_changed") == [{"task_id": 1}]
    assert _events(nurse, "queue_changed") == []


def test_softphone_agent_connects_with_its_token_and_gets_its_commands(sio_client, app, sqlite_engine, staff):
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    agent = sio_client(auth={"agent_token": token})
    stranger = sio_client(auth={"agent_token": "not-a-token"})
    assert agent.is_connected()
    assert not stranger.is_connected()
    notifier_for(app).emit(EventKind.agent_command, {"command": "dial", "attempt_id": 7}, agent_room(staff["nurse"].id))
    assert _events(agent, "agent_command") == [{"command": "dial", "attempt_id": 7}]


def test_notifier_refuses_to_broadcast_without_a_room(app):
    with pytest.raises(ValueError, match="needs a room"):
        notifier_for(app).emit(EventKind.notice, {}, "")


def test_external_notifier_needs_redis():
    with pytest.raises(ValueError, match="CALLCENTER_REDIS_URL"):
        SocketIONotifier.external("")


def test_settings_without_secret_key_refuse_to_build_the_app(sqlite_engine):
    from web.app import WebConfigError

    with pytest.raises(WebConfigError, match="CALLCENTER_SECRET_KEY"):
        create_app(Settings(), Services(sqlite_engine))


def test_agent_reports_reach_the_attempt_room_and_transcripts_are_stored(
    sio_client, app, sqlite_engine, call_data
):
    from sqlmodel import Session, select

    from callcenter.models import TranscriptSegment

    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    agent = sio_client(auth={"agent_token": token})
    nurse_page = sio_client("nurse")
    nurse_page.emit("follow_attempt", {"attempt_id": call_data.attempt_id}, callback=True)
    line = {"kind": "transcript", "attempt_id": call_data.attempt_id, "speaker": "patient", "text": "还可以",
            "t0_s": 3.5, "t1_s": 4.25, "confidence": 0.8, "item_id": "general", "extra": "dropped"}
    assert agent.emit("agent_event", line, callback=True) == {"ok": True}
    forwarded = _events(nurse_page, "transcript")
    assert forwarded == [{"attempt_id": call_data.attempt_id, "speaker": "patient", "text": "还可以", "t0_s": 3.5,
                          "t1_s": 4.25, "confidence": 0.8, "item_id": "general"}]
    with Session(sqlite_engine) as s:
        rows = s.exec(select(TranscriptSegment)).all()
    assert [(r.attempt_id, r.speaker, r.text, r.t0_s, r.item_id) for r in rows] == [
        (call_data.attempt_id, "patient", "还可以", 3.5, "general")]


def test_agent_reports_of_speech_stopping_and_back_reach_the_attempt_room_checked(sio_client, sqlite_engine,
                                                                                   call_data):
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    agent = sio_client(auth={"agent_token": token})
    nurse_page = sio_client("nurse")
    nurse_page.emit("follow_attempt", {"attempt_id": call_data.attempt_id}, callback=True)
    for available, code in ((False, "restarting"), (True, "back")):
        report = {"kind": "speech", "attempt_id": call_data.attempt_id, "available": available, "code": code,
                  "reason": "not forwarded"}
        assert agent.emit("agent_event", report, callback=True) == {"ok": True}
    assert _events(nurse_page, "speech") == [
        {"attempt_id": call_data.attempt_id, "available": False, "code": "restarting"},
        {"attempt_id": call_data.attempt_id, "available": True, "code": "back"}]
    for bad in ({"available": "no", "code": "restarting"}, {"available": False, "code": "<b>hi</b>"}):
        refused = agent.emit("agent_event", {"kind": "speech", "attempt_id": call_data.attempt_id, **bad},
                             callback=True)
        assert refused["ok"] is False
    assert _events(nurse_page, "speech") == []


def test_agent_cannot_report_on_another_users_call_and_browsers_cannot_report(sio_client, sqlite_engine, call_data):
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse2")
    other_agent = sio_client(auth={"agent_token": token})
    event = {"kind": "proposal", "attempt_id": call_data.attempt_id, "item_id": "q1", "value": "yes"}
    refused = other_agent.emit("agent_event", event, callback=True)
    assert refused["ok"] is False and "not a call of this agent" in refused["error"]
    browser = sio_client("nurse")
    assert browser.emit("agent_event", event, callback=True)["ok"] is False
    assert other_agent.emit("agent_event", {"kind": "notice", "attempt_id": 1}, callback=True)["ok"] is False


def test_agent_reports_the_recording_which_the_nurse_can_then_play(sio_client, app, sqlite_engine, call_data,
                                                                    auth_for):
    from sqlmodel import Session, select

    from callcenter.models import Recording

    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
        s.delete(s.get(Recording, call_data.recording_id))
    agent = sio_client(auth={"agent_token": token})
    nurse_page = sio_client("nurse")
    nurse_page.emit("follow_attempt", {"attempt_id": call_data.attempt_id}, callback=True)
    bad = agent.emit("agent_event", {"kind": "recording", "attempt_id": call_data.attempt_id,
                                     "path": "../etc/passwd"}, callback=True)
    assert bad["ok"] is False
    ack = agent.emit("agent_event", {"kind": "recording", "attempt_id": call_data.attempt_id,
                                     "path": "2026/call-1.wav", "duration_s": 1.0, "sha256": "ab" * 32}, callback=True)
    assert ack == {"ok": True}
    with Session(sqlite_engine) as s:
        row = s.exec(select(Recording)).one()
    assert _events(nurse_page, "recording") == [{"attempt_id": call_data.attempt_id, "duration_s": 1.0,
                                                 "recording_id": row.id}]
    client, _ = auth_for("nurse")
    assert client.get(f"/recordings/{row.id}/audio").data == call_data.wav.read_bytes()


def test_a_screen_joining_a_call_late_is_told_the_state_the_database_knows(sio_client, sqlite_engine, call_data):
    """Events sent before a page joined its call's room are not replayed (e.g. "confirmed" while it reloaded)."""
    from datetime import UTC, datetime

    from callcenter.models import CallAttempt

    def follow() -> object:
        return sio_client("nurse").emit("follow_attempt", {"attempt_id": call_data.attempt_id}, callback=True)

    with session_scope(sqlite_engine) as s:
        attempt = s.get(CallAttempt, call_data.attempt_id)
        attempt.answered_at = attempt.ended_at = None
    assert follow()["state"] is None  # ringing or not: only the agent knows; the page keeps what it shows
    with session_scope(sqlite_engine) as s:
        s.get(CallAttempt, call_data.attempt_id).answered_at = datetime(2026, 11, 25, 2, 1, tzinfo=UTC)
    assert follow()["state"] == "confirmed"
    with session_scope(sqlite_engine) as s:
        s.get(CallAttempt, call_data.attempt_id).ended_at = datetime(2026, 11, 25, 2, 5, tzinfo=UTC)
    assert follow()["state"] == "disconnected"


def _open_attempt(sqlite_engine, queue_data, staff, started_at) -> int:
    from callcenter.models import CallAttempt

    with session_scope(sqlite_engine) as s:
        attempt = CallAttempt(task_id=queue_data.due_task_id, patient_id=queue_data.patient_id,
                              phone_id=queue_data.phone_id, number="13900139000", user_id=staff["nurse"].id,
                              started_at=started_at)
        s.add(attempt)
        s.flush()
        return attempt.id


def test_an_agent_that_reconnects_with_its_call_gets_the_current_questions_grammar_again(
        sio_client, sqlite_engine, queue_data, published_script, staff, clock):
    from datetime import timedelta

    attempt_id = _open_attempt(sqlite_engine, queue_data, staff, clock.now() - timedelta(minutes=2))
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    agent = sio_client(auth={"agent_token": token})
    assert agent.emit("hello", {"attempt_id": attempt_id}, callback=True) == {"ok": True, "resumed": attempt_id,
                                                                             "lost": []}
    commands = _events(agent, "agent_command")
    assert [(c["command"], c["attempt_id"], c["item_id"]) for c in commands] == [("grammar", attempt_id, "feeling")]
    assert commands[0]["item"]["id"] == "feeling"


def test_an_agent_that_restarted_mid_call_has_its_lost_call_ended_and_the_screen_told(
        sio_client, sqlite_engine, queue_data, published_script, staff, clock):
    from datetime import timedelta

    from callcenter.models import CallAttempt

    lost = _open_attempt(sqlite_engine, queue_data, staff, clock.now() - timedelta(minutes=2))
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    screen = sio_client("nurse")
    assert screen.emit("follow_attempt", {"attempt_id": lost}, callback=True)["ok"] is True
    agent = sio_client(auth={"agent_token": token})
    # started as the agent connected: its dial command is still on its way to the agent, not lost
    fresh = _open_attempt(sqlite_engine, queue_data, staff, clock.now())
    assert agent.emit("hello", {"attempt_id": None}, callback=True) == {"ok": True, "resumed": None, "lost": [lost]}
    states = _events(screen, "call_state")
    assert [(e["attempt_id"], e["state"]) for e in states] == [(lost, "failed")]
    assert "软电话已重新启动" in states[0]["reason"]
    with session_scope(sqlite_engine) as s:
        assert s.get(CallAttempt, lost).ended_at is not None
        assert s.get(CallAttempt, fresh).ended_at is None
    assert _events(agent, "agent_command") == []
    browser = sio_client("nurse")
    assert browser.emit("hello", {"attempt_id": lost}, callback=True)["ok"] is False  # only agents say hello


def test_deactivating_a_user_ends_her_live_connections_and_her_agents(sio_client, app, sqlite_engine, staff,
                                                                       auth_for):
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse2")
    page, agent, other = sio_client("nurse2"), sio_client(auth={"agent_token": token}), sio_client("nurse")
    assert page.is_connected() and agent.is_connected() and other.is_connected()
    admin, admin_auth = auth_for("admin")
    assert admin.post("/admin/users/nurse2/deactivate", data={"csrf_token": admin_auth.csrf}).status_code == 302
    assert not page.is_connected() and not agent.is_connected()
    assert other.is_connected()  # nobody else's
    # nothing meant for her reaches her any more, and she cannot connect again
    notifier_for(app).emit(EventKind.notice, {"text": "给护士二"}, user_room(staff["nurse2"].id))
    assert not sio_client("nurse2").is_connected()
    assert not sio_client(auth={"agent_token": token}).is_connected()
    assert _events(other, "notice") == [] and _events(other, "session_ended") == []
