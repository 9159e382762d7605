"""Recordings and QA: search, one call's transcript / answers / adherence flags, rubric reviews, a failed review's
callback task, audit of every view; in Chromium, clicking a transcript line seeks the recording."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from asr.item_specs import heard_value
from callcenter import audit, qa, scheduler
from callcenter.call_rules import rules_from_settings
from callcenter.commands.wsgi import build_app
from callcenter.db import session_scope
from callcenter.models import (
    AdherenceCheck,
    Answer,
    CallAttempt,
    Encounter,
    FollowUpPlan,
    Patient,
    PatientPhone,
    QaReview,
    Questionnaire,
    Recording,
    Response,
    Task,
    TaskStatus,
    TranscriptSegment,
)
from scripts_questionnaires.engine import Engine
from scripts_questionnaires.model import Script
from tests.web.conftest import AuthActions
from web import Services, create_app

LINES = (("nurse", 0.5, "出院后感觉怎么样"), ("patient", 2.0, "跟以前差不多"), ("nurse", 4.0, "好的我记下了"))


def _stereo_wav(path: Path, seconds: float = 6.0, rate: int = 8000) -> None:
    """Nurse 440 Hz on the left, patient 660 Hz on the right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for n in range(int(seconds * rate)):
        left = int(8000 * math.sin(2 * math.pi * 440 * n / rate))
        right = int(8000 * math.sin(2 * math.pi * 660 * n / rate))
        frames += struct.pack("<hh", left, right)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


@pytest.fixture
def qa_call(sqlite_engine, settings, clock, staff, published_script):
    """A finished call by "nurse" to 张三: recorded (6 s), transcribed; "feeling" confirmed as better although the
    patient said 跟以前差不多 (same), and the required blood-pressure question never asked."""
    _stereo_wav(settings.recordings_path / "qa" / "call.wav")
    now = clock.now()
    with session_scope(sqlite_engine) as s:
        patient = Patient(name="张三", source_system="his", mrn="QA001")
        s.add(patient)
        s.flush()
        s.add(PatientPhone(patient_id=patient.id, number="13800138000"))
        plan = FollowUpPlan(key="cardio", name="心内科出院随访", questionnaire_key="post_discharge")
        encounter = Encounter(patient_id=patient.id, department="心内科", source_system="his", source_id="E1")
        s.add_all([plan, encounter])
        s.flush()
        task = Task(patient_id=patient.id, plan_id=plan.id, anchor_encounter_id=encounter.id, point="d7",
                    questionnaire_key="post_discharge", status=TaskStatus.completed, due_at=now,
                    team_id=staff["nurse"].team_id, closed_at=now)
        s.add(task)
        s.flush()
        attempt = CallAttempt(task_id=task.id, patient_id=patient.id, number="13800138000", user_id=staff["nurse"].id,
                              started_at=now, answered_at=now, ended_at=now, wrapped_up_at=now,
                              outcome_code="completed")
        s.add(attempt)
        s.flush()
        s.add(Recording(attempt_id=attempt.id, path="qa/call.wav", duration_s=6.0))
        for speaker, t0, text in LINES:
            s.add(TranscriptSegment(attempt_id=attempt.id, speaker=speaker, t0_s=t0, t1_s=t0 + 1.2, text=text,
                                    item_id="feeling"))
        engine = Engine(Script.from_dict(s.get(Questionnaire, published_script).compiled))
        run = engine.answer(engine.start(), "feeling", "better")
        response = Response(questionnaire_id=published_script, patient_id=patient.id, task_id=task.id,
                            attempt_id=attempt.id, status="partial", run_state=run.to_dict())
        s.add(response)
        s.flush()
        s.add(Answer(response_id=response.id, item_id="feeling", value="better", text="", source="nurse",
                     confirmed_by_id=staff["nurse"].id))
        return {"attempt_id": attempt.id, "task_id": task.id, "patient_id": patient.id}


