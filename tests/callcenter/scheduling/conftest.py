"""Fixtures for the planning / queue tests."""

from __future__ import annotations

import pytest
from sched_world import Hospital
from sqlalchemy.engine import Engine

from callcenter.call_rules import CallRules
from callcenter.db import session_scope
from callcenter.outcomes import seed_outcomes


@pytest.fixture
def hospital(engine: Engine) -> Hospital:
    with session_scope(engine) as s:
        seed_outcomes(s)
    return Hospital(engine)


@pytest.fixture
def rules() -> CallRules:
    return CallRules(horizon_days=30)
