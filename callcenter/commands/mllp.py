"""``callcenter mllp listen``: receive HL7 v2 ADT messages over MLLP and acknowledge each one."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import click

from callcenter.call_rules import rules_from_settings
from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.generation import arrival_planner
from callcenter.intake.mllp import AdtHandler, MllpServer

logger = logging.getLogger(__name__)


@click.group("mllp")
def command() -> None:
    """HL7 v2 over MLLP (TCP)."""


@command.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=2575, show_default=True, type=int)
@click.option("--source-system", default="his", show_default=True)
@click.option("--encoding", default="utf-8", show_default=True)
@pass_app
def listen(app: AppContext, host: str, port: int, source_system: str, encoding: str) -> None:
    """Listen for ADT messages; answer AA (stored), AE (bad value, reason in MSA-3/ERR) or AR (rejected)."""
    planner = arrival_planner(rules_from_settings(app.settings), SystemClock())  # tasks as encounters arrive
    handler = AdtHandler(app.engine, source_system=source_system, tz=ZoneInfo(app.settings.timezone),
                         planner=planner)
    server = MllpServer((host, port), handler, encoding=encoding)
    click.echo(f"MLLP listening on {host}:{server.server_address[1]} (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        logger.info("mllp: stopped; acknowledgements %s", handler.counts)
