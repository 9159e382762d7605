"""Task generation: active follow-up plans x matching encounters -> tasks, idempotently.

Runs nightly (``callcenter.scheduler``) and when encounters arrive (``plan_patients``). A rolling horizon
materialises only the time points due within ``CallRules.horizon_days``; the unique constraint on
(plan, patient, anchor encounter, time point) makes a second run a no-op. For each patient and plan the latest
matching discharge is the anchor: a readmission cancels the open tasks of the earlier stay and restarts the
plan from the new discharge (stop rule ``readmitted: restart``). Patients who refused a plan, do-not-call
patients and deceased patients get no new tasks.

Set-based, on both backends: Python expands the plan's schedule once per possible anchor day (a few hundred
days; the working calendar and call windows live in Python) into a small temporary table, ``_plan_point``.
One ``INSERT … SELECT … ON CONFLICT DO NOTHING`` then joins the matching encounters to it on the anchor's local
day, so the 10^6 encounters of a nightly run never leave the database. Every created task gets its creation
event (``'' -> planned`` by ``planner``): on PostgreSQL in the same statement (``RETURNING`` into a CTE), on
SQLite (no DML in a CTE) by one statement right after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    null,
    or_,
    text,
    type_coerce,
)
from sqlalchemy import select as core_select  # untyped rows: sqlmodel's select types at most four columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session, col, select

from callcenter.calendar import CallPolicy
from callcenter.call_rules import CallRules
from callcenter.clock import Clock
from callcenter.cohorts import encounter_conditions
from callcenter.local_time_sql import offset_spans
from callcenter.models import Encounter, FollowUpPlan, Patient, Task, TaskEvent, TaskStatus, UTCDateTime
from callcenter.planning import DuePoint, Schedule, points_to_generate
from callcenter.plans_repo import PlanDefinition, definition_from_row
from callcenter.tasks import OPEN, RANK_DUE, cancel_open

logger = logging.getLogger(__name__)

ACTOR = "planner"
INSERT_BATCH = 50_000  # patient ids per INSERT statement (bounded trigger queue and RETURNING set)
_TASK = Task.__table__  # type: ignore[attr-defined]
_UNIQUE_POINT = ["plan_id", "patient_id", "anchor_encounter_id", "point"]  # uq_task_point, the idempotence key


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


# The plan's time points per anchor day, as the planner's SQL joins them (one temporary table per connection).
_POINTS = Table(
    "_plan_point", MetaData(),
    Column("day", Date, nullable=False),  # the anchor's local date
    Column("point", String(32), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("window_end_at", UTCDateTime, nullable=False),
    prefixes=["TEMPORARY"],
)


def _fill_points(conn: Connection, schedule: Schedule, policy: CallPolicy, *, first_day: date, last_day: date,
                 today: date, horizon_days: int) -> int:
    """Expand the schedule for every anchor day in [first_day, last_day] into ``_plan_point``; returns the rows."""
    moments: dict[tuple[date, date], tuple[datetime, datetime]] = {}  # few distinct due days, many anchor days

    def due_times(p: DuePoint) -> tuple[datetime, datetime]:
        key = (p.due_on, p.last_day)
        if key not in moments:
            moments[key] = (policy.next_allowed(policy.local_day_start(p.due_on)),
                            policy.local_day_start(p.last_day + timedelta(days=1)))
        return moments[key]

    rows = []
    day = first_day
    while day <= last_day:
        for p in points_to_generate(schedule, day, today=today, horizon_days=horizon_days):
            due_at, window_end_at = due_times(p)
            rows.append({"day": day, "point": p.point, "due_at": due_at, "window_end_at": window_end_at})
        day += timedelta(days=1)
    _POINTS.create(conn, checkfirst=True)
    conn.execute(_POINTS.delete())
    if rows:
        conn.execute(_POINTS.insert(), rows)
    return len(rows)


def _local_day(dialect: str, at: ColumnElement[Any], zone: ZoneInfo, start: datetime,
               end: datetime) -> ColumnElement[Any]:
    """SQL for the local date of the UTC moment ``at``; exact for moments in [start, end)."""
    if dialect == "postgresql":
        return cast(func.timezone(zone.key, at), Date)
    # SQLite stores UTC text (SQLAlchemy's "YYYY-MM-DD HH:MM:SS.ffffff"): shift it by the zone's offset, which
    # changes only at the zone's transitions (none for Asia/Shanghai); later moments keep the last offset.
    utc_text = type_coerce(at, String)
    spans = offset_spans(zone, start, end)

    def shifted(seconds: int) -> ColumnElement[Any]:  # whole seconds: SQLite rounds .9996 s up to the next day
        return func.date(func.substr(utc_text, 1, 19), f"{seconds:+d} seconds")

    branches = [(utc_text < datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), shifted(seconds))
                for until, seconds in spans if until is not None]
    last = shifted(spans[-1][1])
    return case(*branches, else_=last) if branches else last


@dataclass(frozen=True)
class _Scope:
    """What one planning run of one plan looks at."""

    defn: PlanDefinition
    today: date
    zone: ZoneInfo
    since: datetime  # earliest anchor that can still have a point to do
    day: ColumnElement[Any]  # the anchor's local date (SQL)
    patient_ids: Sequence[int] | None

    def matching(self, *, latest: bool, extra: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
        """Matching encounters (eid, pid, day[, rn, n]); rn = 1 marks each patient's latest (day, id) and n counts
        the patient's matching encounters."""
        anchor = func.coalesce(Encounter.discharged_at, Encounter.admitted_at)
        conds = encounter_conditions(self.defn.cohort, today=self.today, tz=self.zone)
        conds += [anchor >= self.since, col(Patient.do_not_call).is_(False), *extra]
        if self.patient_ids is not None:
            conds.append(col(Encounter.patient_id).in_(self.patient_ids))
        cols: list[Any] = [col(Encounter.id).label("eid"), col(Encounter.patient_id).label("pid"),
                           self.day.label("day")]
        if latest:
            cols.append(func.row_number().over(partition_by=col(Encounter.patient_id),
                                               order_by=(self.day.desc(), col(Encounter.id).desc())).label("rn"))
            cols.append(func.count().over(partition_by=col(Encounter.patient_id)).label("n"))
        return core_select(*cols).join(Patient, col(Patient.id) == Encounter.patient_id).where(and_(*conds))


