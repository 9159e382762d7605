"""The scheduler: APScheduler 3.x jobs that plan, release, expire and batch — with one leader at a time.

Jobs are ``"callcenter.scheduler:job_*"`` references with fixed ids (``replace_existing=True``), so any number
of processes may start a scheduler; each run first makes sure this process is the leader — a PostgreSQL
advisory lock held on a dedicated connection, or on SQLite an exclusive ``flock`` on a file next to the
database — and otherwise does nothing. ``run_once(at)`` runs every job for one moment: it is what
``callcenter schedule run-once --at`` and the tests use to drive time.

Robot-call and SMS batches are hooks: ``set_batch_hook("sms", "package.module:function")``; the function is
called as ``fn(engine=…, now=…, settings=…)`` and returns how many items it handled.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from callcenter.adherence import TextParser, phrase_parser
from callcenter.alerts import escalate_overdue
from callcenter.board_push import BoardPush
from callcenter.call_rules import CallRules
from callcenter.clock import Clock, SystemClock
from callcenter.db import is_sqlite, session_scope
from callcenter.errors import Conflict
from callcenter.events import DOCTORS, SUPERVISORS, EventKind
from callcenter.generation import plan_all
from callcenter.outcomes import seed_outcomes
from callcenter.ports import Notifier
from callcenter.qa import check_pending
from callcenter.queue import expire_leases, refresh_overdue, release_due
from callcenter.recording_copies import RecordingCopies
from callcenter.settings import Settings
from callcenter.tasks import overdue_callbacks_to_pool

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x6366_7363_6864  # "cfschd": the scheduler leader lock, one per database
# filled by the robot-call and SMS areas (robot calls are placed by the long-running `callcenter robocaller`)
BATCH_HOOKS: dict[str, str] = {"robot_call": "", "sms": "callcenter.sms.jobs:scheduler_batch"}


class SchedulerBusy(Conflict):
    """Another process is the scheduler leader."""


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class PgAdvisoryLock:
    """A session-level PostgreSQL advisory lock on a connection kept open while this process leads."""

    def __init__(self, engine: Engine, key: int = ADVISORY_LOCK_KEY) -> None:
        self.engine, self.key = engine, key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died and the lock with it
                logger.warning("scheduler lost its database connection; leadership dropped", exc_info=True)
                self._drop()
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            finally:
                conn.close()

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None


class FileLock:
    """An exclusive, non-blocking ``flock`` (SQLite deployments: every process is on the database's host)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def leader_lock_for(engine: Engine) -> LeaderLock:
    if is_sqlite(engine):
        db = engine.url.database or ""
        if not db or db == ":memory:":
            raise SchedulerBusy("the scheduler needs a database file (SQLite :memory: cannot be shared)")
        return FileLock(Path(db + ".scheduler.lock"))
    return PgAdvisoryLock(engine)


@dataclass
class Runtime:
    """What the jobs need; set once per process with ``configure``."""

    engine: Engine
    settings: Settings
    rules: CallRules
    clock: Clock = field(default_factory=SystemClock)
    lock: LeaderLock | None = None
    hooks: dict[str, str] = field(default_factory=lambda: dict(BATCH_HOOKS))
    # how the adherence check reads what the patient said; the composition root passes the speech parser
    answer_parser: TextParser = phrase_parser
    # live pushes to the dashboard (Socket.IO through Redis); None: the pages see changes at their next refresh
    notifier: Notifier | None = None
    # browser copies of recordings still without one (robot calls, failed or dropped copies); built from settings
    recording_copies: RecordingCopies | None = None
    # the supervisors' live board hears of the tasks the jobs release, expire or return (throttled)
    board: BoardPush | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.lock is None:
            self.lock = leader_lock_for(self.engine)
        if self.recording_copies is None:
            self.recording_copies = RecordingCopies(self.engine, self.settings.recordings_path)
        if self.notifier is not None:
            self.board = BoardPush(self.notifier, self.clock)


_runtime: Runtime | None = None


def configure(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise SchedulerBusy("the scheduler is not configured in this process; call scheduler.configure(...)")
    return _runtime


def set_batch_hook(kind: str, ref: str) -> None:
    """Install the function a batch job calls (``"module:function"``)."""
    if kind not in BATCH_HOOKS:
        raise ValueError(f"unknown batch {kind!r}; known: {sorted(BATCH_HOOKS)}")
    BATCH_HOOKS[kind] = ref
    if _runtime is not None:
        _runtime.hooks[kind] = ref


def is_leader(rt: Runtime) -> bool:
    assert rt.lock is not None
    return rt.lock.try_acquire()


# --- job bodies (one transaction each) ------------------------------------------------------------------------------


def daily_planning(rt: Runtime, now: datetime) -> int:
    with session_scope(rt.engine) as s:
        seed_outcomes(s)
        return plan_all(s, now=now, rules=rt.rules).created


def release(rt: Runtime, now: datetime) -> int:
    with session_scope(rt.engine) as s:
        n = release_due(s, now=now)
        refresh_overdue(s, now=now)
        return n


def leases(rt: Runtime, now: datetime) -> int:
    with session_scope(rt.engine) as s:
        return expire_leases(s, now=now)


def callbacks(rt: Runtime, now: datetime) -> int:
    with session_scope(rt.engine) as s:
        return overdue_callbacks_to_pool(s, now=now, rules=rt.rules)


def adherence(rt: Runtime, now: datetime) -> int:
    """The script-adherence check of every finished call not checked yet (callcenter.qa)."""
    with session_scope(rt.engine) as s:
        return check_pending(s, now=now, parse=rt.answer_parser)


def alerts(rt: Runtime, now: datetime) -> int:
    """Escalate alerts left unacknowledged longer than Settings.alert_escalation_minutes (callcenter.alerts)."""
    with session_scope(rt.engine) as s:
        escalated = escalate_overdue(s, now=now, after_minutes=rt.settings.alert_escalation_minutes)
    if rt.notifier is not None:  # after the commit: the inboxes that reload read the escalation
        for alert_id in escalated:
            for room in (DOCTORS, SUPERVISORS):
                rt.notifier.emit(EventKind.alert, {"alert_id": alert_id, "escalated": True}, room)
    return len(escalated)


def recording_copies(rt: Runtime, now: datetime) -> int:
    """Browser copies (MP3) of the recordings that have none yet (callcenter.recording_copies)."""
    assert rt.recording_copies is not None
    return rt.recording_copies.copy_pending()


def batch(kind: str) -> Callable[[Runtime, datetime], int]:
    def run(rt: Runtime, now: datetime) -> int:
        ref = rt.hooks.get(kind, "")
        if not ref:
            return 0
        fn: Any = ref_to_obj(ref)
        return int(fn(engine=rt.engine, now=now, settings=rt.settings) or 0)

    return run


@dataclass(frozen=True)
class JobSpec:
    id: str
    body: Callable[[Runtime, datetime], int]
    trigger: str  # "interval:SECONDS" or "cron:HH:MM"
    moves_tasks: bool = False  # what it returns counts tasks the live board shows differently afterwards


JOBS: tuple[JobSpec, ...] = (
    JobSpec("expire_leases", leases, "interval:60", moves_tasks=True),
    JobSpec("callbacks_to_pool", callbacks, "interval:300", moves_tasks=True),
    JobSpec("daily_planning", daily_planning, "cron:01:30", moves_tasks=True),
    JobSpec("release_due", release, "interval:60", moves_tasks=True),
    JobSpec("robot_call_batch", batch("robot_call"), "interval:300"),
    JobSpec("sms_batch", batch("sms"), "interval:300"),
    JobSpec("adherence_check", adherence, "interval:300"),
    JobSpec("escalate_alerts", alerts, "interval:60"),
    JobSpec("recording_copies", recording_copies, "interval:60"),
)
_BY_ID = {j.id: j for j in JOBS}


def run_job(job_id: str) -> int | None:
    """Run one job now if this process leads; None when it does not (what APScheduler calls)."""
    rt = runtime()
    if not is_leader(rt):
        logger.debug("scheduler pid=%s is standby; %s skipped", os.getpid(), job_id)
        return None
    now = rt.clock.now()
    job = _BY_ID[job_id]
    try:
        n = job.body(rt, now)
    except Exception:
        logger.exception("scheduler job %s failed at %s", job_id, now.isoformat())
        raise
    if n and job.moves_tasks and rt.board is not None:  # after the job's commit
        rt.board.changed()
    logger.log(logging.INFO if n else logging.DEBUG, "scheduler leader pid=%s ran %s at %s: %s", os.getpid(), job_id,
               now.isoformat(), n)
    return n


# module-level functions so that APScheduler stores plain "module:function" references
def job_expire_leases() -> int | None:
    return run_job("expire_leases")


def job_callbacks_to_pool() -> int | None:
    return run_job("callbacks_to_pool")


def job_daily_planning() -> int | None:
    return run_job("daily_planning")


def job_release_due() -> int | None:
    return run_job("release_due")


def job_robot_call_batch() -> int | None:
    return run_job("robot_call_batch")


def job_sms_batch() -> int | None:
    return run_job("sms_batch")


def job_adherence_check() -> int | None:
    return run_job("adherence_check")


def job_escalate_alerts() -> int | None:
    return run_job("escalate_alerts")


def job_recording_copies() -> int | None:
    return run_job("recording_copies")


def run_once(rt: Runtime, at: datetime) -> dict[str, int]:
    """Run every job, in order, for the moment ``at`` (leadership required)."""
    if not is_leader(rt):
        raise SchedulerBusy("another process is the scheduler leader; stop it (or wait) before run-once")
    done = {job.id: job.body(rt, at) for job in JOBS}
    if rt.board is not None and any(done[job.id] for job in JOBS if job.moves_tasks):
        rt.board.changed()
        rt.board.last_word()  # the process may end now: nothing is held back for a timer
    return done


def serve(rt: Runtime, *, tick_seconds: int | None = None) -> None:
    """Run the scheduler in the foreground until SIGTERM/SIGINT; only the leader acts."""
    configure(rt)
    sched = BlockingScheduler(timezone=rt.settings.timezone)
    add_jobs(sched, tick_seconds=tick_seconds, timezone=rt.settings.timezone)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("scheduler stopping on signal %s", signum)
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.warning("scheduler started (%s) pid=%s", "leader" if is_leader(rt) else "standby", os.getpid())
    try:
        sched.start()
    finally:
        assert rt.lock is not None
        rt.lock.release()


def add_jobs(scheduler: BaseScheduler, *, tick_seconds: int | None = None, timezone: str = "Asia/Shanghai") -> None:
    """Register every job by reference with its fixed id. ``tick_seconds`` shortens interval jobs (tests)."""
    for job in JOBS:
        kind, _, arg = job.trigger.partition(":")
        trigger: Any
        if kind == "interval":
            trigger = IntervalTrigger(seconds=tick_seconds or int(arg), timezone=timezone)
        else:
            hour, minute = arg.split(":")
            trigger = CronTrigger(hour=int(hour), minute=int(minute), timezone=timezone)
        scheduler.add_job(f"callcenter.scheduler:job_{job.id}", trigger, id=job.id, name=job.id,
                          replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=300)
