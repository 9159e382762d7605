"""The robocaller supervisor without telephony: claiming robot tasks with leases, the job it prepares (facts,
prompts for every step, dial URI), recording reports, and the run loop (capacity, once, draining on stop)."""

from __future__ import annotations

import threading
from collections import deque
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from callcenter import questionnaires
from callcenter.call_rules import CallRules
from callcenter.clock import FrozenClock
from callcenter.db import session_scope
from callcenter.models import (
    Alert,
    Appointment,
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
from callcenter.robocall import CallResult, FollowUp, RecordedAnswer
from callcenter.robocall_jobs import CallJob, CallReport
from callcenter.robocall_prompts import OLDEST_RATE_WPM, Prompt, reminder_script_from
from callcenter.robocall_service import RobocallService
from scripts_questionnaires.loader import load_script

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
LIBRARY = Path(__file__).resolve().parents[2] / "scripts_questionnaires" / "library"
CONFIRMED = CallResult("completed", FollowUp.close, (RecordedAnswer("decision", "confirm", "dtmf", "1"),))


class FakePool:
    """Answers every job at once with a scripted result; keeps at most ``capacity`` jobs."""

    def __init__(self, capacity: int, result: CallResult = CONFIRMED) -> None:
        self.capacity = capacity
        self.outstanding = 0
        self.jobs: list[CallJob] = []
        self.max_seen = 0
        self._done: deque[CallReport] = deque()
        self.result = result

    def submit(self, job: CallJob) -> None:
        self.jobs.append(job)
        self.outstanding += 1
        self.max_seen = max(self.max_seen, self.outstanding)
        self._done.append(CallReport(job.job_id, job.task_id, job.attempt_id, self.result, "fake",
                                     sip_call_id=f"sip-{job.job_id}", answered_after_s=3.0, duration_s=40.0))

    def next_report(self, timeout_s: float) -> CallReport | None:
        if not self._done:
            return None
        self.outstanding -= 1
        return self._done.popleft()


def _world(engine: Engine, tasks: int, *, birth: date | None = None, library: bool = False) -> list[int]:
    """``library``: publish the real recall-reminder script (its alert rules), else a bare version row."""
    ids = []
    with session_scope(engine) as s:
        seed_outcomes(s)
        if library:
            recall = LIBRARY / "recall_reminder.yaml"
            questionnaires.publish(s, recall.read_text(encoding="utf-8"), str(recall))
        else:
            s.add(Questionnaire(key="recall-reminder", version=1, status=QuestionnaireStatus.published))
        plan = FollowUpPlan(key="revisit", name="复诊提醒", questionnaire_key="recall-reminder",
                            channel=Channel.robot_call)
        nurse_plan = FollowUpPlan(key="nurse", name="护士随访", questionnaire_key="x")
        s.add(plan)
        s.add(nurse_plan)
        s.flush()
        for n in range(tasks):
            patient = Patient(name=f"赵{n}", sex=Sex.female, mrn=f"s{n}", birth_date=birth)
            s.add(patient)
            s.flush()
            assert patient.id is not None
            s.add(PatientPhone(patient_id=patient.id, number=f"1370000{n:04d}", kind="mobile"))
            task = Task(patient_id=patient.id, plan_id=plan.id, point="d7", channel=Channel.robot_call,
                        status=TaskStatus.due, due_at=NOW)
            s.add(task)
            s.flush()
            assert task.id is not None
            ids.append(task.id)
            s.add(Appointment(patient_id=patient.id, task_id=task.id, department="内分泌科", place="2号楼",
                              scheduled_for=NOW + timedelta(days=2, hours=-1)))
        # a nurse-channel task is never taken by the robot
        s.add(Task(patient_id=patient.id, plan_id=nurse_plan.id, point="d30", status=TaskStatus.due, due_at=NOW))
    return ids


def _service(engine: Engine, synthesised: list[Prompt], **kwargs: Any) -> RobocallService:
    def synth(prompt: Prompt) -> str:
        synthesised.append(prompt)
        return f"/prompts/{prompt.key}.wav"

    script = reminder_script_from(load_script(LIBRARY / "recall_reminder.yaml"))
    return RobocallService(engine, CallRules(), robot="r9", hospital_name="示例医院", script=script, synth=synth,
                           uri_for=lambda number: f"sip:{number}@pbx.test", **{"clock": FrozenClock(NOW), **kwargs})


class BoardRecorder:
    def __init__(self) -> None:
        self.pushed: list[tuple[str, dict[str, Any], str]] = []

    def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        self.pushed.append((event, payload, room))


def test_the_live_board_hears_of_robot_calls_at_most_every_few_seconds(sqlite_engine: Engine) -> None:
    clock, board = FrozenClock(NOW), BoardRecorder()
    service = _service(sqlite_engine, [], clock=clock, notifier=board, board_every_s=2.0)
    service.board_changed(1)
    service.board_changed(2)  # within the interval: held back
    clock.advance(timedelta(seconds=1))
    service.flush_board()
    assert board.pushed == [("queue_changed", {"task_id": 1}, "supervisors")]
    clock.advance(timedelta(seconds=1.5))
    service.flush_board()
    service.flush_board()  # nothing more to tell
    assert board.pushed == [("queue_changed", {"task_id": 1}, "supervisors"),
                            ("queue_changed", {"task_id": 2}, "supervisors")]


def test_a_campaign_run_ends_with_the_board_told_its_last_change(engine: Engine) -> None:
    _world(engine, 3)
    board = BoardRecorder()
    _service(engine, [], notifier=board).run(FakePool(capacity=2), threading.Event(), once=True, idle_s=0.01)
    assert board.pushed and all(e == "queue_changed" and r == "supervisors" for e, _, r in board.pushed)
    assert len(board.pushed) == 2  # the first change at once; the rest (same instant) in one last word


def test_job_carries_the_patients_facts_every_prompt_and_the_dial_uri(engine: Engine) -> None:
    (task_id,) = _world(engine, 1, birth=date(1940, 5, 1))
    prompts: list[Prompt] = []
    job = _service(engine, prompts).next_job()
    assert job is not None and job.task_id == task_id
    assert job.uri == "sip:13700000000@pbx.test"
    assert (job.facts.salutation, job.facts.department, job.facts.date_text, job.facts.time_text,
            job.facts.place, job.facts.age_years) == ("赵女士", "内分泌科", "11月27日", "09:00", "2号楼", 86)
    keys = {p.key for p in prompts}
    assert {"greeting", "reminder", "confirm_notice", "sorry_decision", "wrong_person"} <= keys
    assert set(job.prompt_wavs) == keys and all(p.rate_wpm == OLDEST_RATE_WPM for p in prompts)
    with Session(engine) as s:
        task = s.get(Task, task_id)
        attempt = s.exec(select(CallAttempt)).one()
    assert task is not None and (task.status, task.lease_owner) == (TaskStatus.in_call, "robot:r9")
    assert (attempt.id, attempt.robot, attempt.number) == (job.attempt_id, "r9", "13700000000")


def test_run_keeps_the_pool_full_records_every_call_and_stops_when_none_is_left(engine: Engine) -> None:
    ids = _world(engine, 5)
    pool = FakePool(capacity=2)
    recorded = _service(engine, []).run(pool, threading.Event(), once=True, idle_s=0.01)
    assert recorded == 5 and len(pool.jobs) == 5 and pool.max_seen == 2
    with Session(engine) as s:
        statuses = {t.id: t.status for t in s.exec(select(Task)).all()}
        attempts = s.exec(select(CallAttempt)).all()
    assert all(statuses[i] is TaskStatus.completed for i in ids)
    assert TaskStatus.due in statuses.values()  # the nurse-channel task is untouched
    assert all(a.outcome_code == "completed" and a.sip_call_id.startswith("sip-attempt-") for a in attempts)
    assert all(a.answered_at == a.started_at + timedelta(seconds=3) for a in attempts)


def test_stop_takes_no_new_task_but_records_the_calls_under_way(sqlite_engine: Engine) -> None:
    _world(sqlite_engine, 4)
    stop = threading.Event()

    class StoppingPool(FakePool):
        def submit(self, job: CallJob) -> None:
            super().submit(job)
            stop.set()  # the operator stops the robocaller while the first calls are dialling

    pool = StoppingPool(capacity=2)
    assert _service(sqlite_engine, []).run(pool, stop, idle_s=0.01) == 2
    with Session(sqlite_engine) as s:
        due = s.exec(select(Task).where(Task.status == TaskStatus.due, Task.channel == Channel.robot_call)).all()
    assert len(due) == 2


@pytest.mark.parametrize("hour", [7, 12, 21])
def test_no_task_is_claimed_outside_the_call_windows(sqlite_engine: Engine, hour: int) -> None:
    _world(sqlite_engine, 1)
    service = _service(sqlite_engine, [])
    service.clock = FrozenClock(NOW.replace(hour=hour))
    assert service.next_job() is None


def test_an_alert_raised_by_a_robot_calls_answers_reaches_the_doctors_inbox_live(engine: Engine) -> None:
    (task_id,) = _world(engine, 1, library=True)
    declined = CallResult("refused", FollowUp.stop, (RecordedAnswer("decision", "decline", "dtmf", "3"),
                                                     RecordedAnswer("decline_reason", "other", "dtmf", "4")),
                          "机器人外呼：患者表示不再复诊（其他原因）")
    board = BoardRecorder()
    _service(engine, [], notifier=board).run(FakePool(capacity=1, result=declined), threading.Event(), once=True,
                                             idle_s=0.01)
    with Session(engine) as s:
        alert = s.exec(select(Alert)).one()
    assert alert.rule_id == "declined_revisit"
    told = [(room, payload) for event, payload, room in board.pushed if event == "alert"]
    payload = {"alert_id": alert.id, "rule_id": "declined_revisit", "task_id": task_id, "severity": "medium"}
    assert told == [("supervisors", payload), ("doctors", payload)]
