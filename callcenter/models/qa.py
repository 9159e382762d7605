"""Quality assurance of calls: the automatic script-adherence check of every call, and supervisors' reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class AdherenceCheck(SQLModel, table=True):
    """The result of ``callcenter.adherence`` for one call attempt (one row per attempt, re-checked in place)."""

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="callattempt.id", unique=True, index=True)
    checked_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    flagged: bool = Field(default=False, index=True)
    # item ids of mandatory questions that were reachable but neither asked nor skipped with a reason
    missing_items: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{item_id, recorded, heard, heard_value}]: confirmed answers the patient's words contradict
    disagreements: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class QaReview(SQLModel, table=True):
    """A supervisor's review of one call: rubric scores, total, pass/fail, comment, and the callback it asked for."""

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="callattempt.id", index=True)
    reviewer_id: int = Field(foreign_key="app_user.id", index=True)
    reviewed_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    scores: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    total: int = Field(default=0)
    max_total: int = Field(default=0)
    passed: bool = Field(default=True)
    comment: str = Field(default="", sa_type=Text)
    callback_task_id: int | None = Field(default=None, foreign_key="task.id")
