"""Robot reminder calls for real: robocall worker processes (pjsua2) call baresip patients on 127.0.0.1 who
answer with DTMF 1/2/3/0, stay silent, hang up early, or are a voicemail; each call ends in the right outcome
and follow-up in the database."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from callcenter import disclosure, scheduler, users
from callcenter.call_rules import CallRules
from callcenter.clock import FrozenClock
from callcenter.db import session_scope
from callcenter.models import (
    Answer,
    CallAttempt,
    Channel,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Questionnaire,
    QuestionnaireStatus,
    Recording,
    Role,
    Sex,
    Task,
    TaskStatus,
)
from callcenter.outcomes import seed_outcomes
from callcenter.robocall import DialogueConfig
from callcenter.robocall_jobs import CallProgress
from callcenter.robocall_prompts import Prompt, reminder_script_from
from callcenter.robocall_service import RobocallService
from callcenter.settings import Settings
from scripts_questionnaires.loader import load_script
from softphone.config import PhoneConfig
from softphone.robocall_worker_pool import WorkerPool
from softphone.wav import sha256_file, wav_duration_s
from tests.softphone.peers import Baresip, free_port_run, speech_wav

pytestmark = [pytest.mark.sip, pytest.mark.slow]

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
LIBRARY = Path(__file__).resolve().parents[2] / "scripts_questionnaires" / "library"
# quick dialogue timings for tests (the events decide, these only bound how long silence lasts)
CONFIG = DialogueConfig(screening_s=0.5, no_input_s=2.0, max_reprompts=1)


def tone_synth(directory: Path, seconds: dict[str, float] | None = None) -> Callable[[Prompt], str]:
    """A short tone per prompt (what is said does not matter to DTMF answers; TTS has its own tests), or as long
    as ``seconds`` says for some prompt keys."""
    directory.mkdir(parents=True, exist_ok=True)

    def synth(prompt: Prompt) -> str:
        out = directory / f"{prompt.key}.wav"
        if not out.exists():
            length = (seconds or {}).get(prompt.key, 0.6)
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(out), "synth", str(length), "sine",
                            "600", "vol", "0.3"], check=True)
        return str(out)

    return synth


@pytest.fixture(scope="module")
def silence_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audio") / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(out), "trim", "0", "5"], check=True)
    return out


class Patients:
    """Tasks for baresip patients; each patient presses keys when a given prompt has finished (``"KEY"``) or
    has just started (``"during:KEY"``: an answer over the prompt, barge-in)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_task: dict[int, tuple[Baresip, dict[str, str]]] = {}
        self.uris: dict[str, str] = {}
        self.progress: list[CallProgress] = []
        with session_scope(engine) as s:
            seed_outcomes(s)
            s.add(Questionnaire(key="recall-reminder", version=1, status=QuestionnaireStatus.published))
            plan = FollowUpPlan(key="revisit", name="复诊提醒", questionnaire_key="recall-reminder",
                                channel=Channel.robot_call, max_attempts=3)
            s.add(plan)
            s.flush()
            self.plan_id = plan.id

    def add(self, baresip: Baresip, keys: dict[str, str]) -> int:
        n = len(self.by_task) + 1
        number = f"1380013{n:04d}"
        with session_scope(self.engine) as s:
            patient = Patient(name=f"王{n}", sex=Sex.male, mrn=f"sip{n}")
            s.add(patient)
            s.flush()
            assert patient.id is not None
            s.add(PatientPhone(patient_id=patient.id, number=number, kind="mobile"))
            task = Task(patient_id=patient.id, plan_id=self.plan_id, point=f"d{n}", channel=Channel.robot_call,
                        status=TaskStatus.due, due_at=NOW, questionnaire_key="recall-reminder")
            s.add(task)
            s.flush()
            assert task.id is not None
            self.by_task[task.id] = (baresip, keys)
        self.uris[number] = baresip.uri
        return task.id

    def on_progress(self, progress: CallProgress) -> None:
        self.progress.append(progress)
        baresip, keys = self.by_task[progress.task_id]
        trigger = {"prompt_done": progress.detail, "prompt_started": f"during:{progress.detail}"}.get(progress.kind)
        if trigger in keys:
            action = keys[trigger]
            if action == "hangup":
                baresip.command("hangup")
            else:
                baresip.command("sndcode", action)


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Callable[[Path], Baresip]]:
    started: list[Baresip] = []

    def start(wav: Path) -> Baresip:
        b = Baresip(tmp_path, wav).start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def _run(engine: Engine, patients: Patients, tmp_path: Path, workers: int, calls_per_worker: int,
         synth: Callable[[Prompt], str] | None = None, recordings: Path | None = None) -> int:
    script = reminder_script_from(load_script(LIBRARY / "recall_reminder.yaml"))
    recordings = recordings or tmp_path / "rec"
    service = RobocallService(engine, CallRules(), robot="r1", hospital_name="示例医院", script=script,
                              synth=synth or tone_synth(tmp_path / "prompts"), uri_for=patients.uris.__getitem__,
                              clock=FrozenClock(NOW), config=CONFIG, recordings_dir=recordings)
    pool = WorkerPool(PhoneConfig(bind_port=free_port_run(workers), recordings_dir=str(recordings)), workers=workers,
                      calls_per_worker=calls_per_worker, on_progress=patients.on_progress)
    pool.start()
    try:
        return service.run(pool, threading.Event(), once=True, idle_s=1.0)
    finally:
        pool.stop()


