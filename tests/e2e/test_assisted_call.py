"""The assisted call end to end: Chromium (Playwright) on the live server, the real softphone agent
(`callcenter softphone` subprocess: pjsua2, the ASR worker pool with the Korean Vosk model, a synthetic voice
reading each question), and a real patient simulator (`callcenter patient-sim --persona ko-test`) on 127.0.0.1.

The nurse logs in, opens the queue, calls the patient, sees the transcript and the proposed answer appear,
accepts it with Enter, finishes the questionnaire, hangs up and chooses "completed"; the task is closed, the
answers stored with provenance, and the call's recording plays in the browser.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy.engine import Engine
from sqlmodel import select

from callcenter import questionnaires
from callcenter.commands import demo_line
from callcenter.db import session_scope
from callcenter.models import Answer, CallAttempt, Patient, PatientPhone, Recording, Task, TaskStatus
from callcenter.settings import Settings
from callcenter.tasks import queue_rank
from tests.e2e.agent_process import softphone_agent, wait

pytestmark = [pytest.mark.browser, pytest.mark.sip, pytest.mark.speech, pytest.mark.slow]

KOREAN_NUMBER = "13900005501"


@pytest.fixture
def korean_task(sqlite_engine: Engine, clock: Any, staff: Any) -> int:
    now = clock.now()
    with session_scope(sqlite_engine) as s:
        questionnaires.publish_library(s)
        patient = Patient(name="김민수", language="ko-KR", source_system="demo", mrn="KO-1")
        s.add(patient)
        s.flush()
        s.add(PatientPhone(patient_id=patient.id or 0, number=KOREAN_NUMBER))
        task = Task(patient_id=patient.id or 0, point="speech-demo", questionnaire_key="ko-test",
                    status=TaskStatus.due, due_at=now - timedelta(hours=1), team_id=staff["nurse"].team_id,
                    priority=90, reason="수술 후 통증")
        task.queue_rank = queue_rank(task, now)
        s.add(task)
        s.flush()
        return task.id or 0


@pytest.fixture
def simulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[demo_line.Simulator]:
    persona = "ko-test"
    if getattr(request, "param", "") == "hangs_up":
        persona = str(tmp_path / "ko-hangs-up.yaml")
        (tmp_path / "ko-hangs-up.yaml").write_text(KO_HANGS_UP, encoding="utf-8")
    sims = demo_line.start_simulators((persona,))
    yield sims[0]
    demo_line.stop_simulators(sims)
    if sims[0].process.stdout is not None:  # its call summaries (what it heard and said): shown when a test fails
        print("patient simulator:", sims[0].process.stdout.read())


@pytest.fixture
def agent(live_server: Any, live_app: Any, settings: Settings, sqlite_engine: Engine, staff: Any,
          simulator: demo_line.Simulator, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    plan = tmp_path / "dial-plan.json"
    plan.write_text(json.dumps({KOREAN_NUMBER: simulator.uri}), encoding="utf-8")
    with softphone_agent(live_server, live_app, settings, sqlite_engine, staff["nurse"].id, "--dial-plan", str(plan),
                         "--speak-questions") as proc:
        yield proc


def test_nurse_calls_a_simulated_patient_accepts_the_spoken_answer_and_completes(
        new_page, ui, agent, korean_task, sqlite_engine, settings):
    page = new_page()
    ui.login(page, "nurse")
    ui.open_task_from_queue(page, korean_task)  # claim and open the call screen
    expect(page.locator("#question")).to_have_attribute("data-item-id", "pain")
    expect(page.locator("#dial")).to_be_enabled()
    page.click("#dial")
    expect(page.locator("#form-column")).not_to_have_attribute("data-attempt-id", "")
    # The patient's "여보세요?" is heard first (against the first question's grammar: a low-confidence proposal);
    # then the synthetic voice asks, the simulated patient answers "네 아파요", Vosk (ko) hears it, and the
    # proposal follows that answer.
    proposal = page.locator("#proposal-value")
    expect(proposal).not_to_be_empty(timeout=60_000)
    first = proposal.text_content()
    page.wait_for_function("() => document.querySelectorAll('#transcript li').length >= 2", timeout=60_000)
    expect(proposal).not_to_have_text(first or "", timeout=30_000)
    expect(page.locator("#answer-form button.proposed")).to_have_count(1)
    ui.screenshot(page, "workspace-assisted-call.png")
    page.locator("body").press("Enter")  # accept the proposal (yes, or no when the recogniser misheard)
    expect(page.locator("#question")).not_to_have_attribute("data-item-id", "pain")
    if page.locator("#question").get_attribute("data-item-id") == "pain_score":
        page.fill("#answer-value", "7")  # the nurse types the rest (numbers are weak on 8 kHz espeak speech)
        page.locator("#answer-value").press("Enter")
    for item in ("fever", "medication"):
        expect(page.locator("#question")).to_have_attribute("data-item-id", item)
        page.click(f'#answer-form button[value="{"no" if item == "fever" else "yes"}"]')
    expect(page.locator("#guided-form")).to_contain_text("问卷已答完")
    page.click('.call-control[data-command="hangup"]')
    expect(page.locator("#call-state")).to_have_attribute("data-state", "disconnected", timeout=20_000)
    page.select_option("#outcome", "completed")
    page.uncheck("#wrap-up-next")
    page.click("#wrap-up-submit")

    with session_scope(sqlite_engine) as s:
        task = s.get(Task, korean_task)
        attempt = s.exec(select(CallAttempt).where(CallAttempt.task_id == korean_task)).one()
        answers = {a.item_id: a for a in s.exec(select(Answer)).all()}
        assert task is not None and task.status == TaskStatus.completed
        assert attempt.outcome_code == "completed" and attempt.answered_at is not None
    assert answers["pain"].source == "asr" and answers["pain"].confidence is not None
    assert answers["pain"].audio_t0_s is not None
    assert {answers[i].source for i in ("fever", "medication")} == {"nurse"}

    def recording() -> Recording | None:
        with session_scope(sqlite_engine) as s:
            return s.exec(select(Recording).where(Recording.attempt_id == attempt.id)).first()

    assert wait(lambda: recording() is not None, 30), "the agent did not report the call's recording"
    rec = recording()
    assert rec is not None and rec.duration_s > 1.0
    assert (Path(settings.recordings_dir) / rec.path).is_file()
    page.goto(f"{ui.base_url}/recordings/{rec.id}")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    assert page.evaluate("() => document.getElementById('player').duration") > 1.0
    page.evaluate("() => { const a = document.getElementById('player'); a.muted = true; return a.play(); }")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.05")


# The hang-up persona of the shipped set (zh-hangs-up) speaks Mandarin, for which no model can be installed offline
# here; this one is its Korean twin (same hang_up rule), so the answer before the hang-up is proposed from speech.
KO_HANGS_UP = """
title: 박지훈, 48세, 회의 중에 전화를 받음
language: ko-KR
questionnaire: ko-test
seed: 11
greeting: 여보세요?
think_ms: [300, 600]
hang_up: {after_turn: 1, phrase: 지금 회의 중이라 나중에 다시 전화 주세요.}
answers:
  pain: {say: 네 아파요, value: yes}
  pain_score: {say: 칠 점, value: 7}
  fever: {say: 아니요 없어요, value: no}
  medication: {say: 네 잘 먹고 있어요, value: yes}
