"""Scheduler hooks for SMS (APScheduler runs them as ``"callcenter.sms.jobs:run_sms_batch"`` etc.).

Each job builds what it needs from the settings (it is a small composition root for one job, which is why it may
construct the SMPP adapter) and runs one batch. SMS disabled (no ``CALLCENTER_SMPP_HOST``): messages stay queued.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from callcenter.clock import Clock, FrozenClock, SystemClock
from callcenter.db import make_engine, session_scope
from callcenter.settings import Settings
from callcenter.sms import campaigns, outbox, service
from callcenter.sms.gateway import SmsGatewayUnavailable
from callcenter.sms.smpp import SmppGateway

logger = logging.getLogger(__name__)


def gateway_from_settings(settings: Settings) -> SmppGateway:
    return SmppGateway(settings.smpp_host, settings.smpp_port, system_id=settings.smpp_system_id,
                       password=settings.smpp_password, source_addr=settings.smpp_source_addr)


def run_sms_batch(settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None,
                  poll_s: float = 5.0) -> tuple[service.SendReport, service.InboundReport] | None:
    """Send the due messages and take in receipts and replies; None when SMS is disabled or the SMSC is down."""
    window = outbox.parse_send_window(settings.sms_send_window)  # a bad setting fails before connecting
    engine = engine or make_engine(settings.resolved_database_url)
    clock = clock or SystemClock()
    with session_scope(engine) as session:  # due tasks of SMS-channel plans become messages first
        campaigns.queue_sms_tasks(session, hospital_name=settings.hospital_name, tz=ZoneInfo(settings.timezone),
                                  clock=clock)
    if not settings.smpp_host:
        logger.info("sms disabled (CALLCENTER_SMPP_HOST empty): messages stay in the outbox")
        return None
    gateway = gateway_from_settings(settings)
    try:
        gateway.open()
    except SmsGatewayUnavailable as exc:
        logger.warning("sms batch skipped: %s", exc)
        return None
    try:
        sent, inbound = service.run_batch(engine, gateway, clock, ZoneInfo(settings.timezone),
                                          poll_s=poll_s, window=window)
    finally:
        gateway.close()
    logger.info("sms batch: %s %s", sent, inbound)
    return sent, inbound


def scheduler_batch(*, engine: Engine, now: datetime, settings: Settings) -> int:
    """The scheduler's SMS hook (``callcenter.scheduler.BATCH_HOOKS["sms"]``): one batch; messages submitted."""
    result = run_sms_batch(settings, engine=engine, clock=FrozenClock(now), poll_s=2.0)
    return result[0].submitted if result is not None else 0


def queue_appointment_reminders(settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None,
                                days_ahead: int = 1) -> campaigns.QueueReport:
    """Daily: reminders for tomorrow's revisits."""
    engine = engine or make_engine(settings.resolved_database_url)
    with session_scope(engine) as session:
        return campaigns.queue_appointment_reminders(
            session, days_ahead=days_ahead, tz=ZoneInfo(settings.timezone), hospital_name=settings.hospital_name,
            clock=clock or SystemClock(),
        )
