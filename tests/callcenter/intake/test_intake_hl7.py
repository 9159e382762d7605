from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from callcenter.intake.batch import import_rows
from callcenter.intake.hl7v2 import Hl7Reject, build_adt, locate, parse_adt, read_hl7_file
from callcenter.models import Encounter, EncounterKind, Patient, PatientPhone, PhoneOwner

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WANG = {"mrn": "M001", "national_id": "11010519491231002X", "name": "王芳", "sex": "female",
        "encounter_id": "V001", "kind": "inpatient", "department": "心内科", "attending": "李医生",
        "admitted_at": "2026-05-01 09:00", "diagnosis_code": "I21.900", "diagnosis_text": "急性心肌梗死"}
PHONES = (("13800138000", "本人"), ("13900139000", "女儿"))


def _file(tmp_path, messages):
    path = tmp_path / "adt.hl7"
    path.write_text("\n".join(m.replace("\r", "\n") for m in messages), encoding="utf-8")
    return path


def _import(engine, path):
    total, rows = read_hl7_file(path)
    summary = import_rows(engine, rows, source=str(path), source_system="his", total=total, now=NOW)
    summary.errors = [locate(e) for e in summary.errors]
    return summary


def test_admit_then_discharge_builds_one_encounter(engine, tmp_path):
    a01 = build_adt(WANG, "A01", "C1", phones=PHONES)
    a03 = build_adt({**WANG, "discharged_at": "2026-05-10 10:30"}, "A03", "C2")
    summary = _import(engine, _file(tmp_path, [a01, a03]))
    assert (summary.rows, summary.created, summary.updated, summary.rejected) == (2, 1, 1, 0)
    with Session(engine) as s:
        p = s.exec(select(Patient)).one()
        assert (p.national_id, p.mrn, p.name) == ("11010519491231002X", "M001", "王芳")
        e = s.exec(select(Encounter)).one()
        assert (e.kind, e.department, e.diagnosis_code, e.attending) == (
            EncounterKind.inpatient, "心内科", "I21.900", "李医生")
        assert e.admitted_at == datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
        assert e.discharged_at == datetime(2026, 5, 10, 2, 30, tzinfo=UTC)
        owners = {ph.number: ph.owner for ph in s.exec(select(PatientPhone)).all()}
        assert owners == {"13800138000": PhoneOwner.self_, "13900139000": PhoneOwner.child}
    again = _import(engine, _file(tmp_path, [a01, a03]))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_cancel_events_undo_admission_and_discharge(engine, tmp_path):
    msgs = [build_adt(WANG, "A01", "C1"), build_adt({**WANG, "discharged_at": "2026-05-10 10:30"}, "A03", "C2"),
            build_adt(WANG, "A13", "C3")]
    _import(engine, _file(tmp_path, msgs))
    with Session(engine) as s:
        e = s.exec(select(Encounter)).one()
        assert e.discharged_at is None and not e.cancelled
    _import(engine, _file(tmp_path, [build_adt(WANG, "A11", "C4")]))
    with Session(engine) as s:
        assert s.exec(select(Encounter)).one().cancelled
    again = _import(engine, _file(tmp_path, msgs))  # replaying A01/A03/A13 nets out to no change
    assert (again.created, again.updated) == (0, 0)


def test_z_segments_unknown_segments_and_extra_fields_are_ignored():
    msg = build_adt(WANG, "A01", "C1").replace("ZPV|1|local", "ZPV|1|a^b~c|local") + "ZZZ|x|y\rOBX|1|ST|||\r"
    msg = msg.replace("|2.5\r", "|2.5|||||||||extra|fields\r")
    adt = parse_adt(msg)
    assert adt.row.values["national_id"] == "11010519491231002X" and adt.event == "A01"


def test_foreign_patient_without_national_id_is_keyed_by_mrn(engine, tmp_path):
    kim = {"mrn": "K-77", "name": "김민수", "sex": "male", "language": "ko", "encounter_id": "KV1", "kind": "outpatient",
           "department": "国际医疗部", "admitted_at": "2026-05-03 10:00"}
    summary = _import(engine, _file(tmp_path, [build_adt(kim, "A04", "C9")]))
    assert summary.created == 1
    with Session(engine) as s:
        p = s.exec(select(Patient)).one()
        assert (p.national_id, p.mrn, p.language) == (None, "K-77", "ko-KR")


@pytest.mark.parametrize("text, reason", [
    ("hello world", "must start with an MSH"),
    ("MSH|^~\\&|HIS|H|CC|H|20260101||ORU^R01|C1|P|2.5\rPID|1||M1^^^HIS^MR", "not ADT"),
    ("MSH|^~\\&|HIS|H|CC|H|20260101||ADT^A99|C1|P|2.5\rPID|1||M1^^^HIS^MR", "A99 is not supported"),
    ("MSH|^~\\&|HIS|H|CC|H|20260101||ADT^A01|C1|P|2.5\rPV1|1|I", "without a PID"),
])
def test_unprocessable_messages_are_rejected_with_a_reason(text, reason):
    with pytest.raises(Hl7Reject, match=reason):
        parse_adt(text)


def test_malformed_messages_in_a_file_are_reported_by_line_and_the_rest_imported(engine, tmp_path):
    good = build_adt(WANG, "A01", "C1")
    bad_id = build_adt({**WANG, "mrn": "M2", "national_id": "110105194912310021", "encounter_id": "V2"}, "A01", "C2")
    no_visit = build_adt({**WANG, "mrn": "M3", "national_id": "", "encounter_id": ""}, "A03", "C3")
    garbage = "this line is not HL7"
    truncated = "MSH|^~\\&|HIS"
    path = _file(tmp_path, [garbage, good, bad_id, truncated, no_visit])
    summary = _import(engine, path)
    lines = path.read_text().split("\n")
    expected = {1: "message", lines.index(truncated) + 1: "message",
                next(i for i, t in enumerate(lines) if t.startswith("MSH") and "|C2|" in t) + 1:
                    "national_id (PID-3 (type NI/ID) or PID-19)",
                next(i for i, t in enumerate(lines) if t.startswith("MSH") and "|C3|" in t) + 1:
                    "encounter_id (PV1-19)"}
    assert {e.line: e.field for e in summary.errors} == expected
    assert all(e.reason for e in summary.errors)
    assert summary.created == 1


def test_a02_transfer_moves_the_encounter_to_the_new_department(engine, tmp_path):
    a01 = build_adt(WANG, "A01", "C1")
    a02 = build_adt({**WANG, "department": "重症医学科", "attending": "赵医生"}, "A02", "C2")
    assert parse_adt(a02).event == "A02"
    first = _import(engine, _file(tmp_path, [a01]))
    assert (first.created, first.rejected) == (1, 0)
    moved = _import(engine, _file(tmp_path, [a02]))
    assert (moved.created, moved.updated, moved.rejected) == (0, 1, 0)
    with Session(engine) as s:
        e = s.exec(select(Encounter)).one()  # the same visit (PV1-19), not a second one
        assert (e.source_id, e.department, e.attending, e.discharged_at) == ("V001", "重症医学科", "赵医生", None)
    again = _import(engine, _file(tmp_path, [a01, a02]))  # replayed in order: nets out to no change
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
