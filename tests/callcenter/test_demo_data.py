import json
from datetime import date

from click.testing import CliRunner
from sqlmodel import Session, func, select

from callcenter.cli import main
from callcenter.db import make_engine
from callcenter.demo_data import DemoOptions, generate_hospital
from callcenter.identity import is_valid_national_id, normalize_phone
from callcenter.models import Encounter, GroupMembership, Patient

OPTIONS = DemoOptions(patients=400, seed=3, today=date(2026, 6, 1))


def test_same_seed_same_hospital_other_seed_other_hospital():
    first = [r.values for r in generate_hospital(OPTIONS)]
    assert first == [r.values for r in generate_hospital(OPTIONS)]
    other = [r.values for r in generate_hospital(DemoOptions(patients=400, seed=4, today=OPTIONS.today))]
    assert first != other


def test_demo_patients_look_like_a_chinese_hospital():
    rows = list(generate_hospital(OPTIONS))
    patients = {r.values["mrn"]: r for r in rows}
    assert len(patients) == 400
    ids = [r.values["national_id"] for r in patients.values() if r.values.get("national_id")]
    assert ids and all(is_valid_national_id(i) for i in ids) and len(set(ids)) == len(ids)
    korean = [r for r in patients.values() if r.values["language"] == "ko-KR"]
    assert 0 < len(korean) < 400 * 0.06 and all("national_id" not in r.values for r in korean)
    assert all(normalize_phone(n) for r in rows for n, _ in r.phones)
    with_family = [r for r in patients.values() if len(r.phones) > 1]
    assert 0.2 < len(with_family) / 400 < 0.6
    kinds = {r.values["kind"] for r in rows}
    assert kinds == {"inpatient", "outpatient", "health_check"}
    departments = {r.values["department"] for r in rows if r.values["kind"] == "inpatient"}
    assert {"肿瘤科", "心内科", "内分泌科", "普外科", "神经内科"} <= departments
    for r in rows:
        v = r.values
        assert v["admitted_at"].date() < OPTIONS.today
        if v["discharged_at"]:
            assert v["admitted_at"] < v["discharged_at"] and v["discharged_at"].date() < OPTIONS.today


def test_demo_data_command_imports_fills_groups_and_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    args = ["demo-data", "--patients", "120", "--seed", "5", "--today", "2026-06-01", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["details"]["patients_created"] == 120 and data["rejected"] == 0
    assert data["groups"]["hypertension"] > 0 and data["groups"]["diabetes"] > 0
    again = json.loads(runner.invoke(main, args).output)
    assert again["created"] == 0 and again["updated"] == 0 and sum(again["groups"].values()) == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'callcenter.db'}")
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Patient)).one() == 120
        assert s.exec(select(func.count()).select_from(Encounter)).one() == data["details"]["encounters_created"]
        assert s.exec(select(func.count()).select_from(GroupMembership)).one() == sum(data["groups"].values())
    engine.dispose()
