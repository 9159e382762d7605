"""SMS use cases on the database: queue a message, send what is due, apply receipts and patients' replies.

Sending is two short transactions around the network call: claim (queued → sending), then record the result.
A batch that dies in between leaves messages in ``sending``; the next batch puts them back after
``outbox.STALE_SENDING`` (at-least-once: a rare duplicate beats a lost reminder).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, tzinfo

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.db import is_sqlite, session_scope
from callcenter.errors import PatientNotFound
from callcenter.identity import InvalidPhone, normalize_phone
from callcenter.models import Patient, PatientPhone
from callcenter.models.sms import SmsMessage, SmsReply, SmsStatus
from callcenter.sms import outbox, templates
from callcenter.sms.gateway import InboundEvent, InboundSms, SmsError, SmsGateway, SmsGatewayUnavailable
from callcenter.sms.receipts import DeliveryReceipt

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({SmsStatus.delivered, SmsStatus.failed, SmsStatus.blocked, SmsStatus.cancelled})


@dataclass(frozen=True)
class SendReport:
    submitted: int = 0
    retrying: int = 0
    failed: int = 0
    blocked: int = 0
    released: int = 0  # claimed but put back untouched (the SMSC went away mid-batch)


@dataclass(frozen=True)
class InboundReport:
    delivered: int = 0
    undelivered: int = 0
    replies: int = 0
    opted_out: int = 0


def normalise_number(number: str) -> str:
    """The stored form of a sender's number (+86 prefixes dropped); digits only when it is not Chinese."""
    try:
        return normalize_phone(number).number
    except InvalidPhone:
        return re.sub(r"\D", "", number)


def mobile_number(session: Session, patient_id: int) -> str | None:
    """The first usable mobile number of a patient (by rank), or None."""
    phone = session.exec(
        select(PatientPhone)
        .where(PatientPhone.patient_id == patient_id, PatientPhone.kind == "mobile",
               col(PatientPhone.invalid).is_(False))
        .order_by(col(PatientPhone.rank), col(PatientPhone.id))
    ).first()
    return phone.number if phone else None


def enqueue(
    session: Session,
    *,
    patient_id: int,
    template_key: str,
    variables: Mapping[str, str],
    hospital_name: str,
    clock: Clock,
    task_id: int | None = None,
    dedupe_key: str | None = None,
    send_at: datetime | None = None,
) -> SmsMessage:
    """Queue one templated message for a patient (idempotent per ``dedupe_key``).

    A patient without consent, deceased or without a mobile number gets a ``blocked`` row instead: the
    outbox shows why nothing was sent. Template errors raise before anything is written.
    """
    if dedupe_key:
        existing = session.exec(select(SmsMessage).where(SmsMessage.dedupe_key == dedupe_key)).first()
        if existing is not None:
            return existing
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"patient {patient_id} does not exist; import the patient before queueing SMS")
    values = {"salutation": templates.salutation(patient.name, str(patient.sex)), **variables}
    rendered = templates.render(template_key, values, hospital_name=hospital_name)
    number = mobile_number(session, patient_id)
    now = clock.now()
    reason = outbox.block_reason(sms_consent=patient.sms_consent, deceased=patient.deceased,
                                 has_mobile=number is not None)
    message = SmsMessage(
        patient_id=patient_id, task_id=task_id, number=number or "", template_key=template_key,
        body=rendered.body, parts=rendered.parts, dedupe_key=dedupe_key, created_at=now,
        next_attempt_at=send_at or now,
    )
    if reason is not None:
        message.status = SmsStatus.blocked
        message.last_error = str(reason)
        message.final_at = now
    session.add(message)
    session.flush()
    logger.info("sms=%s patient=%s template=%s %s", message.id, patient_id, template_key, message.status)
    return message


