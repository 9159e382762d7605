"""Questionnaire items → field specs, grammar phrases and engine answer values."""

from __future__ import annotations

import pytest

from asr.field_types import FieldKind, FieldResult, Reason
from asr.fields import parse_answer
from asr.item_specs import (
    answer_value,
    grammar_phrases,
    number_words,
    spec_from_item,
)
from scripts_questionnaires.library import library_script, load_library
from scripts_questionnaires.model import Item, ItemType, NumberRange, Option


def test_every_item_of_every_shipped_script_maps_to_a_spec_or_none() -> None:
    for script in load_library().values():
        for item in script.items:
            spec = spec_from_item(item, script.locale)
            if item.type in (ItemType.info, ItemType.appointment):
                assert spec is None
            else:
                assert spec is not None, f"{script.key}:{item.id}"
                if item.is_choice:
                    assert grammar_phrases(item, script.locale), f"{script.key}:{item.id} has no phrases"


def test_korean_yes_no_item_reads_the_scripts_phrases() -> None:
    item = library_script("ko-test").item("pain")
    spec = spec_from_item(item, "ko-KR")
    assert spec is not None and spec.kind is FieldKind.yes_no
    assert answer_value(item, parse_answer(spec, "아니요 없어요")) == "no"
    assert answer_value(item, parse_answer(spec, "네 아파요")) == "yes"


def test_number_item_grammar_lists_every_number_in_range() -> None:
    item = library_script("ko-test").item("pain_score")
    assert grammar_phrases(item, "ko-KR") == ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구", "십")


@pytest.mark.parametrize(("n", "locale", "words"), [
    (130, "zh-CN", "一百三十"), (85, "zh-CN", "八十五"), (230, "ko-KR", "이백 삼십"), (10, "ko-KR", "십"),
    (115, "ko-KR", "백 십 오"), (0, "ko-KR", "영"),
])
def test_number_words(n: int, locale: str, words: str) -> None:
    assert number_words(n, locale) == words


def test_unit_selects_the_measurement_kind() -> None:
    item = Item("t", ItemType.number, "体温", range=NumberRange(35, 42, 1, "Cel"))
    spec = spec_from_item(item, "zh-CN")
    assert spec is not None and spec.kind is FieldKind.temperature
    assert answer_value(item, parse_answer(spec, "三十七度五")) == 37.5


def test_blood_pressure_answer_has_the_engines_shape() -> None:
    item = Item("bp", ItemType.blood_pressure, "血压")
    spec = spec_from_item(item, "zh-CN")
    assert spec is not None
    assert answer_value(item, parse_answer(spec, "一百三十八十五")) == {"systolic": 130, "diastolic": 85}


def test_duration_answer_is_converted_to_the_items_unit() -> None:
    item = Item("d", ItemType.duration, "多久", range=NumberRange(0, 365, 0, "d"))
    spec = spec_from_item(item, "zh-CN")
    assert spec is not None
    assert answer_value(item, parse_answer(spec, "两个星期")) == 14


def test_range_becomes_its_middle_and_stays_flagged() -> None:
    item = Item("n", ItemType.number, "几次", range=NumberRange(0, 20))
    spec = spec_from_item(item, "zh-CN")
    assert spec is not None
    result = parse_answer(spec, "两三次")
    assert Reason.range_given in result.reasons and answer_value(item, result) == 2  # round(2.5) → 2
    assert answer_value(item, FieldResult(None, 0.0)) is None


def test_choice_item_values_come_from_its_options() -> None:
    item = Item("c", ItemType.single_choice, "情况", options=(
        Option("better", "好转", {"zh-CN": ("好多了",)}), Option("worse", "加重", {"zh-CN": ("更严重了",)})))
    spec = spec_from_item(item, "zh-CN")
    assert spec is not None
    assert answer_value(item, parse_answer(spec, "号多了")) == "better"
