"""The doctors' alerts inbox: red flags raised by answers (``Alert`` rows written by ``raise_alerts``, for the
nurse's guided form in ``callcenter.call_form`` and for robot calls in ``callcenter.robocall_results``).

Alerts are rows, so none is lost across restarts. A doctor acknowledges one with a note (who, when, the note
are kept and audited); the time from raised to acknowledged is reported; an alert left unacknowledged longer
than ``Settings.alert_escalation_minutes`` is escalated by the scheduler job (``escalated_at`` set once).
Views show the patient masked (surname + 某, national ID masked); the full record is one audited click away.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from callcenter import audit
from callcenter.errors import Conflict, InvalidInput, NotFound
from callcenter.events import DOCTORS, SUPERVISORS, EventKind
from callcenter.models import Alert, Answer, Patient, Questionnaire, Response, User
from callcenter.ports import Notifier
from callcenter.privacy import mask_name, mask_national_id
from scripts_questionnaires import Engine
from scripts_questionnaires.runstate import RunState

logger = logging.getLogger(__name__)

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
MAX_NOTE_LENGTH = 2000


class AlertNotFound(NotFound):
    pass


class AlertAlreadyAcknowledged(Conflict):
    pass


@dataclass(frozen=True)
class AlertRow:
    id: int
    patient_id: int
    patient_label: str  # masked: surname + 某
    national_id_masked: str
    severity: str
    message: str
    item_id: str
    answer: str  # the answer that raised it, as stored
    questionnaire: str  # key@version
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str
    ack_note: str
    escalated_at: datetime | None

    @property
    def minutes_to_acknowledge(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return round((self.acknowledged_at - self.raised_at).total_seconds() / 60.0, 1)


@dataclass(frozen=True)
class AckSummary:
    acknowledged: int
    open: int
    escalated: int
    median_minutes: float | None
    max_minutes: float | None


@dataclass(frozen=True)
class RaisedAlertRow:
    """An ``Alert`` row just written: what the live notification carries (ids, never patient data)."""

    alert_id: int
    rule_id: str
    severity: str


def raise_alerts(session: Session, engine: Engine, state: RunState, response: Response, *, item_id: str,
                 now: datetime) -> tuple[RaisedAlertRow, ...]:
    """Evaluate the script's alert rules on the run ``state`` and write an ``Alert`` row for each rule that holds
    and has not been raised on ``response`` before (a rule raises once per response, even when answers are
    amended). ``item_id``: the answer after which they were raised. Returns the rows written, to be announced
    with ``notify_raised`` once the transaction is committed."""
    already = set(session.exec(select(Alert.rule_id).where(Alert.response_id == response.id)))
    rows = [Alert(patient_id=response.patient_id, response_id=response.id, rule_id=alert.id, item_id=item_id,
                  severity=alert.severity.value, message=alert.message, raised_at=now)
            for alert in engine.alerts(state) if alert.id not in already]
    session.add_all(rows)
    session.flush()
    for row in rows:
        logger.info("alert=%s rule=%s severity=%s raised on response=%s", row.id, row.rule_id, row.severity,
                    response.id)
    return tuple(RaisedAlertRow(a.id or 0, a.rule_id, a.severity) for a in rows)


def notify_raised(notifier: Notifier, raised: Iterable[RaisedAlertRow], *, task_id: int | None) -> None:
    """Announce alerts just raised (after their commit) to the doctors' inbox and the supervisors, live."""
    for alert in raised:
        for room in (SUPERVISORS, DOCTORS):  # DOCTORS: the alerts inbox reloads (web.alerts)
            notifier.emit(EventKind.alert, {"alert_id": alert.alert_id, "rule_id": alert.rule_id,
                                            "task_id": task_id, "severity": alert.severity}, room)


