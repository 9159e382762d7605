"""Guard: every event kind the server sends to browsers has a handler in the dashboard's live.js."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.events import EventKind

LIVE_JS = Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "live.js"
AGENT_ONLY = {EventKind.agent_command}


@pytest.mark.parametrize("kind", [k for k in EventKind if k not in AGENT_ONLY], ids=lambda k: k.value)
def test_every_browser_event_kind_has_a_dashboard_handler(kind):
    kinds = re.search(r"var KINDS = \[([^\]]*)\]", LIVE_JS.read_text(encoding="utf-8")).group(1)
    assert f'"{kind.value}"' in kinds
