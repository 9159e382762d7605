"""``callcenter tasks due --date D [--team T] [--json]``: the follow-up tasks of a day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click
from sqlmodel import col, select

from callcenter.call_rules import rules_from_settings
from callcenter.cli import AppContext, pass_app
from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from callcenter.models import FollowUpPlan, Task, Team
from callcenter.tasks import OPEN


@click.group("tasks")
def command() -> None:
    """Follow-up tasks (随访任务)."""


@command.command("due")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Local date (YYYY-MM-DD).")
@click.option("--team", default=None, help="Team key; 'pool' for tasks of no team. Default: every team.")
@click.option("--all", "include_closed", is_flag=True, help="Include completed, unreachable and cancelled tasks.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def due(app: AppContext, day: datetime, team: str | None, include_closed: bool, as_json: bool) -> None:
    """Tasks due on DATE (patients by id only)."""
    try:
        policy = rules_from_settings(app.settings).policy()
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    start = policy.local_day_start(day.date())
    end = policy.local_day_start(day.date() + timedelta(days=1))
    with session_scope(app.engine) as s:
        query = (select(Task, FollowUpPlan.key).join(FollowUpPlan, col(FollowUpPlan.id) == Task.plan_id, isouter=True)
                 .where(col(Task.due_at) >= start, col(Task.due_at) < end))
        if not include_closed:
            query = query.where(col(Task.status).in_(OPEN))
        if team == "pool":
            query = query.where(col(Task.team_id).is_(None))
        elif team:
            row = s.exec(select(Team).where(Team.key == team)).first()
            if row is None:
                raise click.ClickException(f"no team {team!r}; use a team key from the users screen, or 'pool'")
            query = query.where(Task.team_id == row.id)
        rows = s.exec(query.order_by(col(Task.queue_rank), col(Task.due_at), col(Task.id))).all()
    items = [{"id": t.id, "patient_id": t.patient_id, "plan": key or "", "point": t.point, "status": t.status.value,
              "channel": t.channel.value, "due_at": t.due_at.astimezone(policy.zone).isoformat(),
              "attempts": t.attempts, "team_id": t.team_id} for t, key in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for i in items:
        click.echo(f"{i['id']:>8} patient={i['patient_id']:<8} {i['plan']:22} {i['point']:6} {i['status']:11} "
                   f"{i['channel']:10} {i['due_at']}")
    click.echo(f"{len(items)} tasks due on {day.date()}")