def test_search_checks_every_finished_call_and_finds_it_by_patient_nurse_and_flag(client, auth, sqlite_engine,
                                                                                  staff, qa_call):
    auth.login("supervisor")
    body = client.get("/supervisor/qa/?patient=张").get_data(as_text=True)
    assert f'data-attempt-id="{qa_call["attempt_id"]}"' in body and "待复核" in body
    assert "138****8000" in body and "13800138000" not in body
    with session_scope(sqlite_engine) as s:
        check = s.exec(select(AdherenceCheck)).one()
    assert check.flagged and check.missing_items == ["bp"]
    assert check.disagreements == [{"item_id": "feeling", "recorded": "better", "heard": "跟以前差不多",
                                    "heard_value": "same"}]
    for query, found in ((f"nurse={staff['nurse'].id}&flagged=1", True), (f"nurse={staff['nurse2'].id}", False),
                         ("patient=李", False), ("department=心内科&plan=cardio&outcome=completed", True),
                         ("start=2026-11-26", False), ("unreviewed=1", True)):
        body = client.get(f"/supervisor/qa/?{query}").get_data(as_text=True)
        assert (f'data-attempt-id="{qa_call["attempt_id"]}"' in body) is found, query


def test_call_page_shows_transcript_answers_and_flags_and_is_audited(client, auth, sqlite_engine, staff, qa_call):
    auth.login("doctor")
    body = client.get(f"/supervisor/qa/calls/{qa_call['attempt_id']}").get_data(as_text=True)
    assert 'data-t0="2.00"' in body and "跟以前差不多" in body
    assert "必问题未问：<code>bp</code>" in body and "记录为 <b>better</b>" in body
    assert "/recordings/" in body and "/audio" in body
    with session_scope(sqlite_engine) as s:
        views = audit.recent(s, action="qa.view")
    assert [(v.user_id, v.object_id) for v in views] == [(staff["doctor"].id, str(qa_call["attempt_id"]))]


def test_a_passing_review_is_stored_without_a_callback(client, auth, sqlite_engine, qa_call):
    auth.login("supervisor")
    scores = {"score_identity": 10, "score_script": 25, "score_accuracy": 25, "score_communication": 15,
              "score_closing": 5}  # 80 of 100: the pass mark
    client.post(f"/supervisor/qa/calls/{qa_call['attempt_id']}/review",
                data={**scores, "comment": "", "callback": "1", "csrf_token": auth.fresh_csrf()})
    with session_scope(sqlite_engine) as s:
        review = s.exec(select(QaReview)).one()
        assert (review.total, review.max_total, review.passed, review.callback_task_id) == (80, 100, True, None)


def test_a_failed_review_puts_one_callback_task_in_the_team_queue(client, auth, sqlite_engine, staff, clock,
                                                                   qa_call):
    auth.login("supervisor")
    scores = {"score_identity": 10, "score_script": 10, "score_accuracy": 10, "score_communication": 20,
              "score_closing": 10}
    url = f"/supervisor/qa/calls/{qa_call['attempt_id']}/review"
    refused = client.post(url, data={**scores, "callback": "1", "csrf_token": auth.fresh_csrf()})
    assert refused.status_code == 422  # a callback needs a comment saying what to put right
    for _ in range(2):
        client.post(url, data={**scores, "comment": "血压未问，答案记录有误", "callback": "1", "csrf_token": auth.csrf})
    with session_scope(sqlite_engine) as s:
        reviews = s.exec(select(QaReview).order_by(QaReview.id)).all()
        assert [(r.total, r.passed) for r in reviews] == [(60, False), (60, False)]
        assert reviews[0].callback_task_id == reviews[1].callback_task_id is not None
        task = s.get(Task, reviews[0].callback_task_id)
        assert (task.status, task.patient_id, task.team_id, task.due_at) == (
            TaskStatus.due, qa_call["patient_id"], staff["nurse"].team_id, clock.now())
        assert "未通过质检" in task.reason


@pytest.mark.parametrize("bad", ["", "x", "31", "-1"])
def test_a_score_outside_the_rubric_is_refused(client, auth, qa_call, bad):
    auth.login("supervisor")
    scores = {"score_identity": 10, "score_script": bad, "score_accuracy": 30, "score_communication": 20,
              "score_closing": 10}
    response = client.post(f"/supervisor/qa/calls/{qa_call['attempt_id']}/review",
                           data={**scores, "csrf_token": auth.fresh_csrf()})
    assert response.status_code == 422 and "按脚本完整提问" in response.get_data(as_text=True)


