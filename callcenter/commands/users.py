"""``callcenter users add|list|deactivate|token|passwd``: staff accounts from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from callcenter import audit, users
from callcenter.audit import AuditAction
from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from callcenter.models import Role


@contextmanager
def _reported() -> Iterator[None]:
    """Domain errors become one-line CLI errors (exit status 1) instead of tracebacks."""
    try:
        yield
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("users")
def command() -> None:
    """Staff accounts: nurses, supervisors, doctors, administrators."""


@command.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default="", help="Name shown on screen, e.g. 王护士.")
@click.option("--team", default=None, help="Team key (created when new).")
@click.option("--department", default="")
@click.option("--sip-extension", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="CALLCENTER_NEW_USER_PASSWORD", help="Prompted when not given.")
@pass_app
def add(app: AppContext, username: str, role: str, display_name: str, team: str | None, department: str,
        sip_extension: str, password: str) -> None:
    """Create a user."""
    with _reported(), session_scope(app.engine) as session:
        member = users.create_user(session, username=username, password=password, role=Role(role),
                                   display_name=display_name, team_key=team, department=department,
                                   sip_extension=sip_extension)
        audit.record(session, action=AuditAction.user_create, at=SystemClock().now(), user_id=None,
                     object_type="user", object_id=member.id, remote_addr="cli", detail={"role": role})
    click.echo(f"created {member.username} ({member.role.value}) id={member.id}")


@command.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated users.")
@pass_app
def list_(app: AppContext, include_inactive: bool) -> None:
    """List users."""
    with _reported(), session_scope(app.engine) as session:
        members = users.list_members(session, include_inactive=include_inactive)
    for m in members:
        state = "" if m.active else "  (deactivated)"
        click.echo(f"{m.id:>5}  {m.username:<20} {m.role.value:<10} {m.display_name}{state}")


@command.command("deactivate")
@click.argument("username")
@pass_app
def deactivate(app: AppContext, username: str) -> None:
    """Block a user's logins and softphone agent token (history is kept)."""
    with _reported(), session_scope(app.engine) as session:
        member = users.deactivate(session, username)
        audit.record(session, action=AuditAction.user_deactivate, at=SystemClock().now(), user_id=None,
                     object_type="user", object_id=member.id, remote_addr="cli")
    click.echo(f"deactivated {member.username}")


@command.command("token")
@click.argument("username")
@pass_app
def token(app: AppContext, username: str) -> None:
    """Issue a new softphone agent token for USERNAME (printed once; the old one stops working)."""
    with _reported(), session_scope(app.engine) as session:
        member = users.find_member(session, username)
        value = users.issue_agent_token(session, username)
        audit.record(session, action=AuditAction.agent_token_issue, at=SystemClock().now(), user_id=None,
                     object_type="user", object_id=member.id, remote_addr="cli")
    click.echo(value)


@command.command("passwd")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="CALLCENTER_NEW_USER_PASSWORD")
@pass_app
def passwd(app: AppContext, username: str, password: str) -> None:
    """Set a user's password."""
    with _reported(), session_scope(app.engine) as session:
        users.set_password(session, username, password)
    click.echo(f"password of {username} changed")