"""


@pytest.mark.parametrize("simulator", ["hangs_up"], indirect=True)
def test_patient_hangs_up_midway_partial_outcome_keeps_answers_and_schedules_a_callback(
        new_page, ui, agent, korean_task, sqlite_engine, clock):
    page = new_page()
    ui.login(page, "nurse")
    page.goto(f"{ui.base_url}/workspace/queue")
    ui.open_task_from_queue(page, korean_task)
    expect(page.locator("#dial")).to_be_enabled()
    page.click("#dial")
    expect(page.locator("#form-column")).not_to_have_attribute("data-attempt-id", "")
    # The patient answers "네 아파요" and hangs up at once. Usually her answer is proposed from speech and the
    # nurse accepts it with Enter; when the hang-up follows too closely the recogniser can lose that last
    # utterance with the stream (a known gap, see docs/speech.md), and the nurse records what she heard herself.
    # Either way the confirmed answer must survive the hang-up. (Proposals are the happy path's subject.)
    page.wait_for_function(
        "() => document.querySelector('#answer-form button.proposed') !== null"
        " || document.querySelector('#call-state')?.dataset.state === 'disconnected'", timeout=90_000)
    if page.locator("#answer-form button.proposed").count() == 1:
        source = "asr"
        page.locator("body").press("Enter")  # the one answer she got is confirmed (and kept)
    else:
        source = "nurse"
        page.click('#answer-form button[value="yes"]')
    expect(page.locator("#question")).not_to_have_attribute("data-item-id", "pain")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "disconnected", timeout=60_000)
    callback = (clock.now() + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai")).replace(hour=15, minute=0)
    page.select_option("#outcome", "partial")
    page.fill("#callback_at", callback.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#note", "患者开会中挂断，约明天下午回访")
    page.uncheck("#wrap-up-next")
    page.click("#wrap-up-submit")
    with session_scope(sqlite_engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.task_id == korean_task)).one()
        task = s.get(Task, korean_task)
        answers = s.exec(select(Answer)).all()
        assert attempt.outcome_code == "partial" and attempt.ended_at is not None
        assert task is not None and task.status in (TaskStatus.callback, TaskStatus.planned)
        assert task.next_attempt_at is not None and task.next_attempt_at > clock.now()
    assert [(a.item_id, a.source) for a in answers] == [("pain", source)]
