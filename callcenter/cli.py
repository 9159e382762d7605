"""The ``callcenter`` command: the composition root. It reads the environment, builds the settings, the
engine and the adapters, and hands them to the use cases. Each command area lives in ``callcenter.commands``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import click
from sqlalchemy.engine import Engine

from callcenter.db import make_engine
from callcenter.settings import Settings

# Command modules, each exposing a click command or group named ``command`` (or a list ``commands``).
COMMAND_MODULES = [
    "callcenter.commands.db",
    "callcenter.commands.settings",
    "callcenter.commands.users",
    "callcenter.commands.serve",
    "callcenter.commands.demo",
    "callcenter.commands.ids",
    "callcenter.commands.intake",
    "callcenter.commands.mllp",
    "callcenter.commands.demo_data",
    "callcenter.commands.cohort",
    "callcenter.commands.sms",
    "callcenter.commands.robocaller",
    "callcenter.commands.devices",
    "callcenter.commands.patient_sim",
    "callcenter.commands.call",
    "callcenter.commands.plans",
    "callcenter.commands.tasks",
    "callcenter.commands.schedule",
    "callcenter.commands.models",
    "callcenter.commands.asr",
    "callcenter.commands.scripts",
]


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


@click.group()
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


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        commands: list[Any] = list(getattr(module, "commands", [])) or [module.command]
        for cmd in commands:
            main.add_command(cmd)


_register()
