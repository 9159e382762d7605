"""``callcenter serve``: the dashboard and API (Flask + Flask-SocketIO, threading mode) on the built-in
threading server. For gunicorn see ``callcenter.commands.wsgi`` and docs/operations.md."""

from __future__ import annotations

import click

from callcenter.cli import AppContext, pass_app
from callcenter.commands.wsgi import build_app
from callcenter.errors import CallCenterError
from web.server import serve_forever


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=int)
@pass_app
def command(app_ctx: AppContext, host: str, port: int) -> None:
    """Serve the dashboard with the built-in threading server (see docs/operations.md for gunicorn)."""
    try:
        flask_app = build_app(app_ctx.settings, app_ctx.engine)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"随访中心 dashboard on http://{host}:{port}/  (Ctrl-C to stop)")
    serve_forever(flask_app, host, port)
