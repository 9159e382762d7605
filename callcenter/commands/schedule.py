"""``callcenter schedule run|run-once|jobs``: the scheduler (one leader across processes)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from asr.item_specs import heard_value
from callcenter import scheduler
from callcenter.call_rules import rules_from_settings
from callcenter.cli import AppContext, pass_app
from callcenter.clock import FrozenClock
from callcenter.errors import CallCenterError

logger = logging.getLogger(__name__)


@click.group("schedule")
def command() -> None:
    """Planning, release of due tasks, lease expiry and batches on a timetable."""


def _runtime(app: AppContext) -> scheduler.Runtime:
    notifier = None
    if app.settings.redis_url:  # escalated alerts and released tasks reach the open inboxes and live board at once
        from web.realtime import SocketIONotifier

        notifier = SocketIONotifier.external(app.settings.redis_url)
    else:
        logger.info("no CALLCENTER_REDIS_URL: escalated alerts and released tasks show at the next refresh of the "
                    "alerts inbox and the live board")
    try:
        return scheduler.Runtime(engine=app.engine, settings=app.settings, rules=rules_from_settings(app.settings),
                                 answer_parser=heard_value, notifier=notifier)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("run-once")
@click.option("--at", "at_text", required=True, help="ISO date-time; without a zone it is the hospital's local time.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def run_once(app: AppContext, at_text: str, as_json: bool) -> None:
    """Run every job once for the moment AT (how tests and admins drive time)."""
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError as exc:
        raise click.BadParameter(f"{at_text!r} is not an ISO date-time such as 2025-10-09T09:00", param_hint="--at") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(app.settings.timezone))
    rt = _runtime(app)
    rt.clock = FrozenClock(at)
    try:
        result = scheduler.run_once(rt, at)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        assert rt.lock is not None
        rt.lock.release()
    if as_json:
        click.echo(json.dumps(result))
    else:
        for job, n in result.items():
            click.echo(f"{job}: {n}")


@command.command("jobs")
def jobs() -> None:
    """List the jobs, their ids and timetables."""
    for job in scheduler.JOBS:
        click.echo(f"{job.id:20} {job.trigger:14} callcenter.scheduler:job_{job.id}")


@command.command("run")
@click.option("--tick-seconds", type=int, default=None, help="Run interval jobs this often (testing).")
@pass_app
def run(app: AppContext, tick_seconds: int | None) -> None:
    """Run the scheduler in the foreground; only the leader among all processes acts."""
    scheduler.serve(_runtime(app), tick_seconds=tick_seconds)
