"""The agent's Socket.IO link against the real dashboard server (`callcenter serve` in a subprocess), with a
scripted phone: commands arrive, events are stored, and a server restart drops neither the call nor the events
produced while the server was down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from callcenter import users
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Patient, PatientPhone, TranscriptSegment
from callcenter.ports import CallState, CallStateChanged, Utterance
from softphone.agent import AgentLink, SoftphoneAgent
from tests.e2e.phones import ScriptedPhone
from tests.softphone.peers import free_port

pytestmark = pytest.mark.slow


def _wait(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    tick = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return True
        tick.wait(0.05)  # sleep-ok: bounded poll of the database / the phone, which have no notification hook
    return condition()


def _attempt(engine: Engine, attempt_id: int) -> CallAttempt:
    with session_scope(engine) as s:  # a new session each time: one SQLite read transaction sees one snapshot
        row = s.get(CallAttempt, attempt_id)
        assert row is not None
        return row


def _segments(engine: Engine) -> list[TranscriptSegment]:
    with session_scope(engine) as s:
        return list(s.exec(select(TranscriptSegment)).all())


class Server:
    """`callcenter serve` on a fixed port, startable again after a stop (a server restart)."""

    def __init__(self, db_path: Path, tmp_path: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "CALLCENTER_DATABASE_URL": f"sqlite:///{db_path}",
                    "CALLCENTER_SECRET_KEY": "agent-link-test-secret", "CALLCENTER_DATA_DIR": str(tmp_path / "var"),
                    "CALLCENTER_RECORDINGS_DIR": str(tmp_path / "recordings"), "CALLCENTER_LOG_LEVEL": "WARNING"}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "callcenter"), "serve", "--port", str(self.port)],
                                     env=self.env, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


@pytest.fixture
def attempt(sqlite_engine: Engine, staff) -> tuple[int, str]:
    with session_scope(sqlite_engine) as s:
        patient = Patient(name="테스트", language="ko-KR", source_system="his", mrn="K1")
        s.add(patient)
        s.flush()
        phone = PatientPhone(patient_id=patient.id or 0, number="13800005090")
        s.add(phone)
        s.flush()
        row = CallAttempt(patient_id=patient.id or 0, phone_id=phone.id, number=phone.number,
                          user_id=staff["nurse"].id)
        s.add(row)
        s.flush()
        token = users.issue_agent_token(s, "nurse")
        return row.id or 0, token


@pytest.fixture
def server(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Server]:
    db_path = Path(str(sqlite_engine.url.database))
    srv = Server(db_path, tmp_path)
    srv.start()
    yield srv
    srv.stop()


def test_agent_follows_commands_and_survives_a_server_restart_without_dropping_the_call(
        server, attempt, sqlite_engine, staff):
    attempt_id, token = attempt
    phone = ScriptedPhone()
    agent = SoftphoneAgent(phone, dial_plan=lambda number: f"sip:patient@127.0.0.1:{number[-4:]}")
    link = AgentLink(server.url, token)
    link.attach(agent)
    link.start(wait_s=20)
    try:
        assert link.connected.wait(20)
        # the dial command as the web app words it (callcenter.nurse_calls); the browser test sends it for real
        assert agent.handle_command({"command": "dial", "attempt_id": attempt_id, "number": "13800005090",
                                     "locale": "ko-KR"}) == {"ok": True}
        call_id = phone.actions[0][1]
        phone.fire(CallStateChanged(call_id, CallState.confirmed, 200, "OK"))
        assert _wait(lambda: _attempt(sqlite_engine, attempt_id).answered_at is not None)

        server.stop()
        assert _wait(lambda: not link.connected.is_set())
        agent.on_recognizer_event(Utterance(call_id, "네 아파요", 4.0, 5.2, 0.9, item_id="pain"))  # while offline
        server.start()
        assert _wait(lambda: link.connections >= 2, timeout_s=40), "the agent did not reconnect"
        assert _wait(lambda: len(_segments(sqlite_engine)) == 1)
        segment = _segments(sqlite_engine)[0]
        assert (segment.attempt_id, segment.text, segment.item_id) == (attempt_id, "네 아파요", "pain")
        assert [a[0] for a in phone.actions] == ["dial"]  # the call was never hung up by the restart
        assert agent.active_attempt == attempt_id
    finally:
        link.close()