# Patients this plan must not get new tasks for (refused it, or every plan), gathered before the insert: a
# correlated look-up of ``task`` inside the INSERT would rescan the rows it is adding.
_STOPPED = Table("_plan_stopped", MetaData(), Column("patient_id", Integer, primary_key=True), prefixes=["TEMPORARY"])


def _fill_stopped(conn: Connection, plan: FollowUpPlan, scopes: dict[str, str]) -> int:
    """``_plan_stopped`` := patients with a final outcome whose stop scope covers this plan; returns how many."""
    codes_plan = [code for code, scope in scopes.items() if scope == "plan"]
    codes_patient = [code for code, scope in scopes.items() if scope == "patient"]
    _STOPPED.create(conn, checkfirst=True)
    conn.execute(_STOPPED.delete())
    conds = []
    if codes_plan:
        conds.append(and_(col(Task.plan_id) == plan.id, col(Task.final_outcome).in_(codes_plan)))
    if codes_patient:
        conds.append(col(Task.final_outcome).in_(codes_patient))
    if conds:
        conn.execute(_STOPPED.insert().from_select(["patient_id"],
                                                   select(Task.patient_id).where(or_(*conds)).distinct()))
    conn.exec_driver_sql(f"ANALYZE {_STOPPED.name}")
    return int(conn.execute(core_select(func.count()).select_from(_STOPPED)).scalar_one())


def _not_stopped(patient_id: Any) -> ColumnElement[bool]:
    return ~exists().where(_STOPPED.c.patient_id == patient_id)


