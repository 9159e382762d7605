"""Fixtures for the planning / queue tests."""

from __future__ import annotations

import pytest
from sched_world import Hospital
from sqlalchemy.engine import Engine

from callcenter.call_rules import CallRules
from callcenter.db import session_scope
from callcenter.models import Role, User
from callcenter.outcomes import seed_outcomes


@pytest.fixture
def hospital(engine: Engine) -> Hospital:
    """Outcomes seeded and one nurse, ``user:1`` (every test database starts empty, so her id is 1)."""
    with session_scope(engine) as s:
        seed_outcomes(s)
        nurse = User(username="nurse1", role=Role.nurse)
        s.add(nurse)
        s.flush()
        assert nurse.id == 1
    return Hospital(engine)


@pytest.fixture
def rules() -> CallRules:
    return CallRules(horizon_days=30)