def _task(engine: Engine, task_id: int) -> Task:
    with Session(engine) as s:
        task = s.get(Task, task_id)
        assert task is not None
        return task


def _outcome(engine: Engine, task_id: int) -> str | None:
    with Session(engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.task_id == task_id)).one()
        return attempt.outcome_code


def test_patients_answer_by_keys_silence_and_hang_up(sqlite_engine: Engine, tmp_path: Path, silence_wav: Path,
                                                     peers: Callable[[Path], Baresip]) -> None:
    patients = Patients(sqlite_engine)
    confirm = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "1"})
    reschedule = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "2", "reschedule_when": "1"})
    decline = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "3", "decline_reason": "2"})
    nurse = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "0"})
    silent = patients.add(peers(silence_wav), {})
    hangs_up = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "hangup"})

    assert _run(sqlite_engine, patients, tmp_path, workers=2, calls_per_worker=3) == 6

    assert _task(sqlite_engine, confirm).status is TaskStatus.completed
    assert _outcome(sqlite_engine, confirm) == "completed"
    moved = _task(sqlite_engine, reschedule)
    assert (moved.status, moved.channel) == (TaskStatus.callback, Channel.nurse_call)
    assert _task(sqlite_engine, decline).status is TaskStatus.cancelled
    assert _outcome(sqlite_engine, decline) == "refused"
    assert _task(sqlite_engine, nurse).channel is Channel.nurse_call
    assert _outcome(sqlite_engine, silent) == "no_answer"
    assert _task(sqlite_engine, silent).status is TaskStatus.planned  # the robot tries again later
    assert _outcome(sqlite_engine, hangs_up) == "hung_up"
    with Session(sqlite_engine) as s:
        answers = {(a.item_id, a.value, a.source) for a in s.exec(select(Answer)).all()}
        attempts = s.exec(select(CallAttempt)).all()
    assert {("decision", "confirm", "dtmf"), ("reschedule_when", "next_week", "dtmf"),
            ("decision", "decline", "dtmf"), ("decline_reason", "recovered", "dtmf"),
            ("decision", "nurse", "dtmf")} <= answers
    assert all(a.robot == "r1" and a.sip_call_id and a.answered_at for a in attempts)


def test_keys_pressed_during_long_prompts_cut_them_short_barge_in(
        sqlite_engine: Engine, tmp_path: Path, silence_wav: Path, peers: Callable[[Path], Baresip]) -> None:
    patients = Patients(sqlite_engine)
    confirm = patients.add(peers(silence_wav), {"during:greeting": "1", "during:reminder": "1"})
    synth = tone_synth(tmp_path / "long-prompts", {"greeting": 8.0, "reminder": 8.0})

    assert _run(sqlite_engine, patients, tmp_path, workers=1, calls_per_worker=1, synth=synth) == 1

    assert _outcome(sqlite_engine, confirm) == "completed"
    times = {(p.kind, p.detail): p.at_s for p in patients.progress}
    for key in ("greeting", "reminder"):  # each 8 s prompt ended at the key press, not at its end
        assert times[("prompt_done", key)] - times[("prompt_started", key)] < 4.0, key
    assert ("prompt_done", "confirm_notice") in times  # what followed the cut prompts was played in full


