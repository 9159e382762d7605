"""The end-to-end tests reuse the web layer's fixture ladder (settings -> engine -> staff -> live app -> live
server -> Chromium) from tests/web/conftest.py."""

from __future__ import annotations

from tests.web.conftest import (  # noqa: F401 - fixtures, registered by being imported here
    BrowserActions,
    clock,
    live_app,
    live_server,
    new_page,
    published_script,
    queue_data,
    sqlite_engine,
    staff,
    ui,
    web_db_template,
)
