"""Collects a phone's events and waits for the one a test expects (no sleeping)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from callcenter.ports import AudioFrame, CallEvent

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


class CollectingTapSink:
    """A ``TapSink`` that keeps frames in memory, for tests that wait on real audio (not on time)."""

    def __init__(self) -> None:
        self.frames: list[AudioFrame] = []
        self._cond = threading.Condition()

    def send(self, frame: AudioFrame) -> None:
        with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()

    def close(self) -> None:
        """Nothing to release."""

    def wait_for_voice(self, call_id: str, after_seq: int, timeout_s: float = 10.0, min_peak: int = 1000) -> int:
        """The seq of the first frame after ``after_seq`` whose peak exceeds ``min_peak``."""
        def found() -> int | None:
            for f in self.frames:
                if f.call_id == call_id and f.seq > after_seq and f.pcm and \
                        int(np.abs(np.frombuffer(f.pcm, dtype="<i2")).max()) > min_peak:
                    return f.seq
            return None

        with self._cond:
            ok = self._cond.wait_for(lambda: found() is not None, timeout=timeout_s)
            if not ok:
                raise AssertionError(f"no voice on call {call_id} after frame {after_seq} within {timeout_s} s")
            seq = found()
        assert seq is not None
        return seq

    def last_seq(self, call_id: str) -> int:
        with self._cond:
            return max((f.seq for f in self.frames if f.call_id == call_id), default=-1)
