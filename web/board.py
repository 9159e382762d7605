"""The supervisors' live board: nurses and their state, queues, today's progress, robot campaigns.

The page renders the board once and reloads its fragment whenever a ``call_state`` or ``queue_changed`` event
reaches the supervisors' Socket.IO room (the events carry ids only; the fragment is read from the database).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template

from callcenter import board as boards
from callcenter.models import Role
from web.auth import role_required
from web.services import db, state

bp = Blueprint("board", __name__, url_prefix="/supervisor")

BOARD_ROLES = (Role.supervisor,)


T = TypeVar("T")


class Coalesced(Generic[T]):
    """Many callers, one computation at a time, and nobody served a result that started before they asked.

    Every supervisor's board reloads on the same ``queue_changed`` event, so they ask together; the board's
    counts cost 0.1-0.5 s on a large hospital's database. A caller that finds a computation running waits for
    the NEXT one (the running one may have read the database before the change she was told about), which it or
    another waiting caller starts and all of them share: at most two computations per burst, whatever the number
    of supervisors. A computation that fails fails only its own caller; a waiting caller then starts another.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = False
        self._started = 0  # computations started so far
        self._done = 0  # number of the newest computation that finished with a result
        self._result: T | None = None

    def get(self, compute: Callable[[], T]) -> T:
        with self._cond:
            need = self._started + 1  # the first computation to start after this call
            while True:
                if self._done >= need:
                    assert self._result is not None
                    return self._result
                if not self._running:
                    self._running = True
                    self._started += 1
                    mine = self._started
                    break
                self._cond.wait()
        try:
            result = compute()
        except BaseException:
            with self._cond:
                self._running = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._running = False
            if mine > self._done:
                self._result, self._done = result, mine
            self._cond.notify_all()
        return result


_COALESCED_KEY = "board_coalesced"


def _board() -> boards.Board:
    current = state()

    def compute() -> boards.Board:
        with db() as session:
            return boards.board(session, now=current.services.clock.now(), zone=ZoneInfo(current.settings.timezone))

    coalesced: Coalesced[boards.Board] = current_app.extensions.setdefault(_COALESCED_KEY, Coalesced())
    return coalesced.get(compute)


@bp.get("/board")
@role_required(*BOARD_ROLES)
def page() -> Any:
    return render_template("supervisor/board.html", board=_board())


@bp.get("/board/fragment")
@role_required(*BOARD_ROLES)
def fragment() -> Any:
    return render_template("supervisor/_board.html", board=_board())
