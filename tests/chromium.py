"""Debian's Chromium for the browser tests (never `playwright install`: no downloads on this machine kind)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for candidate in (os.environ.get("CALLCENTER_CHROMIUM", ""), *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Chromium is needed for browser tests: apt-get install chromium (see .ci/apt-packages.txt)")
