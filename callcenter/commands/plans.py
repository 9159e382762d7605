"""``callcenter plans list|show|check|load``: the follow-up plans (随访方案)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click
from sqlmodel import col, select

from callcenter.cli import AppContext, pass_app
from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from callcenter.models import FollowUpPlan
from callcenter.planning import expand
from callcenter.plans_repo import (
    DEFAULT_PLANS_DIR,
    PlanDefinition,
    check_plans,
    definition_from_row,
    load_plan_dir,
    questionnaire_keys,
    upsert_plans,
)

DIR_OPTION = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                          default=DEFAULT_PLANS_DIR, show_default="the shipped plans", help="Folder of plan YAML files.")


@click.group("plans")
def command() -> None:
    """Follow-up plans: cohort, time points, questionnaire, channel, stop rules."""


def _summary(plan: PlanDefinition) -> dict[str, object]:
    return {"key": plan.key, "name": plan.name, "active": plan.active, "channel": plan.channel.value,
            "questionnaire": plan.questionnaire_key, "points": [o.key for o in plan.schedule.offsets()],
            "priority": plan.priority, "max_attempts": plan.max_attempts, "stop_rules": dict(plan.stop_rules)}


def _stored(app: AppContext) -> list[PlanDefinition]:
    with session_scope(app.engine) as s:
        return [definition_from_row(r) for r in s.exec(select(FollowUpPlan).order_by(col(FollowUpPlan.key))).all()]


@command.command("list")
@click.option("--files", is_flag=True, help="List the plan files of --dir instead of the database.")
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_(app: AppContext, files: bool, directory: Path, as_json: bool) -> None:
    """List the plans in the database (or in files with --files)."""
    try:
        plans = load_plan_dir(directory) if files else _stored(app)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([_summary(p) for p in plans], ensure_ascii=False, indent=2))
        return
    if not plans:
        click.echo("no plans; load the shipped ones with `callcenter plans load`")
    for p in plans:
        points = ",".join(o.key for o in p.schedule.offsets())
        click.echo(f"{p.key:24} {'active' if p.active else 'off':6} {p.channel.value:10} "
                   f"{p.questionnaire_key:20} {points}  {p.name}")


@command.command("show")
@click.argument("key")
@click.option("--anchor", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Show the due dates for a discharge on this date.")
@click.option("--files", is_flag=True, help="Read the plan from --dir instead of the database.")
@DIR_OPTION
@pass_app
def show(app: AppContext, key: str, anchor: datetime | None, files: bool, directory: Path) -> None:
    """Show one plan and its time points."""
    try:
        plans = {p.key: p for p in (load_plan_dir(directory) if files else _stored(app))}
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    if key not in plans:
        raise click.ClickException(f"no plan {key!r}; known: {', '.join(sorted(plans)) or 'none'}")
    plan = plans[key]
    click.echo(json.dumps(_summary(plan), ensure_ascii=False, indent=2))
    day = anchor.date() if anchor is not None else date.today()
    click.echo(f"time points for a discharge on {day}:")
    for p in expand(plan.schedule, day):
        click.echo(f"  {p.point:6} due {p.due_on} (window to {p.last_day})")


@command.command("check")
@DIR_OPTION
@pass_app
def check(app: AppContext, directory: Path) -> None:
    """Validate plan files and their questionnaire keys; exit 1 on any problem."""
    try:
        plans = load_plan_dir(directory)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    problems = check_plans(plans, questionnaire_keys())
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{len(plans)} plans OK")


@command.command("load")
@DIR_OPTION
@pass_app
def load(app: AppContext, directory: Path) -> None:
    """Insert or update the plans of --dir in the database (by key)."""
    try:
        plans = load_plan_dir(directory)
        with session_scope(app.engine) as s:
            result = upsert_plans(s, plans)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    for key, what in result.items():
        click.echo(f"{key}: {what}")
