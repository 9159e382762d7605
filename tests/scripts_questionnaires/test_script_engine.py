"""The engine: answering, branching, amending, skipping, going back, resuming, finishing, provenance."""

from __future__ import annotations

import json

import pytest

from scripts_questionnaires import (
    AnswerInvalid,
    AnswerSource,
    Engine,
    Provenance,
    RunError,
    RunState,
    RunStatus,
    library_script,
    normalize_answer,
    render_text,
)


@pytest.fixture
def engine() -> Engine:
    return Engine(library_script("post-surgical"))


def answer_until(engine: Engine, state: RunState, stop: str, answers: dict[str, object]) -> RunState:
    while (item := engine.current_item(state)) is not None and item.id != stop:
        state = engine.answer(state, item.id, answers.get(item.id, _any(item.id, engine)))
    return state


def _any(item_id: str, engine: Engine) -> object:
    item = engine.script.item(item_id)
    if item.options:
        return item.option_values[-1] if item.id == "fever" else item.option_values[0]
    return {"pain": 3, "temperature": 37.2}.get(item_id, True)


def test_follow_up_question_is_asked_only_when_its_condition_holds(engine: Engine) -> None:
    state = answer_until(engine, engine.start(), "temperature", {"fever": "yes"})
    current = engine.current_item(state)
    assert current is not None and current.id == "temperature"
    other = answer_until(engine, engine.start(), "chest_pain", {"fever": "no"})
    assert "temperature" not in engine.path(other)


def test_amending_an_answer_re_evaluates_branching_and_alerts(engine: Engine) -> None:
    state = answer_until(engine, engine.start(), "temperature", {"fever": "yes"})
    state = engine.answer(state, "temperature", 39.2)
    assert "high_fever" in {a.id for a in engine.alerts(state)}
    state = engine.amend(state, "fever", "no", Provenance(AnswerSource.nurse, confirmed_by="nurse:3"))
    assert "temperature" not in engine.path(state)
    assert "temperature" not in engine.result(state).answers
    assert "high_fever" not in {a.id for a in engine.alerts(state)}
    assert [e.value for e in state.history("fever")] == ["yes", "no"]
    state = engine.amend(state, "fever", "yes")  # the earlier temperature counts again
    assert engine.result(state).answers["temperature"] == 39.2


def test_skip_needs_a_reason_and_is_kept(engine: Engine) -> None:
    state = engine.start()
    with pytest.raises(RunError, match="reason"):
        engine.skip(state, "wound", "  ")
    state = engine.skip(state, "wound", "患者拒答")
    assert engine.result(state).skipped == {"wound": "患者拒答"}
    current = engine.current_item(state)
    assert current is not None and current.id == "stitches_removed"


def test_back_returns_to_the_previous_answer_and_answering_continues_after_it(engine: Engine) -> None:
    state = engine.start()
    state = engine.answer(state, "wound", "healing")
    state = engine.answer(state, "stitches_removed", "yes")
    state = engine.back(state)
    assert engine.current_item(state).id == "stitches_removed"  # type: ignore[union-attr]
    state = engine.back(state)
    assert engine.current_item(state).id == "wound"  # type: ignore[union-attr]
    with pytest.raises(RunError, match="first question"):
        engine.back(state)
    state = engine.answer(state, "wound", "red_swollen")
    assert engine.current_item(state).id == "pain"  # type: ignore[union-attr]
    assert engine.result(state).answers["wound"] == "red_swollen"


def test_only_the_current_item_can_be_answered(engine: Engine) -> None:
    with pytest.raises(RunError, match="current question is 'wound'"):
        engine.answer(engine.start(), "pain", 3)


def test_invalid_answers_are_refused_with_what_is_accepted(engine: Engine) -> None:
    state = engine.start()
    with pytest.raises(AnswerInvalid, match="not an option"):
        engine.answer(state, "wound", "fine")
    state = answer_until(engine, state, "pain", {})
    with pytest.raises(AnswerInvalid, match="outside 0–10"):
        engine.answer(state, "pain", 11)


