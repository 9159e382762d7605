"""``callcenter sms …``: templates, the outbox, one send batch, a receipt listener, campaigns, consent."""

from __future__ import annotations

import json
import signal
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlmodel import Session, col, func, select

from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.db import session_scope
from callcenter.models.sms import SmsMessage, SmsStatus
from callcenter.sms import campaigns, jobs, service, templates
from callcenter.sms import outbox as outbox_rules
from callcenter.sms.gateway import SmsGatewayUnavailable


@click.group("sms")
def command() -> None:
    """SMS to patients (短信): templates, outbox, SMPP sending, replies (回复TD退订)."""


@command.command("templates")
@pass_app
def list_templates(app: AppContext) -> None:
    """Show the message templates and the variables each needs."""
    for t in templates.TEMPLATES.values():
        click.echo(f"{t.key}  {t.title}  variables: {', '.join(sorted(t.variables)) or '-'}")
        click.echo(f"    【{app.settings.hospital_name}】{t.text}{templates.OPT_OUT_HINT}")


@command.command("outbox")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def outbox(app: AppContext, as_json: bool) -> None:
    """Count the messages per status."""
    with Session(app.engine) as session:
        rows = session.exec(select(SmsMessage.status, func.count()).group_by(col(SmsMessage.status))).all()
    counts: dict[str, Any] = {str(status): n for status, n in rows}
    if as_json:
        click.echo(json.dumps(counts))
        return
    for status in SmsStatus:
        click.echo(f"{status.value:10} {counts.get(status.value, 0)}")


@command.command("send")
@click.option("--poll-seconds", default=5.0, show_default=True, help="How long to wait for receipts and replies.")
@pass_app
def send(app: AppContext, poll_seconds: float) -> None:
    """Run one batch: submit due messages, then apply delivery receipts and replies."""
    result = jobs.run_sms_batch(app.settings, engine=app.engine, poll_s=poll_seconds)
    if result is None:
        raise click.ClickException("SMS not sent: set CALLCENTER_SMPP_HOST (and check the SMSC is reachable)")
    sent, inbound = result
    click.echo(f"submitted {sent.submitted}, retrying {sent.retrying}, failed {sent.failed}, blocked {sent.blocked}; "
               f"delivered {inbound.delivered}, undelivered {inbound.undelivered}, replies {inbound.replies}, "
               f"opted out {inbound.opted_out}")


@command.command("listen")
@click.option("--send-every", default=30.0, show_default=True, help="Seconds between sends of due messages.")
@pass_app
def listen(app: AppContext, send_every: float) -> None:
    """Stay bound to the SMSC: send due messages and apply receipts and replies as they come (Ctrl-C stops)."""
    if not app.settings.smpp_host:
        raise click.ClickException("set CALLCENTER_SMPP_HOST to the SMSC's address")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    clock, tz = SystemClock(), ZoneInfo(app.settings.timezone)
    window = outbox_rules.parse_send_window(app.settings.sms_send_window)
    gateway = jobs.gateway_from_settings(app.settings)
    try:
        gateway.open()
        while not stop["now"]:
            service.run_batch(app.engine, gateway, clock, tz, poll_s=send_every, window=window)
    except SmsGatewayUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass
    finally:
        gateway.close()


@command.command("monthly")
@click.argument("group_key")
@click.option("--month", default=None, help="YYYY-MM (default: this month).")
@click.option("--template", "template_key", default=None, help="Template key (default: the group's own).")
@pass_app
def monthly(app: AppContext, group_key: str, month: str | None, template_key: str | None) -> None:
    """Queue the monthly chronic-disease message for every member of GROUP_KEY (once per month)."""
    clock = SystemClock()
    day = date.fromisoformat(month + "-01") if month else clock.now().astimezone(ZoneInfo(app.settings.timezone)).date()
    with session_scope(app.engine) as session:
        report = campaigns.queue_chronic_monthly(session, group_key=group_key, month=day,
                                                 hospital_name=app.settings.hospital_name, clock=clock,
                                                 template_key=template_key)
    click.echo(f"queued {report.queued}, blocked {report.blocked}, already queued {report.already}")


@command.command("reminders")
@click.option("--days-ahead", default=1, show_default=True)
@pass_app
def reminders(app: AppContext, days_ahead: int) -> None:
    """Queue reminders for the revisits DAYS_AHEAD days from today."""
    report = jobs.queue_appointment_reminders(app.settings, engine=app.engine, days_ahead=days_ahead)
    click.echo(f"queued {report.queued}, blocked {report.blocked}, already queued {report.already}")


@command.command("consent")
@click.argument("patient_id", type=int)
@click.argument("state", type=click.Choice(["on", "off"]))
@pass_app
def consent(app: AppContext, patient_id: int, state: str) -> None:
    """Record a patient's SMS consent (e.g. they asked to receive messages again)."""
    with session_scope(app.engine) as session:
        service.set_consent(session, patient_id, state == "on", SystemClock())
    click.echo(f"patient {patient_id}: sms consent {state}")
