"""A call's stream with a scripted decoder: grammar switching between utterances, times, events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from asr.decoded import Decoded, DecodedWord
from asr.stream import CallStream
from callcenter.ports import PartialText, Utterance

QUIET = (np.random.default_rng(1).standard_normal(160) * 30).astype("<i2").tobytes()
LOUD = (np.random.default_rng(2).standard_normal(160) * 3000).astype("<i2").tobytes()


@dataclass
class ScriptedDecoder:
    grammar: str
    frames: int = 0
    log: list[str] = field(default_factory=list)

    def accept(self, pcm: bytes) -> None:
        self.frames += 1

    def partial(self) -> str:
        return "네"

    def final(self) -> Decoded:
        self.log.append(self.grammar)
        return Decoded("네", (DecodedWord("네", 0.3, 0.5, 0.9),), 0.9, ("예",))


def make_stream() -> tuple[CallStream, list[ScriptedDecoder]]:
    made: list[ScriptedDecoder] = []

    def factory(grammar: str) -> ScriptedDecoder:
        made.append(ScriptedDecoder(grammar))
        return made[-1]

    return CallStream("call-1", lambda pcm: pcm == LOUD, factory), made


def feed(stream: CallStream, pattern: str) -> list[object]:
    out: list[object] = []
    for ch in pattern:
        out += stream.feed(LOUD if ch == "#" else QUIET)
    return out


def test_without_a_grammar_speech_is_segmented_but_not_decoded() -> None:
    stream, made = make_stream()
    events = feed(stream, "." * 50 + "#" * 20 + "." * 60)
    assert made == []
    assert [type(e) for e in events] == [Utterance] and events[0].text == ""


def test_utterance_carries_text_words_alternatives_and_call_relative_times() -> None:
    stream, made = make_stream()
    stream.set_grammar("pain", '["네"]')
    events = feed(stream, "." * 50 + "#" * 20 + "." * 60)
    utt = [e for e in events if isinstance(e, Utterance)][0]
    start_s = (50 + 7 - 15) * 0.02  # pre-roll start
    assert utt.item_id == "pain" and utt.text == "네" and utt.alternatives == ("예",)
    assert utt.words[0].t0_s == round(start_s + 0.3, 3) and utt.t1_s == round(start_s + 0.5, 3)
    assert utt.t0_s == 50 * 0.02  # where the speaking began, before the first word the decoder placed
    # pre-roll, the rest of the speech, and the first 200 ms of the pause; the rest of the end window is held back
    assert made[0].frames == 15 + (20 - 7) + 10
    assert any(isinstance(e, PartialText) for e in events)


def test_grammar_change_mid_utterance_applies_from_the_next_utterance() -> None:
    stream, made = make_stream()
    stream.set_grammar("pain", '["네"]')
    out = feed(stream, "." * 50 + "#" * 10)
    stream.set_grammar("fever", '["아니요"]')
    out += feed(stream, "#" * 10 + "." * 60 + "#" * 20 + "." * 60)
    items = [e.item_id for e in out if isinstance(e, Utterance)]
    assert items == ["pain", "fever"]
    assert [d.grammar for d in made] == ['["네"]', '["아니요"]']


def test_close_finishes_the_utterance_in_progress() -> None:
    stream, made = make_stream()
    stream.set_grammar("pain", '["네"]')
    feed(stream, "." * 50 + "#" * 30)
    assert [type(e) for e in stream.close()] == [Utterance]


def test_a_pause_inside_an_answer_is_decoded_when_the_patient_goes_on() -> None:
    stream, made = make_stream()
    stream.set_grammar("pain", '["네"]')
    feed(stream, "." * 50 + "#" * 20 + "." * 25 + "#" * 20 + "." * 60)
    assert made[0].frames == 15 + 13 + 25 + 20 + 10  # the whole 0.5 s pause reached the decoder


def test_utterance_is_stamped_with_the_wall_clock_when_endpointing_closed_it_before_decoding() -> None:
    ticks = iter([1000.25, 1007.5])
    order: list[str] = []

    def clock() -> float:
        order.append("clock")
        return next(ticks)

    class LoggingDecoder(ScriptedDecoder):
        def final(self) -> Decoded:
            order.append("final")
            return super().final()

    stream = CallStream("call-1", lambda pcm: pcm == LOUD, LoggingDecoder, wall_clock=clock)
    stream.set_grammar("pain", '["네"]')
    first = [e for e in feed(stream, "." * 50 + "#" * 20 + "." * 60) if isinstance(e, Utterance)]
    second = [e for e in feed(stream, "#" * 20 + "." * 60) if isinstance(e, Utterance)]
    assert [u.closed_at for u in first + second] == [1000.25, 1007.5]
    assert order == ["clock", "final", "clock", "final"]  # decoding time counts in the measured latency
