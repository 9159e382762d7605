"""A patient calling in, in Chromium on the live server: the nurse's page rings with the caller's name (fetched over
HTTP; the Socket.IO event has ids only), she answers and lands on the call screen of the task the call is about,
and her softphone agent (a python-socketio client here; tests/e2e has the real one) gets bind, answer and the
first question's grammar. An unknown (or shared) number rings too and is filed all the same: answered, its page
follows the call, the nurse finds the caller and files the call, its recording and transcript under him."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import socketio
from playwright.sync_api import expect
from sqlmodel import select

from callcenter import users
from callcenter.db import session_scope
from callcenter.models import (
    AuditEvent,
    CallAttempt,
    Patient,
    PatientPhone,
    PhoneOwner,
    Recording,
    Task,
    TaskStatus,
    TranscriptSegment,
)
from tests.web.conftest import write_wav

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


def test_an_unknown_number_rings_and_a_declined_or_abandoned_call_is_filed_with_no_patient(new_page, ui, agent,
                                                                                           queue_data, sqlite_engine):
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    declined = agent.sio.call("incoming_call", {"call_ref": "in-2", "remote_uri": "sip:13911112222@pbx"})
    assert declined["ok"] is True and isinstance(declined["attempt_id"], int)
    banner = page.locator(".incoming-call")
    expect(banner).to_contain_text("未登记号码")
    expect(banner).to_contain_text("139****2222")
    page.click("#incoming-decline")
    expect(page).to_have_url(f"{ui.base_url}/workspace/queue")
    assert agent.wait_commands(["bind", "decline"])[1] == {"command": "decline", "attempt_id": declined["attempt_id"]}
    # a caller who gives up while the call is being filed stops the ringing; the call is kept as missed
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")  # the queue page, after the decline
    missed = agent.sio.call("incoming_call", {"call_ref": "in-3", "remote_uri": "sip:13911113333@pbx"})
    expect(page.locator(".incoming-call")).to_have_count(1)
    agent.sio.call("incoming_call_ended", {"call_ref": "in-3"})
    expect(page.locator(".incoming-call")).to_have_count(0)
    with session_scope(sqlite_engine) as s:
        rows = {a.id: a for a in s.exec(select(CallAttempt)).all()}
    assert set(rows) == {declined["attempt_id"], missed["attempt_id"]}
    for attempt in rows.values():
        assert (attempt.direction, attempt.patient_id, attempt.answered_at) == ("inbound", None, None)
        assert attempt.ended_at is not None and attempt.wrapped_up_at is not None


@pytest.mark.parametrize("number", ["13700137000", "13911114444"], ids=["known", "unknown"])
def test_a_page_opened_while_a_patient_or_an_unknown_number_is_calling_rings_too(new_page, ui, agent, queue_data,
                                                                                  sqlite_engine, number):
    """She was between pages when the call came: the page that connects next rings, whoever calls."""
    filed = agent.sio.call("incoming_call", {"call_ref": "in-4", "remote_uri": f"sip:{number}@pbx"})
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator(f'.incoming-call[data-attempt-id="{filed["attempt_id"]}"]')).to_contain_text(
        "王五" if number == "13700137000" else "未登记号码")


def test_an_unknown_caller_is_answered_identified_and_the_call_with_its_recording_is_on_the_patients_page(
        new_page, ui, agent, queue_data, settings, sqlite_engine):
    """The caller's number is nobody's. The nurse answers, the call's page shows it live; after the call she asks
    who it was, finds the patient, files the call under him with the number as his wife's phone, and saves it."""
    write_wav(settings.recordings_path / "2026" / "in-5.wav", seconds=2.0)
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    filed = agent.sio.call("incoming_call", {"call_ref": "in-5", "remote_uri": "sip:13911115555@pbx"})
    attempt_id = filed["attempt_id"]
    assert filed["ok"] is True and isinstance(attempt_id, int)
    banner = page.locator(".incoming-call")
    expect(banner).to_contain_text("未登记号码")
    expect(banner).not_to_contain_text("13911115555")
    # bound like any call: the softphone reports its events (recording, transcript) under the attempt
    assert agent.commands[0] == {"command": "bind", "attempt_id": attempt_id, "call_ref": "in-5", "locale": "zh-CN"}
    page.click("#incoming-answer")
    expect(page).to_have_url(f"{ui.base_url}/workspace/incoming/{attempt_id}")
    assert agent.wait_commands(["bind", "answer"])[1] == {"command": "answer", "attempt_id": attempt_id}
    expect(page.locator("#caller-unknown")).to_be_visible()

    def report(kind: str, **fields: Any) -> None:
        assert agent.sio.call("agent_event", {"kind": kind, "attempt_id": attempt_id, **fields}) == {"ok": True}

    report("call_state", state="confirmed")
    # shown either from the event or from what the server knew when the page joined: the page follows the call now
    expect(page.locator("#call-state")).to_have_attribute("data-state", "confirmed")
    report("transcript", speaker="patient", text="我是李四的老伴，他出院后有点头晕", t0_s=1.0, t1_s=3.2)
    expect(page.locator("#transcript")).to_contain_text("我是李四的老伴")
    report("call_state", state="disconnected")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "disconnected")
    report("recording", path="2026/in-5.wav", duration_s=2.0, sha256="")
    expect(page.locator("#recording-link")).to_be_visible()

    page.fill("#caller-q", "李四")
    page.click("#caller-search-submit")
    match = page.locator(f'.caller-match[data-patient-id="{queue_data.patient_id}"]')
    expect(match).to_contain_text("李四")
    match.locator(".add-number").check()
    match.locator("select.owner").select_option("spouse")
    match.locator(".identify-caller").click()
    expect(page.locator("#caller-patient-link")).to_have_text("李四")
    expect(page.locator("#caller-filed")).to_be_visible()
    expect(page.locator("#caller-known")).to_contain_text("配偶")  # the number is now his wife's phone
    expect(page.locator("#task-offer")).to_contain_text("心内科出院随访")  # his open task, offered
    expect(page.locator("#transcript")).to_contain_text("我是李四的老伴")  # kept, shown again after the reload
    ui.screenshot(page, "workspace-incoming-identified.png")
    page.select_option("#outcome", "completed")
    page.fill("#note", "家属来电咨询头晕")
    page.click("#incoming-wrap-up-submit")

    expect(page).to_have_url(f"{ui.base_url}/workspace/patients/{queue_data.patient_id}")
    entry = page.locator(f'.timeline li[data-ref="attempt:{attempt_id}"]')
    expect(entry).to_contain_text("来电 · 完成")
    entry.get_by_role("link", name="录音").click()
    expect(page).to_have_url(re.compile(r"/recordings/\d+$"))
    with session_scope(sqlite_engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
        recording = s.exec(select(Recording).where(Recording.attempt_id == attempt_id)).one()
        phone = s.get(PatientPhone, attempt.phone_id)
        identified = s.exec(select(AuditEvent).where(AuditEvent.action == "call.identify")).one()
        segments = s.exec(select(TranscriptSegment).where(TranscriptSegment.attempt_id == attempt_id)).all()
    assert (attempt.patient_id, attempt.task_id, attempt.outcome_code, attempt.note) == (
        queue_data.patient_id, None, "completed", "家属来电咨询头晕")
    assert (phone.patient_id, phone.number, phone.owner) == (queue_data.patient_id, "13911115555", PhoneOwner.spouse)
    assert page.url.endswith(f"/recordings/{recording.id}")
    assert [seg.text for seg in segments] == ["我是李四的老伴，他出院后有点头晕"]
    assert (identified.object_id, identified.detail["patient_id"]) == (str(attempt_id), queue_data.patient_id)
    audio = page.request.get(f"{ui.base_url}/recordings/{recording.id}/audio")
    assert audio.status == 200 and audio.body()[:4] == b"RIFF"


def test_an_identified_caller_is_taken_into_his_task_while_the_call_is_up(new_page, ui, agent, queue_data,
                                                                          published_script, sqlite_engine):
    """A shared number: she picks the patient among those who have it and opens his task; the call screen holds the
    call, and the softphone hears the form's first question."""
    with session_scope(sqlite_engine) as s:  # 李四's number is his wife's too, and she is a patient
        wife = Patient(name="李四妻", source_system="his", mrn="W1")
        s.add(wife)
        s.flush()
        s.add(PatientPhone(patient_id=wife.id or 0, number="13900139000", owner=PhoneOwner.spouse))
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    attempt_id = agent.sio.call("incoming_call", {"call_ref": "in-6", "remote_uri": "sip:13900139000@pbx"})[
        "attempt_id"]
    expect(page.locator(".incoming-call")).to_contain_text("共用号码")
    page.click("#incoming-answer")
    expect(page).to_have_url(f"{ui.base_url}/workspace/incoming/{attempt_id}")
    assert agent.sio.call("agent_event", {"kind": "call_state", "attempt_id": attempt_id,
                                          "state": "confirmed"}) == {"ok": True}
    expect(page.locator("#call-state")).to_have_attribute("data-state", "confirmed")
    sharing = page.locator(f'.caller-match[data-patient-id="{queue_data.patient_id}"]')
    expect(page.locator(".caller-match")).to_have_count(2)
    sharing.locator(".identify-caller").click()
    expect(page.locator("#caller-patient-link")).to_have_text("李四")
    page.click("#take-task")
    expect(page).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.due_task_id}")
    expect(page.locator("#form-column")).to_have_attribute("data-attempt-id", str(attempt_id))
    expect(page.locator("#call-state")).to_have_attribute("data-state", "confirmed")
    commands = agent.wait_commands(["bind", "answer", "grammar"])
    assert [c["command"] for c in commands] == ["bind", "answer", "grammar"]
    assert (commands[2]["attempt_id"], commands[2]["item_id"]) == (attempt_id, "feeling")
    with session_scope(sqlite_engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
        task = s.get(Task, queue_data.due_task_id)
    assert (attempt.patient_id, attempt.task_id, attempt.phone_id) == (queue_data.patient_id, queue_data.due_task_id,
                                                                      queue_data.phone_id)
    assert (task.status, task.lease_owner) == (TaskStatus.leased, f"user:{attempt.user_id}")
