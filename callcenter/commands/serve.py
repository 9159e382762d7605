"""``callcenter serve``: the dashboard and API (Flask + Flask-SocketIO, threading mode) on the built-in
threading server. For gunicorn see ``callcenter.commands.wsgi`` and docs/operations.md.

``--with-softphone USER`` also runs USER's softphone agent in this process (a one-PC setup: see
``callcenter.commands.softphone``).

SIGTERM (``kill``, systemd) stops it like Ctrl-C: the server stops accepting, then the seat closes in its safe
order (agent link, phone: pjsua2 destroyed, no SIGABRT; speech workers), and the command exits 0.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from callcenter import users
from callcenter.cli import AppContext, pass_app
from callcenter.commands.wsgi import build_app
from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from web.server import serve_forever

logger = logging.getLogger(__name__)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--with-softphone", "softphone_user", default="",
              help="Also run this user's softphone agent in-process (one PC; issues a new agent token).")
@pass_app
def command(app_ctx: AppContext, host: str, port: int, softphone_user: str) -> None:
    """Serve the dashboard with the built-in threading server (see docs/operations.md for gunicorn)."""
    seat = None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it like Ctrl-C: server, then the seat
    try:
        try:
            flask_app = build_app(app_ctx.settings, app_ctx.engine)
            if softphone_user:
                from callcenter.commands.softphone import BackgroundSeat

                with session_scope(app_ctx.engine) as session:
                    token = users.issue_agent_token(session, softphone_user)
                local = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - the agent connects locally
                seat = BackgroundSeat(app_ctx.settings, f"http://{local}:{port}", token)
                seat.start()
        except CallCenterError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"随访中心 dashboard on http://{host}:{port}/  (Ctrl-C to stop)")
        serve_forever(flask_app, host, port)
    except KeyboardInterrupt:
        pass  # interrupted before serving (serve_forever handles its own): close what was started
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping already: a second TERM must not cut the close short
        try:
            if seat is not None:
                logger.info("stopping the in-process softphone")
                seat.close()
            logger.info("stopped")
        finally:
            signal.signal(signal.SIGTERM, previous)
