"""The supervisors' live board: every nurse and her state, queue sizes per team and per department, today's
progress and the robot campaigns, read from the tasks and call attempts (the database is the truth; Socket.IO only
says "look again").

A queued task's department is the one the statistics use (``statistics_queries.DEPARTMENT``): its anchor
encounter's department, else its team's. Both queue tables come from one count over the open tasks grouped by
team, encounter department and status.

A nurse's state comes from her latest call attempt of the day and her leases: dialling (attempt started, not
answered), on a call (answered, not ended), wrap-up (ended, no outcome yet), preparing (she holds a task but
has not dialled), else available. Patients are shown masked (name and number).
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from callcenter import privacy
from callcenter.models import (
    CallAttempt,
    Channel,
    Encounter,
    FollowUpPlan,
    Patient,
    Role,
    Task,
    TaskStatus,
    Team,
    User,
)

OPEN_QUEUE = (TaskStatus.due, TaskStatus.callback, TaskStatus.leased, TaskStatus.in_call)


class NurseState(enum.StrEnum):
    available = "available"
    preparing = "preparing"
    dialling = "dialling"
    on_call = "on_call"
    wrap_up = "wrap_up"


STATE_LABELS = {NurseState.available: "空闲", NurseState.preparing: "准备中", NurseState.dialling: "拨号中",
                NurseState.on_call: "通话中", NurseState.wrap_up: "整理中"}


def nurse_state(attempt: CallAttempt | None, holds_task: bool) -> NurseState:
    if attempt is not None and attempt.wrapped_up_at is None:
        if attempt.ended_at is not None:
            return NurseState.wrap_up
        return NurseState.on_call if attempt.answered_at is not None else NurseState.dialling
    return NurseState.preparing if holds_task else NurseState.available


@dataclass(frozen=True)
class NurseRow:
    user_id: int
    label: str
    team: str
    state: NurseState
    state_label: str
    since: datetime | None  # when the current state began
    attempt_id: int | None
    patient: str  # masked
    number: str  # masked
    calls_today: int
    completed_today: int


@dataclass(frozen=True)
class QueueRow:
    team: str
    department: str  # the team's own department label
    due: int
    callbacks: int
    in_progress: int  # leased or in a call


@dataclass(frozen=True)
class DepartmentQueueRow:
    department: str  # the tasks' department (anchor encounter's, else team's); "" when neither has one
    due: int
    callbacks: int
    in_progress: int  # leased or in a call


@dataclass(frozen=True)
class Progress:
    due: int  # tasks due today or earlier that were open today
    done: int  # completed today
    unreachable: int  # closed as unreachable today
    calls: int  # attempts started today


@dataclass(frozen=True)
class CampaignRow:
    plan: str
    pending: int
    completed: int
    unreachable: int
    calls_today: int


@dataclass(frozen=True)
class Board:
    at: datetime
    nurses: tuple[NurseRow, ...]
    queues: tuple[QueueRow, ...]
    departments: tuple[DepartmentQueueRow, ...]
    progress: Progress
    campaigns: tuple[CampaignRow, ...]


def _day_bounds(now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(now.astimezone(zone).date(), time(0), zone)
    return start, start + timedelta(days=1)


def _nurses(session: Session, start: datetime, end: datetime) -> tuple[NurseRow, ...]:
    nurses = session.exec(select(User).where(User.role == Role.nurse, col(User.active).is_(True))
                          .order_by(col(User.username))).all()
    teams = {t.id: t.name for t in session.exec(select(Team))}
    today = session.exec(select(CallAttempt).where(col(CallAttempt.started_at) >= start,
                                                   col(CallAttempt.started_at) < end,
                                                   col(CallAttempt.user_id).is_not(None))
                         .order_by(col(CallAttempt.started_at), col(CallAttempt.id))).all()
    latest: dict[int, CallAttempt] = {}
    calls: Counter[int] = Counter()
    done: Counter[int] = Counter()
    for attempt in today:
        uid = attempt.user_id or 0
        latest[uid] = attempt
        calls[uid] += 1
        done[uid] += attempt.outcome_code == "completed"
    holders = set(session.exec(select(Task.lease_owner).where(
        col(Task.status).in_([TaskStatus.leased, TaskStatus.in_call]))).all())
    open_attempts = [a for a in latest.values() if a.wrapped_up_at is None]
    patients = {p.id: p.name for p in session.exec(
        select(Patient).where(col(Patient.id).in_({a.patient_id for a in open_attempts})))} if open_attempts else {}
    rows = []
    for nurse in nurses:
        uid = nurse.id or 0
        last = latest.get(uid)
        state = nurse_state(last, f"user:{uid}" in holders)
        shown = last if state in (NurseState.dialling, NurseState.on_call, NurseState.wrap_up) else None
        since = None
        if shown is not None:
            since = {NurseState.dialling: shown.started_at, NurseState.on_call: shown.answered_at,
                     NurseState.wrap_up: shown.ended_at}[state]
        elif last is not None:
            since = last.wrapped_up_at
        rows.append(NurseRow(
            uid, nurse.display_name or nurse.username, teams.get(nurse.team_id, "") if nurse.team_id else "",
            state, STATE_LABELS[state], since, shown.id if shown else None,
            privacy.mask_name(patients.get(shown.patient_id, "")) if shown else "",
            privacy.mask_phone(shown.number) if shown else "", calls[uid], done[uid],
        ))
    return tuple(rows)


def _queues(session: Session) -> tuple[tuple[QueueRow, ...], tuple[DepartmentQueueRow, ...]]:
    """The nurses' open queue counted per team and per department, in one pass over the open tasks."""
    per_team: dict[int | None, Counter[str]] = defaultdict(Counter)
    per_department: dict[str, Counter[str]] = defaultdict(Counter)
    teams = {t.id: t for t in session.exec(select(Team))}
    for team_id, encounter_department, status, n in session.execute(
        sa_select(col(Task.team_id), col(Encounter.department), col(Task.status), func.count())
        .select_from(Task)
        .outerjoin(Encounter, col(Encounter.id) == col(Task.anchor_encounter_id))
        .where(col(Task.status).in_(OPEN_QUEUE), col(Task.channel) == Channel.nurse_call)
        .group_by(col(Task.team_id), col(Encounter.department), col(Task.status))
    ):
        team = teams.get(team_id) if team_id is not None else None
        # statistics_queries.DEPARTMENT, here on the grouped rows: the encounter's, else the team's
        department = encounter_department or (team.department if team else "") or ""
        per_team[team_id][str(status)] += n
        per_department[department][str(status)] += n
    rows = []
    for team_id, c in per_team.items():
        team = teams.get(team_id) if team_id is not None else None
        rows.append(QueueRow(team.name if team else "公共池", team.department if team else "",
                             c["due"], c["callback"], c["leased"] + c["in_call"]))
    departments = [DepartmentQueueRow(name, c["due"], c["callback"], c["leased"] + c["in_call"])
                   for name, c in per_department.items()]
    return (tuple(sorted(rows, key=lambda r: (r.department, r.team))),
            tuple(sorted(departments, key=lambda r: (r.department == "", r.department))))


