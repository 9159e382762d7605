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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from callcenter.calendar import CallPolicy
from callcenter.call_rules import CallRules
from callcenter.cohorts import encounter_conditions
from callcenter.models import Encounter, FollowUpPlan, Patient, Task, TaskEvent, TaskStatus
from callcenter.planning import DuePoint, Schedule, points_to_generate
from callcenter.plans_repo import PlanDefinition, definition_from_row
from callcenter.tasks import OPEN, RANK_DUE, cancel_open

logger = logging.getLogger(__name__)

INSERT_BATCH = 5000
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

    def __init__(self, policy: CallPolicy) -> None:
        self.policy = policy
        self._cache: dict[tuple[date, date], tuple[datetime, datetime]] = {}

    def __call__(self, p: DuePoint) -> tuple[datetime, datetime]:
        key = (p.due_on, p.last_day)
        if key not in self._cache:
            due_at = self.policy.next_allowed(self.policy.local_day_start(p.due_on))
            self._cache[key] = (due_at, self.policy.local_day_start(p.last_day + timedelta(days=1)))
        return self._cache[key]


def _matching(session: Session, defn: PlanDefinition, *, today: date, tz: ZoneInfo, since: datetime,
              patient_ids: Sequence[int] | None) -> Iterator[tuple[int, int, datetime]]:
    anchor = func.coalesce(Encounter.discharged_at, Encounter.admitted_at)
    conds = encounter_conditions(defn.cohort, today=today, tz=tz)
    conds += [anchor >= since, col(Patient.do_not_call).is_(False)]
    if patient_ids is not None:
        conds.append(col(Encounter.patient_id).in_(patient_ids))
    query = (select(Encounter.id, Encounter.patient_id, Encounter.discharged_at, Encounter.admitted_at)
             .join(Patient, col(Patient.id) == Encounter.patient_id).where(and_(*conds)))
    for eid, pid, discharged, admitted in session.exec(query.execution_options(yield_per=20000)):
        at = discharged or admitted
        if at is not None:
            yield int(eid or 0), int(pid), at


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


def _insert_tasks(session: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = maker(Task).on_conflict_do_nothing(
        index_elements=["plan_id", "patient_id", "anchor_encounter_id", "point"]).returning(col(Task.id))
    ids = [row[0] for row in session.execute(stmt, rows)]
    if ids:
        session.execute(insert(TaskEvent), [
            {"task_id": i, "at": now, "actor": ACTOR, "from_status": "", "to_status": TaskStatus.planned.value,
             "reason": "generated"} for i in ids])
    return len(ids)


def _cancel_superseded(session: Session, plan: FollowUpPlan, anchors: dict[int, int], now: datetime) -> int:
    """Open tasks of this plan anchored on an earlier stay of a patient who has a newer matching one."""
    query = select(Task).where(Task.plan_id == plan.id, col(Task.status).in_(OPEN))
    if len(anchors) <= 1000:
        query = query.where(col(Task.patient_id).in_(list(anchors)))
    stale = [t for t in session.exec(query).all()
             if t.patient_id in anchors and t.anchor_encounter_id != anchors[t.patient_id]]
    return len(cancel_open(session, stale, actor=ACTOR, now=now, reason="stopped: readmitted, plan restarted"))


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
    due_times = _DueTimes(policy)
    points_cache: dict[date, list[DuePoint]] = {}
    rows: list[dict[str, Any]] = []
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
                rows.append(_row(plan, pid, eid, p.point, due_at, window_end_at, now))
            if len(rows) >= INSERT_BATCH:
                report.created += _insert_tasks(session, rows, now)
                rows = []
    report.created += _insert_tasks(session, rows, now)
    return report


def _row(plan: FollowUpPlan, pid: int, eid: int, point: str, due_at: datetime, window_end_at: datetime,
         now: datetime) -> dict[str, Any]:
    priority = plan.priority
    return {
        "patient_id": pid, "plan_id": plan.id, "anchor_encounter_id": eid, "point": point,
        "questionnaire_key": plan.questionnaire_key, "channel": plan.channel, "status": TaskStatus.planned,
        "due_at": due_at, "window_end_at": window_end_at, "team_id": plan.team_id, "assignee_id": None,
        "priority": priority, "queue_rank": RANK_DUE * 1000 + 999 - priority, "attempts": 0,
        "max_attempts": plan.max_attempts, "next_attempt_at": due_at, "callback_at": None, "lease_owner": "",
        "lease_expires_at": None, "final_outcome": "", "reason": "", "created_at": now, "closed_at": None,
    }


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
