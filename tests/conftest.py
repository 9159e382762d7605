"""Fixture ladder: settings(tmp_path) -> engine (SQLite and PostgreSQL) -> session.

Database tests take the ``engine`` fixture and run on BOTH backends. PostgreSQL is the server this machine
kind starts at 127.0.0.1:5432; each pytest run creates its own database and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import callcenter.models  # noqa: F401
from callcenter import migrate
from callcenter.db import make_engine
from callcenter.settings import Settings
from tests.chromium import CHROMIUM_ARGS, chromium_path

PG_ADMIN_URL = os.environ.get("CALLCENTER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "var"),
        recordings_dir=str(tmp_path / "recordings"),
        secret_key="test-" + uuid.uuid4().hex,
    )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this pytest run, migrated to head, dropped at the end."""
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"cc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed for the database tests: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
    else:
        url = request.getfixturevalue("pg_url")
        eng = make_engine(url)
        _truncate_all(eng)
        yield eng
        eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only, for fast tests of logic that does not depend on the backend."""
    eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """ONE Playwright + Chromium for the whole run: a second sync_playwright() in the same thread fails
    ("Sync API inside the asyncio loop"), so tests/web and tests/e2e must share this one."""
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 - only browser tests pay for it

    expect.set_options(timeout=15_000)  # a busy 2-core CI machine; expect() still returns as soon as it holds
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
