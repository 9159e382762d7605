import csv
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from callcenter.intake.batch import import_rows
from callcenter.intake.tabular import ColumnMapping, IntakeFileError, read_csv, read_xlsx, write_template
from callcenter.models import Encounter, EncounterKind, Patient, PatientPhone, PhoneOwner, Sex

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HEADER = ["病案号", "身份证号", "姓名", "性别", "联系电话", "联系人电话", "联系人关系", "就诊号", "就诊类型",
          "出院科室", "入院时间", "出院时间", "主要诊断编码", "主要诊断"]
ROWS = [
    ["M001", "11010519491231002X", "王芳", "女", "138 0013 8000", "+86 139-0013-9000", "儿子", "V001", "住院",
     "心内科", "2026-05-01 09:00", "2026-05-10 10:30", "I10.x00", "原发性高血压"],
    ["M002", "", "金敏", "F", "13700137000", "", "", "V002", "门诊", "内分泌科", "2026/05/03", "",
     "E11.900", "2型糖尿病"],
    ["M003", "110105194912310021", "坏号", "男", "13600136000", "", "", "V003", "住院", "肿瘤科",
     "2026-05-01", "2026-05-02", "C34.900", "肺恶性肿瘤"],  # wrong check digit
    ["M004", "", "李四", "男", "12345", "", "", "V004", "住院", "普外科", "2026-05-01", "2026-04-01",
     "K80", "胆石症"],  # bad phone, discharge before admission
]


def _write(path, rows, header=HEADER, encoding="utf-8-sig"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _import(engine, path, **kw):
    total, rows = read_csv(path)
    kw.setdefault("source_system", "his")
    return import_rows(engine, rows, source=str(path), total=total, now=NOW, **kw)


def test_csv_rows_become_patients_encounters_and_phones(engine, tmp_path):
    summary = _import(engine, _write(tmp_path / "a.csv", ROWS))
    assert (summary.rows, summary.created, summary.rejected) == (4, 2, 2)
    with Session(engine) as s:
        wang = s.exec(select(Patient).where(Patient.mrn == "M001")).one()
        assert (wang.national_id, wang.sex, str(wang.birth_date)) == ("11010519491231002X", Sex.female, "1949-12-31")
        phones = s.exec(select(PatientPhone).where(PatientPhone.patient_id == wang.id)
                        .order_by(PatientPhone.rank)).all()
        assert [(p.number, p.owner) for p in phones] == [("13800138000", PhoneOwner.self_),
                                                          ("13900139000", PhoneOwner.child)]
        v1 = s.exec(select(Encounter).where(Encounter.source_id == "V001")).one()
        assert v1.patient_id == wang.id and v1.kind is EncounterKind.inpatient
        assert v1.discharged_at == datetime(2026, 5, 10, 2, 30, tzinfo=UTC)  # 10:30 Shanghai
        assert v1.diagnosis_code == "I10.x00" and v1.diagnosis_text == "原发性高血压"
        jin = s.exec(select(Patient).where(Patient.mrn == "M002")).one()
        assert jin.national_id is None and jin.sex is Sex.female  # foreign patient, keyed by MRN
        assert s.exec(select(Patient).where(Patient.mrn.in_(["M003", "M004"]))).all() == []


def test_every_bad_field_is_reported_with_its_line_and_reason(engine, tmp_path):
    summary = _import(engine, _write(tmp_path / "a.csv", ROWS))
    got = {(e.line, e.field) for e in summary.errors}
    assert got == {(4, "national_id"), (5, "phone"), (5, "discharged_at")}
    reasons = {e.field: e.reason for e in summary.errors}
    assert "check digit" in reasons["national_id"]
    assert "before admitted_at" in reasons["discharged_at"]


def test_reimport_creates_and_updates_nothing(engine, tmp_path):
    path = _write(tmp_path / "a.csv", ROWS)
    _import(engine, path)
    again = _import(engine, path)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 2)
    assert again.details["patients_created"] == 0 and again.details["phones_added"] == 0


def test_changed_row_is_an_update_and_empty_cells_keep_stored_values(engine, tmp_path):
    _import(engine, _write(tmp_path / "a.csv", ROWS[:2]))
    changed = [list(ROWS[0]), list(ROWS[1])]
    changed[0][9] = "肿瘤科"  # department corrected in the HIS
    changed[1][2] = ""  # name left empty in this export
    summary = _import(engine, _write(tmp_path / "b.csv", changed))
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    with Session(engine) as s:
        assert s.exec(select(Encounter).where(Encounter.source_id == "V001")).one().department == "肿瘤科"
        assert s.exec(select(Patient).where(Patient.mrn == "M002")).one().name == "金敏"