def test_nurses_cannot_open_qa(auth_for, qa_call):
    nurse, _ = auth_for("nurse")
    assert nurse.get("/supervisor/qa/").status_code == 403
    assert nurse.get(f"/supervisor/qa/calls/{qa_call['attempt_id']}").status_code == 403


@pytest.mark.browser
def test_supervisor_plays_a_recording_and_a_transcript_line_seeks_it(new_page, ui, qa_call, sqlite_engine, staff):
    page = new_page()
    ui.login(page, "supervisor")
    page.goto(f"{ui.base_url}/supervisor/qa/calls/{qa_call['attempt_id']}")
    page.wait_for_function("document.getElementById('player').readyState >= 1")  # metadata over HTTP Range
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(6.0, abs=0.05)
    page.click('#transcript .line[data-t0="2.00"]')
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 2.0) < 0.5")
    expect(page.locator('#transcript .line[data-t0="2.00"]')).to_have_class("line speaker-patient current")
    page.click('#transcript .line[data-t0="4.00"]')
    page.wait_for_function("document.getElementById('player').currentTime >= 4.0")
    expect(page.locator('#transcript .line[data-t0="4.00"]')).to_have_class("line speaker-nurse current")
    page.check('#channels input[value="patient"]')
    expect(page.locator("#player")).to_have_attribute("data-channel", "patient")
    ui.screenshot(page, "supervisor-qa-call.png")
    with session_scope(sqlite_engine) as s:
        plays = audit.recent(s, action="recording.play")
    assert plays and all(p.user_id == staff["supervisor"].id for p in plays)


def test_the_scheduler_job_checks_every_finished_call_once(sqlite_engine, settings, clock, qa_call):
    rt = scheduler.Runtime(sqlite_engine, settings, rules_from_settings(settings), clock, lock=_NoLock())
    assert scheduler.adherence(rt, clock.now()) == 1
    assert scheduler.adherence(rt, clock.now()) == 0  # already checked
    with session_scope(sqlite_engine) as s:
        assert s.exec(select(AdherenceCheck)).one().flagged


class _NoLock:
    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def test_a_call_that_never_reached_the_questionnaire_is_checked_and_not_flagged(sqlite_engine, clock, staff, qa_call):
    with session_scope(sqlite_engine) as s:
        missed = CallAttempt(patient_id=qa_call["patient_id"], user_id=staff["nurse"].id, started_at=clock.now(),
                             ended_at=clock.now(), wrapped_up_at=clock.now(), outcome_code="no_answer")
        # ended but not wrapped up: its outcome is not known yet
        open_call = CallAttempt(patient_id=qa_call["patient_id"], user_id=staff["nurse"].id, started_at=clock.now(),
                                ended_at=clock.now())
        s.add_all([missed, open_call])
        s.flush()
        assert qa.check_pending(s, now=clock.now()) == 2  # the missed call and qa_call; the open call waits
        checks = {c.attempt_id: c for c in s.exec(select(AdherenceCheck))}
    assert set(checks) == {qa_call["attempt_id"], missed.id}
    assert not checks[missed.id].flagged and checks[missed.id].missing_items == []
    assert checks[qa_call["attempt_id"]].flagged


def test_a_call_cut_short_is_not_blamed_for_questions_left_out(sqlite_engine, clock, qa_call):
    with session_scope(sqlite_engine) as s:
        s.get(CallAttempt, qa_call["attempt_id"]).outcome_code = "hung_up"
        check = qa.check_attempt(s, qa_call["attempt_id"], now=clock.now())
        # "bp" was never asked, but the patient hung up; the contradicted answer is still flagged
        assert check.missing_items == [] and [d["item_id"] for d in check.disagreements] == ["feeling"]
        assert check.flagged


