"""The audit trail: who saw, listened to, exported or changed what, when and from where (AuditEvent rows).

Callers pass the time from their Clock. Details never hold patient identifiers or transcripts — only ids.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from callcenter.models import AuditEvent, User

logger = logging.getLogger(__name__)


class AuditAction(enum.StrEnum):
    login = "auth.login"
    login_failed = "auth.login_failed"
    logout = "auth.logout"
    recording_play = "recording.play"
    recording_download = "recording.download"
    identity_reveal = "patient.reveal"  # national ID / phone shown unmasked
    patient_view = "patient.view"
    user_create = "user.create"
    user_deactivate = "user.deactivate"
    user_update = "user.update"
    user_reactivate = "user.reactivate"
    agent_token_issue = "user.agent_token"
    export = "export"
    script_publish = "script.publish"
    answer_edit = "answer.edit"  # a confirmed answer replaced (detail: ids only; the old row stays, superseded)
    alert_acknowledge = "alert.acknowledge"
    plan_edit = "plan.edit"
    script_draft = "script.draft"
    qa_view = "qa.view"  # a call opened in QA (transcript, answers)
    qa_review = "qa.review"
    caller_identify = "call.identify"  # a call in filed under the patient the nurse says called (detail: ids)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    username: str
    action: str
    object_type: str
    object_id: str
    remote_addr: str
    detail: dict[str, Any]


def record(
    session: Session,
    *,
    action: AuditAction | str,
    at: datetime,
    user_id: int | None,
    object_type: str = "",
    object_id: str | int = "",
    remote_addr: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session (committed with the caller's transaction)."""
    event = AuditEvent(
        at=at,
        user_id=user_id,
        action=str(action),
        object_type=object_type,
        object_id=str(object_id),
        remote_addr=remote_addr[:64],
        detail=dict(detail or {}),
    )
    session.add(event)
    session.flush()
    logger.debug("audit %s user=%s %s:%s", event.action, user_id, object_type, object_id)
    return event


def recent(
    session: Session,
    *,
    limit: int = 200,
    action: str | None = None,
    user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEntry]:
    """The latest audit events, newest first, optionally filtered."""
    query = (
        select(AuditEvent, User.username)
        .join(User, col(AuditEvent.user_id) == col(User.id), isouter=True)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
    )
    if action:
        query = query.where(AuditEvent.action == action)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.at) < until)
    out: list[AuditEntry] = []
    for event, username in session.exec(query):
        assert event.id is not None
        out.append(AuditEntry(event.id, event.at, event.user_id, username or "", event.action,
                              event.object_type, event.object_id, event.remote_addr, dict(event.detail)))
    return out
