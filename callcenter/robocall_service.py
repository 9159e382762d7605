"""The robocaller supervisor's side: claim robot-channel tasks, prepare each call, record what came back.

The database queue is the broker: ``queue.claim`` leases a due robot task (call windows, calendar, per-number
caps and the patient's preferred window are checked there), so any number of robocaller processes on any
number of machines can share the work. Prompts are synthesised here, before the job reaches a telephony worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from callcenter import queue
from callcenter.alerts import notify_raised
from callcenter.board_push import BoardPush
from callcenter.call_rules import CallRules
from callcenter.clock import Clock
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Channel, Encounter, Patient, PatientPhone, Recording, Task
from callcenter.ports import Notifier
from callcenter.recording_copies import stored_path
from callcenter.robocall import DialogueConfig
from callcenter.robocall_jobs import CallJob, CallReport
from callcenter.robocall_prompts import Prompt, Prompts, ReminderFacts, ReminderScript
from callcenter.robocall_results import RobotCallRecord, record_robot_call, reminder_appointment
from callcenter.sms.templates import salutation

logger = logging.getLogger(__name__)

PromptSynth = Callable[[Prompt], str]  # a prompt -> the path of its WAV (8 kHz mono), e.g. espeak-ng via a cache


class CallPool(Protocol):
    """The telephony workers (``softphone.robocall_worker_pool.WorkerPool``)."""

    @property
    def capacity(self) -> int: ...

    outstanding: int

    def submit(self, job: CallJob) -> None: ...

    def next_report(self, timeout_s: float) -> CallReport | None: ...


def _age(patient: Patient, today: datetime) -> int | None:
    if patient.birth_date is None:
        return None
    b, t = patient.birth_date, today.date()
    return t.year - b.year - ((t.month, t.day) < (b.month, b.day))


class RobocallService:
    def __init__(self, engine: Engine, rules: CallRules, *, robot: str, hospital_name: str, script: ReminderScript,
                 synth: PromptSynth, uri_for: Callable[[str], str], clock: Clock,
                 config: DialogueConfig | None = None, recordings_dir: Path | None = None,
                 nurse_uri: str = "", speech_locale: str = "", notifier: Notifier | None = None,
                 board_every_s: float = 2.0) -> None:
        self.speech_locale = speech_locale
        # the supervisors' live board follows the campaigns (calls started and finished), at most every few seconds;
        # the run loop flushes what is held back (no timer thread)
        self.notifier = notifier
        self._board = BoardPush(notifier, clock, every_s=board_every_s, trailing=False) if notifier is not None else None
        self.engine, self.rules, self.robot, self.clock = engine, rules, robot, clock
        self.owner = f"robot:{robot}"
        self.hospital_name, self.script, self.synth, self.uri_for = hospital_name, script, synth, uri_for
        self.config = config or DialogueConfig(transfer_available=bool(nurse_uri))
        self.recordings_dir, self.nurse_uri = recordings_dir, nurse_uri
        self.tz = ZoneInfo(rules.timezone)

    def next_job(self) -> CallJob | None:
        """Lease the next robot task that may be called now and prepare its call; None when there is none."""
        now = self.clock.now()
        claim = queue.claim(self.engine, owner=self.owner, now=now, rules=self.rules, channel=Channel.robot_call)
        if claim is None:
            return None
        with session_scope(self.engine) as session:
            queue.mark_in_call(session, claim.task_id, owner=self.owner, now=now)
            task = session.get(Task, claim.task_id)
            patient = session.get(Patient, claim.patient_id)
            phone = session.get(PatientPhone, claim.phone_id) if claim.phone_id else None
            assert task is not None and patient is not None and phone is not None
            appointment = reminder_appointment(session, task, now)
            if appointment is not None:
                local = appointment.scheduled_for.astimezone(self.tz)
                department, place = appointment.department or "门诊", appointment.place
                date_text, time_text = f"{local.month}月{local.day}日", f"{local:%H:%M}"
            else:
                encounter = session.get(Encounter, task.anchor_encounter_id) if task.anchor_encounter_id else None
                department, place, time_text = (encounter.department if encounter else "") or "门诊", "", ""
                due = task.due_at.astimezone(self.tz)
                date_text = f"{due.month}月{due.day}日"
            facts = ReminderFacts(hospital=self.hospital_name, salutation=salutation(patient.name, str(patient.sex)),
                                  department=department, date_text=date_text, time_text=time_text, place=place,
                                  age_years=_age(patient, now))
            attempt = CallAttempt(task_id=task.id, patient_id=patient.id or 0, phone_id=phone.id, number=phone.number,
                                  robot=self.robot, started_at=now)
            session.add(attempt)
            session.flush()
            attempt_id, number = attempt.id, phone.number
        prompts = Prompts(facts, self.script)
        wavs = {p.key: self.synth(p) for p in prompts.all()}
        record = None
        if self.recordings_dir is not None:
            record = str(self.recordings_dir / f"{now.astimezone(self.tz):%Y%m%d}" / f"robot-attempt-{attempt_id}.wav")
        logger.info("robot=%s task=%s attempt=%s prepared", self.robot, claim.task_id, attempt_id)
        return CallJob(job_id=f"attempt-{attempt_id}", task_id=claim.task_id, attempt_id=attempt_id,
                       uri=self.uri_for(number), facts=facts, script=self.script, prompt_wavs=wavs,
                       config=self.config, record_path=record, nurse_uri=self.nurse_uri,
                       speech_locale=self.speech_locale)

    def record(self, report: CallReport) -> RobotCallRecord:
        """Write one finished call: attempt times and SIP id, the recording, then the outcome and follow-up; the
        alerts its answers raised are announced to the doctors' inbox (when a notifier is configured)."""
        now = self.clock.now()
        with session_scope(self.engine) as session:
            attempt = session.get(CallAttempt, report.attempt_id) if report.attempt_id else None
            if attempt is not None:
                attempt.sip_call_id = report.sip_call_id[:200]
                attempt.ended_at = attempt.started_at + timedelta(seconds=report.duration_s)
                if report.answered_after_s is not None:
                    attempt.answered_at = attempt.started_at + timedelta(seconds=report.answered_after_s)
                session.add(attempt)
                path = Path(report.recording_path) if report.recording_path else None
                if path is not None and path.is_file():  # stored like the nurses' calls: relative to the folder
                    stored = stored_path(path, self.recordings_dir) if self.recordings_dir else str(path.resolve())
                    if not report.recording_sha256:
                        logger.warning("robot=%s attempt=%s: recording reported without checksum (unfinished)",
                                       self.robot, attempt.id)
                    # length and SHA-256 of the finished file, from the worker's recorder thread
                    session.add(Recording(attempt_id=attempt.id, path=stored, created_at=now,
                                          duration_s=report.recording_duration_s or report.duration_s,
                                          sha256=report.recording_sha256))  # its browser copy: recording_copies
            record = record_robot_call(session, report.task_id, report.result, robot=self.robot, now=now,
                                       rules=self.rules, hospital_name=self.hospital_name,
                                       attempt_id=report.attempt_id)
        if self.notifier is not None:  # after the commit: the inboxes that reload read the new alerts
            notify_raised(self.notifier, record.alerts, task_id=report.task_id)
        return record

    def board_changed(self, task_id: int) -> None:
        """A robot call started or ended: tell the board (throttled; ``flush_board`` sends what was held back)."""
        if self._board is not None:
            self._board.changed(task_id)

    def flush_board(self) -> None:
        if self._board is not None:
            self._board.flush()

    def run(self, pool: CallPool, stop: threading.Event, *, once: bool = False, idle_s: float = 2.0) -> int:
        """Keep the pool busy until ``stop`` is set (``once``: until no task is left), then let the calls under
        way finish and record them. Returns how many calls were recorded."""
        recorded = 0
        while True:
            exhausted = stop.is_set()
            while not exhausted and pool.outstanding < pool.capacity:
                job = self.next_job()
                if job is None:
                    exhausted = True
                    break
                pool.submit(job)
                self.board_changed(job.task_id)
            self.flush_board()
            if (stop.is_set() or (once and exhausted)) and pool.outstanding == 0:
                if self._board is not None:  # the last word: whatever is held back goes now
                    self._board.last_word()
                return recorded
            if not pool.outstanding:
                stop.wait(idle_s)
                continue
            report = pool.next_report(timeout_s=idle_s)
            if report is None:
                continue
            try:
                self.record(report)
                recorded += 1
                self.board_changed(report.task_id)
            except Exception:
                logger.exception("robot=%s could not record task=%s; its lease will expire and it returns",
                                 self.robot, report.task_id)