@pytest.fixture
def bp_call(sqlite_engine, clock, staff, published_script):
    """A finished, completed call whose only fault is a blood pressure confirmed as 130/85 while the patient said
    150/95 (一百五十九十五): every question answered, the feeling answer agrees with what she said."""
    now = clock.now()
    with session_scope(sqlite_engine) as s:
        patient = Patient(name="王芳", source_system="his", mrn="QA002")
        s.add(patient)
        s.flush()
        task = Task(patient_id=patient.id, point="d7", questionnaire_key="post_discharge",
                    status=TaskStatus.completed, due_at=now, team_id=staff["nurse"].team_id, closed_at=now)
        s.add(task)
        s.flush()
        attempt = CallAttempt(task_id=task.id, patient_id=patient.id, number="13500135000", user_id=staff["nurse"].id,
                              started_at=now, answered_at=now, ended_at=now, wrapped_up_at=now,
                              outcome_code="completed")
        s.add(attempt)
        s.flush()
        for t0, text, item in ((2.0, "好多了", "feeling"), (6.0, "一百五十九十五", "bp")):
            s.add(TranscriptSegment(attempt_id=attempt.id, speaker="patient", t0_s=t0, t1_s=t0 + 1.5, text=text,
                                    item_id=item))
        engine = Engine(Script.from_dict(s.get(Questionnaire, published_script).compiled))
        bp = {"systolic": 130, "diastolic": 85}
        run = engine.answer(engine.answer(engine.start(), "feeling", "better"), "bp", bp)
        response = Response(questionnaire_id=published_script, patient_id=patient.id, task_id=task.id,
                            attempt_id=attempt.id, status="completed", run_state=run.to_dict())
        s.add(response)
        s.flush()
        for item, value in (("feeling", "better"), ("bp", bp)):
            s.add(Answer(response_id=response.id, item_id=item, value=value, text="", source="nurse",
                         confirmed_by_id=staff["nurse"].id))
        return attempt.id


BP_FLAG = {"item_id": "bp", "recorded": "130/85", "heard": "一百五十九十五", "heard_value": "150/95"}


@pytest.mark.parametrize("first_page", ["call", "search"])
def test_a_contradicted_blood_pressure_opened_on_a_qa_page_first_is_flagged(settings, sqlite_engine, clock, bp_call,
                                                                            first_page):
    # the app as deployed (callcenter serve / gunicorn): the composition root wires the QA pages' reading
    client = build_app(settings, sqlite_engine).test_client()
    AuthActions(client).login("supervisor")
    url = f"/supervisor/qa/calls/{bp_call}" if first_page == "call" else "/supervisor/qa/?flagged=1"
    body = client.get(url).get_data(as_text=True)
    if first_page == "call":
        assert "答案与录音不一致：<code>bp</code> 记录为 <b>130/85</b>" in body and "150/95" in body
    else:
        assert f'data-attempt-id="{bp_call}"' in body  # listed among the calls to review
    with session_scope(sqlite_engine) as s:
        check = s.exec(select(AdherenceCheck).where(AdherenceCheck.attempt_id == bp_call)).one()
    assert check.flagged and check.missing_items == [] and check.disagreements == [BP_FLAG]
    # the scheduler's job, with its own reading, has nothing left to check: the page's check is the same one
    rt = scheduler.Runtime(sqlite_engine, settings, rules_from_settings(settings), clock, lock=_NoLock(),
                           answer_parser=heard_value)
    assert scheduler.adherence(rt, clock.now()) == 0


def test_qa_pages_without_the_speech_reading_store_no_check_and_leave_it_to_the_scheduler(settings, sqlite_engine,
                                                                                           clock, bp_call):
    # an app built without the reading (Services' default): a weaker check must never be the one kept
    app = create_app(settings, Services(engine=sqlite_engine, clock=clock), {"TESTING": True})
    client = app.test_client()
    AuthActions(client).login("supervisor")
    client.get("/supervisor/qa/")
    body = client.get(f"/supervisor/qa/calls/{bp_call}").get_data(as_text=True)
    assert "尚未核查" in body
    with session_scope(sqlite_engine) as s:
        assert s.exec(select(AdherenceCheck).where(AdherenceCheck.attempt_id == bp_call)).first() is None
    rt = scheduler.Runtime(sqlite_engine, settings, rules_from_settings(settings), clock, lock=_NoLock(),
                           answer_parser=heard_value)
    assert scheduler.adherence(rt, clock.now()) == 1
    with session_scope(sqlite_engine) as s:
        check = s.exec(select(AdherenceCheck).where(AdherenceCheck.attempt_id == bp_call)).one()
    assert check.flagged and check.disagreements == [BP_FLAG]
