"""Follow-up plans (随访方案), the tasks they generate, and every state change of a task."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class Channel(enum.StrEnum):
    nurse_call = "nurse_call"
    robot_call = "robot_call"
    sms = "sms"


class TaskStatus(enum.StrEnum):
    planned = "planned"  # generated, not yet due
    due = "due"  # released to the queue
    leased = "leased"  # claimed by a nurse or robot
    in_call = "in_call"
    callback = "callback"  # waiting for a callback time
    completed = "completed"
    unreachable = "unreachable"  # 失访: attempts exhausted
    cancelled = "cancelled"  # by a stop rule


class FollowUpPlan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    active: bool = Field(default=True)
    cohort: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    schedule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    questionnaire_key: str = Field(max_length=64)
    channel: Channel = Field(default=Channel.nurse_call)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    priority: int = Field(default=50)
    max_attempts: int = Field(default=3)
    stop_rules: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    call_windows: str = Field(default="", max_length=200)  # empty: the hospital default
    # channels in order when a task ends unreachable, e.g. ["robot_call", "sms", "nurse_call"]; empty: the default
    escalation: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Task(SQLModel, table=True):
    __table_args__ = (
        # idempotent generation: one task per plan, anchor encounter and time point
        UniqueConstraint("plan_id", "patient_id", "anchor_encounter_id", "point", name="uq_task_point"),
        Index("ix_task_queue", "status", "team_id", "due_at"),
        Index("ix_task_lease", "status", "lease_expires_at"),
        # a nurse's queue: WHERE team_id = ? AND status = 'due' ORDER BY queue_rank, due_at (callbacks.queue)
        Index("ix_task_team_queue", "team_id", "status", "queue_rank", "due_at"),
        # release of planned tasks and of callbacks whose time has come (a callback's next_attempt_at is its time)
        Index("ix_task_release", "status", "next_attempt_at"),
        # statistics: the tasks due in a period (callcenter.statistics_queries)
        Index("ix_task_due_at", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    # no index of its own: uq_task_point starts with plan_id (one index less to keep when planning 10^5 tasks)
    plan_id: int | None = Field(default=None, foreign_key="followupplan.id")
    anchor_encounter_id: int | None = Field(default=None, foreign_key="encounter.id")
    point: str = Field(default="", max_length=32)  # e.g. "d7", "d30", "m3"
    questionnaire_key: str = Field(default="", max_length=64)
    channel: Channel = Field(default=Channel.nurse_call)
    status: TaskStatus = Field(default=TaskStatus.planned)
    due_at: datetime = Field(sa_type=UTCDateTime)
    window_end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id")
    priority: int = Field(default=50)  # 0-999, higher is more urgent
    # queue order, kept by callcenter.tasks: class * 1000 + (999 - priority); class 0 callback, 1 overdue, 2 due
    queue_rank: int = Field(default=2949)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=3)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    callback_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str = Field(default="", max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    final_outcome: str = Field(default="", max_length=32)
    reason: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TaskEvent(SQLModel, table=True):
    """Every state change of a task: who, when, from -> to, why."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    actor: str = Field(default="", max_length=64)  # "user:12", "robot:w1", "scheduler"
    from_status: str = Field(default="", max_length=16)
    to_status: str = Field(max_length=16)
    reason: str = Field(default="", max_length=200)
