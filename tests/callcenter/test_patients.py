from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from callcenter.errors import PatientNotFound
from callcenter.models import (
    Alert,
    Appointment,
    CallAttempt,
    Encounter,
    GroupMembership,
    Patient,
    PatientGroup,
    PatientPhone,
    Questionnaire,
    Response,
    Task,
)
from callcenter.patients import MergeRefused, find_patient, merge_patients, patient_timeline

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def _seed(s):
    a = Patient(name="王芳", national_id="11010519491231002X", source_system="his", mrn="M1")
    b = Patient(name="王芳", source_system="lis", mrn="L9", birth_date=date(1949, 12, 31))
    s.add_all([a, b])
    s.flush()
    g = PatientGroup(key="hypertension", name="高血压")
    q = Questionnaire(key="htn", version=1, title="高血压随访")
    s.add(g)
    s.flush()
    s.add_all([
        PatientPhone(patient_id=a.id, number="13800138000"),
        PatientPhone(patient_id=b.id, number="13800138000"),  # same number: stays on the duplicate
        PatientPhone(patient_id=b.id, number="13900139000"),
        GroupMembership(group_id=g.id, patient_id=a.id),
        GroupMembership(group_id=g.id, patient_id=b.id),
        Encounter(patient_id=b.id, source_system="lis", source_id="E1", department="心内科",
                  admitted_at=T0, discharged_at=T0 + timedelta(days=5)),
    ])
    s.flush()
    task = Task(patient_id=b.id, due_at=T0 + timedelta(days=12), point="d7", questionnaire_key="htn")
    s.add(task)
    s.flush()
    attempt = CallAttempt(patient_id=b.id, task_id=task.id, started_at=T0 + timedelta(days=12, hours=1))
    s.add(attempt)
    s.flush()
    s.add(q)
    s.flush()
    extra = [Response(questionnaire_id=q.id, patient_id=b.id, task_id=task.id,
                      started_at=T0 + timedelta(days=12, hours=1, minutes=1)),
             Alert(patient_id=b.id, message="血压高", raised_at=T0 + timedelta(days=12, hours=2)),
              Appointment(patient_id=b.id, department="心内科", scheduled_for=T0 + timedelta(days=30))]
    s.add_all(extra)
    s.commit()
    return a.id, b.id


def test_merge_repoints_everything_and_keeps_duplicates_on_the_tombstone(engine):
    with Session(engine) as s:
        a, b = _seed(s)
        result = merge_patients(s, a, b)
        s.commit()
        assert result.moved["encounter"] == 1 and result.moved["task"] == 1 and result.moved["callattempt"] == 1
        for model in (Encounter, Task, CallAttempt, Response, Alert, Appointment):
            assert {r.patient_id for r in s.exec(select(model)).all()} == {a}, model
        numbers = sorted(p.number for p in s.exec(select(PatientPhone).where(PatientPhone.patient_id == a)).all())
        assert numbers == ["13800138000", "13900139000"]
        assert result.kept == {"patientphone": 1, "groupmembership": 1}
        survivor, dup = s.get(Patient, a), s.get(Patient, b)
        assert dup.merged_into_id == a and survivor.birth_date == date(1949, 12, 31)
        assert find_patient(s, source_system="lis", mrn="L9").id == a  # the old key leads to the survivor


def test_merge_refuses_two_different_people(engine):
    with Session(engine) as s:
        a = Patient(national_id="11010519491231002X", mrn="A")
        b = Patient(national_id="34052419800101001X", mrn="B")
        s.add_all([a, b])
        s.commit()
        with pytest.raises(MergeRefused, match="different national IDs"):
            merge_patients(s, a.id, b.id)
        with pytest.raises(MergeRefused, match="itself"):
            merge_patients(s, a.id, a.id)


def test_timeline_lists_visits_and_follow_ups_in_time_order(engine):
    with Session(engine) as s:
        a, b = _seed(s)
        kinds = [e.kind for e in patient_timeline(s, b)]
        assert kinds[:2] == ["admission", "discharge"]
        assert (kinds.index("task") < kinds.index("call") < kinds.index("response") < kinds.index("alert")
                < kinds.index("appointment"))
        entries = patient_timeline(s, b)
        assert [e.at for e in entries] == sorted(e.at for e in entries)
        with pytest.raises(PatientNotFound):
            patient_timeline(s, 999999)
