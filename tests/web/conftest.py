"""Fixture ladder for the web layer: settings -> sqlite engine -> staff -> app -> client (+ AuthActions), and
for live tests: live_app -> live_server (threading server on a free port) -> browser (Debian Chromium via
Playwright, never `playwright install`) -> new_page / ui.

The Socket.IO test client patches the server object of the app it is used on: live tests always get their
own app (``live_app``), never ``app``.
"""

from __future__ import annotations

import re
import shutil
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from werkzeug.security import generate_password_hash

from asr.item_specs import heard_value
from callcenter import migrate, outcomes, questionnaires, users
from callcenter.clock import FrozenClock
from callcenter.db import make_engine, session_scope
from callcenter.models import (
    CallAttempt,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Recording,
    Role,
    Task,
    TaskStatus,
    User,
)
from callcenter.settings import Settings
from callcenter.tasks import queue_rank
from callcenter.users import StaffMember
from web import Services, create_app
from web.realtime import socketio_for
from web.server import LiveServer

PASSWORD = "correct-horse-1"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))  # 10:00 in Asia/Shanghai


STAFF = {"nurse": Role.nurse, "nurse2": Role.nurse, "supervisor": Role.supervisor, "doctor": Role.doctor,
         "admin": Role.admin}


def seed_staff(engine: Engine) -> None:
    """The outcome table and one user per role (``STAFF``) in a migrated, empty database."""
    with session_scope(engine) as session:
        outcomes.seed_outcomes(session)
        for name, role in STAFF.items():
            member = users.create_user(session, username=name, password=PASSWORD, role=role,
                                       display_name=f"{name}-显示名", team_key="team-a")
            # a cheap hash keeps logins fast in tests; tests/callcenter/test_users.py covers the real one
            row = session.get(User, member.id)
            assert row is not None
            row.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


