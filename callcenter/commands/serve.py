"""``callcenter serve``: the dashboard and API (Flask + Flask-SocketIO, threading mode).

Also a WSGI factory for gunicorn (one gthread worker per process, see docs/operations.md):
``gunicorn --no-control-socket -w 1 --threads 64 -b 0.0.0.0:8000 'callcenter.commands.serve:wsgi_app()'``.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.db import make_engine
from callcenter.errors import CallCenterError
from callcenter.settings import Settings
from web import Services, create_app
from web.server import serve_forever

logger = logging.getLogger(__name__)


def build_app(settings: Settings, app_ctx: AppContext | None = None) -> Any:  # a Flask app (core imports no flask)
    """The composition of the web app from settings (the engine and clock the views use)."""
    engine = app_ctx.engine if app_ctx is not None else make_engine(settings.resolved_database_url)
    return create_app(settings, Services(engine=engine, clock=SystemClock()))


def wsgi_app() -> Any:
    """For gunicorn and other WSGI servers: settings from the environment, like the `callcenter` command."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return build_app(settings)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=int)
@pass_app
def command(app_ctx: AppContext, host: str, port: int) -> None:
    """Serve the dashboard with the built-in threading server (see docs/operations.md for gunicorn)."""
    try:
        flask_app = build_app(app_ctx.settings, app_ctx)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"随访中心 dashboard on http://{host}:{port}/  (Ctrl-C to stop)")
    serve_forever(flask_app, host, port)
