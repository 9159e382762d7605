"""The SMS outbox on SQLite and PostgreSQL, sending to a real SMPP server (npm `smpp`) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from callcenter.clock import FrozenClock
from callcenter.db import session_scope
from callcenter.models import Patient, PatientPhone, Sex
from callcenter.models.sms import SmsMessage, SmsReply, SmsStatus
from callcenter.sms import service
from callcenter.sms.gateway import SmsGatewayUnavailable, SubmitResult
from callcenter.sms.smpp import SmppGateway

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOSPITAL = "示例医院"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def gateway(smsc: Any) -> Iterator[SmppGateway]:
    with SmppGateway("127.0.0.1", smsc.port, system_id=smsc.system_id, password=smsc.password,
                     timeout_s=5) as gw:
        yield gw


def _patient(engine: Engine, number: str = "13800138000", *, name: str = "张三", consent: bool = True) -> int:
    with session_scope(engine) as session:
        patient = Patient(name=name, sex=Sex.male, sms_consent=consent, mrn="mrn-" + number)
        session.add(patient)
        session.flush()
        assert patient.id is not None
        session.add(PatientPhone(patient_id=patient.id, number=number, kind="mobile"))
        return patient.id


def _enqueue(engine: Engine, clock: FrozenClock, patient_id: int, key: str | None = None) -> int:
    with session_scope(engine) as session:
        message = service.enqueue(session, patient_id=patient_id, template_key="pre_call_notice", variables={},
                                  hospital_name=HOSPITAL, clock=clock, dedupe_key=key)
        assert message.id is not None
        return message.id


def _message(engine: Engine, message_id: int) -> SmsMessage:
    with Session(engine) as session:
        message = session.get(SmsMessage, message_id)
        assert message is not None
        return message


def test_message_is_submitted_and_its_delivery_receipt_marks_it_delivered(
    engine: Engine, smsc: Any, gateway: SmppGateway, clock: FrozenClock
) -> None:
    message_id = _enqueue(engine, clock, _patient(engine))
    sent, inbound = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=5.0)
    submitted = smsc.wait_for("submit")
    assert submitted["to"] == "13800138000"
    assert submitted["text"].startswith("【示例医院】张先生您好，示例医院随访中心近日将致电您")
    assert (sent.submitted, inbound.delivered) == (1, 1)
    message = _message(engine, message_id)
    assert message.status is SmsStatus.delivered
    assert message.smsc_message_id == submitted["id"]
    assert message.attempts == 1 and message.final_at is not None


def test_undeliverable_receipt_marks_the_message_failed(
    engine: Engine, smsc: Any, gateway: SmppGateway, clock: FrozenClock
) -> None:
    smsc.command({"cmd": "receipt_stat", "stat": "UNDELIV"})
    smsc.wait_for("ok")
    message_id = _enqueue(engine, clock, _patient(engine))
    _, inbound = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=5.0)
    assert inbound.undelivered == 1
    message = _message(engine, message_id)
    assert message.status is SmsStatus.failed and "UNDELIV" in message.last_error


def test_opt_out_reply_turns_consent_off_and_stops_later_messages(
    engine: Engine, smsc: Any, gateway: SmppGateway, clock: FrozenClock
) -> None:
    patient_id = _patient(engine)
    other_id = _patient(engine, "13900139000", name="李四")
    first = _enqueue(engine, clock, patient_id, "first")
    service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=5.0)
    smsc.wait_for("submit")
    assert _message(engine, first).status is SmsStatus.delivered

    # queued before the reply arrives, due later
    pending = _enqueue(engine, clock, patient_id, "pending")
    with session_scope(engine) as session:
        row = session.get(SmsMessage, pending)
        assert row is not None
        row.next_attempt_at = clock.now() + timedelta(hours=1)
    smsc.command({"cmd": "mo", "from": "+8613800138000", "text": "TD"})
    _, inbound = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=5.0)
    assert (inbound.replies, inbound.opted_out) == (1, 1)

    with Session(engine) as session:
        patient = session.get(Patient, patient_id)
        other = session.get(Patient, other_id)
        assert patient is not None and other is not None
        assert not patient.sms_consent and other.sms_consent
        reply = session.exec(select(SmsReply)).one()
        assert (reply.number, reply.patient_id, reply.action) == ("13800138000", patient_id, "opt_out")
    assert _message(engine, pending).status is SmsStatus.blocked
    later = _enqueue(engine, clock, patient_id, "later")
    assert _message(engine, later).status is SmsStatus.blocked
    clock.advance(timedelta(hours=2))
    sent, _ = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=0.5)
    assert sent.submitted == 0
    with pytest.raises(AssertionError, match="no 'submit' event"):
        smsc.wait_for("submit", timeout_s=0.5)


def test_refused_submission_is_retried_after_backoff(
    engine: Engine, smsc: Any, gateway: SmppGateway, clock: FrozenClock
) -> None:
    smsc.command({"cmd": "refuse", "statuses": [0x58]})  # ESME_RTHROTTLED
    smsc.wait_for("ok")
    message_id = _enqueue(engine, clock, _patient(engine))
    sent, _ = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=0.2)
    smsc.wait_for("refused")
    assert sent.retrying == 1
    message = _message(engine, message_id)
    assert message.status is SmsStatus.queued and message.attempts == 1
    assert message.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert "Throttl" in message.last_error or "0x58" in message.last_error

    sent, _ = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=0.2)
    assert sent.submitted == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    sent, inbound = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=5.0)
    assert (sent.submitted, inbound.delivered) == (1, 1)
    message = _message(engine, message_id)
    assert message.status is SmsStatus.delivered and message.attempts == 2


def test_permanent_refusal_fails_without_retry(
    engine: Engine, smsc: Any, gateway: SmppGateway, clock: FrozenClock
) -> None:
    smsc.command({"cmd": "refuse", "statuses": [0x0B]})  # invalid destination address
    smsc.wait_for("ok")
    message_id = _enqueue(engine, clock, _patient(engine))
    sent, _ = service.run_batch(engine, gateway, clock, SHANGHAI, poll_s=0.2)
    assert sent.failed == 1
    assert _message(engine, message_id).status is SmsStatus.failed


class _DyingGateway:
    """Accepts the first message, then the SMSC connection breaks."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def submit(self, number: str, text: str) -> SubmitResult:
        if self.sent:
            raise SmsGatewayUnavailable("connection reset")
        self.sent.append(number)
        return SubmitResult(message_ids=("m1",))

    def poll(self, timeout_s: float) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def test_broken_connection_retries_the_current_message_and_releases_the_rest(
    sqlite_engine: Engine, clock: FrozenClock
) -> None:
    ids = [_enqueue(sqlite_engine, clock, _patient(sqlite_engine, f"1380013800{i}")) for i in range(3)]
    report = service.send_due(sqlite_engine, _DyingGateway(), clock, SHANGHAI)
    assert (report.submitted, report.retrying, report.released) == (1, 1, 1)
    first, second, third = (_message(sqlite_engine, i) for i in ids)
    assert first.status is SmsStatus.submitted
    assert second.status is SmsStatus.queued and second.attempts == 1
    assert third.status is SmsStatus.queued and third.attempts == 0 and third.claimed_at is None


