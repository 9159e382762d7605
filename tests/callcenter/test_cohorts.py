from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from callcenter.cohorts import (
    CohortRule,
    CohortRuleError,
    count_encounters,
    matches,
    rule_from_dict,
    select_encounters,
    select_patient_ids,
    to_dict,
)
from callcenter.models import Encounter, EncounterKind, GroupMembership, Patient, PatientGroup, Sex

TODAY = date(2026, 6, 15)
SH = timezone(timedelta(hours=8))


def _at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=SH)


def test_rule_round_trips_through_its_dict_form():
    rule = CohortRule(
        departments=("心内科",), diagnosis_codes=("i10",), diagnosis_keywords=("高血压",),
        discharged_from=date(2026, 1, 1), discharged_to=date(2026, 3, 31), age_min=18, age_max=80,
        sex=Sex.female, groups=("hypertension",), risk_levels=("high",), kinds=(EncounterKind.inpatient,),
        discharged_within_days=30,
    )
    assert rule_from_dict(to_dict(rule)) == rule
    assert to_dict(CohortRule()) == {}


def test_rule_from_dict_accepts_comma_separated_strings():
    rule = rule_from_dict({"departments": "心内科，肿瘤科", "kinds": "inpatient,outpatient", "sex": "male"})
    assert rule.departments == ("心内科", "肿瘤科")
    assert rule.kinds == (EncounterKind.inpatient, EncounterKind.outpatient)
    assert rule.sex is Sex.male


@pytest.mark.parametrize("data, field", [
    ({"department": ["心内科"]}, "department"),
    ({"sex": "x"}, "sex"),
    ({"discharged_from": "2026-13-01"}, "discharged_from"),
    ({"age_min": "abc"}, "age_min"),
    ({"age_min": 80, "age_max": 18}, "age_min"),
    ({"discharged_from": "2026-03-01", "discharged_to": "2026-01-01"}, "discharged_from"),
])
def test_bad_rules_are_refused_naming_the_field(data, field):
    with pytest.raises(CohortRuleError, match=field):
        rule_from_dict(data)


def _patient(**kw):
    base = dict(id=1, name="张三", sex=Sex.male, birth_date=date(1960, 6, 15))
    base.update(kw)
    return Patient(**base)


def _enc(**kw):
    base = dict(id=1, patient_id=1, kind=EncounterKind.inpatient, department="心内科",
                admitted_at=_at(2026, 5, 1), discharged_at=_at(2026, 5, 10),
                diagnosis_code="I10.x01", diagnosis_text="原发性高血压")
    base.update(kw)
    return Encounter(**base)


@pytest.mark.parametrize("rule, expected", [
    (CohortRule(), True),
    (CohortRule(departments=("心内科", "肿瘤科")), True),
    (CohortRule(departments=("肿瘤科",)), False),
    (CohortRule(diagnosis_codes=("i1",)), True),
    (CohortRule(diagnosis_codes=("E11",)), False),
    (CohortRule(diagnosis_keywords=("糖尿病", "高血压")), True),
    (CohortRule(diagnosis_keywords=("糖尿病",)), False),
    (CohortRule(age_min=66), True),  # born 1960-06-15: 66 exactly on 2026-06-15
    (CohortRule(age_min=67), False),
    (CohortRule(age_max=66), True),
    (CohortRule(age_max=65), False),
    (CohortRule(sex=Sex.female), False),
    (CohortRule(kinds=(EncounterKind.outpatient,)), False),
    (CohortRule(discharged_from=date(2026, 5, 10), discharged_to=date(2026, 5, 10)), True),
    (CohortRule(discharged_from=date(2026, 5, 11)), False),
    (CohortRule(admitted_to=date(2026, 4, 30)), False),
    (CohortRule(discharged_within_days=36), True),
    (CohortRule(discharged_within_days=35), False),
    (CohortRule(groups=("hypertension",)), True),
    (CohortRule(groups=("diabetes",)), False),
    (CohortRule(risk_levels=("high",)), True),
    (CohortRule(groups=("hypertension",), risk_levels=("low",)), False),
])
def test_matches_applies_each_criterion(rule, expected):
    assert matches(rule, _enc(), _patient(), memberships={"hypertension": "high"}, today=TODAY) is expected


