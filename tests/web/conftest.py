"""Fixture ladder for the web layer: settings -> sqlite engine -> staff -> app -> client (+ AuthActions).

Socket.IO test-client tests and browser tests use separate app instances (each app owns its SocketIO), and
browser tests live in tests/web/browser with their own live-server fixture.
"""

from __future__ import annotations

import re
import shutil
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from callcenter import migrate, users
from callcenter.clock import FrozenClock
from callcenter.db import make_engine, session_scope
from callcenter.models import CallAttempt, Patient, PatientPhone, Recording, Role
from callcenter.settings import Settings
from callcenter.users import StaffMember
from web import Services, create_app

PASSWORD = "correct-horse-1"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))  # 10:00 in Asia/Shanghai


STAFF = {"nurse": Role.nurse, "nurse2": Role.nurse, "supervisor": Role.supervisor, "doctor": Role.doctor,
         "admin": Role.admin}


@pytest.fixture(scope="session")
def web_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with one user per role (password hashing and migrations run once)."""
    path = tmp_path_factory.mktemp("webdb") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        for name, role in STAFF.items():
            users.create_user(session, username=name, password=PASSWORD, role=role,
                              display_name=f"{name}-显示名", team_key="team-a")
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(web_db_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """Overrides the root fixture: a copy of the template (users nurse, nurse2, supervisor, doctor, admin)."""
    path = tmp_path / "web.db"
    shutil.copyfile(web_db_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def staff(sqlite_engine: Engine) -> dict[str, StaffMember]:
    with session_scope(sqlite_engine) as session:
        return {name: users.find_member(session, name) for name in STAFF}


@pytest.fixture
def app(settings: Settings, sqlite_engine: Engine, clock: FrozenClock, staff: dict[str, StaffMember]) -> Flask:
    return create_app(settings, Services(engine=sqlite_engine, clock=clock), {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client
        self.csrf = ""

    def login(self, username: str, password: str = PASSWORD):  # noqa: ANN201 - werkzeug TestResponse
        page = self._client.get("/login")
        self.csrf = csrf_token_from(page.get_data(as_text=True))
        return self._client.post("/login", data={"username": username, "password": password,
                                                 "csrf_token": self.csrf})

    def fresh_csrf(self) -> str:
        """A CSRF token for this client's session without logging in (any page that renders a form)."""
        page = self._client.get("/login")
        if page.status_code == 302:  # logged in: the login page redirects; use the workspace page
            page = self._client.get("/workspace/")
        self.csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        return self.csrf


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@dataclass(frozen=True)
class CallData:
    patient_id: int
    attempt_id: int  # made by "nurse"
    recording_id: int
    national_id: str
    phone: str
    wav: Path


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x01\x00\x02\x00" * int(seconds * rate))
    return path


@pytest.fixture
def call_data(sqlite_engine: Engine, settings: Settings, staff: dict[str, StaffMember]) -> Iterator[CallData]:
    """A patient with a phone, one finished attempt by "nurse" and its recording on disk (relative path)."""
    wav = write_wav(settings.recordings_path / "2026" / "call-1.wav")
    with session_scope(sqlite_engine) as session:
        patient = Patient(name="张三", national_id="110101199003071234", language="zh-CN")
        session.add(patient)
        session.flush()
        assert patient.id is not None
        phone = PatientPhone(patient_id=patient.id, number="13800138000")
        session.add(phone)
        session.flush()
        attempt = CallAttempt(patient_id=patient.id, phone_id=phone.id, number=phone.number,
                              user_id=staff["nurse"].id)
        session.add(attempt)
        session.flush()
        assert attempt.id is not None
        recording = Recording(attempt_id=attempt.id, path="2026/call-1.wav", duration_s=1.0)
        session.add(recording)
        session.flush()
        assert recording.id is not None
        data = CallData(patient.id, attempt.id, recording.id, patient.national_id or "", phone.number, wav)
    yield data
