"""A patient calling back over SIP, end to end: baresip (the patient's phone, From: her number) calls the nurse's
real softphone agent (`callcenter softphone`, pjsua2); her queue page in Chromium rings with the patient's name,
she answers, lands on the call screen of the callback task, the call is up, and she hangs up from the screen. A
number nobody has is answered, recorded and filed under the patient the nurse names."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from callcenter.db import session_scope
from callcenter.models import CallAttempt, Recording
from tests.e2e.agent_process import softphone_agent, wait
from tests.softphone.peers import Baresip, free_port

pytestmark = [pytest.mark.browser, pytest.mark.sip, pytest.mark.slow]


@pytest.fixture
def agent_port(live_server: Any, live_app: Any, settings: Any, sqlite_engine: Any, staff: Any) -> Iterator[int]:
    port = free_port()
    with softphone_agent(live_server, live_app, settings, sqlite_engine, staff["nurse"].id, "--no-speech",
                         sip_bind=f"127.0.0.1:{port}"):
        yield port


def test_a_patient_calling_back_rings_the_nurse_who_answers_into_the_call_screen_of_her_callback(
        new_page, ui, agent_port, queue_data, published_script, sqlite_engine, tmp_path):
    wav = tmp_path / "voice.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "3", "sine", "440",
                    "vol", "0.3"], check=True)
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    with Baresip(tmp_path, wav, user="13700137000") as patient:  # 王五, whose callback waits in the queue
        patient.command("dial", f"sip:nurse@127.0.0.1:{agent_port}")
        banner = page.locator(".incoming-call")
        expect(banner).to_contain_text("王五", timeout=20_000)
        page.click("#incoming-answer")
        expect(page).to_have_url(f"{ui.base_url}/workspace/tasks/{queue_data.callback_task_id}")
        expect(page.locator("#call-state")).to_have_attribute("data-state", "confirmed", timeout=20_000)
        expect(page.locator("#question")).to_have_attribute("data-item-id", "feeling")
        page.click('.call-control[data-command="hangup"]')
        expect(page.locator("#call-state")).to_have_attribute("data-state", "disconnected", timeout=20_000)
    with session_scope(sqlite_engine) as s:
        attempt = s.exec(select(CallAttempt)).one()
    assert (attempt.direction, attempt.task_id, attempt.number) == ("inbound", queue_data.callback_task_id,
                                                                    "13700137000")
    assert attempt.answered_at is not None and attempt.ended_at is not None
    assert attempt.wrapped_up_at is None  # she saves an outcome, as for a call she dialled


def test_an_unknown_number_is_recorded_by_the_real_softphone_and_filed_under_the_patient_the_nurse_names(
        new_page, ui, agent_port, queue_data, settings, sqlite_engine, tmp_path):
    """Nobody has the caller's number. The call is answered, recorded by the softphone under its attempt, and once
    the nurse says who called (李四) the call and its recording are on his page."""
    wav = tmp_path / "voice.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "3", "sine", "440",
                    "vol", "0.3"], check=True)
    page = new_page()
    ui.login(page, "nurse")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    with Baresip(tmp_path, wav, user="13922223333") as caller:
        caller.command("dial", f"sip:nurse@127.0.0.1:{agent_port}")
        expect(page.locator(".incoming-call")).to_contain_text("未登记号码", timeout=20_000)
        page.click("#incoming-answer")
        expect(page).to_have_url(re.compile(r"/workspace/incoming/\d+$"))
        attempt_id = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("#call-state")).to_have_attribute("data-state", "confirmed", timeout=20_000)
        page.click('.call-control[data-command="hangup"]')
        expect(page.locator("#call-state")).to_have_attribute("data-state", "disconnected", timeout=20_000)

    def recording() -> Recording | None:
        with session_scope(sqlite_engine) as s:
            return s.exec(select(Recording).where(Recording.attempt_id == attempt_id)).first()

    assert wait(lambda: recording() is not None, 30), "the softphone did not report the call's recording"
    stored = recording()
    assert stored is not None and stored.duration_s > 0
    assert (settings.recordings_path / stored.path).is_file()
    page.fill("#caller-q", "李四")
    page.click("#caller-search-submit")
    page.locator(f'.caller-match[data-patient-id="{queue_data.patient_id}"] .identify-caller').click()
    expect(page.locator("#caller-patient-link")).to_have_text("李四")
    page.click("#incoming-wrap-up-submit")
    expect(page).to_have_url(f"{ui.base_url}/workspace/patients/{queue_data.patient_id}")
    entry = page.locator(f'.timeline li[data-ref="attempt:{attempt_id}"]')
    expect(entry.get_by_role("link", name="录音")).to_have_attribute("href", f"/recordings/{stored.id}")
    with session_scope(sqlite_engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
    assert (attempt.direction, attempt.patient_id, attempt.number, attempt.task_id) == (
        "inbound", queue_data.patient_id, "13922223333", None)
    assert attempt.answered_at is not None and attempt.wrapped_up_at is not None
