"""The guided form: current question from the engine, answers committed one by one with provenance,
branching, alerts, a reload resumes, and the run is closed by the wrap-up."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from callcenter.models import Alert, Answer, Response


def _claim(client, auth, task_id):
    client.post(f"/workspace/tasks/{task_id}/claim", data={"csrf_token": auth.csrf})
    return client.get(f"/workspace/tasks/{task_id}").get_data(as_text=True)


def _response_id(html):
    return int(re.search(r'name="response_id" value="(\d+)"', html).group(1))


def _answer(client, auth, task_id, response_id, item_id, **fields):
    data = {"csrf_token": auth.csrf, "response_id": response_id, "item_id": item_id, **fields}
    return client.post(f"/workspace/tasks/{task_id}/answer", data=data, headers={"HX-Request": "true"})


def test_call_screen_shows_the_first_question_with_patient_variables(client, auth, queue_data, published_script):
    auth.login("nurse")
    html = _claim(client, auth, queue_data.due_task_id)
    assert 'data-item-id="feeling"' in html
    assert "李四，出院后感觉怎么样？" in html and "第 1 / 2 题" in html
    assert '<kbd>1</kbd> 好多了' in html


def test_answers_are_committed_one_by_one_with_provenance(client, auth, queue_data, published_script,
                                                          sqlite_engine, staff):
    auth.login("nurse")
    response_id = _response_id(_claim(client, auth, queue_data.due_task_id))
    first = _answer(client, auth, queue_data.due_task_id, response_id, "feeling", value="better")
    assert first.status_code == 200 and 'data-item-id="bp"' in first.get_data(as_text=True)
    second = _answer(client, auth, queue_data.due_task_id, response_id, "bp", value_json='{"systolic": 130, '
                     '"diastolic": 85}', source="asr", confidence="0.91", t0_s="4.0", t1_s="6.5", heard="一百三八十五")
    body = second.get_data(as_text=True)
    assert "问卷已答完" in body and "130/85" in body and "语音 91%" in body
    with Session(sqlite_engine) as s:
        answers = s.exec(select(Answer).order_by(Answer.id)).all()
        response = s.get(Response, response_id)
    assert [(a.item_id, a.value, a.source, a.confidence, a.audio_t0_s, a.confirmed_by_id) for a in answers] == [
        ("feeling", "better", "nurse", None, None, staff["nurse"].id),
        ("bp", {"systolic": 130, "diastolic": 85}, "asr", 0.91, 4.0, staff["nurse"].id)]
    assert response.questionnaire_id == published_script and response.status == "in_progress"


def test_reload_resumes_the_run_at_the_next_question(client, auth, queue_data, published_script):
    auth.login("nurse")
    response_id = _response_id(_claim(client, auth, queue_data.due_task_id))
    _answer(client, auth, queue_data.due_task_id, response_id, "feeling", value="same")
    again = client.get(f"/workspace/tasks/{queue_data.due_task_id}").get_data(as_text=True)
    assert _response_id(again) == response_id and 'data-item-id="bp"' in again


def test_invalid_answer_is_refused_and_nothing_is_stored(client, auth, queue_data, published_script, sqlite_engine):
    auth.login("nurse")
    response_id = _response_id(_claim(client, auth, queue_data.due_task_id))
    bad = _answer(client, auth, queue_data.due_task_id, response_id, "feeling", value="excellent")
    assert bad.status_code == 422 and "not an option" in bad.get_data(as_text=True)
    with Session(sqlite_engine) as s:
        assert s.exec(select(Answer)).all() == []


def test_alert_raised_by_an_answer_is_stored_once(client, auth, queue_data, published_script, sqlite_engine):
    auth.login("nurse")
    task = queue_data.due_task_id
    response_id = _response_id(_claim(client, auth, task))
    _answer(client, auth, task, response_id, "feeling", value="worse")
    body = _answer(client, auth, task, response_id, "bp", value="190/100").get_data(as_text=True)
    assert "血压过高" in body
    _answer(client, auth, task, response_id, "bp", value="185/100")  # amended: same rule, no second alert
    with Session(sqlite_engine) as s:
        alerts = s.exec(select(Alert)).all()
        answers = s.exec(select(Answer).where(Answer.item_id == "bp").order_by(Answer.id)).all()
    assert [(a.rule_id, a.severity, a.patient_id) for a in alerts] == [("bp_crisis", "critical", queue_data.patient_id)]
    assert [(a.value["systolic"], a.superseded) for a in answers] == [(190, True), (185, False)]


def test_completed_needs_a_finished_form_and_closes_the_run(client, auth, queue_data, published_script, sqlite_engine):
    auth.login("nurse")
    task = queue_data.due_task_id
    response_id = _response_id(_claim(client, auth, task))
    _answer(client, auth, task, response_id, "feeling", value="better")
    early = client.post(f"/workspace/tasks/{task}/wrap-up", data={"csrf_token": auth.csrf, "outcome": "completed"})
    assert early.status_code == 422 and "still needs an answer" in early.get_data(as_text=True)
    _answer(client, auth, task, response_id, "bp", value="120/80")
    done = client.post(f"/workspace/tasks/{task}/wrap-up", data={"csrf_token": auth.csrf, "outcome": "completed"})
    assert done.status_code == 302
    with Session(sqlite_engine) as s:
        response = s.get(Response, response_id)
    assert response.status == "completed" and response.finished_at is not None


def test_hang_up_midway_keeps_the_answers_for_the_callback(client, auth, queue_data, published_script, sqlite_engine):
    auth.login("nurse")
    task = queue_data.due_task_id
    response_id = _response_id(_claim(client, auth, task))
    _answer(client, auth, task, response_id, "feeling", value="better")
    client.post(f"/workspace/tasks/{task}/wrap-up", data={"csrf_token": auth.csrf, "outcome": "callback_requested",
                                                          "callback_at": "2026-11-25T15:00"})
    with Session(sqlite_engine) as s:
        response = s.get(Response, response_id)
        kept = s.exec(select(Answer.item_id).where(Answer.response_id == response_id)).all()
    assert response.status == "in_progress" and kept == ["feeling"]


def test_an_earlier_answer_is_amended_and_branching_follows(client, auth, queue_data, published_script,
                                                            sqlite_engine):
    auth.login("nurse")
    task = queue_data.due_task_id
    response_id = _response_id(_claim(client, auth, task))
    _answer(client, auth, task, response_id, "feeling", value="better")
    page = client.get(f"/workspace/tasks/{task}?amend=feeling").get_data(as_text=True)
    assert 'data-item-id="feeling"' in page and "修改已确认的答案" in page
    after = _answer(client, auth, task, response_id, "feeling", value="worse").get_data(as_text=True)
    assert 'data-item-id="bp"' in after and "更差了" in after
    with Session(sqlite_engine) as s:
        rows = s.exec(select(Answer.value, Answer.superseded).order_by(Answer.id)).all()
    assert rows == [("better", True), ("worse", False)]
    unknown = client.get(f"/workspace/tasks/{task}?amend=bp").get_data(as_text=True)  # not answered yet: ignored
    assert "修改已确认的答案" not in unknown
