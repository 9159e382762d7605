import json
from datetime import UTC, datetime

from click.testing import CliRunner
from sqlmodel import Session, select

from callcenter.cli import main
from callcenter.groups import ensure_default_groups, fill_groups
from callcenter.models import Encounter, GroupMembership, Patient, PatientGroup

TODAY = datetime(2026, 6, 1, tzinfo=UTC).date()


def _seed(s):
    rows = [("甲", "I10.x00", "原发性高血压"), ("乙", "E11.900", "2型糖尿病"), ("丙", "Z00", "健康查体，血压偏高待查高血压"),
            ("丁", "C34.900", "右肺上叶恶性肿瘤"), ("戊", "K80.200", "胆囊结石")]
    for i, (name, code, text) in enumerate(rows):
        p = Patient(name=name, mrn=f"M{i}", source_system="his")
        s.add(p)
        s.flush()
        s.add(Encounter(patient_id=p.id, source_system="his", source_id=f"E{i}", department="心内科",
                        diagnosis_code=code, diagnosis_text=text,
                        discharged_at=datetime(2026, 5, 1 + i, tzinfo=UTC)))
    s.commit()


def _members(s, key):
    g = s.exec(select(PatientGroup).where(PatientGroup.key == key)).one()
    rows = s.exec(select(Patient.name, GroupMembership.risk_level).join(
        GroupMembership, GroupMembership.patient_id == Patient.id).where(GroupMembership.group_id == g.id)).all()
    return sorted(rows)


def test_default_groups_fill_by_code_or_keyword_and_refill_adds_nothing(engine):
    with Session(engine) as s:
        _seed(s)
        ensure_default_groups(s)
        results = {r.group_key: r for r in fill_groups(s, today=TODAY)}
        s.commit()
        assert _members(s, "hypertension") == [("丙", ""), ("甲", "")]  # keyword in the text counts too
        assert _members(s, "diabetes") == [("乙", "")]
        assert _members(s, "tumour") == [("丁", "high")]
        assert results["hypertension"].added == 2
        assert all(r.added == 0 for r in fill_groups(s, today=TODAY))
        assert ensure_default_groups(s) == []


def test_refill_removes_members_the_rule_no_longer_matches_but_never_those_added_by_hand(engine):
    with Session(engine) as s:
        _seed(s)
        ensure_default_groups(s)
        fill_groups(s, today=TODAY, keys=["hypertension"])
        group = s.exec(select(PatientGroup).where(PatientGroup.key == "hypertension")).one()
        by_hand = s.exec(select(Patient).where(Patient.name == "戊")).one()
        s.add(GroupMembership(group_id=group.id, patient_id=by_hand.id, risk_level="high", added_by="hand"))
        # the HIS cancels 甲's visit (wrong diagnosis): the rule matches her no more
        s.exec(select(Encounter).where(Encounter.source_id == "E0")).one().cancelled = True
        s.commit()
        (result,) = fill_groups(s, today=TODAY, keys=["hypertension"])
        s.commit()
        assert (result.matched, result.added, result.removed) == (1, 0, 1)
        assert _members(s, "hypertension") == [("丙", ""), ("戊", "high")]
        (again,) = fill_groups(s, today=TODAY, keys=["hypertension"])
        assert (again.added, again.removed) == (0, 0)


def test_cohort_command_selects_and_counts_as_json(engine, monkeypatch):
    with Session(engine) as s:
        _seed(s)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    result = runner.invoke(main, ["cohort", "select", "--code", "I10", "--keyword", "糖尿病", "--json",
                                  "--today", "2026-06-01"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["count"] == 0  # both criteria must hold
    result = runner.invoke(main, ["cohort", "select", "--keyword", "高血压", "--discharged-to", "2026-05-02",
                                  "--json", "--today", "2026-06-01"])
    data = json.loads(result.output)
    assert data["count"] == 1 and data["encounters"][0]["name"] == "甲"
    result = runner.invoke(main, ["cohort", "groups", "--defaults", "--fill", "--json", "--today", "2026-06-01"])
    groups = {g["key"]: g for g in json.loads(result.output)}
    assert groups["diabetes"]["added"] == 1
    result = runner.invoke(main, ["cohort", "select", "--group", "tumour", "--json"])
    assert json.loads(result.output)["encounters"][0]["diagnosis_code"] == "C34.900"
    result = runner.invoke(main, ["cohort", "select", "--age-min", "80", "--age-max", "20"])
    assert result.exit_code != 0 and "age_min" in result.output
