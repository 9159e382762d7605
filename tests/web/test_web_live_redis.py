"""Across processes: an emitter without the web app (robocaller, scheduler) reaches a client of the web
process through Redis, the Socket.IO message queue. A real python-socketio client over WebSocket."""

from __future__ import annotations

import queue
import uuid

import socketio

from callcenter import users
from callcenter.db import session_scope
from callcenter.events import EventKind, agent_room
from web import Services, create_app
from web.realtime import SocketIONotifier
from web.server import LiveServer

REDIS_URL = "redis://127.0.0.1:6379/15"


def test_event_from_another_process_reaches_the_agent_through_redis(settings, sqlite_engine, clock, staff):
    channel = "cc-test-" + uuid.uuid4().hex
    app = create_app(settings.replace(redis_url=REDIS_URL), Services(sqlite_engine, clock),
                     {"TESTING": True, "SOCKETIO_CHANNEL": channel})
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    received: queue.Queue[dict] = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on(EventKind.agent_command.value, received.put)
    with LiveServer(app) as server:
        client.connect(server.url, auth={"agent_token": token}, transports=["websocket"], wait_timeout=10)
        try:
            external = SocketIONotifier.external(REDIS_URL, channel=channel)  # no Flask app, like a robocaller
            command = {"command": "dial", "attempt_id": 42}
            external.emit(EventKind.agent_command, command, agent_room(staff["nurse"].id))
            assert received.get(timeout=10) == command
        finally:
            client.disconnect()


def test_agent_with_a_bad_token_is_refused_by_the_live_server(live_server):
    client = socketio.Client(reconnection=False)
    try:
        client.connect(live_server.url, auth={"agent_token": "wrong"}, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        refused = True
    else:
        refused = False
        client.disconnect()
    assert refused
