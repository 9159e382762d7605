"""The web app's composition for WSGI servers (gunicorn, one gthread worker per process; docs/operations.md):

    gunicorn --no-control-socket -w 1 --threads 100 -b 0.0.0.0:8000 'callcenter.commands.wsgi:wsgi_app()'

Kept apart from ``callcenter.cli`` (which imports every command module) so a WSGI server can import it first.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Engine

from asr.item_specs import heard_value
from asr.vocabulary import ModelVocabulary
from callcenter.clock import SystemClock
from callcenter.db import make_engine
from callcenter.recording_copies import RecordingCopies
from callcenter.settings import Settings
from web import Services, create_app


def build_app(settings: Settings, engine: Engine | None = None) -> Any:  # a Flask app (the core imports no flask)
    """The web app from settings: the engine and clock the views use, and the worker that makes the browser
    copies of the recordings softphone agents report, and the adherence check's reading of the transcript — the
    scheduler's (``callcenter.commands.schedule``), so a QA page never stores a weaker check."""
    engine = engine or make_engine(settings.resolved_database_url)
    return create_app(settings, Services(engine=engine, clock=SystemClock(), answer_parser=heard_value,
                                         recording_copies=RecordingCopies(engine, settings.recordings_path),
                                         vocabulary=ModelVocabulary.from_settings(settings)))


def wsgi_app() -> Any:
    """Settings from the environment, like the ``callcenter`` command."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return build_app(settings)
