"""Collects a phone's events and waits for the one a test expects (no sleeping)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from callcenter.ports import CallEvent

E = TypeVar("E")


class EventLog:
    def __init__(self) -> None:
        self.events: list[CallEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: CallEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[E], **fields: Any) -> list[E]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)
                    and all(getattr(e, k) == v for k, v in fields.items())]

    def wait_for(self, kind: type[E], timeout_s: float = 10.0, where: Callable[[E], bool] | None = None,
                 **fields: Any) -> E:
        """The first event of ``kind`` with these field values (and ``where``), waiting up to ``timeout_s``."""
        def found() -> E | None:
            for e in self.of(kind, **fields):
                if where is None or where(e):
                    return e
            return None

        with self._cond:
            ok = self._cond.wait_for(lambda: found() is not None, timeout=timeout_s)
        if not ok:
            raise AssertionError(f"no {kind.__name__} {fields} within {timeout_s} s; got {self.events[-8:]}")
        result = found()
        assert result is not None
        return result
