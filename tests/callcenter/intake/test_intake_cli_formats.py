"""`callcenter import xlsx|fhir|sql --json` through the CLI on both backends: the JSON summary, the row-level
errors, what was stored, and a re-import of the same data that reports every good row unchanged."""

import json
import sqlite3
from datetime import datetime

import openpyxl
import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from callcenter.cli import main
from callcenter.models import Encounter, Patient

HEADER = ["病案号", "身份证号", "姓名", "联系电话", "就诊号", "出院科室", "入院时间", "出院时间", "主要诊断编码", "主要诊断"]


@pytest.fixture
def runner(engine, tmp_path):
    """The CLI on the ``engine`` fixture's database (SQLite file or the test PostgreSQL database)."""
    return CliRunner(env={"CALLCENTER_DATA_DIR": str(tmp_path / "var"), "CALLCENTER_LOG_LEVEL": "WARNING",
                          "CALLCENTER_DATABASE_URL": engine.url.render_as_string(hide_password=False)})


def _import_twice(runner, args):
    """Run ``callcenter import ARGS --json`` twice; both runs have one rejected row, so both exit 1."""
    runs = []
    for _ in range(2):
        result = runner.invoke(main, ["import", *args, "--json"])
        assert result.exit_code == 1, result.output  # a rejected row makes the command fail
        runs.append(json.loads(result.stdout))
    return runs


def _stored(engine):
    with Session(engine) as s:
        return (sorted(s.exec(select(Patient.mrn)).all()),
                sorted((e.source_id, e.department) for e in s.exec(select(Encounter)).all()))


def test_import_xlsx_json_summary_and_reimport_unchanged(runner, engine, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["M001", "11010519491231002X", "王芳", 13800138000, "V001", "心内科", datetime(2026, 5, 1, 9),
                  datetime(2026, 5, 10, 10, 30), "I10", "高血压"])
    sheet.append(["M002", "", "李四", "12345", "V002", "肿瘤科", datetime(2026, 5, 2, 9), None, "C34", "肺癌"])
    path = tmp_path / "his.xlsx"
    book.save(path)
    first, again = _import_twice(runner, ["xlsx", str(path)])
    assert (first["rows"], first["created"], first["updated"], first["rejected"]) == (2, 1, 0, 1)
    assert [(e["line"], e["field"]) for e in first["errors"]] == [(3, "phone")] and first["errors"][0]["reason"]
    assert _stored(engine) == (["M001"], [("V001", "心内科")])
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 1, 1)


BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"fullUrl": "urn:uuid:p1", "resource": {
        "resourceType": "Patient", "id": "p1", "name": [{"text": "王芳"}], "gender": "female",
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "11010519491231002X"},
                       {"type": {"coding": [{"code": "MR"}]}, "value": "M001"}],
        "telecom": [{"system": "phone", "value": "13800138000"}]}},
    {"fullUrl": "urn:uuid:e1", "resource": {
        "resourceType": "Encounter", "id": "e1", "status": "finished", "identifier": [{"value": "V001"}],
        "class": {"code": "IMP"}, "serviceType": {"text": "心内科"}, "subject": {"reference": "urn:uuid:p1"},
        "period": {"start": "2026-05-01T09:00:00+08:00", "end": "2026-05-10T10:30:00+08:00"}}},
    {"resource": {"resourceType": "Patient", "id": "p2", "birthDate": "1949-13-45"}},
]}


def test_import_fhir_json_summary_and_reimport_unchanged(runner, engine, tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(BUNDLE, ensure_ascii=False), encoding="utf-8")
    first, again = _import_twice(runner, ["fhir", str(path)])
    assert (first["created"], first["updated"], first["rejected"]) == (1, 0, 1)
    assert first["errors"][0]["line"] == 3 and first["errors"][0]["field"].startswith("Patient.birthDate")
    assert _stored(engine) == (["M001"], [("V001", "心内科")])
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 1, 1)


def test_import_sql_json_summary_and_reimport_unchanged(runner, engine, tmp_path):
    his = tmp_path / "his.db"
    con = sqlite3.connect(his)
    con.executescript("""
        CREATE TABLE zy (zyh TEXT, sfzh TEXT, xm TEXT, lxdh TEXT, jzh TEXT, ks TEXT, ryrq TEXT, cyrq TEXT);
        INSERT INTO zy VALUES ('M001', '11010519491231002X', '王芳', '13800138000', 'V001', '心内科',
                               '2026-05-01 09:00', '2026-05-10 10:30');
        INSERT INTO zy VALUES ('M002', 'bad-id', '李四', '13700137000', 'V002', '肿瘤科', '2026-05-02 09:00', NULL);
        CREATE VIEW v_discharged AS SELECT zyh AS 病案号, sfzh AS 身份证号, xm AS 姓名, lxdh AS 联系电话,
            jzh AS 就诊号, ks AS 出院科室, ryrq AS 入院时间, cyrq AS 出院时间 FROM zy;
    """)
    con.commit()
    con.close()
    first, again = _import_twice(runner, ["sql", f"sqlite:///{his}", "SELECT * FROM v_discharged"])
    assert (first["created"], first["updated"], first["rejected"]) == (1, 0, 1)
    assert [(e["line"], e["field"]) for e in first["errors"]] == [(2, "national_id")]
    assert _stored(engine) == (["M001"], [("V001", "心内科")])
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 1, 1)