def cancel_for_task(session: Session, task_id: int, reason: str, clock: Clock) -> int:
    """Withdraw the queued messages of a task (e.g. its plan stopped); returns how many."""
    result = session.execute(
        update(SmsMessage)
        .where(col(SmsMessage.task_id) == task_id, col(SmsMessage.status) == SmsStatus.queued)
        .values(status=SmsStatus.cancelled, last_error=reason[:200], final_at=clock.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ----------------------------------------------------------------------------------------------------------------
# Sending
# ----------------------------------------------------------------------------------------------------------------


def _claim(engine: Engine, clock: Clock, limit: int) -> list[int]:
    now = clock.now()
    with session_scope(engine, immediate=True) as session:
        session.execute(
            update(SmsMessage)
            .where(col(SmsMessage.status) == SmsStatus.sending,
                   col(SmsMessage.claimed_at) < now - outbox.STALE_SENDING)
            .values(status=SmsStatus.queued, claimed_at=None)
        )
        query = (
            select(SmsMessage.id)
            .where(col(SmsMessage.status) == SmsStatus.queued, col(SmsMessage.next_attempt_at) <= now)
            .order_by(col(SmsMessage.next_attempt_at), col(SmsMessage.id))
            .limit(limit)
        )
        if not is_sqlite(engine):
            query = query.with_for_update(skip_locked=True)
        ids = [i for i in session.exec(query).all() if i is not None]
        if ids:
            session.execute(
                update(SmsMessage).where(col(SmsMessage.id).in_(ids))
                .values(status=SmsStatus.sending, claimed_at=now)
            )
    return ids


def send_due(engine: Engine, gateway: SmsGateway, clock: Clock, tz: tzinfo, *, limit: int = 200,
             window: tuple[time, time] = outbox.SEND_WINDOW) -> SendReport:
    """Submit the messages whose time has come (inside the daytime send window)."""
    if not outbox.in_send_window(clock.now(), tz, window):
        return SendReport()
    ids = _claim(engine, clock, limit)
    counts = {"submitted": 0, "retrying": 0, "failed": 0, "blocked": 0, "released": 0}
    for index, message_id in enumerate(ids):
        try:
            counts[_send_one(engine, gateway, clock, message_id)] += 1
        except SmsGatewayUnavailable:
            counts["retrying"] += 1
            counts["released"] += _release(engine, ids[index + 1:])
            logger.warning("sms batch stopped: the SMSC is unavailable; %s messages released", counts["released"])
            break
    return SendReport(**counts)


def _send_one(engine: Engine, gateway: SmsGateway, clock: Clock, message_id: int) -> str:
    with session_scope(engine) as session:
        message = session.get(SmsMessage, message_id)
        if message is None or message.status != SmsStatus.sending:
            return "released"
        patient = session.get(Patient, message.patient_id) if message.patient_id else None
        reason = outbox.block_reason(
            sms_consent=patient.sms_consent if patient else True,
            deceased=patient.deceased if patient else False,
            has_mobile=bool(message.number),
        )
        if reason is not None:  # consent withdrawn (e.g. a TD reply) after the message was queued
            _finish(message, SmsStatus.blocked, str(reason), clock.now())
            return "blocked"
        number, body = message.number, message.body
    # the network call runs outside any transaction
    try:
        result = gateway.submit(number, body)
    except SmsError as exc:
        with session_scope(engine) as session:
            message = session.get(SmsMessage, message_id)
            assert message is not None
            message.attempts += 1
            decision = outbox.after_failure(attempts=message.attempts, max_attempts=message.max_attempts,
                                            temporary=exc.temporary, now=clock.now())
            message.last_error = str(exc)[:200]
            message.claimed_at = None
            if decision.final:
                _finish(message, SmsStatus.failed, message.last_error, clock.now())
            else:
                message.status = decision.status
                assert decision.next_attempt_at is not None
                message.next_attempt_at = decision.next_attempt_at
            logger.info("sms=%s submit failed (attempt %s): %s", message_id, message.attempts, exc)
        if isinstance(exc, SmsGatewayUnavailable):
            raise
        return "failed" if decision.final else "retrying"
    with session_scope(engine) as session:
        message = session.get(SmsMessage, message_id)
        assert message is not None
        message.attempts += 1
        message.status = SmsStatus.submitted
        message.smsc_message_id = result.last_id
        message.submitted_at = clock.now()
        message.claimed_at = None
        message.last_error = ""
    logger.info("sms=%s submitted smsc_id=%s", message_id, result.last_id)
    return "submitted"


def _release(engine: Engine, ids: list[int]) -> int:
    if not ids:
        return 0
    with session_scope(engine) as session:
        result = session.execute(
            update(SmsMessage)
            .where(col(SmsMessage.id).in_(ids), col(SmsMessage.status) == SmsStatus.sending)
            .values(status=SmsStatus.queued, claimed_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _finish(message: SmsMessage, status: SmsStatus, reason: str, now: datetime) -> None:
    message.status = status
    message.last_error = reason[:200]
    message.final_at = now
    message.claimed_at = None


# ----------------------------------------------------------------------------------------------------------------
# What comes back: delivery receipts and replies
# ----------------------------------------------------------------------------------------------------------------


def apply_inbound(engine: Engine, events: Iterable[InboundEvent], clock: Clock) -> InboundReport:
    counts = {"delivered": 0, "undelivered": 0, "replies": 0, "opted_out": 0}
    with session_scope(engine) as session:
        for event in events:
            if isinstance(event, DeliveryReceipt):
                status = _apply_receipt(session, event, clock)
                if status is SmsStatus.delivered:
                    counts["delivered"] += 1
                elif status is SmsStatus.failed:
                    counts["undelivered"] += 1
            elif isinstance(event, InboundSms):
                counts["replies"] += 1
                counts["opted_out"] += _apply_reply(session, event, clock)
    return InboundReport(**counts)


def _apply_receipt(session: Session, receipt: DeliveryReceipt, clock: Clock) -> SmsStatus | None:
    status = receipt.status
    if status is None:
        return None
    message = session.exec(
        select(SmsMessage).where(SmsMessage.smsc_message_id == receipt.message_id,
                                 SmsMessage.status == SmsStatus.submitted)
    ).first()
    if message is None:
        logger.debug("receipt for unknown or settled smsc id %s", receipt.message_id)
        return None
    _finish(message, status, "" if status is SmsStatus.delivered else f"receipt {receipt.stat} err {receipt.err}",
            clock.now())
    logger.info("sms=%s %s", message.id, status)
    return status


def _apply_reply(session: Session, reply: InboundSms, clock: Clock) -> int:
    """Record a reply; an opt-out turns SMS consent off for every patient with that number. Returns 1 if so."""
    number = normalise_number(reply.number)
    phones = session.exec(select(PatientPhone).where(PatientPhone.number == number)).all()
    patient_ids = sorted({p.patient_id for p in phones})
    opt_out = outbox.is_opt_out(reply.text)
    now = clock.now()
    session.add(SmsReply(number=number, patient_id=patient_ids[0] if patient_ids else None, text=reply.text,
                         action="opt_out" if opt_out else "none", received_at=now))
    if not opt_out:
        return 0
    for patient_id in patient_ids:
        patient = session.get(Patient, patient_id)
        if patient is not None and patient.sms_consent:
            patient.sms_consent = False
            patient.updated_at = now
    if patient_ids:
        session.execute(
            update(SmsMessage)
            .where(col(SmsMessage.patient_id).in_(patient_ids), col(SmsMessage.status) == SmsStatus.queued)
            .values(status=SmsStatus.blocked, last_error=str(outbox.BlockReason.no_consent), final_at=now)
        )
    logger.info("sms opt-out reply: consent off for patients %s", patient_ids)
    return 1


def set_consent(session: Session, patient_id: int, consent: bool, clock: Clock) -> None:
    """Staff record of a patient's SMS consent (e.g. the patient asked to receive messages again)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"patient {patient_id} does not exist")
    patient.sms_consent = consent
    patient.updated_at = clock.now()


def run_batch(engine: Engine, gateway: SmsGateway, clock: Clock, tz: tzinfo, *, poll_s: float = 2.0,
              limit: int = 200, window: tuple[time, time] = outbox.SEND_WINDOW) -> tuple[SendReport, InboundReport]:
    """One run of the SMS job: send what is due, then take in receipts and replies for ``poll_s`` seconds."""
    sent = send_due(engine, gateway, clock, tz, limit=limit, window=window)
    try:
        events = gateway.poll(poll_s)
    except SmsGatewayUnavailable as exc:
        logger.warning("sms: no receipts this run: %s", exc)
        events = []
    return sent, apply_inbound(engine, events, clock)