def test_run_resumes_from_json_after_an_interruption(engine: Engine) -> None:
    prov = Provenance(AnswerSource.asr, confidence=0.81, t0_s=12.5, t1_s=13.4, text="长好了", confirmed_by="nurse:7")
    state = engine.answer(engine.start({"patient": {"name": "李四"}}), "wound", "healed", prov)
    saved = json.dumps(state.to_dict(), ensure_ascii=False)
    resumed = engine.resume(json.loads(saved))
    assert resumed == state
    assert resumed.latest("wound").provenance == prov  # type: ignore[union-attr]
    assert engine.current_item(resumed).id == "stitches_removed"  # type: ignore[union-attr]


def test_resume_refuses_a_run_of_another_version(engine: Engine) -> None:
    data = engine.start().to_dict() | {"version": 99}
    with pytest.raises(RunError, match="load the version it was started with"):
        engine.resume(data)


def test_finish_requires_every_enabled_item_unless_partial(engine: Engine) -> None:
    state = engine.answer(engine.start(), "wound", "healed")
    with pytest.raises(RunError, match="still needs an answer"):
        engine.finish(state)
    partial = engine.finish(state, partial=True)
    assert partial.status is RunStatus.partial and engine.current_item(partial) is None
    with pytest.raises(RunError, match="partial"):
        engine.answer(partial, "stitches_removed", "yes")
    done = engine.finish(answer_until(engine, engine.start(), "", {"fever": "no"}))
    assert done.status is RunStatus.completed


def test_chest_pain_raises_a_critical_alert(engine: Engine) -> None:
    state = answer_until(engine, engine.start(), "", {"fever": "no", "chest_pain": "yes", "leg_swelling": "no"})
    alerts = {a.id: a.severity.value for a in engine.result(engine.finish(state)).alerts}
    assert alerts == {"new_chest_pain": "critical"}


def test_tumour_risk_band_selects_the_screening_package() -> None:
    engine = Engine(library_script("tumour-risk"))
    high = {"age_group": "age_60_plus", "family_history": "yes", "smoking": "heavy", "alarm_symptoms": ["none"],
            "book_screening": "no"}
    low = {"age_group": "under_40", "family_history": "no", "smoking": "never", "drinking": "never",
           "hepatitis": "no", "h_pylori": "no", "polyps": "no", "preserved_food": "no",
           "alarm_symptoms": ["none"], "book_screening": "no"}
    for answers, package in ((high, "package_high"), (low, "package_low")):
        state = engine.start()
        while (item := engine.current_item(state)) is not None:
            value = answers.get(item.id, item.option_values[0] if item.options else True)
            state = engine.answer(state, item.id, value)
        path = engine.path(state)
        assert package in path
        assert len([i for i in path if i.startswith("package_")]) == 1


def test_blood_pressure_accepts_spoken_form_and_rejects_swapped_values() -> None:
    bp = library_script("hypertension-chronic").item("bp")
    assert normalize_answer(bp, "130/85") == {"systolic": 130, "diastolic": 85}
    with pytest.raises(AnswerInvalid, match="swapped"):
        normalize_answer(bp, {"systolic": 80, "diastolic": 130})


def test_hypertension_crisis_alert_fires_at_180_over_110() -> None:
    engine = Engine(library_script("hypertension-chronic"))
    state = engine.answer(engine.start(), "bp_measured", "yes")
    state = engine.answer(state, "bp", {"systolic": 182, "diastolic": 100})
    assert "bp_crisis" in {a.id for a in engine.alerts(state)}
    state = engine.amend(state, "bp", "150/95")
    assert "bp_crisis" not in {a.id for a in engine.alerts(state)}


def test_multi_choice_exclusive_option_cannot_be_combined() -> None:
    symptoms = library_script("hypertension-chronic").item("symptoms")
    assert normalize_answer(symptoms, ["palpitations", "headache"]) == ["headache", "palpitations"]
    with pytest.raises(AnswerInvalid, match="cannot be combined"):
        normalize_answer(symptoms, ["none", "headache"])


def test_text_renders_patient_variables_and_missing_ones_safely() -> None:
    variables = {"patient": {"name": "王五"}, "encounter": {"department": "心内科"}}
    assert render_text("{patient.name}您好，{encounter.department}随访", variables) == "王五您好，心内科随访"
    assert render_text("{patient.name}您好{hospital.name}", {}) == "您好"
    # a field is looked up in the mapping, never as an attribute; unknown namespaces are left as written
    assert render_text("{patient.__class__}{x.y}", variables) == "{x.y}"