@pytest.fixture(scope="session")
def web_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with one user per role (password hashing and migrations run once)."""
    path = tmp_path_factory.mktemp("webdb") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    seed_staff(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(web_db_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """Overrides the root fixture: a copy of the template (users nurse, nurse2, supervisor, doctor, admin)."""
    engine = _copy_of(web_db_template, tmp_path)
    yield engine
    engine.dispose()


def _copy_of(template: Path, folder: Path) -> Engine:
    path = folder / "web.db"
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def web_engine(request: pytest.FixtureRequest, web_db_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """The web fixtures' database on each backend. A module whose screens run SQL that differs between backends
    overrides ``sqlite_engine`` with it (``def sqlite_engine(web_engine): return web_engine``): the whole ladder
    (staff, app, live_app…) then runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        engine = _copy_of(web_db_template, tmp_path)
    else:
        engine = make_engine(request.getfixturevalue("pg_url"))  # migrated once per run; emptied here
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        seed_staff(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def staff(sqlite_engine: Engine) -> dict[str, StaffMember]:
    with session_scope(sqlite_engine) as session:
        return {name: users.find_member(session, name) for name in STAFF}


@pytest.fixture
def app(settings: Settings, sqlite_engine: Engine, clock: FrozenClock, staff: dict[str, StaffMember]) -> Flask:
    # the adherence check reads transcripts as in production (callcenter.commands.wsgi.build_app)
    return create_app(settings, Services(engine=sqlite_engine, clock=clock, answer_parser=heard_value),
                      {"TESTING": True})


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
        patient = Patient(name="张三", national_id="110101199003071234", language="zh-CN", source_system="his",
                          mrn="A0001")
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


@dataclass(frozen=True)
class QueueData:
    due_task_id: int  # an ordinary due task, high priority
    callback_task_id: int  # a callback: first in the queue despite low priority
    other_team_task_id: int  # another team's task: not in this nurse's queue
    patient_id: int
    phone_id: int


@pytest.fixture
def queue_data(sqlite_engine: Engine, clock: FrozenClock, staff: dict[str, StaffMember]) -> QueueData:
    now = clock.now()
    team_id = staff["nurse"].team_id
    with session_scope(sqlite_engine) as session:
        other_team = users.ensure_team(session, "team-b")
        plan = FollowUpPlan(key="discharge-cardio", name="心内科出院随访", questionnaire_key="post_discharge")
        session.add(plan)
        patients = []
        for name, number in (("李四", "13900139000"), ("王五", "13700137000"), ("赵六", "13600136000")):
            patient = Patient(name=name, language="zh-CN", source_system="his", mrn=number[-6:])
            session.add(patient)
            session.flush()
            phone = PatientPhone(patient_id=patient.id or 0, number=number)
            session.add(phone)
            session.flush()
            patients.append((patient, phone))
        session.flush()

        def task(patient: Patient, team: int | None, priority: int, callback: bool) -> int:
            row = Task(patient_id=patient.id or 0, plan_id=plan.id, point="d7", questionnaire_key="post_discharge",
                       status=TaskStatus.due, due_at=now - timedelta(hours=2), team_id=team, priority=priority,
                       callback_at=now - timedelta(minutes=5) if callback else None, reason="出院后7天")
            row.queue_rank = queue_rank(row, now)
            session.add(row)
            session.flush()
            return row.id or 0

        due = task(patients[0][0], team_id, 90, False)
        callback = task(patients[1][0], team_id, 10, True)
        other = task(patients[2][0], other_team.id, 99, False)
        return QueueData(due, callback, other, patients[0][0].id or 0, patients[0][1].id or 0)


# --- live server and browser ---------------------------------------------------------------------------------

from tests.chromium import CHROMIUM_ARGS, chromium_path  # noqa: E402,F401 - re-exported for the browser tests

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def live_app(settings: Settings, sqlite_engine: Any, clock: Any, staff: Any) -> Flask:
    return create_app(settings, Services(engine=sqlite_engine, clock=clock, answer_parser=heard_value),
                      {"TESTING": True})


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    # The socket is bound and listening when LiveServer is constructed: connections queue until the serving
    # thread accepts them, so there is nothing to wait for.
    server = LiveServer(live_app).start()
    yield server
    server.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A factory of pages, each in its own browser context (own cookies), sized like a 1366×768 screen."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


class BrowserActions:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def login(self, page: Any, username: str, password: str = PASSWORD) -> None:
        page.goto(f"{self.base_url}/login")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login-submit")

    @staticmethod
    def open_task_from_queue(page: Any, task_id: int) -> None:
        """Keyboard first, as a nurse does: focus the task's row and press Enter (claims it, opens the call screen).

        Waits for the queue script to have wired its keys: a key pressed while the page is still loading is lost.
        """
        expect(page.locator("#queue")).to_have_attribute("data-ready", "true")
        page.locator(f'.queue-row[data-task-id="{task_id}"]').focus()
        page.keyboard.press("Enter")

    @staticmethod
    def screenshot(page: Any, name: str) -> Path:
        """Saved into docs/screenshots/ (committed: the documentation shows the real screens)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        page.screenshot(path=str(path))
        return path


def in_room(app: Flask, room: str, timeout_s: float = 10.0) -> bool:
    """Wait until some Socket.IO connection has joined ``room`` (a page joins after its connect; an agent at its
    connect)."""
    manager = socketio_for(app).server.manager
    tick = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if any(True for _ in manager.get_participants("/", room)):
            return True
        tick.wait(0.05)  # sleep-ok: bounded poll of the server's room table, which has no notification hook
    return False


@pytest.fixture
def ui(live_server: LiveServer) -> BrowserActions:
    return BrowserActions(live_server.url)


@pytest.fixture
def auth_for(app: Flask) -> Any:
    """A new client logged in as ``username``: ``client, auth = auth_for("nurse2")``."""

    def make(username: str) -> tuple[FlaskClient, AuthActions]:
        client = app.test_client()
        actions = AuthActions(client)
        actions.login(username)
        return client, actions

    return make


POST_DISCHARGE_SCRIPT = """
key: post_discharge
version: 1
title: 出院随访
locale: zh-CN
intro: "{patient.name}您好，这里是{hospital.name}随访中心。"
items:
  - id: feeling
    type: single_choice
    text: "{patient.name}，出院后感觉怎么样？"
    options:
      - {value: better, label: 好多了, say: [好多了]}
      - {value: same, label: 差不多, say: [差不多]}
      - {value: worse, label: 更差了, say: [更差了]}
  - id: bp
    type: blood_pressure
    text: 最近量的血压是多少？
    systolic: {min: 60, max: 260}
    diastolic: {min: 30, max: 160}
alerts:
  - id: bp_crisis
    when: bp.systolic >= 180
    severity: critical
    message: 血压过高，请医生联系患者。
"""


@pytest.fixture
def published_script(sqlite_engine: Engine) -> int:
    """The questionnaire of ``queue_data``'s tasks, published as version 1; returns its row id."""
    with session_scope(sqlite_engine) as session:
        row, _ = questionnaires.publish(session, POST_DISCHARGE_SCRIPT, "post_discharge.yaml")
        return row.id or 0
