"""One call's speech pipeline inside an ASR worker: VAD → segmenter → decoder per utterance → events.

Only speech reaches the decoder (RECIPES: 40 live calls on 2 cores with VAD gating, 20 without). The grammar
of the current question is stored when it arrives and used from the next utterance on: an utterance in
progress finishes with the grammar it started with (and reports that question's id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from asr.decoded import Decoded
from asr.segmenter import Segmenter, SegmenterConfig, SpeechAudio, SpeechEnded, SpeechStarted
from callcenter.ports import PartialText, Utterance, Word

logger = logging.getLogger(__name__)

PARTIAL_EVERY_FRAMES = 10  # a partial result every 200 ms of speech
HOLD_AFTER_UNVOICED_FRAMES = 10  # after 200 ms without voice, hold frames back until voice returns


class Decoder(Protocol):
    def accept(self, pcm: bytes) -> None: ...

    def partial(self) -> str: ...

    def final(self) -> Decoded: ...


StreamEvent = PartialText | Utterance


class CallStream:
    def __init__(self, call_id: str, is_speech: Callable[[bytes], bool],
                 make_decoder: Callable[[str], Decoder], config: SegmenterConfig | None = None,
                 decode_without_grammar: bool = False, wall_clock: Callable[[], float] = time.time) -> None:
        self.call_id = call_id
        self._wall_clock = wall_clock
        self._is_speech = is_speech
        self._make_decoder = make_decoder
        self._segmenter = Segmenter(config)
        self._grammar_json = ""
        self._item_id = ""
        self._decoder: Decoder | None = None
        self._utterance_item = ""
        self._start_s = 0.0  # the decoder's audio starts here (pre-roll included): word times count from it
        self._speech_s = 0.0  # the patient began speaking here: the utterance's start
        self._frames = 0
        self._last_partial = ""
        self._unvoiced_run = 0
        self._held: list[bytes] = []
        self.utterances = 0
        self._free = decode_without_grammar  # offline transcription only: free decoding is too slow live

    def set_grammar(self, item_id: str, grammar_json: str) -> None:
        """The grammar of the question now asked; applied at the next utterance start."""
        self._item_id, self._grammar_json = item_id, grammar_json

    def feed(self, pcm: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for ev in self._segmenter.push(pcm, self._is_speech(pcm)):
            if isinstance(ev, SpeechStarted):
                self._begin(ev.t_s, ev.speech_s)
            elif isinstance(ev, SpeechAudio):
                events.extend(self._audio(ev.pcm, ev.voiced))
            elif isinstance(ev, SpeechEnded):
                events.extend(self._finish(ev))
        return events

    def close(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for ev in self._segmenter.flush():
            if isinstance(ev, SpeechEnded):
                events.extend(self._finish(ev))
        return events

    def _begin(self, t_s: float, speech_s: float) -> None:
        self._start_s, self._speech_s, self._frames, self._last_partial = t_s, speech_s, 0, ""
        self._unvoiced_run, self._held = 0, []
        self._utterance_item = self._item_id
        self._decoder = self._make_decoder(self._grammar_json) if self._grammar_json or self._free else None

    def _audio(self, pcm: bytes, voiced: bool) -> list[StreamEvent]:
        """Decode the frame — except the tail of a pause: most of the 700 ms end window is silence that
        would only cost decoding time, so it is held back and decoded only if the patient goes on."""
        if self._decoder is None:
            return []
        self._unvoiced_run = 0 if voiced else self._unvoiced_run + 1
        if self._unvoiced_run > HOLD_AFTER_UNVOICED_FRAMES:
            self._held.append(pcm)
            return []
        for held in self._held:
            self._decoder.accept(held)
        self._held.clear()
        self._decoder.accept(pcm)
        self._frames += 1
        if self._frames % PARTIAL_EVERY_FRAMES:
            return []
        text = self._decoder.partial()
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [PartialText(self.call_id, text)]

    def _finish(self, end: SpeechEnded) -> list[StreamEvent]:
        closed_at = self._wall_clock()  # before decoding: the latency of the final result counts from here
        decoder, self._decoder = self._decoder, None
        self.utterances += 1
        if decoder is None:
            return [Utterance(self.call_id, "", self._speech_s, end.last_voiced_s, 0.0,
                              item_id=self._utterance_item, closed_at=closed_at)]
        decoded = decoder.final()
        t0 = self._start_s
        words = tuple(Word(w.text, round(t0 + w.start_s, 3), round(t0 + w.end_s, 3), w.confidence)
                      for w in decoded.words)
        # the utterance starts where the speaking began, a hesitation the grammar has no word for (음…, 嗯…)
        # included; the words keep their own times
        start = min(words[0].t0_s, self._speech_s) if words else self._speech_s
        stop = words[-1].t1_s if words else end.last_voiced_s
        return [Utterance(self.call_id, decoded.text, start, stop, decoded.confidence, words,
                          decoded.alternatives, item_id=self._utterance_item, closed_at=closed_at)]
