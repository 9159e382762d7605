"""The ``callcenter`` command: the composition root. It reads the environment, builds the settings, the
engine and the adapters, and hands them to the use cases. Each command area lives in ``callcenter.commands``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field

import click
from sqlalchemy.engine import Engine

from callcenter.db import make_engine
from callcenter.settings import Settings

# Command name -> "module" (exposing ``command``) or "module:attribute". Imported only when the command runs,
# so `callcenter --help` and light commands do not load pjsua2, Vosk or Flask.
COMMANDS: dict[str, str] = {
    "db": "callcenter.commands.db",
    "settings": "callcenter.commands.settings",
    "users": "callcenter.commands.users",
    "serve": "callcenter.commands.serve",
    "demo": "callcenter.commands.demo",
    "ids": "callcenter.commands.ids",
    "import": "callcenter.commands.intake",
    "mllp": "callcenter.commands.mllp",
    "cohort": "callcenter.commands.cohort",
    "patients": "callcenter.commands.cohort:patients_command",
    "demo-data": "callcenter.commands.demo_data",
    "sms": "callcenter.commands.sms",
    "robocaller": "callcenter.commands.robocaller",
    "devices": "callcenter.commands.devices",
    "patient-sim": "callcenter.commands.patient_sim",
    "call": "callcenter.commands.call",
    "plans": "callcenter.commands.plans",
    "tasks": "callcenter.commands.tasks",
    "schedule": "callcenter.commands.schedule",
    "models": "callcenter.commands.models",
    "asr": "callcenter.commands.asr",
    "scripts": "callcenter.commands.scripts",
    "softphone": "callcenter.commands.softphone",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        found: click.Command = getattr(importlib.import_module(module_name), attribute or "command")
        return found


@dataclass
class AppContext:
    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.resolved_database_url)
        return self._engine


pass_app = click.make_pass_decorator(AppContext)


@click.group(cls=LazyGroup)
@click.option("--log-level", default=None, help="Override CALLCENTER_LOG_LEVEL.")
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """随访中心 — hospital follow-up call centre."""
    settings = Settings.from_env()
    logging.basicConfig(
        level=(log_level or settings.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = AppContext(settings=settings)
