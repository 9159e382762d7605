"""A synthetic nurse voice for seats without a microphone (the one-PC demo, nurse training, end-to-end tests):
each question put on the nurse's screen is spoken into the call with espeak-ng, so a patient simulator hears it
and answers. It implements ``softphone.agent.QuestionVoice``; a real seat (a headset) has no voice: the nurse
reads the question herself.

espeak-ng runs as a subprocess on this module's own thread (``TtsCache``), never on the pj or media threads;
the WAV is played by pjsua2's native player (``PjsuaPhone.play``). The first question waits ``greeting_s`` after
the call's audio starts, so the patient's "hello?" is not talked over.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from softphone.errors import SoftphoneError
from softphone.phone import PjsuaPhone
from softphone.tts import TtsCache, Voice

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def spoken_text(item: Mapping[str, Any]) -> str:
    """The question as read aloud: patient variables are not known to the softphone, so they are left out."""
    return _PLACEHOLDER.sub("", str(item.get("text", ""))).strip()


class SpokenQuestions:
    def __init__(self, phone: PjsuaPhone, cache_dir: Path, *, greeting_s: float = 2.5, rate_wpm: int = 150) -> None:
        self.phone = phone
        self.tts = TtsCache(cache_dir)
        self.greeting_s = greeting_s
        self.rate_wpm = rate_wpm
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}  # call -> WAV of the question to speak once the patient can hear it
        self._live: set[str] = set()  # calls past their greeting
        self._jobs: queue.Queue[tuple[str, str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="question-voice", daemon=True)
        self._thread.start()

    # -- QuestionVoice (agent threads) ---------------------------------------------------------------------------
    def question(self, call_id: str, item: Mapping[str, Any], locale: str) -> None:
        text = spoken_text(item)
        if text:
            self._jobs.put((call_id, text, locale or "zh-CN"))

    def media_started(self, call_id: str) -> None:
        timer = threading.Timer(self.greeting_s, self._greeted, args=(call_id,))
        timer.daemon = True
        timer.start()

    def call_ended(self, call_id: str) -> None:
        with self._lock:
            self._pending.pop(call_id, None)
            self._live.discard(call_id)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(5)

    # -- own threads ---------------------------------------------------------------------------------------------
    def _greeted(self, call_id: str) -> None:
        with self._lock:
            self._live.add(call_id)
            wav = self._pending.pop(call_id, None)
        if wav is not None:
            self._play(call_id, wav)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            call_id, text, locale = job
            try:
                wav = str(self.tts.synthesize(text, Voice(locale, rate_wpm=self.rate_wpm)))
            except Exception as exc:  # no voice for the language, espeak missing: the call goes on silently
                logger.warning("call %s: cannot speak the question (%s)", call_id, exc)
                continue
            with self._lock:
                live = call_id in self._live
                if not live:
                    self._pending[call_id] = wav  # the newest question replaces an unspoken one
            if live:
                self._play(call_id, wav)

    def _play(self, call_id: str, wav: str) -> None:
        try:
            self.phone.play(call_id, wav)
        except SoftphoneError as exc:
            logger.info("call %s: question not played (%s)", call_id, exc)
