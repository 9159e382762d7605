"""Task generation: active follow-up plans x matching encounters -> tasks, idempotently.

Runs nightly (``callcenter.scheduler``) and when encounters arrive (``plan_patients``). A rolling horizon
materialises only the time points due within ``CallRules.horizon_days``; the unique constraint on
(plan, patient, anchor encounter, time point) makes a second run a no-op. For each patient and plan the latest
matching discharge is the anchor: a readmission cancels the open tasks of the earlier stay and restarts the
plan from the new discharge (stop rule ``readmitted: restart``). Patients who refused a plan, do-not-call
patients and deceased patients get no new tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, func, text, type_coerce
from sqlmodel import Session, col, select

from callcenter.calendar import CallPolicy
from callcenter.call_rules import CallRules
from callcenter.clock import Clock
from callcenter.cohorts import encounter_conditions
from callcenter.models import Encounter, FollowUpPlan, Patient, Task, TaskStatus
from callcenter.planning import DuePoint, Schedule, points_to_generate
from callcenter.plans_repo import PlanDefinition, definition_from_row
from callcenter.tasks import OPEN, RANK_DUE, cancel_open

logger = logging.getLogger(__name__)

INSERT_BATCH = 20000
ACTOR = "planner"


@dataclass
class PlanningReport:
    plans: int = 0
    encounters: int = 0
    patients: int = 0
    created: int = 0
    cancelled_readmitted: int = 0
    skipped_stopped: int = 0


def schedule_span_days(schedule: Schedule) -> int:
    offsets = schedule.offsets()
    ref = date(2001, 1, 31)
    last = offsets[-1].after(ref) if offsets else ref
    return (last - ref).days + schedule.window_days


class _DueTimes:
    """Due moment and window end per local due date (memoised: few distinct dates, many tasks)."""

    def __init__(self, policy: CallPolicy, db_time: _DbTime) -> None:
        self.policy, self.db_time = policy, db_time
        self._cache: dict[tuple[date, date], tuple[Any, Any]] = {}

    def __call__(self, p: DuePoint) -> tuple[Any, Any]:
        key = (p.due_on, p.last_day)
        if key not in self._cache:
            due_at = self.policy.next_allowed(self.policy.local_day_start(p.due_on))
            end = self.policy.local_day_start(p.last_day + timedelta(days=1))
            self._cache[key] = (self.db_time(due_at), self.db_time(end))
        return self._cache[key]


def _matching(session: Session, defn: PlanDefinition, *, today: date, tz: ZoneInfo, since: datetime,
              patient_ids: Sequence[int] | None) -> Iterator[tuple[int, int, datetime]]:
    anchor = func.coalesce(Encounter.discharged_at, Encounter.admitted_at)
    conds = encounter_conditions(defn.cohort, today=today, tz=tz)
    conds += [anchor >= since, col(Patient.do_not_call).is_(False)]
    if patient_ids is not None:
        conds.append(col(Encounter.patient_id).in_(patient_ids))
    sqlite = session.get_bind().dialect.name == "sqlite"
    # SQLite stores UTC text; parsing it with fromisoformat is ~5x cheaper than the generic type processing
    column: Any = type_coerce(anchor, String) if sqlite else anchor
    query = (select(Encounter.id, Encounter.patient_id, column)
             .join(Patient, col(Patient.id) == Encounter.patient_id).where(and_(*conds)))
    for eid, pid, at in session.exec(query.execution_options(yield_per=20000)):
        if at is not None:
            yield int(eid or 0), int(pid), datetime.fromisoformat(at).replace(tzinfo=UTC) if sqlite else at


def _stopped_patients(session: Session, plan: FollowUpPlan, scopes: dict[str, str]) -> set[int]:
    codes_plan = [code for code, scope in scopes.items() if scope == "plan"]
    codes_patient = [code for code, scope in scopes.items() if scope == "patient"]
    out: set[int] = set()
    if codes_plan:
        out |= set(session.exec(select(Task.patient_id).where(Task.plan_id == plan.id,
                                                              col(Task.final_outcome).in_(codes_plan))).all())
    if codes_patient:
        out |= set(session.exec(select(Task.patient_id).where(col(Task.final_outcome).in_(codes_patient))).all())
    return out


_TASK_COLUMNS = ("patient_id", "plan_id", "anchor_encounter_id", "point", "questionnaire_key", "channel", "status",
                 "due_at", "window_end_at", "team_id", "assignee_id", "priority", "queue_rank", "attempts",
                 "max_attempts", "next_attempt_at", "callback_at", "lease_owner", "lease_expires_at", "final_outcome",
                 "reason", "created_at", "closed_at")
# Plain DB-API executemany on purpose: the generated rows are tuples of database-ready values (datetimes
# converted once per distinct date), ~3x faster than SQLAlchemy's per-row parameter processing at 10^6 rows.
_INSERT_TASKS = ("INSERT INTO task ({cols}) VALUES ({marks}) "
                 "ON CONFLICT (plan_id, patient_id, anchor_encounter_id, point) DO NOTHING")
# SQLite: the tasks this run created are the plan's rows above the largest id seen before the run that have no
# event yet. (PostgreSQL records them exactly, in the same statement as the insert: see _copy_tasks.)
_CREATION_EVENTS = text(
    "INSERT INTO taskevent (task_id, at, actor, from_status, to_status, reason) "
    "SELECT t.id, :now, :actor, '', 'planned', 'generated' FROM task t "
    "WHERE t.plan_id = :plan_id AND t.id > :after_id AND t.created_at = :now "
    "AND NOT EXISTS (SELECT 1 FROM taskevent e WHERE e.task_id = t.id)")


class _DbTime:
    """Datetimes as the driver wants them: SQLite text in UTC (SQLAlchemy's format), PostgreSQL aware values."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def __call__(self, at: datetime) -> Any:
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else at.astimezone(UTC)


def _insert_tasks(session: Session, rows: list[tuple[Any, ...]], now_db: Any) -> int:
    """Insert new task rows (existing ones are left alone); PostgreSQL returns how many it created."""
    if not rows:
        return 0
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _copy_tasks(conn, rows, now_db)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = _INSERT_TASKS.format(cols=", ".join(_TASK_COLUMNS), marks=", ".join([mark] * len(_TASK_COLUMNS)))
    conn.exec_driver_sql(sql, rows)
    return 0


def _copy_tasks(conn: Any, rows: list[tuple[Any, ...]], now_db: Any) -> int:
    """PostgreSQL: COPY into a temporary table, then one statement inserts the new tasks (ON CONFLICT DO
    NOTHING) and their creation events (from RETURNING)."""
    cols = ", ".join(_TASK_COLUMNS)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS _task_new AS SELECT {cols} FROM task WITH NO DATA")
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY _task_new ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()
    result = conn.exec_driver_sql(
        f"WITH ins AS (INSERT INTO task ({cols}) SELECT {cols} FROM _task_new "
        "ON CONFLICT (plan_id, patient_id, anchor_encounter_id, point) DO NOTHING RETURNING id) "
        "INSERT INTO taskevent (task_id, at, actor, from_status, to_status, reason) "
        "SELECT id, %(now)s, %(actor)s, '', 'planned', 'generated' FROM ins", {"now": now_db, "actor": ACTOR})
    conn.exec_driver_sql("TRUNCATE _task_new")
    return int(result.rowcount or 0)


def _record_creation(session: Session, plan: FollowUpPlan, now_db: Any, after_id: int) -> int:
    """SQLite: one TaskEvent ('' -> planned) per task this run created; returns how many."""
    result: Any = session.connection().execute(
        _CREATION_EVENTS, {"now": now_db, "actor": ACTOR, "plan_id": plan.id, "after_id": after_id})
    return int(result.rowcount or 0)


def _cancel_superseded(session: Session, plan: FollowUpPlan, anchors: dict[int, int], now: datetime) -> int:
    """Open tasks of this plan anchored on an earlier stay of a patient who has a newer matching one."""
    query = select(Task.id, Task.patient_id, Task.anchor_encounter_id).where(Task.plan_id == plan.id,
                                                                            col(Task.status).in_(OPEN))
    if len(anchors) <= 1000:
        query = query.where(col(Task.patient_id).in_(list(anchors)))
    stale_ids = [tid for tid, pid, eid in session.exec(query.execution_options(yield_per=20000))
                 if pid in anchors and eid != anchors[pid]]
    cancelled = 0
    for i in range(0, len(stale_ids), 1000):
        rows = session.exec(select(Task).where(col(Task.id).in_(stale_ids[i:i + 1000]))).all()
        cancelled += len(cancel_open(session, rows, actor=ACTOR, now=now, reason="stopped: readmitted, plan restarted"))
    return cancelled


def plan_one(session: Session, plan: FollowUpPlan, *, now: datetime, rules: CallRules,
             patient_ids: Sequence[int] | None = None, report: PlanningReport | None = None) -> PlanningReport:
    report = report or PlanningReport()
    defn = definition_from_row(plan)
    policy = rules.policy(plan.call_windows)
    tz = policy.zone
    today = now.astimezone(tz).date()
    span = schedule_span_days(defn.schedule)
    since = datetime.combine(today - timedelta(days=span + 1), datetime.min.time(), tz).astimezone(UTC)
    restart = defn.stop_rules.get("readmitted", "restart") == "restart"
    stopped = _stopped_patients(session, plan, dict(defn.stop_rules))
    # patient -> [(anchor local date, encounter id)]
    anchors: dict[int, list[tuple[date, int]]] = {}
    for eid, pid, at in _matching(session, defn, today=today, tz=tz, since=since, patient_ids=patient_ids):
        anchors.setdefault(pid, []).append((at.astimezone(tz).date(), eid))
        report.encounters += 1
    report.plans += 1
    report.patients += len(anchors)
    if restart:
        latest = {pid: max(items)[1] for pid, items in anchors.items()}
        report.cancelled_readmitted += _cancel_superseded(session, plan, latest, now)
    db_time = _DbTime(session.get_bind().dialect.name)
    after_id = int(session.exec(select(func.coalesce(func.max(Task.id), 0))).one() or 0)
    now_db = db_time(now)
    due_times = _DueTimes(policy, db_time)
    points_cache: dict[date, list[DuePoint]] = {}
    rows: list[tuple[Any, ...]] = []
    # the constant parts of a row in _TASK_COLUMNS order (hoisted out of the loop: 10^6 rows)
    plan_id, prio = plan.id, plan.priority
    head = (plan.questionnaire_key, plan.channel.value, TaskStatus.planned.value)
    middle = (plan.team_id, None, prio, RANK_DUE * 1000 + 999 - prio, 0, plan.max_attempts)
    tail = (None, "", None, "", "", now_db, None)
    for pid, items in anchors.items():
        if pid in stopped:
            report.skipped_stopped += 1
            continue
        for anchor_day, eid in ([max(items)] if restart else items):
            if anchor_day not in points_cache:
                points_cache[anchor_day] = points_to_generate(defn.schedule, anchor_day, today=today,
                                                              horizon_days=rules.horizon_days)
            for p in points_cache[anchor_day]:
                due_at, window_end_at = due_times(p)
                rows.append((pid, plan_id, eid, p.point, *head, due_at, window_end_at, *middle, due_at, *tail))
            if len(rows) >= INSERT_BATCH:
                report.created += _insert_tasks(session, rows, now_db)
                rows = []
    report.created += _insert_tasks(session, rows, now_db)
    if db_time.sqlite:
        report.created += _record_creation(session, plan, now_db, after_id)
    return report


def active_plans(session: Session, keys: Iterable[str] | None = None) -> list[FollowUpPlan]:
    query = select(FollowUpPlan).where(col(FollowUpPlan.active).is_(True))
    if keys is not None:
        query = query.where(col(FollowUpPlan.key).in_(list(keys)))
    return list(session.exec(query.order_by(col(FollowUpPlan.id))).all())


def plan_all(session: Session, *, now: datetime, rules: CallRules, plan_keys: Iterable[str] | None = None,
             patient_ids: Sequence[int] | None = None) -> PlanningReport:
    """Nightly planning (all patients) or planning when encounters arrive (``patient_ids``)."""
    report = PlanningReport()
    for plan in active_plans(session, plan_keys):
        plan_one(session, plan, now=now, rules=rules, patient_ids=patient_ids, report=report)
    logger.info("planning: %s", report)
    return report


def plan_patients(session: Session, patient_ids: Sequence[int], *, now: datetime, rules: CallRules) -> PlanningReport:
    """Match newly arrived encounters of these patients against every active plan."""
    return plan_all(session, now=now, rules=rules, patient_ids=list(patient_ids))


def arrival_planner(rules: CallRules, clock: Clock) -> Callable[[Session, Sequence[int]], int]:
    """What HIS intake calls inside its transaction when encounters arrive (``import_rows(planner=…)``):
    the patients' new encounters are matched against every active plan at once, not only at night."""

    def plan(session: Session, patient_ids: Sequence[int]) -> int:
        return plan_patients(session, patient_ids, now=clock.now(), rules=rules).created

    return plan
