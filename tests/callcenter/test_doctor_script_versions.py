"""Publishing a new version of a script, on SQLite and PostgreSQL: the next call is asked under version 2,
while a response begun before — and its answers — still point at version 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from callcenter import call_form, questionnaires, users
from callcenter.models import FollowUpPlan, Patient, Questionnaire, Response, Role, Task, TaskStatus

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
V1 = """
key: t_ver
title: 版本
locale: zh-CN
items:
  - id: temp
    type: number
    text: 体温多少？
    min: 34
    max: 43
    decimals: 1
    unit: ℃
"""
V2 = V1.replace("体温多少？", "今天的体温多少？")


def _task(session: Session, patient_name: str) -> Task:
    plan = session.get(FollowUpPlan, 1) or FollowUpPlan(key="p", name="计划", questionnaire_key="t_ver")
    patient = Patient(name=patient_name, source_system="his", mrn=patient_name)
    session.add_all([plan, patient])
    session.flush()
    task = Task(patient_id=patient.id, plan_id=plan.id, questionnaire_key="t_ver", status=TaskStatus.due,
                due_at=NOW - timedelta(hours=1))
    session.add(task)
    session.flush()
    return task


def test_the_next_call_uses_version_2_while_old_responses_still_point_at_version_1(session):
    nurse = users.create_user(session, username="n1", password="password-1", role=Role.nurse)
    doctor = users.create_user(session, username="d1", password="password-1", role=Role.doctor)
    v1, _ = questionnaires.publish(session, V1, "t_ver.yaml", published_by_id=doctor.id)
    old_task = _task(session, "甲")
    old = call_form.open_form(session, old_task.id, nurse, attempt_id=None, hospital_name="医院",
                              today=NOW.date(), now=NOW)
    call_form.record_answer(session, old_task.id, old.response_id, nurse, item_id="temp", value="37.2", now=NOW)
    session.commit()

    v2, created = questionnaires.publish(session, V2, "t_ver.yaml", published_by_id=doctor.id)
    session.commit()
    assert created and (v1.version, v2.version) == (1, 2)

    new_task = _task(session, "乙")
    new = call_form.open_form(session, new_task.id, nurse, attempt_id=None, hospital_name="医院",
                              today=NOW.date(), now=NOW)
    assert (new.version, new.current.text) == (2, "今天的体温多少？")
    resumed = call_form.open_form(session, old_task.id, nurse, attempt_id=None, hospital_name="医院",
                                  today=NOW.date(), now=NOW)
    assert resumed.version == 1 and resumed.answered[0].text == "体温多少？"  # a run in progress keeps its version
    session.commit()
    by_task = {r.task_id: session.get(Questionnaire, r.questionnaire_id).version for r in
               session.exec(select(Response))}
    assert by_task == {old_task.id: 1, new_task.id: 2}
