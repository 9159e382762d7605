"""End to end with the real Korean Vosk model on espeak-ng speech in the 8 kHz telephone band."""

from __future__ import annotations

from typing import Any

import pytest
from speech_audio import KO_VOICES, say, turn_stream

from asr.fields import parse_answer
from asr.item_specs import answer_value, item_grammar, spec_from_item
from asr.stream import CallStream
from asr.synth import frames, line_noise, silence
from asr.vad import WebrtcVad
from callcenter.ports import Utterance
from scripts_questionnaires.library import library_script

pytestmark = pytest.mark.speech

SCRIPT = library_script("ko-test")


def utterances(model: Any, pcm: bytes, item_id: str, grammar_json: str) -> list[Utterance]:
    stream = CallStream("call-1", WebrtcVad(2).is_speech, lambda g: model.decoder(g, 8000, 3))
    stream.set_grammar(item_id, grammar_json)
    events = [e for f in frames(pcm) for e in stream.feed(f)] + stream.close()
    return [e for e in events if isinstance(e, Utterance)]


@pytest.mark.parametrize("voice", KO_VOICES, ids=lambda v: v.name)
@pytest.mark.parametrize("item_id", ["pain", "fever", "medication"])
@pytest.mark.parametrize(("word", "expected"), [("네", "yes"), ("아니요", "no")])
def test_yes_no_answer_is_proposed_from_telephone_speech(ko_model: Any, voice: Any, item_id: str, word: str,
                                                          expected: str) -> None:
    item = SCRIPT.item(item_id)
    grammar = item_grammar(item, "ko-KR", ko_model.has_word)
    spec = spec_from_item(item, "ko-KR")
    assert spec is not None and grammar.missing_words == ()
    pcm = line_noise(silence(0.8) + say(word, voice) + silence(1.2))
    [utt] = utterances(ko_model, pcm, item_id, grammar.to_json())
    result = parse_answer(spec, utt.text, utt.confidence, utt.alternatives)
    assert answer_value(item, result) == expected
    assert utt.item_id == item_id and 0.3 < utt.t0_s < utt.t1_s < 2.5


def test_multi_turn_stream_with_hesitations_is_segmented_into_its_turns(ko_model: Any) -> None:
    turns = [["네"], ["아니요", "없어요"], ["음", "네"], ["있어요"], ["음", "아니요"], ["네"]]
    pcm, starts = turn_stream(turns, pause_s=0.45, gap_s=1.5)
    grammar = item_grammar(SCRIPT.item("pain"), "ko-KR", ko_model.has_word)
    found = utterances(ko_model, pcm, "pain", grammar.to_json())
    assert len(found) == len(turns)
    assert all(a.t1_s < b.t0_s for a, b in zip(found, found[1:], strict=False))
    # each utterance is its own turn, placed in call time: it starts where that turn's speech starts
    offsets = [round(u.t0_s - start, 2) for u, start in zip(found, starts, strict=True)]
    assert all(abs(d) <= 0.3 for d in offsets), f"utterance start - turn start (s): {offsets}"


def test_silence_and_line_noise_give_no_utterance(ko_model: Any) -> None:
    grammar = item_grammar(SCRIPT.item("pain"), "ko-KR", ko_model.has_word)
    assert utterances(ko_model, line_noise(silence(5.0)), "pain", grammar.to_json()) == []


def test_words_the_model_lacks_are_reported(ko_model: Any) -> None:
    from asr.grammar import build_grammar

    grammar = build_grammar(["네", "没有"], ko_model.has_word)
    assert grammar.missing_words == ("没有",) and grammar.phrases == ("네",)
    assert grammar.unknown_token == "<UNK>"  # the Korean model's token; "[unk]" is not in its vocabulary
