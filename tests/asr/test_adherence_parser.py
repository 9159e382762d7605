"""The speech package's text -> value reader, as the script-adherence check's parser (wired by the composition
root: ``callcenter schedule`` passes ``asr.item_specs.heard_value`` to the adherence job)."""

from __future__ import annotations

from asr.item_specs import heard_value
from callcenter.adherence import Heard, RecordedAnswer, disagreements
from scripts_questionnaires.loader import parse_script

SCRIPT = parse_script("""
key: bp_check
version: 1
title: 血压随访
locale: zh-CN
items:
  - id: bp
    type: blood_pressure
    text: 最近一次量的血压是多少？
  - id: days
    type: duration
    text: 头晕有几天了？
    unit: d
    min: 0
    max: 60
""").script
assert SCRIPT is not None


def test_a_blood_pressure_the_patient_said_differently_is_flagged():
    answers = [RecordedAnswer("bp", {"systolic": 130, "diastolic": 85})]
    agreeing = [Heard("patient", "一百三八十五", "bp")]
    assert disagreements(SCRIPT, answers, agreeing, heard_value) == ()
    contradicting = [Heard("patient", "一百五十九十五", "bp")]
    found = disagreements(SCRIPT, answers, contradicting, heard_value)
    assert [d.item_id for d in found] == ["bp"]


def test_the_default_phrase_parser_has_no_opinion_on_numbers_but_the_speech_parser_has():
    answers = [RecordedAnswer("days", 3)]
    heard = [Heard("patient", "差不多两周了", "days")]
    assert disagreements(SCRIPT, answers, heard) == ()  # phrases only: cannot tell
    assert [d.item_id for d in disagreements(SCRIPT, answers, heard, heard_value)] == ["days"]


def test_off_topic_speech_says_nothing():
    assert heard_value(SCRIPT.items[0], "今天天气不错", "zh-CN") is None