def test_strict_rejects_the_whole_batch(engine, tmp_path):
    summary = _import(engine, _write(tmp_path / "a.csv", ROWS), strict=True)
    assert summary.strict_rejected and summary.rejected == 4
    with Session(engine) as s:
        assert s.exec(select(Patient)).all() == []


def test_an_unexpected_error_leaves_nothing_written(engine, tmp_path, monkeypatch):
    from callcenter.intake import apply

    def broken(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(apply._Batch, "_bulk_update", broken)  # after patients were inserted
    with pytest.raises(RuntimeError, match="disk full"):
        _import(engine, _write(tmp_path / "a.csv", ROWS))
    with Session(engine) as s:
        assert s.exec(select(Patient)).all() == []
        assert s.exec(select(Encounter)).all() == []


def test_national_id_arriving_later_merges_the_mrn_only_record(engine, tmp_path):
    _import(engine, _write(tmp_path / "a.csv", [
        ["M010", "11010519491231002X", "王芳", "女", "13800138000", "", "", "V010", "住院", "心内科",
         "2026-05-01", "2026-05-02", "I10", "高血压"],
        ["L77", "", "王芳", "女", "13900139000", "", "", "L-V1", "门诊", "心内科", "2026-05-05", "", "I10",
         "高血压"],
    ]))
    summary = _import(engine, _write(tmp_path / "b.csv", [
        ["L77", "11010519491231002X", "王芳", "女", "", "", "", "", "", "", "", "", "", ""],
    ]))
    assert summary.details["merged"] == 1
    with Session(engine) as s:
        survivor = s.exec(select(Patient).where(Patient.national_id == "11010519491231002X")).one()
        dup = s.exec(select(Patient).where(Patient.mrn == "L77")).one()
        assert dup.merged_into_id == survivor.id
        encounters = s.exec(select(Encounter).where(Encounter.patient_id == survivor.id)).all()
        assert sorted(e.source_id for e in encounters) == ["L-V1", "V010"]
        numbers = s.exec(select(PatientPhone.number).where(PatientPhone.patient_id == survivor.id)).all()
        assert sorted(numbers) == ["13800138000", "13900139000"]
    again = _import(engine, tmp_path / "b.csv")
    assert (again.created, again.updated, again.details["merged"]) == (0, 0, 0)


def test_mrn_of_another_person_is_a_conflict(engine, tmp_path):
    _import(engine, _write(tmp_path / "a.csv", [["M1", "11010519491231002X", "王芳", "", "", "", "", "", "",
                                                 "", "", "", "", ""]]))
    summary = _import(engine, _write(tmp_path / "b.csv", [["M1", "34052419800101001X", "张三", "", "", "", "",
                                                           "", "", "", "", "", "", ""]]))
    assert summary.rejected == 1 and summary.errors[0].field == "national_id"
    assert "another national ID" in summary.errors[0].reason


def test_custom_mapping_and_gbk_file(engine, tmp_path):
    (tmp_path / "map.yaml").write_text("mrn: 住院号码\ndepartment: 病区\nencounter_id: 住院次\n", encoding="utf-8")
    header = ["住院号码", "姓名", "住院次", "病区", "入院时间"]
    path = _write(tmp_path / "gbk.csv", [["Z9", "赵六", "Z9-1", "神经内科", "2026-05-01 08:00"]], header=header,
                  encoding="gbk")
    total, rows = read_csv(path, ColumnMapping.load(tmp_path / "map.yaml"))
    summary = import_rows(engine, rows, source="gbk.csv", source_system="his", now=NOW)
    assert summary.created == 1 and not summary.errors
    with Session(engine) as s:
        assert s.exec(select(Encounter)).one().department == "神经内科"


def test_file_without_identity_column_is_refused(tmp_path):
    with pytest.raises(IntakeFileError, match="MRN"):
        read_csv(_write(tmp_path / "a.csv", [["x"]], header=["姓名"]))


def test_row_with_wrong_column_count_is_reported(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("病案号,姓名\nM1,张三\nM2,李四,多余\n", encoding="utf-8")
    _, rows = read_csv(path)
    items = list(rows)
    assert items[1].line == 3 and "3 columns" in items[1].reason


def test_xlsx_export_is_read_with_excel_row_numbers(tmp_path, sqlite_engine):
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.append(HEADER)
    ws.append(["M001", "11010519491231002X", "王芳", "女", 13800138000, None, None, "V001", "住院", "心内科",
               datetime(2026, 5, 1, 9), datetime(2026, 5, 10, 10, 30), "I10", "高血压"])
    ws.append(["M002", "", "", "", "bad", None, None, None, None, None, None, None, None, None])
    book.save(tmp_path / "a.xlsx")
    total, rows = read_xlsx(tmp_path / "a.xlsx")
    summary = import_rows(sqlite_engine, rows, source="a.xlsx", source_system="his", now=NOW)
    assert (summary.created, summary.rejected) == (1, 1)
    assert (summary.errors[0].line, summary.errors[0].field) == (3, "phone")


def test_template_header_is_understood_by_the_default_mapping(tmp_path):
    write_template(tmp_path / "t.csv")
    total, rows = read_csv(tmp_path / "t.csv")
    assert total == 0 and list(rows) == []


def test_arriving_discharges_get_their_follow_up_tasks_in_the_same_import(engine, tmp_path):
    from callcenter.call_rules import CallRules
    from callcenter.clock import FrozenClock
    from callcenter.generation import arrival_planner
    from callcenter.models import Task
    from callcenter.plans_repo import load_plan_dir, upsert_plans

    with Session(engine) as s:
        upsert_plans(s, load_plan_dir())
        s.commit()
    planner = arrival_planner(CallRules(), FrozenClock(NOW))
    summary = _import(engine, _write(tmp_path / "a.csv", ROWS), planner=planner)
    assert summary.planned_tasks > 0
    with Session(engine) as s:
        wang = s.exec(select(Patient).where(Patient.mrn == "M001")).one()  # 心内科 inpatient, discharged 05-10
        points = {t.point for t in s.exec(select(Task).where(Task.patient_id == wang.id))}
        assert "d30" in points  # the discharge plan's 30-day call is due soon; the 7-day one has passed
        assert len(s.exec(select(Task)).all()) == summary.planned_tasks
    again = _import(engine, _write(tmp_path / "a.csv", ROWS), planner=planner)
    assert (again.created, again.planned_tasks) == (0, 0)  # re-import: nothing new, no new tasks


def test_a_second_systems_mrn_is_kept_so_its_later_messages_without_national_id_find_the_patient(engine, tmp_path):
    from callcenter.models import PatientIdentifier
    from callcenter.patients import find_patient

    nid = "11010519491231002X"
    his = _import(engine, _write(tmp_path / "his.csv", [
        ["M010", nid, "王芳", "女", "13800138000", "", "", "V010", "住院", "心内科", "2026-05-01", "2026-05-02",
         "I10", "高血压"]]))
    checkup = [["T55", nid, "王芳", "女", "", "", "", "TJ-1", "体检", "体检中心", "2026-05-20", "", "", ""]]
    first = _import(engine, _write(tmp_path / "tj1.csv", checkup), source_system="tj")  # health checks: own MRN
    # later, the health-check system sends a message with its MRN only
    later = _import(engine, _write(tmp_path / "tj2.csv", [
        ["T55", "", "王芳", "女", "", "", "", "TJ-2", "体检", "体检中心", "2026-05-28", "", "", ""]]), source_system="tj")
    again = _import(engine, tmp_path / "tj1.csv", source_system="tj")  # re-import: the number is not filed twice
    assert his.created == 1 and first.rejected == later.rejected == again.rejected == 0
    with Session(engine) as s:
        patients = s.exec(select(Patient)).all()
        assert len(patients) == 1, "the second system's MRN must not create a second patient"
        wang = patients[0]
        assert (wang.source_system, wang.mrn) == ("his", "M010")  # her first number stays hers
        assert [(i.patient_id, i.source_system, i.mrn) for i in s.exec(select(PatientIdentifier)).all()] == [
            (wang.id, "tj", "T55")]
        visits = s.exec(select(Encounter.source_id).where(Encounter.patient_id == wang.id)).all()
        assert sorted(visits) == ["TJ-1", "TJ-2", "V010"]
        assert find_patient(s, source_system="tj", mrn="T55").id == wang.id
