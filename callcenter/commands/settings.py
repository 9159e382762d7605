"""``callcenter settings``: print the effective settings (secrets masked)."""

from __future__ import annotations

import json

import click

from callcenter.cli import AppContext, pass_app
from callcenter.settings import SETTINGS


@click.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--help-table", is_flag=True, help="Print the documentation table of all settings.")
@pass_app
def command(app: AppContext, as_json: bool, help_table: bool) -> None:
    """Show the effective settings."""
    if help_table:
        for s in SETTINGS:
            click.echo(f"| `{s.env_var}` | `{s.default}` | {s.help} |")
        return
    items = app.settings.public_items()
    if as_json:
        click.echo(json.dumps(dict(items), ensure_ascii=False, indent=2))
        return
    for name, value in items:
        click.echo(f"{name} = {value}")