# The anchors of this run (restart: each patient's latest matching stay, with the number of matching stays she
# has): ONE pass over the encounters, which the counts, the cancellations and the insert all read.
_ANCHORS = Table(
    "_plan_anchor", MetaData(),
    Column("patient_id", Integer, primary_key=True),
    Column("encounter_id", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("encounters", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


def _fill_anchors(conn: Connection, scope: _Scope, *, restart: bool) -> tuple[int, int]:
    """``_plan_anchor`` := the run's anchors; returns (matching encounters, patients)."""
    _ANCHORS.create(conn, checkfirst=True)
    conn.execute(_ANCHORS.delete())
    m = scope.matching(latest=restart).subquery("m")
    if restart:
        rows = core_select(m.c.pid, m.c.eid, m.c.day, m.c.n).where(m.c.rn == 1)
    else:
        rows = core_select(m.c.pid, m.c.eid, m.c.day, literal(1, Integer))
    conn.execute(_ANCHORS.insert().from_select(["patient_id", "encounter_id", "day", "encounters"], rows))
    conn.exec_driver_sql(f"ANALYZE {_ANCHORS.name}")
    a = _ANCHORS.c
    patients = func.count() if restart else func.count(distinct(a.patient_id))
    encounters, n = conn.execute(core_select(func.coalesce(func.sum(a.encounters), 0), patients)).one()
    return int(encounters), int(n)


def _anchor_batches(conn: Connection, size: int) -> list[tuple[int, int]]:
    """Ranges of patient ids (lo, hi], ``size`` ids wide, covering ``_plan_anchor`` (min and max come from its
    primary key; a range without anchors costs one index probe)."""
    lo, hi = conn.execute(core_select(func.min(_ANCHORS.c.patient_id), func.max(_ANCHORS.c.patient_id))).one()
    if lo is None:
        return []
    return [(start, start + size) for start in range(int(lo) - 1, int(hi), size)]


def _cancel_superseded(session: Session, plan: FollowUpPlan, now: datetime) -> int:
    """Open tasks of this plan anchored on another stay than the patient's latest matching one."""
    a = _ANCHORS.c
    stale = (select(Task.id).join(_ANCHORS, a.patient_id == Task.patient_id)
             .where(Task.plan_id == plan.id, col(Task.status).in_(OPEN),
                    col(Task.anchor_encounter_id).is_distinct_from(a.encounter_id)))
    stale_ids = list(session.exec(stale).all())
    cancelled = 0
    for i in range(0, len(stale_ids), 1000):
        rows = session.exec(select(Task).where(col(Task.id).in_(stale_ids[i:i + 1000]))).all()
        cancelled += len(cancel_open(session, rows, actor=ACTOR, now=now, reason="stopped: readmitted, plan restarted"))
    return cancelled


# SQLite: the tasks this run created are the plan's rows above the largest id seen before the run that have no
# event yet. (PostgreSQL records them exactly, in the insert's own statement: see _insert_tasks.)
_CREATION_EVENTS = text(
    "INSERT INTO taskevent (task_id, at, actor, from_status, to_status, reason) "
    "SELECT t.id, :now, :actor, '', 'planned', 'generated' FROM task t "
    "WHERE t.plan_id = :plan_id AND t.id > :after_id AND t.created_at = :now "
    "AND NOT EXISTS (SELECT 1 FROM taskevent e WHERE e.task_id = t.id)"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _insert_tasks(conn: Connection, plan: FollowUpPlan, candidates: Select[Any], now: datetime) -> int:
    """INSERT the candidate tasks (pid, eid, point, due_at, window_end_at) that do not exist yet; on PostgreSQL
    also their creation events, returning how many tasks were created."""
    c = candidates.subquery("candidate")
    prio = plan.priority
    values: dict[str, Any] = {
        "patient_id": c.c.pid, "plan_id": literal(plan.id, Integer), "anchor_encounter_id": c.c.eid,
        "point": c.c.point, "questionnaire_key": literal(plan.questionnaire_key, String),
        "channel": literal(plan.channel, _TASK.c.channel.type),
        "status": literal(TaskStatus.planned, _TASK.c.status.type),
        "due_at": c.c.due_at, "window_end_at": c.c.window_end_at, "team_id": literal(plan.team_id, Integer),
        "assignee_id": null(), "priority": literal(prio, Integer),
        "queue_rank": literal(RANK_DUE * 1000 + 999 - prio, Integer), "attempts": literal(0, Integer),
        "max_attempts": literal(plan.max_attempts, Integer), "next_attempt_at": c.c.due_at,
        "callback_at": null(), "lease_owner": literal("", String), "lease_expires_at": null(),
        "final_outcome": literal("", String), "reason": literal("", String),
        "created_at": literal(now, UTCDateTime()), "closed_at": null(),
    }
    # WHERE true: SQLite's parser needs a WHERE before ON CONFLICT in INSERT … SELECT
    source = select(*values.values()).select_from(c).where(literal(True))
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(Task).from_select(list(values), source).on_conflict_do_nothing(
            index_elements=_UNIQUE_POINT)
        created = insert.returning(col(Task.id)).cte("created")
        events = postgresql.insert(TaskEvent).from_select(
            ["task_id", "at", "actor", "from_status", "to_status", "reason"],
            core_select(created.c.id, literal(now, UTCDateTime()), literal(ACTOR, String), literal("", String),
                   literal(TaskStatus.planned.value, String), literal("generated", String)))
        recorded = events.returning(col(TaskEvent.id)).cte("recorded")
        return int(conn.execute(select(func.count()).select_from(recorded)).scalar_one())
    conn.execute(sqlite.insert(Task).from_select(list(values), source).on_conflict_do_nothing(
        index_elements=_UNIQUE_POINT))
    return 0  # counted by _record_creation


def _record_creation(conn: Connection, plan: FollowUpPlan, now: datetime, after_id: int) -> int:
    """SQLite: one TaskEvent ('' -> planned) per task this run created; returns how many."""
    result = conn.execute(_CREATION_EVENTS, {"now": now, "actor": ACTOR, "plan_id": plan.id, "after_id": after_id})
    return int(result.rowcount or 0)


def plan_one(session: Session, plan: FollowUpPlan, *, now: datetime, rules: CallRules,
             patient_ids: Sequence[int] | None = None, report: PlanningReport | None = None) -> PlanningReport:
    report = report or PlanningReport()
    defn = definition_from_row(plan)
    policy = rules.policy(plan.call_windows)
    zone = policy.zone
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=schedule_span_days(defn.schedule) + 1)
    last_day = today + timedelta(days=rules.horizon_days)  # a later anchor has no point due within the horizon
    since = datetime.combine(first_day, datetime.min.time(), zone).astimezone(UTC)
    conn = session.connection()
    anchor = func.coalesce(Encounter.discharged_at, Encounter.admitted_at)
    day = _local_day(conn.dialect.name, anchor, zone, since,
                     datetime.combine(last_day + timedelta(days=2), datetime.min.time(), zone))
    scope = _Scope(defn, today, zone, since, day, patient_ids)
    restart = defn.stop_rules.get("readmitted", "restart") == "restart"
    report.plans += 1

    encounters, patients = _fill_anchors(conn, scope, restart=restart)
    report.encounters += encounters
    report.patients += patients
    a = _ANCHORS.c
    if _fill_stopped(conn, plan, dict(defn.stop_rules)) and patients:
        report.skipped_stopped += int(conn.execute(core_select(func.count(distinct(a.patient_id))).where(
            ~_not_stopped(a.patient_id))).scalar_one())
    if restart and patients:
        report.cancelled_readmitted += _cancel_superseded(session, plan, now)
    if not patients or not _fill_points(conn, defn.schedule, policy, first_day=first_day, last_day=last_day,
                                        today=today, horizon_days=rules.horizon_days):
        return report
    conn.exec_driver_sql(f"ANALYZE {_POINTS.name}")
    after_id = int(conn.execute(select(func.coalesce(func.max(Task.id), 0))).scalar_one() or 0)
    for lo, hi in _anchor_batches(conn, INSERT_BATCH):
        candidates = core_select(a.patient_id.label("pid"), a.encounter_id.label("eid"), _POINTS.c.point,
                                 _POINTS.c.due_at, _POINTS.c.window_end_at).where(
            _POINTS.c.day == a.day, a.patient_id > lo, a.patient_id <= hi, _not_stopped(a.patient_id))
        report.created += _insert_tasks(conn, plan, candidates, now)
    if conn.dialect.name == "sqlite":
        report.created += _record_creation(conn, plan, now, after_id)
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
