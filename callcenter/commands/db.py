"""``callcenter db upgrade|check|revision``."""

from __future__ import annotations

import click

from callcenter import migrate
from callcenter.cli import AppContext, pass_app


@click.group("db")
def command() -> None:
    """Database schema (Alembic migrations)."""


@command.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_app
def upgrade(app: AppContext, revision: str) -> None:
    """Create or upgrade the schema to REVISION."""
    migrate.upgrade(app.engine, revision)
    click.echo(f"database at {revision}")


@command.command("check")
@pass_app
def check(app: AppContext) -> None:
    """Fail when the models differ from the migrations."""
    migrate.check(app.engine)
    click.echo("no differences")


@command.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--rev-id", default=None)
@pass_app
def revision(app: AppContext, message: str, rev_id: str | None) -> None:
    """(developers) Autogenerate a migration against an upgraded database."""
    migrate.revision(app.engine, message, rev_id)
