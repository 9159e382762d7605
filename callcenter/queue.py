"""The work queue: release of due tasks, a nurse's queue, claims with a lease, lease renewal and expiry.

Claims never hand one task to two callers: on PostgreSQL the candidates are read with
``SELECT … FOR UPDATE SKIP LOCKED``; on SQLite the caller's transaction holds the write lock from its start
(``session_scope(engine, immediate=True)``, which ``claim`` opens); on both the lease is written with a guarded
``UPDATE … WHERE status = 'due'`` whose row count must be 1.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col, select

from callcenter.calendar import preferred_window
from callcenter.call_rules import CallRules
from callcenter.db import session_scope
from callcenter.errors import Conflict, TaskAlreadyLeased
from callcenter.models import Channel, FollowUpPlan, Patient, Task, TaskStatus
from callcenter.tasks import RANK_DUE, get_task, phone_for_task, record_events, transition

logger = logging.getLogger(__name__)

RELEASE_BATCH = 5000
_ANY = object()


class LeaseLost(Conflict):
    """The lease expired or belongs to someone else: reload the queue and claim again."""


@dataclass(frozen=True)
class Claim:
    task_id: int
    patient_id: int
    phone_id: int | None
    lease_owner: str
    lease_expires_at: datetime


# --- scheduler side -------------------------------------------------------------------------------------------------


def release_due(session: Session, *, now: datetime, actor: str = "scheduler") -> int:
    """Planned tasks whose time has come, and callbacks whose time has come, enter the queue."""
    n = 0
    for status in (TaskStatus.planned, TaskStatus.callback):  # a callback's next_attempt_at is its callback time
        while True:
            rows = session.exec(select(Task).where(Task.status == status, col(Task.next_attempt_at) <= now)
                                .order_by(col(Task.next_attempt_at)).limit(RELEASE_BATCH)).all()
            for task in rows:
                transition(session, task, TaskStatus.due, actor=actor, now=now,
                           reason="callback time" if status is TaskStatus.callback else "due")
            session.flush()
            n += len(rows)
            if len(rows) < RELEASE_BATCH:
                break
    if n:
        logger.info("released %s tasks", n)
    return n


def refresh_overdue(session: Session, *, now: datetime) -> int:
    """Due tasks whose window has ended move up the queue (rank only; the status stays ``due``)."""
    stmt = (update(Task).where(col(Task.status) == TaskStatus.due, col(Task.window_end_at) < now,
                               col(Task.queue_rank) >= RANK_DUE * 1000)
            .values(queue_rank=col(Task.queue_rank) - 1000).execution_options(synchronize_session=False))
    result: CursorResult[tuple[()]] = session.exec(stmt)
    return int(result.rowcount or 0)


def expire_leases(session: Session, *, now: datetime, actor: str = "scheduler") -> int:
    """Leases not renewed in time return their task to the queue."""
    rows = session.exec(select(Task).where(col(Task.status).in_((TaskStatus.leased, TaskStatus.in_call)),
                                           col(Task.lease_expires_at) < now)).all()
    for task in rows:
        owner = task.lease_owner
        task.lease_owner, task.lease_expires_at = "", None
        transition(session, task, TaskStatus.due, actor=actor, now=now, reason=f"lease of {owner} expired")
    if rows:
        logger.info("expired %s leases", len(rows))
    return len(rows)


# --- the nurse's side ---------------------------------------------------------------------------------------------


def queue_query(team_id: int | None | object, user_id: int | None, channel: Channel):  # type: ignore[no-untyped-def]  # noqa: E501
    query = select(Task).where(Task.status == TaskStatus.due, Task.channel == channel)
    if team_id is not _ANY:
        query = query.where(col(Task.team_id).is_(None) if team_id is None else Task.team_id == team_id)
    if user_id is None:
        query = query.where(col(Task.assignee_id).is_(None))
    else:
        query = query.where((col(Task.assignee_id).is_(None)) | (Task.assignee_id == user_id))
    return query.order_by(col(Task.queue_rank), col(Task.due_at), col(Task.id))


def nurse_queue(session: Session, *, team_id: int | None, user_id: int | None, limit: int = 50,
                channel: Channel = Channel.nurse_call) -> list[Task]:
    """A nurse's queue: her team's due tasks (and callbacks bound to her), callbacks first, then overdue,
    then priority, then due date. ``team_id=None`` is the shared pool."""
    return list(session.exec(queue_query(team_id, user_id, channel).limit(limit)).all())


def claim_next(session: Session, *, owner: str, now: datetime, rules: CallRules, team_id: int | None | object = _ANY,
               user_id: int | None = None, channel: Channel = Channel.nurse_call, batch: int = 10) -> Claim | None:
    """Lease the first task of the queue that may be called now (call window, calendar, patient's preferred
    window, per-number caps). Returns None when nothing can be called now."""
    plans: dict[int, FollowUpPlan | None] = {}
    seen: list[int] = []
    for task in _candidates(session, queue_query(team_id, user_id, channel), batch, seen):
        patient = session.get(Patient, task.patient_id)
        if patient is None or patient.do_not_call or patient.deceased:
            continue
        if task.plan_id not in plans:
            plans[task.plan_id or 0] = session.get(FollowUpPlan, task.plan_id) if task.plan_id else None
        plan = plans.get(task.plan_id or 0)
        policy = rules.policy(plan.call_windows if plan else "")
        if not policy.is_allowed(now, preferred_window(patient.preferred_call_start, patient.preferred_call_end)):
            continue
        choice = phone_for_task(session, task, now=now, rules=rules)
        if choice.phone_id is None:
            if choice.wait_until is not None:
                task.next_attempt_at = choice.wait_until
                transition(session, task, TaskStatus.planned, actor=owner, now=now, reason=choice.reason)
            continue
        claim = _lease(session, task, owner=owner, now=now, lease_seconds=rules.lease_seconds, phone_id=choice.phone_id)
        if claim is not None:
            return claim
    return None


def _candidates(session: Session, query: Any, batch: int, seen: list[int], max_batches: int = 5) -> Iterator[Task]:
    """Queue rows locked batch by batch (SKIP LOCKED), so that tasks that cannot be called right now (e.g. a
    patient's evening-only window) do not hide the callable ones behind them."""
    for _ in range(max_batches):
        q = query.where(col(Task.id).not_in(seen)) if seen else query
        rows = session.exec(q.limit(batch).with_for_update(skip_locked=True)).all()
        for task in rows:
            seen.append(task.id or 0)
            yield task
        if len(rows) < batch:
            return


def _lease(session: Session, task: Task, *, owner: str, now: datetime, lease_seconds: int,
           phone_id: int | None) -> Claim | None:
    expires = now + timedelta(seconds=lease_seconds)
    task_id, patient_id = task.id or 0, task.patient_id
    stmt = (update(Task).where(col(Task.id) == task_id, col(Task.status) == TaskStatus.due)
            .values(status=TaskStatus.leased, lease_owner=owner, lease_expires_at=expires, reason="claimed"))
    result: CursorResult[tuple[()]] = session.exec(stmt)
    if result.rowcount != 1:
        return None  # somebody else got it first (only possible when the caller did not lock)
    record_events(session, [(task_id, TaskStatus.due.value, TaskStatus.leased.value)], actor=owner, now=now,
                  reason="claimed")
    session.expire(task)  # the row changed under the ORM
    logger.info("task=%s leased to %s until %s", task_id, owner, expires.isoformat())
    return Claim(task_id, patient_id, phone_id, owner, expires)


def claim(engine: Engine, **kwargs: object) -> Claim | None:
    """``claim_next`` in its own transaction (BEGIN IMMEDIATE on SQLite). Same keyword arguments."""
    with session_scope(engine, immediate=True) as session:
        return claim_next(session, **kwargs)  # type: ignore[arg-type]


def claim_task(session: Session, task_id: int, *, owner: str, now: datetime, rules: CallRules) -> Claim:
    """Lease one chosen task (the nurse clicked it). Raises TaskAlreadyLeased when someone else has it."""
    query = select(Task).where(Task.id == task_id).with_for_update(skip_locked=True)
    task = session.exec(query).first()
    if task is None or task.status != TaskStatus.due:
        raise TaskAlreadyLeased(f"task {task_id} is not in the queue any more (taken or closed); pick another")
    choice = phone_for_task(session, task, now=now, rules=rules)
    claim_ = _lease(session, task, owner=owner, now=now, lease_seconds=rules.lease_seconds, phone_id=choice.phone_id)
    if claim_ is None:
        raise TaskAlreadyLeased(f"task {task_id} was just taken by someone else; pick another")
    return claim_


def _held(session: Session, task_id: int, owner: str, now: datetime) -> Task:
    task = get_task(session, task_id, lock=True)
    if task.status not in (TaskStatus.leased, TaskStatus.in_call) or task.lease_owner != owner:
        raise LeaseLost(f"task {task_id} is not leased to {owner} any more; claim it again from the queue")
    if task.lease_expires_at is not None and task.lease_expires_at < now:
        raise LeaseLost(f"the lease on task {task_id} expired at {task.lease_expires_at.isoformat()}; claim again")
    return task


def renew_lease(session: Session, task_id: int, *, owner: str, now: datetime, rules: CallRules) -> datetime:
    task = _held(session, task_id, owner, now)
    task.lease_expires_at = now + timedelta(seconds=rules.lease_seconds)
    session.add(task)
    return task.lease_expires_at


def release_lease(session: Session, task_id: int, *, owner: str, now: datetime, reason: str = "released") -> None:
    """Give a task back to the queue without an attempt (the nurse skipped it)."""
    task = _held(session, task_id, owner, now)
    task.lease_owner, task.lease_expires_at = "", None
    transition(session, task, TaskStatus.due, actor=owner, now=now, reason=reason)


def mark_in_call(session: Session, task_id: int, *, owner: str, now: datetime) -> None:
    task = _held(session, task_id, owner, now)
    if task.status != TaskStatus.in_call:
        transition(session, task, TaskStatus.in_call, actor=owner, now=now, reason="dialing")
