"""Call attempts, the outcome table, recordings and transcripts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class Outcome(SQLModel, table=True):
    """How an attempt ended. Data, not code: hospitals can extend the table."""

    code: str = Field(primary_key=True, max_length=32)
    label_zh: str = Field(max_length=64)
    aapor: str = Field(default="", max_length=16)
    contacted: bool = Field(default=False)
    final: bool = Field(default=False)  # closes the task
    final_for_number: bool = Field(default=False)  # this number is not tried again
    retry_delay_min: int = Field(default=0)
    try_next_number: bool = Field(default=False)
    note_required: bool = Field(default=False)
    sort: int = Field(default=0)


class CallAttempt(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    # None: a call in from a number no patient has (or several share) until the nurse says who called
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    phone_id: int | None = Field(default=None, foreign_key="patientphone.id")
    number: str = Field(default="", max_length=32)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    robot: str = Field(default="", max_length=64)  # robot worker id for robot calls
    direction: str = Field(default="outbound", max_length=16)
    sip_call_id: str = Field(default="", max_length=200)
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wrapped_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome_code: str | None = Field(default=None, foreign_key="outcome.code")
    note: str = Field(default="", sa_type=Text)


class Recording(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int | None = Field(default=None, foreign_key="callattempt.id", index=True)
    path: str = Field(max_length=500)  # two-channel WAV, nurse left / patient right
    compressed_path: str = Field(default="", max_length=500)
    duration_s: float = Field(default=0.0)
    sample_rate_hz: int = Field(default=8000)
    channels: int = Field(default=2)
    sha256: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class TranscriptSegment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="callattempt.id", index=True)
    speaker: str = Field(max_length=16)  # patient / nurse / robot
    t0_s: float = Field(default=0.0)
    t1_s: float = Field(default=0.0)
    text: str = Field(default="", sa_type=Text)
    confidence: float | None = None
    item_id: str = Field(default="", max_length=64)  # the question on screen when it was said