def test_messages_wait_for_daytime(sqlite_engine: Engine) -> None:
    clock = FrozenClock(datetime(2026, 11, 25, 22, 0, tzinfo=SHANGHAI))
    message_id = _enqueue(sqlite_engine, clock, _patient(sqlite_engine))
    gateway = _DyingGateway()
    assert service.send_due(sqlite_engine, gateway, clock, SHANGHAI).submitted == 0
    assert gateway.sent == [] and _message(sqlite_engine, message_id).status is SmsStatus.queued
    clock.set(datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI))
    assert service.send_due(sqlite_engine, gateway, clock, SHANGHAI).submitted == 1


def test_stale_claim_from_a_dead_batch_is_sent_again(sqlite_engine: Engine, clock: FrozenClock) -> None:
    message_id = _enqueue(sqlite_engine, clock, _patient(sqlite_engine))
    with session_scope(sqlite_engine) as session:
        row = session.get(SmsMessage, message_id)
        assert row is not None
        row.status, row.claimed_at = SmsStatus.sending, clock.now()
    gateway = _DyingGateway()
    assert service.send_due(sqlite_engine, gateway, clock, SHANGHAI).submitted == 0
    clock.advance(timedelta(minutes=11))
    assert service.send_due(sqlite_engine, gateway, clock, SHANGHAI).submitted == 1


def test_patient_without_consent_or_mobile_gets_a_blocked_row(sqlite_engine: Engine, clock: FrozenClock) -> None:
    no_consent = _enqueue(sqlite_engine, clock, _patient(sqlite_engine, consent=False))
    with session_scope(sqlite_engine) as session:
        patient = Patient(name="王五", mrn="mrn-ww")
        session.add(patient)
        session.flush()
        assert patient.id is not None
        session.add(PatientPhone(patient_id=patient.id, number="010-12345678", kind="landline"))
        landline_only = patient.id
    no_mobile = _enqueue(sqlite_engine, clock, landline_only)
    assert (_message(sqlite_engine, no_consent).last_error, _message(sqlite_engine, no_mobile).last_error) == (
        "no_consent", "no_mobile")
    assert _message(sqlite_engine, no_mobile).status is SmsStatus.blocked


def test_same_dedupe_key_queues_once(sqlite_engine: Engine, clock: FrozenClock) -> None:
    patient_id = _patient(sqlite_engine)
    assert _enqueue(sqlite_engine, clock, patient_id, "appt:1") == _enqueue(sqlite_engine, clock, patient_id, "appt:1")
