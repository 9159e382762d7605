"""What the web layer receives from the composition root, and how a request reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.engine import Engine
from sqlmodel import Session

from callcenter.adherence import TextParser
from callcenter.call_rules import CallRules
from callcenter.clock import Clock, SystemClock
from callcenter.db import session_scope
from callcenter.ports import SpeechVocabulary
from callcenter.recording_copies import RecordingCopies
from callcenter.settings import Settings

EXTENSION_KEY = "callcenter"


@dataclass
class Services:
    """The core's entry points the views call. Later phases add the call services (start attempt, answers)."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    # How the script-adherence check reads what the patient said: the composition root passes the scheduler's
    # (asr.item_specs.heard_value: choices, numbers, blood pressure), since the first check of a call is stored for
    # good. None: the QA pages store no check of their own and the calls wait for the scheduler's job.
    answer_parser: TextParser | None = None
    # browser copies of the recordings agents report, made in the background (None: left to the scheduler)
    recording_copies: RecordingCopies | None = None
    # the script editor's check of spoken phrases against the speech models' vocabularies (None: not checked)
    vocabulary: SpeechVocabulary | None = None


@dataclass(frozen=True)
class AppState:
    settings: Settings
    services: Services
    rules: CallRules  # call windows, calendar, lease length (from the settings)


def state() -> AppState:
    found: AppState = current_app.extensions[EXTENSION_KEY]
    return found


@contextmanager
def db(*, immediate: bool = False) -> Iterator[Session]:
    """One transaction for one use case (``immediate``: take SQLite's write lock at once, for claims)."""
    with session_scope(state().services.engine, immediate=immediate) as session:
        yield session


def local_today() -> date:
    """Today in the hospital's time zone, from the injected clock."""
    current = state()
    return current.services.clock.now().astimezone(ZoneInfo(current.settings.timezone)).date()
