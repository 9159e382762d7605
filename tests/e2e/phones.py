"""A scripted synchronous ``ports.Phone`` and ``ports.Recognizer`` for the agent's unit tests (the real ones are
exercised by tests/e2e/test_assisted_call.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from callcenter.ports import CallEvent


class ScriptedPhone:
    def __init__(self) -> None:
        self.listeners: list[Callable[[CallEvent], None]] = []
        self.actions: list[tuple[str, ...]] = []
        self._ids = itertools.count(1)

    def dial(self, uri: str, *, record_path: str | None = None) -> str:
        call_id = f"c{next(self._ids)}"
        self.actions.append(("dial", call_id, uri))
        return call_id

    def answer(self, call_id: str) -> None:
        self.actions.append(("answer", call_id))

    def hangup(self, call_id: str) -> None:
        self.actions.append(("hangup", call_id))

    def hold(self, call_id: str) -> None:
        self.actions.append(("hold", call_id))

    def resume(self, call_id: str) -> None:
        self.actions.append(("resume", call_id))

    def mute(self, call_id: str, muted: bool) -> None:
        self.actions.append(("mute", call_id, str(muted)))

    def send_dtmf(self, call_id: str, digits: str) -> None:
        self.actions.append(("dtmf", call_id, digits))

    def transfer(self, call_id: str, uri: str) -> None:
        self.actions.append(("transfer", call_id, uri))

    def add_listener(self, listener: Callable[[CallEvent], None]) -> None:
        self.listeners.append(listener)

    def close(self) -> None:
        self.actions.append(("close",))

    def fire(self, event: CallEvent) -> None:
        for listener in self.listeners:
            listener(event)


class ScriptedRecognizer:
    def __init__(self, locales: Sequence[str] = ("ko-KR",)) -> None:
        self.locales = tuple(locales)
        self.actions: list[tuple[object, ...]] = []

    def open_stream(self, call_id: str, locale: str) -> bool:
        self.actions.append(("open", call_id, locale))
        return locale in self.locales

    def set_grammar(self, call_id: str, item_id: str, phrases: Sequence[str]) -> None:
        self.actions.append(("grammar", call_id, item_id, tuple(phrases)))

    def feed(self, call_id: str, pcm: bytes) -> None:
        self.actions.append(("feed", call_id, len(pcm)))

    def close_stream(self, call_id: str) -> None:
        self.actions.append(("close", call_id))
