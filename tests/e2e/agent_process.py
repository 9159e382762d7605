"""The nurse's real softphone agent (`callcenter softphone`) as a subprocess connected to a live test server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from callcenter import users
from callcenter.db import session_scope
from callcenter.events import agent_room
from tests.web.conftest import in_room


def wait(condition: Any, timeout_s: float = 60.0) -> bool:
    tick = threading.Event()
    for _ in range(int(timeout_s / 0.1)):
        if condition():
            return True
        tick.wait(0.1)  # sleep-ok: bounded poll of the database / room table, which have no notification hook
    return bool(condition())


@contextmanager
def softphone_agent(live_server: Any, live_app: Any, settings: Any, engine: Any, user_id: int, *args: str,
                    username: str = "nurse", sip_bind: str = "127.0.0.1:0") -> Iterator[subprocess.Popen[bytes]]:
    """Start it with ``args`` (e.g. ``--dial-plan F --speak-questions``), wait until it joined its user's agent
    room, and on exit check it stops cleanly on SIGTERM (exit code 0: no SIGABRT from pjsua2)."""
    with session_scope(engine) as s:
        token = users.issue_agent_token(s, username)
    env = {**os.environ, "CALLCENTER_DATA_DIR": settings.data_dir, "CALLCENTER_RECORDINGS_DIR": settings.recordings_dir,
           "CALLCENTER_SIP_BIND": sip_bind, "CALLCENTER_AGENT_TOKEN": token, "CALLCENTER_HEADSET": "none"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "callcenter"), "softphone", "--server",
                             live_server.url, *args], env=env)
    try:
        # a deadline, not a pause: the agent joins as soon as it is up, in a few seconds on a quiet machine; loading
        # the speech model took over a minute when other test suites loaded the 2 cores (load 12-15)
        assert in_room(live_app, agent_room(user_id), 180.0), "the softphone agent did not connect"
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, "the softphone agent did not exit cleanly"