def test_voicemail_greeting_at_pick_up_is_recorded_as_voicemail(
    sqlite_engine: Engine, tmp_path: Path, peers: Callable[[Path], Baresip]
) -> None:
    greeting = speech_wav("The person you are calling is not available. Please leave a message after the tone. "
                          "Thank you for calling.", 12, "voicemail-greeting")
    patients = Patients(sqlite_engine)
    task_id = patients.add(peers(greeting), {})
    assert _run(sqlite_engine, patients, tmp_path, workers=1, calls_per_worker=1) == 1
    assert _outcome(sqlite_engine, task_id) == "voicemail"


def test_a_robot_calls_recording_is_filed_under_the_recordings_folder_and_the_scheduler_makes_its_copy(
        engine: Engine, tmp_path: Path, silence_wav: Path, peers: Callable[[Path], Baresip],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # CALLCENTER_RECORDINGS_DIR as shipped: "recordings", relative to the process
    settings = Settings(recordings_dir="recordings", data_dir=str(tmp_path / "var"))
    patients = Patients(engine)
    task_id = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "1"})
    assert _run(engine, patients, tmp_path, workers=1, calls_per_worker=1, recordings=settings.recordings_path) == 1
    with session_scope(engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.task_id == task_id)).one()
        row = s.exec(select(Recording).where(Recording.attempt_id == attempt.id)).one()
        recording_id, stored = row.id, row.path
        supervisor = users.create_user(s, username="sup", password="correct-horse-1", role=Role.supervisor,
                                       display_name="护士长")
    assert recording_id is not None
    assert stored.startswith(NOW.strftime("%Y%m%d") + "/") and stored.endswith(".wav")  # relative to the folder
    wav = settings.recordings_path / stored
    before = sha256_file(wav)
    then = time.time() - 60  # the scheduler's next sweep, a minute later
    os.utime(wav, (then, then))

    rt = scheduler.Runtime(engine=engine, settings=settings, rules=CallRules())
    assert scheduler.recording_copies(rt, NOW) == 1
    with session_scope(engine) as s:
        found = disclosure.recording_for_playback(s, recording_id, supervisor, at=NOW,
                                                  recordings_root=settings.recordings_path, compressed=True)
        wav_found = disclosure.recording_for_playback(s, recording_id, supervisor, at=NOW,
                                                      recordings_root=settings.recordings_path)
    assert found.path.resolve() == wav.with_suffix(".mp3").resolve() and found.mimetype == "audio/mpeg"
    assert wav_found.path.resolve() == wav.resolve() and wav_found.mimetype == "audio/wav"
    assert sha256_file(wav) == before
    assert scheduler.recording_copies(rt, NOW) == 0  # done once


def test_a_robot_calls_recording_row_carries_the_finished_files_checksum_and_length(
        engine: Engine, tmp_path: Path, silence_wav: Path, peers: Callable[[Path], Baresip]) -> None:
    """Issue #5: every call has a recording row with duration and checksum, robot calls too."""
    patients = Patients(engine)
    task_id = patients.add(peers(silence_wav), {"greeting": "1", "reminder": "1"})
    recordings = tmp_path / "rec"
    assert _run(engine, patients, tmp_path, workers=1, calls_per_worker=1, recordings=recordings) == 1
    with session_scope(engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.task_id == task_id)).one()
        row = s.exec(select(Recording).where(Recording.attempt_id == attempt.id)).one()
        stored, sha256, duration_s = row.path, row.sha256, row.duration_s
        assert attempt.answered_at is not None and attempt.ended_at is not None
        talk_s = (attempt.ended_at - attempt.answered_at).total_seconds()
    wav = recordings / stored
    assert sha256 == sha256_file(wav)  # the file as finished: its header final, nothing written after
    assert duration_s == pytest.approx(wav_duration_s(wav), abs=0.001)  # the audio's length, not the call's
    assert 1.0 < duration_s <= talk_s + 0.5
