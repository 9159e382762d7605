"""The model and the API speech recognition builds on: phrases per locale, ranges, DTMF, compiled form."""

from __future__ import annotations

import json

from scripts_questionnaires import ItemType, NumberRange, Script, parse_script

SCRIPT = """\
key: demo
title: 演示
items:
  - id: fever
    type: yes_no
    text: 您最近有没有发烧？
  - id: temp
    type: number
    text: 最高体温多少度？
    when: fever == 'yes'
    min: 35
    max: 42
    decimals: 1
    unit: °C
  - id: mood
    type: single_choice
    text: 心情怎么样？
    options:
      - {value: good, label: 好, say: [好, 挺好的, 还行], score: 0, dtmf: 1}
      - value: bad
        label: 不好
        say: {zh-CN: [不好, 不太好, 还行], ko-KR: [안 좋아요]}
        score: 1
        dtmf: 2
"""


def _script() -> Script:
    result = parse_script(SCRIPT, "demo.yaml")
    assert result.problems == ()
    assert result.script is not None
    return result.script


def test_yes_no_item_gets_default_phrases_in_every_locale() -> None:
    fever = _script().item("fever")
    assert fever.type is ItemType.yes_no
    zh = fever.phrases("zh-CN")
    assert set(zh) == {"yes", "no"}
    assert "有" in zh["yes"] and "没有" in zh["no"] and "没得" in zh["no"]
    assert "네" in fever.phrases("ko-KR")["yes"] and "아니요" in fever.phrases("ko-KR")["no"]


def test_choice_phrases_are_per_locale_and_all_phrases_deduplicates() -> None:
    mood = _script().item("mood")
    assert mood.phrases("zh-CN") == {"good": ("好", "挺好的", "还行"), "bad": ("不好", "不太好", "还行")}
    assert mood.phrases("ko-KR") == {"good": (), "bad": ("안 좋아요",)}
    assert mood.all_phrases("zh-CN") == ("好", "挺好的", "还行", "不好", "不太好")
    assert mood.dtmf_map() == {"1": "good", "2": "bad"}


def test_number_item_exposes_range_unit_and_decimals() -> None:
    assert _script().item("temp").range == NumberRange(35, 42, 1, "°C")


def test_yaml_yes_stays_a_string_value() -> None:
    script = parse_script("key: k\ntitle: t\nitems:\n  - id: a\n    type: single_choice\n    text: q\n"
                          "    options:\n      - {value: yes, say: [是]}\n      - {value: no, say: [否]}\n").script
    assert script is not None
    assert script.item("a").option_values == ("yes", "no")


def test_compiled_form_round_trips_through_json() -> None:
    script = _script()
    again = Script.from_dict(json.loads(json.dumps(script.to_dict(), ensure_ascii=False)))
    assert again == script


def test_loader_errors_carry_file_line_and_column() -> None:
    text = SCRIPT.replace("    when: fever == 'yes'", "    when: fever == 'yes' and (")
    result = parse_script(text, "demo.yaml")
    assert [str(p.pos) for p in result.problems] == ["demo.yaml:10:30"]
