"""Item kinds the built-in library does not use: a date, a duration ("两周") and an info item (健康宣教) through
the engine, and through FHIR (Questionnaire export → import, QuestionnaireResponse)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from scripts_questionnaires import (
    AnswerInvalid,
    Engine,
    EntryKind,
    ItemType,
    Provenance,
    RunState,
    check,
    errors,
    from_fhir_questionnaire,
    parse_script,
    to_fhir_questionnaire,
    to_fhir_response,
    validate_questionnaire,
    validate_response,
)
from scripts_questionnaires.fhir_common import UNIT

SCRIPT = """\
key: onset-check
version: 1
title: 症状出现时间
locale: zh-CN
items:
  - id: advice
    type: info
    text: 出院后请按时服药，一周内避免剧烈活动。
  - id: onset
    type: date
    text: 这次不舒服是从哪一天开始的？
  - id: lasted
    type: duration
    text: 持续了多久？
    unit: wk
    min: 0
    max: 52
  - id: long_ago
    type: yes_no
    text: 是否已经就诊？
    when: lasted >= 2
"""
NURSE = Provenance(confirmed_by="nurse:7")


@pytest.fixture
def engine() -> Engine:
    loaded = parse_script(SCRIPT, "onset-check.yaml")
    assert loaded.problems == () and loaded.script is not None
    assert errors(check(loaded.script)) == []
    return Engine(loaded.script)


def _run(engine: Engine) -> RunState:
    state = engine.start()
    assert engine.current_item(state).id == "advice"  # an info item is not passed over: it must be delivered
    state = engine.deliver(state, "advice", NURSE)
    state = engine.answer(state, "onset", dt.date(2026, 11, 20), NURSE)
    state = engine.answer(state, "lasted", "2", NURSE)  # "两周" → 2 in the item's unit (weeks)
    state = engine.answer(state, "long_ago", "no", NURSE)
    return engine.finish(state)


def test_info_delivery_is_recorded_with_who_delivered_it(engine: Engine) -> None:
    state = _run(engine)
    delivered = state.latest("advice")
    assert delivered is not None
    assert (delivered.kind, delivered.value, delivered.provenance.confirmed_by) == (EntryKind.answer, True, "nurse:7")
    assert engine.result(state).path[0] == "advice"
    resumed = Engine(engine.script).resume(json.loads(json.dumps(state.to_dict())))
    assert resumed.latest("advice") == delivered  # kept across an interruption


def test_date_and_duration_answers_are_normalised_and_drive_conditions(engine: Engine) -> None:
    state = _run(engine)
    values = {e.item_id: e.value for e in state.entries}
    assert (values["onset"], values["lasted"]) == ("2026-11-20", 2)
    assert "long_ago" in engine.result(state).path  # lasted >= 2 (weeks)
    with pytest.raises(AnswerInvalid, match="YYYY-MM-DD"):
        engine.answer(engine.deliver(engine.start(), "advice"), "onset", "上周三")
    before = engine.answer(engine.deliver(engine.start(), "advice"), "onset", "2026-11-20")
    with pytest.raises(AnswerInvalid, match="outside 0–52 wk"):
        engine.answer(before, "lasted", 60)
    short = engine.answer(before, "lasted", 1)
    assert engine.current_item(short) is None  # 1 week: the follow-up question is not asked


def test_date_duration_and_info_round_trip_through_a_fhir_questionnaire(engine: Engine) -> None:
    resource = json.loads(json.dumps(to_fhir_questionnaire(engine.script), ensure_ascii=False))
    validate_questionnaire(resource)
    kinds = {i["linkId"]: i["type"] for i in resource["item"]}
    assert (kinds["advice"], kinds["onset"], kinds["lasted"]) == ("display", "date", "quantity")
    lasted = next(i for i in resource["item"] if i["linkId"] == "lasted")
    assert next(e for e in lasted["extension"] if e["url"] == UNIT)["valueCoding"]["code"] == "wk"
    back = from_fhir_questionnaire(resource)
    assert back.notes == ()
    assert back.script.to_dict() == engine.script.to_dict()


def test_external_date_and_quantity_items_import_as_date_and_duration() -> None:
    resource = {"resourceType": "Questionnaire", "status": "active", "name": "onset", "item": [
        {"linkId": "onset", "text": "When did it start?", "type": "date"},
        {"linkId": "lasted", "text": "For how long?", "type": "quantity", "extension": [
            {"url": UNIT, "valueCoding": {"system": "http://unitsofmeasure.org", "code": "wk"}},
            {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueDecimal": 0},
            {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueDecimal": 52}]},
    ]}
    validate_questionnaire(resource)
    script = from_fhir_questionnaire(resource).script
    onset, lasted = script.item("onset"), script.item("lasted")
    assert (onset.type, lasted.type) == (ItemType.date, ItemType.duration)
    assert lasted.range is not None and (lasted.range.minimum, lasted.range.maximum, lasted.range.unit) == (0, 52, "wk")


def test_response_carries_the_date_the_duration_with_its_unit_and_the_delivered_info(engine: Engine) -> None:
    response = to_fhir_response(engine, _run(engine), subject="Patient/3", authored="2026-11-25T10:00:00+08:00")
    validate_response(response)
    answers = {i["linkId"]: i["answer"][0] for i in response["item"]}
    assert answers["advice"]["valueBoolean"] is True
    assert answers["onset"]["valueDate"] == "2026-11-20"
    quantity = answers["lasted"]["valueQuantity"]
    assert (quantity["value"], quantity["code"], quantity["system"]) == (2, "wk", "http://unitsofmeasure.org")
    assert [i["linkId"] for i in response["item"]] == ["advice", "onset", "lasted", "long_ago"]
