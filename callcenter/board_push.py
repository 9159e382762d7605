"""The one way the supervisors' live board hears that something changed: a ``queue_changed`` event to the
``SUPERVISORS`` room, throttled.

Every process that changes tasks or a nurse's state tells the board through a ``BoardPush`` on its notifier: the
web app (claim, dial, wrap-up, release), the scheduler (due tasks released, leases expired, callbacks returned to
the pool; through Redis) and the robocaller (robot calls started and finished; through Redis). The event carries
an id only; the board reads what it shows from the database (``callcenter.board``, ``web.board``).

At most one event every ``every_s`` seconds per process: the first change is told at once, the changes that
follow within the interval are held back and told as one when it ends — by a timer (``trailing``, for processes
without a loop of their own: the web app, the scheduler) or by the owner's loop calling ``flush``.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from callcenter.clock import Clock
from callcenter.events import SUPERVISORS, EventKind
from callcenter.ports import Notifier

logger = logging.getLogger(__name__)

BOARD_EVERY_S = 2.0


class BoardPush:
    """Tells the supervisors' board "look again", at most once every ``every_s`` seconds. Thread-safe."""

    def __init__(self, notifier: Notifier, clock: Clock, *, every_s: float = BOARD_EVERY_S,
                 trailing: bool = True) -> None:
        self.notifier, self.clock, self.every_s, self.trailing = notifier, clock, every_s, trailing
        self._lock = threading.Lock()
        self._held = False  # a change the board has not been told about yet
        self._task_id: int | None = None  # the latest change's task, if one task changed
        self._told_at: datetime | None = None
        self._timer: threading.Timer | None = None

    def changed(self, task_id: int | None = None) -> None:
        """Something the board shows changed: tell it now, or hold it back until the interval ends."""
        with self._lock:
            self._held, self._task_id = True, task_id
            if self._due():
                self._tell()
            elif self.trailing and self._timer is None:
                assert self._told_at is not None
                elapsed = (self.clock.now() - self._told_at).total_seconds()
                timer = threading.Timer(min(max(self.every_s - elapsed, 0.0), self.every_s),
                                        lambda: self._trail(timer))
                timer.daemon = True
                self._timer = timer
                timer.start()

    def flush(self) -> None:
        """Tell what is held back if the interval has passed (for an owner that loops: the robocaller)."""
        with self._lock:
            if self._held and self._due():
                self._tell()

    def last_word(self) -> None:
        """Tell what is held back now, whatever the interval (a run or a process ends)."""
        with self._lock:
            if self._held:
                self._tell()

    def _trail(self, timer: threading.Timer) -> None:
        with self._lock:
            if self._timer is not timer:  # cancelled: what it was for has been told meanwhile
                return
            self._timer = None
            if self._held:  # the timer waited out the interval (the injected clock may be frozen in tests)
                self._tell()

    def _due(self) -> bool:
        return self._told_at is None or (self.clock.now() - self._told_at).total_seconds() >= self.every_s

    def _tell(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        payload = {"task_id": self._task_id} if self._task_id is not None else {}
        self._held, self._task_id, self._told_at = False, None, self.clock.now()
        try:
            self.notifier.emit(EventKind.queue_changed, payload, SUPERVISORS)
        except Exception:  # the board is told again at the next change (and reloads on its own now and then)
            logger.warning("could not tell the supervisors' board of a change", exc_info=True)
