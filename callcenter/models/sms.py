"""SMS: the outbox of messages to patients and the replies (MO messages) they send back.

The outbox is the queue: the SMS batch job submits due messages over SMPP, retries with backoff, and delivery
receipts move a message to delivered/failed. A reply meaning "unsubscribe" (回复TD退订) turns the patient's
``sms_consent`` off; the reply row is the record of that consent change.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class SmsStatus(enum.StrEnum):
    queued = "queued"  # waiting for its send time (first try or a retry)
    sending = "sending"  # claimed by a batch, submission under way
    submitted = "submitted"  # accepted by the SMSC, waiting for the delivery receipt
    delivered = "delivered"  # final: the handset received it
    failed = "failed"  # final: refused for good, retries exhausted, or the receipt says undeliverable
    blocked = "blocked"  # final: not sent (no consent, opted out, deceased, no mobile number)
    cancelled = "cancelled"  # final: withdrawn by staff or by a stop rule


class SmsMessage(SQLModel, table=True):
    __tablename__ = "sms_message"
    __table_args__ = (
        Index("ix_sms_due", "status", "next_attempt_at"),
        Index("ix_sms_smsc_id", "smsc_message_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    number: str = Field(max_length=32)
    template_key: str = Field(default="", max_length=64)
    body: str = Field(sa_type=Text)
    parts: int = Field(default=1)
    # idempotency: the same reminder is never queued twice (e.g. "appt:17:d-1", "chronic:htn:2026-11:42")
    dedupe_key: str | None = Field(default=None, unique=True, max_length=128)
    status: SmsStatus = Field(default=SmsStatus.queued)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=5)
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    smsc_message_id: str = Field(default="", max_length=64)  # of the last part; receipts carry it
    last_error: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    final_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SmsReply(SQLModel, table=True):
    """One message a patient sent us (MO). ``action`` says what it did, e.g. ``opt_out``."""

    __tablename__ = "sms_reply"
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, index=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    text: str = Field(default="", sa_type=Text)
    action: str = Field(default="", max_length=32)  # opt_out / none
    received_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