def test_discharge_dates_are_local_calendar_days():
    # 2026-05-10 23:30 in Shanghai is 15:30 UTC: still the 10th locally
    enc = _enc(discharged_at=datetime(2026, 5, 10, 15, 30, tzinfo=UTC))
    assert matches(CohortRule(discharged_to=date(2026, 5, 10)), enc, _patient(), today=TODAY)
    enc = _enc(discharged_at=datetime(2026, 5, 10, 16, 30, tzinfo=UTC))  # 00:30 on the 11th locally
    assert not matches(CohortRule(discharged_to=date(2026, 5, 10)), enc, _patient(), today=TODAY)


def test_cancelled_merged_and_deceased_never_match_unless_asked():
    assert not matches(CohortRule(), _enc(cancelled=True), _patient(), today=TODAY)
    assert not matches(CohortRule(), _enc(), _patient(merged_into_id=9), today=TODAY)
    assert not matches(CohortRule(), _enc(), _patient(deceased=True), today=TODAY)
    assert matches(CohortRule(include_deceased=True), _enc(), _patient(deceased=True), today=TODAY)


RULES = [
    CohortRule(),
    CohortRule(departments=("心内科",)),
    CohortRule(diagnosis_codes=("E11", "I10")),
    CohortRule(diagnosis_codes=("e11.9", "C")),
    CohortRule(diagnosis_keywords=("糖尿病",)),
    CohortRule(age_min=50, age_max=70),
    CohortRule(sex=Sex.female, kinds=(EncounterKind.inpatient,)),
    CohortRule(discharged_from=date(2026, 3, 1), discharged_to=date(2026, 4, 30)),
    CohortRule(admitted_from=date(2026, 2, 1)),
    CohortRule(discharged_within_days=60),
    CohortRule(groups=("hypertension",)),
    CohortRule(risk_levels=("high",)),
    CohortRule(include_deceased=True, departments=("肿瘤科",)),
    CohortRule(diagnosis_keywords=("100%",)),  # LIKE wildcards are escaped
]


def _seed(session: Session) -> tuple[list[Patient], list[Encounter], dict[int, dict[str, str]]]:
    depts = ["心内科", "肿瘤科", "内分泌科"]
    dx = [("I10", "高血压"), ("E11.9", "2型糖尿病"), ("C34", "肺恶性肿瘤"), ("K80", "胆石症 100%")]
    patients, encounters = [], []
    for i in range(24):
        p = Patient(name=f"患者{i}", mrn=f"M{i}", source_system="his", sex=Sex.female if i % 2 else Sex.male,
                    birth_date=date(1940 + i * 2, 1 + i % 12, 1 + i % 27) if i % 7 else None,
                    deceased=(i == 5))
        session.add(p)
        patients.append(p)
    session.flush()
    group = PatientGroup(key="hypertension", name="高血压")
    session.add(group)
    session.flush()
    members: dict[int, dict[str, str]] = {}
    for i, p in enumerate(patients):
        if i % 3 == 0:
            level = "high" if i % 2 else "low"
            session.add(GroupMembership(group_id=group.id, patient_id=p.id, risk_level=level))
            members[p.id] = {"hypertension": level}
        for j in range(2):
            code, text = dx[(i + j) % len(dx)]
            start = _at(2026, 1 + (i + j) % 6, 1 + (i * 3) % 27)
            e = Encounter(patient_id=p.id, department=depts[(i + j) % 3], kind=list(EncounterKind)[(i + j) % 3],
                          admitted_at=start, discharged_at=start + timedelta(days=3 + j) if (i + j) % 5 else None,
                          diagnosis_code=code, diagnosis_text=text, source_system="his", source_id=f"E{i}-{j}",
                          cancelled=(i == 7 and j == 1))
            session.add(e)
            encounters.append(e)
    session.commit()
    return patients, encounters, members


def test_sql_selection_agrees_with_the_pure_rule(engine):
    with Session(engine, expire_on_commit=False) as session:
        patients, encounters, members = _seed(session)
        by_id = {p.id: p for p in patients}
        for rule in RULES:
            expected = [e.id for e in encounters
                        if matches(rule, e, by_id[e.patient_id], memberships=members.get(e.patient_id, {}),
                                   today=TODAY)]
            got = [e.id for e in select_encounters(session, rule, today=TODAY)]
            assert got == sorted(expected), rule
            assert count_encounters(session, rule, today=TODAY) == len(expected)
            assert select_patient_ids(session, rule, today=TODAY) == sorted(
                {e.patient_id for e in encounters if e.id in expected})
        assert any(select_encounters(session, r, today=TODAY) for r in RULES[1:])
