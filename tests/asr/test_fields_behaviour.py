"""Behaviours of asr.fields beyond the text table: confidence, n-best alternatives, Korean, JSON values."""

from __future__ import annotations

import datetime as dt

import pytest

from asr.field_types import Duration, FieldKind, FieldSpec, Reason, to_jsonable
from asr.fields import parse_answer
from asr.zh_numbers import BloodPressure

YES_NO = FieldSpec.of(FieldKind.yes_no, "zh-CN")
KO_YES_NO = FieldSpec.of(FieldKind.yes_no, "ko-KR")


def test_low_recogniser_confidence_is_flagged_and_lowers_the_confidence() -> None:
    result = parse_answer(YES_NO, "没有", confidence=0.4)
    assert result.value is False
    assert Reason.low_confidence in result.reasons
    assert result.confidence == pytest.approx(0.4)


def test_a_value_only_found_in_an_alternative_is_taken_and_flagged() -> None:
    result = parse_answer(YES_NO, "喂喂", alternatives=["没有"])
    assert result.value is False
    assert Reason.from_alternative in result.reasons


def test_alternatives_meaning_another_answer_are_flagged() -> None:
    result = parse_answer(YES_NO, "有", alternatives=["没有"])
    assert result.value is True
    assert Reason.alternatives_disagree in result.reasons


def test_clean_confident_answer_needs_no_confirmation() -> None:
    result = parse_answer(YES_NO, "没有", confidence=0.95, alternatives=["没有"])
    assert not result.needs_confirmation


def test_script_phrases_extend_the_built_in_yes_no_words() -> None:
    spec = FieldSpec.of(FieldKind.yes_no, "zh-CN", {"yes": ["复查过"], "no": ["没复查"]})
    assert parse_answer(spec, "复查过").value is True
    assert parse_answer(spec, "没复查").value is False


def test_question_range_marks_values_outside_it() -> None:
    spec = FieldSpec.of(FieldKind.number, "zh-CN", minimum=0, maximum=10)
    assert Reason.out_of_range in parse_answer(spec, "十二").reasons


def test_date_questions_need_today() -> None:
    with pytest.raises(ValueError, match="today"):
        parse_answer(FieldSpec.of(FieldKind.date), "三天前")


@pytest.mark.parametrize(("text", "value"), [
    ("네", True), ("예", True), ("응", True), ("맞아요", True), ("있어요", True),
    ("아니요", False), ("아니오", False), ("아니", False), ("없어요", False), ("안 먹었 어요", False),
])
def test_korean_yes_no(text: str, value: bool) -> None:
    result = parse_answer(KO_YES_NO, text)
    assert (result.value, result.reasons) == (value, ())


def test_korean_dont_know_is_not_forced_onto_yes_or_no() -> None:
    result = parse_answer(KO_YES_NO, "잘 모르겠어요")
    assert result.value is None and Reason.dont_know in result.reasons


@pytest.mark.parametrize(("text", "value"), [
    ("이 백", 200), ("백 이십", 120), ("삼십 팔", 38), ("칠", 7), ("열 다섯", 15), ("스물 셋", 23), ("영", 0),
])
def test_korean_numbers(text: str, value: int) -> None:
    assert parse_answer(FieldSpec.of(FieldKind.number, "ko-KR"), text).value == value


def test_values_convert_to_json() -> None:
    assert to_jsonable(BloodPressure(130, 85)) == {"systolic": 130, "diastolic": 85}
    assert to_jsonable(Duration(2.0, "month")) == {"amount": 2, "unit": "month", "days": 60}
    assert to_jsonable(dt.date(2026, 11, 22)) == "2026-11-22"
