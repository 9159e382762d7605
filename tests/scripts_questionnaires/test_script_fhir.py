"""FHIR R4: built-in scripts export as valid Questionnaires and round-trip; responses validate; external PHQ-9
Questionnaires import, pass the checker and score correctly: the HL7 SDC implementation guide's published PHQ-9
example (vendored unaltered, see fhir/README.md) and a hand-written one in the LOINC 44249-1 structure."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scripts_questionnaires import (
    AnswerSource,
    Engine,
    ItemType,
    Provenance,
    check,
    dump_yaml,
    errors,
    from_fhir_questionnaire,
    library_script,
    load_library,
    parse_script,
    simulate,
    to_fhir_questionnaire,
    to_fhir_response,
    validate_questionnaire,
    validate_response,
)
from scripts_questionnaires.fhir_common import EXT_WHEN, ITEM_WEIGHT, ORDINAL_VALUE

LIBRARY = load_library()
LOINC_PHQ9 = Path(__file__).parent / "fhir" / "loinc_phq9_44249-1.json"
SDC_PHQ9 = Path(__file__).parent / "fhir" / "sdc_questionnaire-sdc-profile-example-PHQ9.json"
SDC_CODES = ("Not-at-all", "Several-days", "More than half the days", "Nearly every day")  # its ValueSet, 0-3
PHQ9_BANDS = [("minimal", 0, 4), ("mild", 5, 9), ("moderate", 10, 14), ("moderately_severe", 15, 19),
              ("severe", 20, 27)]  # Kroenke, Spitzer & Williams 2001


@pytest.mark.parametrize("key", sorted(LIBRARY))
def test_export_validates_and_import_gives_back_the_same_script(key: str) -> None:
    script = LIBRARY[key]
    resource = json.loads(json.dumps(to_fhir_questionnaire(script), ensure_ascii=False))
    validate_questionnaire(resource)
    result = from_fhir_questionnaire(resource)
    assert result.notes == ()
    assert result.script.to_dict() == script.to_dict()  # same items, options, conditions, scores, alerts
    again = parse_script(dump_yaml(result.script), f"{key}.yaml")
    assert again.problems == () and again.script is not None
    assert errors(check(again.script)) == []


def test_simple_conditions_export_as_standard_enable_when() -> None:
    resource = to_fhir_questionnaire(library_script("discharge-general"))
    temperature = next(i for i in resource["item"] if i["linkId"] == "temperature")
    assert temperature["enableWhen"] == [{"question": "fever", "operator": "=", "answerCoding": {
        "system": "urn:callcenter:discharge-general:fever", "code": "yes"}}]


def test_enable_when_alone_is_translated_back_into_a_condition() -> None:
    resource = to_fhir_questionnaire(library_script("discharge-general"))
    for item in resource["item"]:
        item["extension"] = [e for e in item.get("extension", []) if e["url"] != EXT_WHEN]
    script = from_fhir_questionnaire(resource).script
    assert script.item("temperature").when == "fever == 'yes'"
    assert script.item("side_effects").when == "(medication == 'on_time') or (medication == 'missed')"
    assert errors(check(script)) == []


def test_phq9_item_scores_export_as_ordinal_values() -> None:
    item = to_fhir_questionnaire(library_script("phq9"))["item"][0]
    ordinals = [o["valueCoding"]["extension"][0] for o in item["answerOption"]]
    assert ordinals == [{"url": ORDINAL_VALUE, "valueDecimal": n} for n in range(4)]


def test_finished_run_exports_a_valid_questionnaire_response_with_provenance() -> None:
    engine = Engine(library_script("hypertension-chronic"))
    state = engine.start()
    prov = Provenance(AnswerSource.asr, confidence=0.9, t0_s=4.0, t1_s=5.5, confirmed_by="nurse:2")
    answers: dict[str, Any] = {"bp_measured": "yes", "bp": "185/112", "heart_rate": 80, "symptoms": ["headache"],
                               "medication": "on_time", "salt": "low", "smoking": "never", "revisit_confirm": "no",
                               "revisit_booking": {"department": "心内科", "date": "2026-12-01"}}
    while (item := engine.current_item(state)) is not None:
        state = engine.answer(state, item.id, answers.get(item.id, True), prov)
    state = engine.finish(state)
    response = to_fhir_response(engine, state, subject="Patient/17", authored="2026-11-25T10:00:00+08:00")
    validate_response(response)
    assert response["status"] == "completed"
    bp = next(i for i in response["item"] if i["linkId"] == "bp")
    assert [c["answer"][0]["valueInteger"] for c in bp["item"]] == [185, 112]
    measured = next(i for i in response["item"] if i["linkId"] == "bp_measured")
    assert {e["url"].rsplit("/", 1)[1] for e in measured["answer"][0]["extension"]} == {
        "answer-source", "confidence", "audio-span", "confirmed-by"}
    raised = [e for e in response["extension"] if e["url"].endswith("raised-alert")]
    assert any(x["valueString"] == "bp_crisis" for e in raised for x in e["extension"] if x["url"] == "id")


def _loinc() -> dict[str, Any]:
    return json.loads(LOINC_PHQ9.read_text(encoding="utf-8"))


def test_external_loinc_phq9_imports_passes_the_checker_and_reports_what_it_guessed() -> None:
    resource = _loinc()
    validate_questionnaire(resource)
    result = from_fhir_questionnaire(resource)
    script = result.script
    assert [i.id for i in script.items][:2] == ["q44250_9", "q44255_8"]
    assert len(script.items) == 10  # 9 questions + difficulty; the total became a score
    assert script.scores[0].id == "q44261_6" and len(script.scores[0].items) == 9
    assert errors(check(script)) == []
    assert any("/44261-6" in n and "score" in n for n in result.notes)
    assert any("display text" in n for n in result.notes)


@pytest.mark.parametrize("points, total", [([0] * 9, 0), ([1, 2, 3, 0, 1, 2, 3, 0, 1], 13), ([3] * 9, 27)])
def test_external_loinc_phq9_scores_like_the_instrument(points: list[int], total: int) -> None:
    script = from_fhir_questionnaire(_loinc()).script
    codes = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    answers: dict[str, object] = {item.id: codes[p] for item, p in zip(script.items, points, strict=False)}
    answers["q69722_7"] = "LA6573-5"
    run = simulate(script, answers)
    assert run.missing is None
    assert run.engine.result(run.state).scores["q44261_6"] == total


def test_item_weight_on_answer_option_is_read_as_the_score() -> None:
    resource = _loinc()
    first = resource["item"][0]
    for option in first["answerOption"]:
        weight = option["valueCoding"].pop("extension")[0]["valueDecimal"]
        option["extension"] = [{"url": ITEM_WEIGHT, "valueDecimal": weight}]
    item = from_fhir_questionnaire(resource).script.items[0]
    assert [o.score for o in item.options] == [0, 1, 2, 3]


def test_items_that_cannot_be_asked_are_reported_not_dropped_silently() -> None:
    resource = copy.deepcopy(_loinc())
    resource["item"].append({"linkId": "photo", "text": "Upload a photo", "type": "attachment"})
    result = from_fhir_questionnaire(resource)
    assert not result.script.has_item("photo")
    assert any(n.startswith("photo:") and "attachment" in n for n in result.notes)


def test_answers_from_a_contained_value_set_are_resolved_with_their_ordinals() -> None:
    resource = _loinc()
    first = resource["item"][0]
    concepts = [{"code": o["valueCoding"]["code"], "display": o["valueCoding"]["display"],
                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/valueset-ordinalValue",
                                "valueDecimal": n}]} for n, o in enumerate(first.pop("answerOption"))]
    resource["contained"] = [{"resourceType": "ValueSet", "id": "LL358-3", "status": "active",
                              "compose": {"include": [{"system": "http://loinc.org", "concept": concepts}]}}]
    first["answerValueSet"] = "#LL358-3"
    resource["item"][1]["answerValueSet"] = "http://loinc.org/vs/LL358-3"
    del resource["item"][1]["answerOption"]
    validate_questionnaire(resource)
    result = from_fhir_questionnaire(resource)
    assert [o.score for o in result.script.items[0].options] == [0, 1, 2, 3]
    assert any(n.startswith("/44255-8: answerValueSet") for n in result.notes)


def _sdc() -> dict[str, Any]:
    return json.loads(SDC_PHQ9.read_text(encoding="utf-8"))


def test_hl7_sdc_phq9_example_imports_passes_the_checker_and_gets_the_published_bands() -> None:
    resource = _sdc()
    assert resource["url"] == "http://hl7.org/fhir/uv/sdc/Questionnaire/questionnaire-sdc-profile-example-PHQ9"
    validate_questionnaire(resource)
    result = from_fhir_questionnaire(resource)
    script = result.script
    questions = [i for i in script.items if i.type is ItemType.single_choice]
    assert [i.id for i in questions] == [f"H1_T1_Q{n}" for n in range(1, 10)]
    assert all([(o.value, o.score) for o in i.options] == list(zip(SDC_CODES, (0, 1, 2, 3), strict=True))
               for i in questions)  # ordinalValue of the contained ValueSet's concepts
    total = script.scores[0]
    assert (total.id, total.items) == ("H1_TS", tuple(i.id for i in questions))
    assert [(b.code, b.minimum, b.maximum) for b in total.bands] == PHQ9_BANDS
    assert errors(check(script)) == []
    assert "H1/T1: group flattened; its text became an info item" in result.notes
    assert any(n.startswith("H1/TS: bands of the published instrument (LOINC 44261-6)") for n in result.notes)


@pytest.mark.parametrize("points, total, band", [
    ([0] * 9, 0, "minimal"),
    ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
    ([1, 2, 3, 0, 1, 2, 3, 0, 1], 13, "moderate"),
    ([3, 3, 3, 3, 3, 0, 0, 0, 0], 15, "moderately_severe"),
    ([3, 3, 3, 3, 3, 2, 2, 1, 0], 20, "severe"),
    ([3] * 9, 27, "severe"),
])
def test_hl7_sdc_phq9_example_scores_and_bands_like_the_instrument(points: list[int], total: int,
                                                                   band: str) -> None:
    script = from_fhir_questionnaire(_sdc()).script
    questions = [i for i in script.items if i.type is ItemType.single_choice]
    run = simulate(script, {item.id: SDC_CODES[p] for item, p in zip(questions, points, strict=True)})
    assert run.missing is None
    result = run.engine.result(run.state)
    assert result.scores["H1_TS"] == total
    found = result.bands["H1_TS"]
    assert found is not None and found.code == band


def test_a_loinc_total_over_another_number_of_items_gets_no_published_bands() -> None:
    resource = _sdc()
    del resource["item"][0]["item"][8]  # an 8-item PHQ-8 with the PHQ-9 total's code: the cut-points differ
    result = from_fhir_questionnaire(resource)
    assert result.script.scores[0].bands == ()
    assert any("LOINC 44261-6 is the phq9 total but the questionnaire has 8 scored items" in n
               for n in result.notes)