def _progress(session: Session, start: datetime, end: datetime) -> Progress:
    open_due = session.exec(select(func.count()).select_from(Task).where(
        col(Task.status).in_(OPEN_QUEUE), col(Task.due_at) < end)).one()
    closed: Counter[str] = Counter()
    for status, n in session.execute(
        sa_select(col(Task.status), func.count()).where(col(Task.closed_at) >= start, col(Task.closed_at) < end)
        .group_by(col(Task.status))
    ):
        closed[str(status)] += n
    calls = session.exec(select(func.count()).select_from(CallAttempt).where(
        col(CallAttempt.started_at) >= start, col(CallAttempt.started_at) < end)).one()
    return Progress(open_due + sum(closed.values()), closed["completed"], closed["unreachable"], calls)


def _campaigns(session: Session, start: datetime, end: datetime) -> tuple[CampaignRow, ...]:
    plans = session.exec(select(FollowUpPlan).where(col(FollowUpPlan.channel) == Channel.robot_call,
                                                    col(FollowUpPlan.active).is_(True))).all()
    rows = []
    for plan in plans:
        status: Counter[str] = Counter()
        for s, n in session.execute(
            sa_select(col(Task.status), func.count()).where(
                col(Task.plan_id) == plan.id, col(Task.due_at) < end,
                col(Task.status).in_(OPEN_QUEUE) | (col(Task.closed_at) >= start))
            .group_by(col(Task.status))
        ):
            status[str(s)] += n
        calls = session.exec(select(func.count()).select_from(CallAttempt).join(
            Task, col(CallAttempt.task_id) == col(Task.id)).where(
            col(Task.plan_id) == plan.id, col(CallAttempt.started_at) >= start, col(CallAttempt.started_at) < end)).one()
        rows.append(CampaignRow(plan.name, sum(status[s] for s in OPEN_QUEUE), status["completed"],
                                status["unreachable"], calls))
    return tuple(rows)


def board(session: Session, *, now: datetime, zone: tzinfo) -> Board:
    start, end = _day_bounds(now, zone)
    queues, departments = _queues(session)
    return Board(now, _nurses(session, start, end), queues, departments, _progress(session, start, end),
                 _campaigns(session, start, end))
