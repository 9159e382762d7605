import json
from datetime import UTC, datetime

from sqlmodel import Session, select

from callcenter.intake.batch import import_rows
from callcenter.intake.fhir import read_fhir_bundle
from callcenter.models import Encounter, EncounterKind, Patient, PatientPhone, PhoneOwner

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BUNDLE = {
    "resourceType": "Bundle", "type": "transaction",
    "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {
            "resourceType": "Patient", "id": "p1",
            "identifier": [
                {"system": "urn:oid:2.16.156.10011.1.3", "value": "11010519491231002X"},
                {"type": {"coding": [{"code": "MR"}]}, "system": "urn:his:mrn", "value": "M001"}],
            "name": [{"text": "王芳"}], "gender": "female", "birthDate": "1949-12-31",
            "telecom": [{"system": "phone", "value": "+86 138 0013 8000"}],
            "contact": [{"relationship": [{"text": "女儿"}],
                         "telecom": [{"system": "phone", "value": "13900139000"}]}],
            "extension": [{"url": "http://example.org/local", "valueString": "ignored"}]}},
        {"fullUrl": "urn:uuid:e1", "resource": {
            "resourceType": "Encounter", "id": "e1", "status": "finished",
            "identifier": [{"value": "V001"}], "class": {"code": "IMP"},
            "serviceType": {"text": "心内科"}, "subject": {"reference": "urn:uuid:p1"},
            "period": {"start": "2026-05-01T09:00:00+08:00", "end": "2026-05-10T10:30:00+08:00"},
            "diagnosis": [{"condition": {"reference": "urn:uuid:c1"}, "rank": 1}]}},
        {"fullUrl": "urn:uuid:c1", "resource": {
            "resourceType": "Condition", "id": "c1", "subject": {"reference": "urn:uuid:p1"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21.9",
                                 "display": "急性心肌梗死"}]}}},
        {"resource": {"resourceType": "Patient", "id": "p2", "birthDate": "1949-13-45"}},
        {"resource": {"resourceType": "Patient", "id": "k1", "name": [{"family": "김", "given": ["민수"]}],
                      "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "K-77"}],
                      "communication": [{"language": {"coding": [{"code": "ko-KR"}]}}]}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "ignored"}}},
    ],
}


def test_bundle_entries_become_patients_and_encounters(engine, tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(BUNDLE, ensure_ascii=False), encoding="utf-8")
    total, rows = read_fhir_bundle(path)
    summary = import_rows(engine, rows, source="b.json", source_system="his", total=total, now=NOW)
    assert (summary.created, summary.rejected) == (2, 1)
    assert summary.errors[0].line == 4 and summary.errors[0].field.startswith("Patient.birthDate")
    with Session(engine) as s:
        wang = s.exec(select(Patient).where(Patient.mrn == "M001")).one()
        assert wang.national_id == "11010519491231002X" and wang.name == "王芳"
        e = s.exec(select(Encounter)).one()
        assert (e.source_id, e.kind, e.department, e.diagnosis_code, e.diagnosis_text) == (
            "V001", EncounterKind.inpatient, "心内科", "I21.9", "急性心肌梗死")
        assert e.discharged_at == datetime(2026, 5, 10, 2, 30, tzinfo=UTC)
        owners = {p.number: p.owner for p in s.exec(select(PatientPhone)).all()}
        assert owners == {"13800138000": PhoneOwner.self_, "13900139000": PhoneOwner.child}
        kim = s.exec(select(Patient).where(Patient.mrn == "K-77")).one()
        assert (kim.national_id, kim.name, kim.language) == (None, "김민수", "ko-KR")
    total, rows = read_fhir_bundle(path)
    again = import_rows(engine, rows, source="b.json", source_system="his", now=NOW)
    assert (again.created, again.updated) == (0, 0)
