"""A softphone agent whose user is deactivated: the dashboard ends its session, and the agent stops trying to
reconnect (its token is refused from then on) and says why. A real AgentLink over WebSocket to the live server."""

from __future__ import annotations

import logging
import threading

import pytest

from callcenter import users
from callcenter.db import session_scope
from callcenter.events import agent_room
from softphone.agent import AgentLink
from tests.web.conftest import in_room
from web.realtime import end_sessions

pytestmark = pytest.mark.slow


def test_a_deactivated_users_agent_is_told_stops_reconnecting_and_says_why(live_server, live_app, sqlite_engine,
                                                                            staff, caplog):
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    link = AgentLink(live_server.url, token)
    ended = threading.Event()
    link.when_ended(ended.set)
    link.start(retry=False)
    try:
        assert link.connected.wait(10) and in_room(live_app, agent_room(staff["nurse"].id))
        with caplog.at_level(logging.ERROR, logger="softphone.agent"):
            with session_scope(sqlite_engine) as s:
                users.deactivate(s, "nurse")
            with live_app.app_context():
                assert end_sessions(live_app, staff["nurse"].id) == 1  # what the admin page does after deactivating
            assert ended.wait(10) and link.ended.is_set()
        assert link.sio.reconnection is False  # no retry loop against a server that refuses this token
        assert "its user was deactivated" in caplog.text
        late = threading.Event()
        link.when_ended(late.set)  # a hook added afterwards runs at once
        assert late.is_set()
    finally:
        link.close()
