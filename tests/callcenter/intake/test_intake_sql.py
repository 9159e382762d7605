import sqlite3
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from callcenter.intake.batch import import_rows
from callcenter.intake.sql_pull import read_sql
from callcenter.intake.tabular import IntakeFileError
from callcenter.models import Encounter, Patient

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def his_url(tmp_path):
    path = tmp_path / "his.db"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE zy (zyh TEXT, sfzh TEXT, xm TEXT, lxdh TEXT, jzh TEXT, ks TEXT, ryrq TEXT, cyrq TEXT,
                         zdbm TEXT, zdmc TEXT);
        INSERT INTO zy VALUES ('M001', '11010519491231002X', '王芳', '13800138000', 'V001', '心内科',
                               '2026-05-01 09:00', '2026-05-10 10:30', 'I10', '高血压');
        INSERT INTO zy VALUES ('M002', 'bad-id', '李四', '13700137000', 'V002', '肿瘤科',
                               '2026-05-02 09:00', NULL, 'C34', '肺恶性肿瘤');
        CREATE VIEW v_discharged AS SELECT zyh AS 病案号, sfzh AS 身份证号, xm AS 姓名, lxdh AS 联系电话,
            jzh AS 就诊号, ks AS 出院科室, ryrq AS 入院时间, cyrq AS 出院时间, zdbm AS 主要诊断编码,
            zdmc AS 主要诊断 FROM zy;
    """)
    con.close()
    return f"sqlite:///{path}"


def test_rows_of_a_his_view_are_imported(engine, his_url):
    _, rows = read_sql(his_url, "SELECT * FROM v_discharged")
    summary = import_rows(engine, rows, source="sql", source_system="his", now=NOW)
    assert (summary.created, summary.rejected) == (1, 1)
    assert (summary.errors[0].line, summary.errors[0].field) == (2, "national_id")
    with Session(engine) as s:
        assert s.exec(select(Patient.mrn)).all() == ["M001"]
        assert s.exec(select(Encounter.department)).all() == ["心内科"]


def test_a_broken_query_is_a_clear_error(his_url):
    with pytest.raises(IntakeFileError, match="check the URL"):
        read_sql(his_url, "SELECT * FROM no_such_view")
