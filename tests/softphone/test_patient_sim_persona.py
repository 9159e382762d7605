"""Pure parts of the patient simulator: personas, the conversation script, end-of-speech detection, pinyin."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from hardware.levels import tone
from scripts_questionnaires.loader import load_script
from softphone.persona import (
    Conversation,
    HangUp,
    Pause,
    PersonaError,
    Say,
    load_persona,
    parse_persona,
    shipped_personas,
)
from softphone.speech_end import EnergyEndpointer
from softphone.tts import TtsCache, Voice, chinese_to_pinyin, espeak_text

LIBRARY = Path(__file__).resolve().parents[2] / "scripts_questionnaires" / "library"

BASIC = """
language: zh-CN
think_ms: [500, 500]
turns:
  - {question: q1, say: 量过。}
  - 一百三十，八十五。
closing: 再见。
"""


def persona(extra: str = "", base: str = BASIC):
    return parse_persona(base + extra, "/tmp/test-persona.yaml")


# -- pinyin ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "pinyin"),
    [
        ("吃了药。", "chi1 le5 yao4 ."),
        ("血压130/85", "xue4 ya1 yi4 bai3 san1 shi2 , ba1 shi2 wu3"),
        ("体温36.5度", "ti3 wen1 san1 shi2 liu4 dian3 wu3 du4"),
        ("绿色的药，还在吃！", "lü4 se4 de5 yao4 , hai2 zai4 chi1 ."),
        ("“好”吗？", "hao3 ma5 ?"),
        ("做了CT检查", "zuo4 le5 CT jian3 cha2"),
        ("一两次", "yi1 liang3 ci4"),
        ("在家量过血压", "zai4 jia1 liang2 guo4 xue4 ya1"),
    ],
)
def test_chinese_text_becomes_numbered_pinyin_for_espeak(text: str, pinyin: str) -> None:
    assert chinese_to_pinyin(text) == pinyin


def test_only_mandarin_is_converted_to_pinyin() -> None:
    assert espeak_text("네 아파요", Voice("ko-KR")) == "네 아파요"
    assert espeak_text("吃过。", Voice("zh-CN")) == "chi1 guo4 ."
    assert Voice("zh-CN").espeak == "cmn-latn-pinyin" and Voice("ko-KR").espeak == "ko"


def test_tts_cache_makes_8khz_speech_once_and_reuses_it(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path)
    first = cache.synthesize("吃了，每天早上一片。", Voice("zh-CN"))
    mtime = first.stat().st_mtime_ns
    with wave.open(str(first)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000, "more than a second of speech"
    assert cache.synthesize("吃了，每天早上一片。", Voice("zh-CN")).stat().st_mtime_ns == mtime
    assert cache.synthesize("吃了，每天早上一片。", Voice("zh-CN", rate_wpm=120)) != first, "voice is in the key"


# -- personas ------------------------------------------------------------------------------------------------------
def test_every_shipped_persona_loads_and_names_its_language() -> None:
    shipped = shipped_personas()
    assert {"zh-hypertension", "ko-test", "zh-hangs-up"} <= set(shipped)
    for name in shipped:
        p = load_persona(name)
        assert p.language in {"zh-CN", "ko-KR"} and p.turns


@pytest.mark.parametrize("name", ["ko-test", "zh-hypertension", "zh-hangs-up"])
def test_shipped_persona_answers_questions_of_its_questionnaire_in_order(name: str) -> None:
    p = load_persona(name)
    script_file = next(f for f in LIBRARY.glob("*.yaml") if f"key: {p.questionnaire}\n" in f.read_text())
    item_ids = [item.id for item in load_script(script_file).items]
    asked = [t.question for t in p.turns]
    assert asked == [i for i in item_ids if i in asked], "turns follow the script's order"
    assert set(asked) <= set(item_ids)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("turns: [a]", "language is required"),
        ("language: zh-CN\nturns: []", "non-empty list"),
        ("language: zh-CN\nturns: [{question: q}]", r"turns\[1\] needs `say:`"),
        ("language: zh-CN\nturns: [a]\nhesitation: {probability: 2}", "from 0 to 1"),
        ("language: zh-CN\nturns: [a]\nhang_up: {after_turn: 1}", "needs `phrase:`"),
        ("language: zh-CN\nturns: [a]\nhang_up: {after_turn: 3, phrase: bye}", "from 1 to 1"),
        ("language: zh-CN\nturns: [a]\nthink_ms: [900, 100]", r"\[min, max\]"),
        ("language: zh-CN\nturns: [a]\ncolour: red", "unknown keys"),
        ("language: zh-CN\nturns: [a\n", r"test-persona.yaml:\d+: not valid YAML"),
    ],
)
def test_bad_persona_is_a_clear_error_naming_the_file(yaml_text: str, message: str) -> None:
    with pytest.raises(PersonaError, match=message):
        parse_persona(yaml_text, "/tmp/test-persona.yaml")


def test_unknown_persona_name_lists_the_shipped_ones() -> None:
    with pytest.raises(PersonaError, match="zh-hypertension"):
        load_persona("nobody")


# -- conversation ----------------------------------------------------------------------------------------------------
def test_turns_are_answered_in_order_after_thinking_then_the_closing() -> None:
    conv = Conversation.for_call(persona(), 0)
    assert conv.on_answered() == []
    assert conv.on_caller_finished() == [Pause(500), Say("量过。", "answer")]
    assert conv.on_caller_finished() == [Pause(500), Say("一百三十，八十五。", "answer")]
    assert conv.on_caller_finished() == [Pause(500), Say("再见。", "closing")]
    assert conv.on_caller_finished() == [], "after the closing the patient only listens"


def test_hang_up_after_a_given_turn() -> None:
    conv = Conversation.for_call(persona("hang_up: {after_turn: 1, phrase: 不方便，挂了。}\n"), 0)
    actions = conv.on_caller_finished()
    assert actions == [Pause(500), Say("量过。", "answer"), Pause(300), Say("不方便，挂了。", "hang_up"), HangUp()]
    assert conv.ended and conv.on_caller_finished() == []


def test_certain_off_topic_reply_does_not_use_up_the_answer() -> None:
    conv = Conversation.for_call(persona("off_topic: {probability: 1, phrases: [今天天气好。]}\n"), 0)
    assert conv.on_caller_finished() == [Pause(500), Say("今天天气好。", "off_topic")]
    assert conv.turn == 0


def test_hesitation_comes_before_the_answer() -> None:
    conv = Conversation.for_call(persona("hesitation: {probability: 1, phrases: [嗯……]}\n"), 0)
    kinds = [a.kind for a in conv.on_caller_finished() if isinstance(a, Say)]
    assert kinds == ["hesitation", "answer"]


def test_same_seed_and_call_give_the_same_behaviour_and_calls_differ() -> None:
    extra = ("seed: 5\nthink_ms: [100, 2000]\nhesitation: {probability: 0.5, phrases: [嗯]}\n"
             "off_topic: {probability: 0.3, phrases: [哎]}\n")
    runs = []
    for call in (0, 0, 1):
        conv = Conversation.for_call(persona(extra), call)
        runs.append([conv.on_caller_finished() for _ in range(3)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


# -- end of speech -----------------------------------------------------------------------------------------------
def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]


def feed(endpointer: EnergyEndpointer, pcm: bytes, start: int = 0) -> list:
    return [e for i, f in enumerate(frames(pcm), start) if (e := endpointer.push(i, f)) is not None]


def test_speech_end_is_reported_after_the_silence_hangover() -> None:
    ep = EnergyEndpointer(end_ms=700)
    audio = bytes(8000) + tone(300, 1.0, 8000, dbfs=-20) + bytes(16000)  # 0.5 s silence, 1 s tone, 1 s silence
    ended = feed(ep, audio)
    assert len(ended) == 1
    assert ended[0].start_seq == 25 and ended[0].end_seq == 74
    assert ended[0].duration_ms == 1000


def test_short_pauses_inside_an_utterance_do_not_end_it() -> None:
    word = tone(250, 0.4, 8000, dbfs=-22)
    gap = bytes(int(0.4 * 8000) * 2)
    assert len(feed(EnergyEndpointer(end_ms=700), word + gap + word + gap + word + bytes(16000))) == 1


def test_a_click_is_not_an_utterance() -> None:
    assert feed(EnergyEndpointer(), bytes(8000) + tone(1000, 0.1, 8000, dbfs=-10) + bytes(16000)) == []


def test_real_espeak_question_is_one_utterance(tmp_path: Path) -> None:
    wav = tmp_path / "q.wav"
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-w", str(tmp_path / "raw.wav"),
                    chinese_to_pinyin("最近一周有没有在家量过血压？高压多少，低压多少？")], check=True)
    subprocess.run(["sox", str(tmp_path / "raw.wav"), "-r", "8000", "-c", "1", "-b", "16", str(wav)], check=True)
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    ended = feed(EnergyEndpointer(), bytes(4000) + pcm + bytes(24000))
    assert len(ended) == 1
    assert ended[0].duration_ms > 2000


# -- answers keyed by question id follow the script's branching -------------------------------------------------
KO_ANSWERS = """
language: ko-KR
questionnaire: ko-test
answers:
  pain: {say: 아니요, value: %s}
  pain_score: {say: 칠 점, value: 7}
  fever: {say: 아니요 없어요, value: no}
  medication: {say: 네 잘 먹고 있어요, value: yes}
