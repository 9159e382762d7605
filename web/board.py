"""The supervisors' live board: nurses and their state, queues, today's progress, robot campaigns.

The page renders the board once and reloads its fragment whenever a ``call_state`` or ``queue_changed`` event
reaches the supervisors' Socket.IO room (the events carry ids only; the fragment is read from the database).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template

from callcenter import board as boards
from callcenter.models import Role
from web.auth import role_required
from web.services import db, state

bp = Blueprint("board", __name__, url_prefix="/supervisor")

BOARD_ROLES = (Role.supervisor,)


def _board() -> boards.Board:
    current = state()
    with db() as session:
        return boards.board(session, now=current.services.clock.now(), zone=ZoneInfo(current.settings.timezone))


@bp.get("/board")
@role_required(*BOARD_ROLES)
def page() -> Any:
    return render_template("supervisor/board.html", board=_board())


@bp.get("/board/fragment")
@role_required(*BOARD_ROLES)
def fragment() -> Any:
    return render_template("supervisor/_board.html", board=_board())
