"""Answers with provenance, the red flags they raise, and revisit appointments."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class AnswerSource(enum.StrEnum):
    asr = "asr"
    nurse = "nurse"
    dtmf = "dtmf"
    his = "his"


class Response(SQLModel, table=True):
    """One run of one questionnaire version for one patient (FHIR QuestionnaireResponse)."""

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id", index=True)  # the exact version asked
    patient_id: int = Field(foreign_key="patient.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="callattempt.id", index=True)
    status: str = Field(default="in_progress", max_length=16)  # in_progress / completed / partial
    run_state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scores: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Answer(SQLModel, table=True):
    """One confirmed answer. Amending adds a new row and marks the old one superseded (edit history)."""

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    item_id: str = Field(max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON))
    text: str = Field(default="", sa_type=Text)  # what was heard or typed
    source: AnswerSource = Field(default=AnswerSource.nurse)
    confidence: float | None = None
    audio_t0_s: float | None = None
    audio_t1_s: float | None = None
    confirmed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    confirmed_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    superseded: bool = Field(default=False)
    skipped_reason: str = Field(default="", max_length=200)


class Alert(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    response_id: int | None = Field(default=None, foreign_key="response.id")
    rule_id: str = Field(default="", max_length=64)
    item_id: str = Field(default="", max_length=64)
    severity: str = Field(default="high", max_length=16)  # low / medium / high / critical
    message: str = Field(default="", sa_type=Text)
    raised_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)  # the open inbox
    acknowledged_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    ack_note: str = Field(default="", sa_type=Text)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Appointment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id")
    department: str = Field(default="", max_length=100)
    scheduled_for: datetime = Field(sa_type=UTCDateTime, index=True)
    place: str = Field(default="", max_length=200)
    status: str = Field(default="booked", max_length=16)  # booked / confirmed / rescheduled / declined / done
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