"""


def test_answers_keyed_by_question_id_follow_the_branching_of_the_script() -> None:
    with_pain = parse_persona(KO_ANSWERS % "yes", "ko.yaml")
    without_pain = parse_persona(KO_ANSWERS % "no", "ko.yaml")
    assert [t.question for t in with_pain.turns] == ["pain", "pain_score", "fever", "medication"]
    assert [t.question for t in without_pain.turns] == ["pain", "fever", "medication"], "no pain: no pain score"
    assert load_persona("ko-test").turns[1].say == "칠 점"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (KO_ANSWERS.replace("  fever: {say: 아니요 없어요, value: no}\n", "") % "no",
         r"answers.fever needs `say:` .*asks 'fever' \(after pain\)"),
        ((KO_ANSWERS % "yes").replace("value: 7", "value: 15"), "answers.pain_score"),
        ((KO_ANSWERS % "yes").replace("{say: 칠 점, value: 7}", "{say: 칠 점}"), "needs `value:`"),
        ((KO_ANSWERS % "no").replace("ko-test", "nope"), "questionnaire: no built-in script 'nope'"),
        ((KO_ANSWERS % "no") + "turns: [a]\n", "either turns .* or answers"),
        ((KO_ANSWERS % "no") + "  smoking: {say: 아니요, value: no}\n", r"answers for \['smoking'\]"),
    ],
)
def test_bad_keyed_answers_name_the_question(yaml_text: str, message: str) -> None:
    with pytest.raises(PersonaError, match=message):
        parse_persona(yaml_text, "ko.yaml")