def _answer_text(value: Any) -> str:
    if isinstance(value, dict) and {"systolic", "diastolic"} <= set(value):
        return f"{value['systolic']}/{value['diastolic']}"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def list_alerts(session: Session, *, status: str = "open", limit: int = 200, patient_id: int | None = None
                ) -> list[AlertRow]:
    """``status``: ``open`` (unacknowledged, escalated first, then severity, oldest first), ``acknowledged``
    (newest first) or ``all``."""
    if status not in ("open", "acknowledged", "all"):
        raise InvalidInput(f"status {status!r}: use open, acknowledged or all")
    query = (select(Alert, Patient.name, Patient.national_id)
             .join(Patient, col(Patient.id) == col(Alert.patient_id)))
    if status == "open":
        query = query.where(col(Alert.acknowledged_at).is_(None)).order_by(col(Alert.raised_at))
    else:
        if status == "acknowledged":
            query = query.where(col(Alert.acknowledged_at).is_not(None))
        query = query.order_by(col(Alert.raised_at).desc())
    if patient_id is not None:
        query = query.where(Alert.patient_id == patient_id)
    rows = list(session.exec(query.limit(limit)))
    response_ids = {a.response_id for a, _, _ in rows if a.response_id is not None}
    answers: dict[tuple[int, str], Any] = {}
    versions: dict[int, str] = {}
    if response_ids:
        for ans in session.exec(select(Answer).where(col(Answer.response_id).in_(response_ids),
                                                     col(Answer.superseded).is_(False))):
            answers[(ans.response_id, ans.item_id)] = ans.value
        for rid, key, version in session.exec(
                select(Response.id, Questionnaire.key, Questionnaire.version)
                .join(Questionnaire, col(Questionnaire.id) == col(Response.questionnaire_id))
                .where(col(Response.id).in_(response_ids))):
            versions[int(rid or 0)] = f"{key}@{version}"
    user_ids = {a.acknowledged_by_id for a, _, _ in rows if a.acknowledged_by_id is not None}
    names = {u.id: (u.display_name or u.username) for u in session.exec(select(User).where(col(User.id).in_(user_ids)))
             } if user_ids else {}
    out = [
        AlertRow(a.id or 0, a.patient_id, mask_name(name), mask_national_id(nid), a.severity, a.message,
                 a.item_id, _answer_text(answers.get((a.response_id or 0, a.item_id))),
                 versions.get(a.response_id or 0, ""), a.raised_at, a.acknowledged_at,
                 names.get(a.acknowledged_by_id, ""), a.ack_note, a.escalated_at)
        for a, name, nid in rows
    ]
    if status == "open":
        out.sort(key=lambda r: (r.escalated_at is None, SEVERITY_ORDER.get(r.severity, 9), r.raised_at))
    return out


def acknowledge(session: Session, alert_id: int, *, user_id: int, note: str, now: datetime,
                remote_addr: str = "") -> Alert:
    """Mark the alert handled by ``user_id`` with ``note`` (what was done: called the patient, booked a visit…)."""
    note = note.strip()
    if not note:
        raise InvalidInput("write what was done (a short note) before acknowledging the alert")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"the note is longer than {MAX_NOTE_LENGTH} characters; shorten it")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} does not exist; reload the inbox")
    if alert.acknowledged_at is not None:
        raise AlertAlreadyAcknowledged(f"alert {alert_id} was already acknowledged; reload the inbox")
    alert.acknowledged_at, alert.acknowledged_by_id, alert.ack_note = now, user_id, note
    session.add(alert)
    audit.record(session, action=audit.AuditAction.alert_acknowledge, at=now, user_id=user_id,
                 object_type="alert", object_id=alert_id, remote_addr=remote_addr,
                 detail={"patient_id": alert.patient_id, "severity": alert.severity})
    session.flush()
    logger.info("alert=%s acknowledged by user=%s", alert_id, user_id)
    return alert


def escalate_overdue(session: Session, *, now: datetime, after_minutes: int) -> list[int]:
    """Mark every alert unacknowledged for ``after_minutes`` or more as escalated (once); returns their ids."""
    cutoff = now - timedelta(minutes=after_minutes)
    rows = list(session.exec(select(Alert).where(col(Alert.acknowledged_at).is_(None),
                                                 col(Alert.escalated_at).is_(None),
                                                 col(Alert.raised_at) <= cutoff)))
    for alert in rows:
        alert.escalated_at = now
        session.add(alert)
    session.flush()
    if rows:
        logger.warning("escalated %d unacknowledged alerts (first ids %s)", len(rows), [a.id for a in rows[:20]])
    return [a.id or 0 for a in rows]


def summary(rows: list[AlertRow]) -> AckSummary:
    """Time-to-acknowledge figures over ``rows`` (minutes)."""
    return _summary([(r.raised_at, r.acknowledged_at, r.escalated_at) for r in rows])


def summary_since(session: Session, since: datetime) -> AckSummary:
    """Time-to-acknowledge figures of the alerts raised since ``since`` (three columns, no ORM rows)."""
    query = select(Alert.raised_at, Alert.acknowledged_at, Alert.escalated_at).where(col(Alert.raised_at) >= since)
    return _summary([(raised, acked, escalated) for raised, acked, escalated in session.exec(query)])


def _summary(times: list[tuple[datetime, datetime | None, datetime | None]]) -> AckSummary:
    minutes = sorted(round((acked - raised).total_seconds() / 60.0, 1) for raised, acked, _ in times if acked)
    median = None
    if minutes:
        mid = len(minutes) // 2
        median = minutes[mid] if len(minutes) % 2 else round((minutes[mid - 1] + minutes[mid]) / 2, 1)
    return AckSummary(len(minutes), sum(1 for _, acked, _ in times if acked is None),
                      sum(1 for _, _, escalated in times if escalated is not None), median,
                      minutes[-1] if minutes else None)
