"""Cohort rules: which encounters (and so which patients) a follow-up plan or a group covers.

A ``CohortRule`` is a frozen value (stored as a dict in ``FollowUpPlan.cohort`` and ``PatientGroup.rule``).
``matches`` decides for one encounter in pure code; ``select_encounters`` asks the database the same question
for many (both must agree — the tests check them against each other). Every criterion that is set must hold
(AND); the values inside one criterion are alternatives (OR): ``departments=("心内科", "肿瘤科")`` means either.

Dates in a rule are the hospital's local calendar dates (``tz``, default Asia/Shanghai); ages are whole years
at ``today``. Cancelled encounters, merged-away patients and (unless ``include_deceased``) deceased patients
never match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from callcenter.errors import InvalidInput
from callcenter.models import Encounter, EncounterKind, GroupMembership, Patient, PatientGroup, Sex

HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")
_INDEXABLE_PREFIX = re.compile(r"[A-Z][0-9]{0,3}")  # the ICD-10 category part: letter + digits

_TUPLE_FIELDS = ("departments", "diagnosis_codes", "diagnosis_keywords", "groups", "risk_levels")


class CohortRuleError(InvalidInput):
    """A cohort rule (plan or group definition) cannot be used; the message names the field to fix."""


@dataclass(frozen=True)
class CohortRule:
    """Who is in a cohort. Empty criteria are not applied; an empty rule matches every live encounter."""

    departments: tuple[str, ...] = ()  # discharge / visit department, exact names (出院科室)
    diagnosis_codes: tuple[str, ...] = ()  # ICD-10 code prefixes: "I10", "E11", "C34"
    diagnosis_keywords: tuple[str, ...] = ()  # substrings of the diagnosis text: "高血压", "糖尿病"
    admitted_from: date | None = None  # local dates, inclusive
    admitted_to: date | None = None
    discharged_from: date | None = None
    discharged_to: date | None = None
    discharged_within_days: int | None = None  # discharged in the last N days before ``today`` (inclusive)
    age_min: int | None = None  # whole years at ``today``, inclusive
    age_max: int | None = None
    sex: Sex | None = None
    groups: tuple[str, ...] = ()  # PatientGroup keys; the patient must belong to one of them
    risk_levels: tuple[str, ...] = ()  # GroupMembership.risk_level (low / medium / high)
    kinds: tuple[EncounterKind, ...] = ()  # outpatient / inpatient / health_check
    include_deceased: bool = False

    def __post_init__(self) -> None:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise CohortRuleError(f"age_min {self.age_min} is above age_max {self.age_max}; swap them")
        for lo, hi, name in (
            (self.admitted_from, self.admitted_to, "admitted"),
            (self.discharged_from, self.discharged_to, "discharged"),
        ):
            if lo is not None and hi is not None and lo > hi:
                raise CohortRuleError(f"{name}_from {lo} is after {name}_to {hi}; swap them")
        if self.discharged_within_days is not None and self.discharged_within_days < 0:
            raise CohortRuleError("discharged_within_days must be 0 or more")

    @property
    def code_prefixes(self) -> tuple[str, ...]:
        return tuple(c.strip().upper() for c in self.diagnosis_codes if c.strip())


def rule_from_dict(data: Mapping[str, Any] | None) -> CohortRule:
    """Build a rule from its stored / YAML / JSON form. Lists or single strings are accepted for sets."""
    if not data:
        return CohortRule()
    known = {f.name for f in fields(CohortRule)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CohortRuleError(f"unknown cohort rule field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if raw is None:
            continue
        if name in _TUPLE_FIELDS:
            values[name] = _str_tuple(name, raw)
        elif name == "kinds":
            values[name] = tuple(_enum(EncounterKind, name, v) for v in _str_tuple(name, raw))
        elif name == "sex":
            values[name] = _enum(Sex, name, raw)
        elif name in ("admitted_from", "admitted_to", "discharged_from", "discharged_to"):
            values[name] = _date(name, raw)
        elif name in ("age_min", "age_max", "discharged_within_days"):
            values[name] = _int(name, raw)
        elif name == "include_deceased":
            values[name] = bool(raw)
    return CohortRule(**values)


def to_dict(rule: CohortRule) -> dict[str, Any]:
    """The JSON-able form of ``rule`` with only the criteria that are set (round-trips ``rule_from_dict``)."""
    out: dict[str, Any] = {}
    for f in fields(rule):
        value = getattr(rule, f.name)
        if value is None or value == () or (f.name == "include_deceased" and not value):
            continue
        if isinstance(value, tuple):
            out[f.name] = [str(v) for v in value]
        elif isinstance(value, date):
            out[f.name] = value.isoformat()
        elif isinstance(value, Sex):
            out[f.name] = value.value
        else:
            out[f.name] = value
    return out


def _str_tuple(name: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        items: Sequence[Any] = [p for p in raw.replace("，", ",").split(",")]
    elif isinstance(raw, (list, tuple)):
        items = raw
    else:
        raise CohortRuleError(f"{name} must be a list of strings, got {type(raw).__name__}")
    return tuple(str(v).strip() for v in items if str(v).strip())


def _enum(kind: type[Any], name: str, raw: Any) -> Any:
    try:
        return kind(str(raw).strip())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise CohortRuleError(f"{name}: {raw!r} is not one of {allowed}") from None


def _date(name: str, raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise CohortRuleError(f"{name}: {raw!r} is not a date; write YYYY-MM-DD") from None


def _int(name: str, raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise CohortRuleError(f"{name}: {raw!r} is not a whole number") from None


# --- time bounds shared by the pure and the SQL versions ------------------------------------------------------


def _start_of(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class _Bounds:
    admitted_lo: datetime | None
    admitted_hi: datetime | None  # exclusive
    discharged_lo: datetime | None
    discharged_hi: datetime | None  # exclusive
    born_after: date | None  # exclusive (age_max)
    born_on_or_before: date | None  # inclusive (age_min)


def _bounds(rule: CohortRule, today: date, tz: tzinfo) -> _Bounds:
    d_lo = _start_of(rule.discharged_from, tz) if rule.discharged_from else None
    d_hi = _start_of(rule.discharged_to + timedelta(days=1), tz) if rule.discharged_to else None
    if rule.discharged_within_days is not None:
        recent_lo = _start_of(today - timedelta(days=rule.discharged_within_days), tz)
        recent_hi = _start_of(today + timedelta(days=1), tz)
        d_lo = max(d_lo, recent_lo) if d_lo else recent_lo
        d_hi = min(d_hi, recent_hi) if d_hi else recent_hi
    return _Bounds(
        admitted_lo=_start_of(rule.admitted_from, tz) if rule.admitted_from else None,
        admitted_hi=_start_of(rule.admitted_to + timedelta(days=1), tz) if rule.admitted_to else None,
        discharged_lo=d_lo,
        discharged_hi=d_hi,
        born_after=_years_before(today, rule.age_max + 1) if rule.age_max is not None else None,
        born_on_or_before=_years_before(today, rule.age_min) if rule.age_min is not None else None,
    )


def _in_range(value: Any, lo: Any, hi_exclusive: Any) -> bool:
    if lo is None and hi_exclusive is None:
        return True
    if value is None:
        return False
    return (lo is None or value >= lo) and (hi_exclusive is None or value < hi_exclusive)


# --- pure decision --------------------------------------------------------------------------------------------


def matches(
    rule: CohortRule,
    encounter: Encounter,
    patient: Patient,
    *,
    memberships: Mapping[str, str] | None = None,
    today: date,
    tz: tzinfo = HOSPITAL_TZ,
) -> bool:
    """Whether ``encounter`` of ``patient`` is in the cohort. ``memberships``: group key -> risk level."""
    if encounter.cancelled or patient.merged_into_id is not None:
        return False
    if patient.deceased and not rule.include_deceased:
        return False
    if rule.departments and encounter.department not in rule.departments:
        return False
    if rule.kinds and encounter.kind not in rule.kinds:
        return False
    if rule.code_prefixes and not (encounter.diagnosis_code or "").upper().startswith(rule.code_prefixes):
        return False
    if rule.diagnosis_keywords and not any(k in (encounter.diagnosis_text or "") for k in rule.diagnosis_keywords):
        return False
    if rule.sex is not None and patient.sex != rule.sex:
        return False
    b = _bounds(rule, today, tz)
    if not _in_range(encounter.admitted_at, b.admitted_lo, b.admitted_hi):
        return False
    if not _in_range(encounter.discharged_at, b.discharged_lo, b.discharged_hi):
        return False
    if b.born_after is not None or b.born_on_or_before is not None:
        if patient.birth_date is None:
            return False
        if b.born_after is not None and not patient.birth_date > b.born_after:
            return False
        if b.born_on_or_before is not None and not patient.birth_date <= b.born_on_or_before:
            return False
    if rule.groups or rule.risk_levels:
        held = dict(memberships or {})
        candidates = {k: v for k, v in held.items() if not rule.groups or k in rule.groups}
        if not candidates:
            return False
        if rule.risk_levels and not any(v in rule.risk_levels for v in candidates.values()):
            return False
    return True


# --- SQL ------------------------------------------------------------------------------------------------------


def encounter_conditions(rule: CohortRule, *, today: date, tz: tzinfo = HOSPITAL_TZ) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``rule`` over ``Encounter`` joined to ``Patient`` (for callers composing queries)."""
    conds: list[ColumnElement[bool]] = [
        col(Encounter.cancelled).is_(false()),
        col(Patient.merged_into_id).is_(None),
    ]
    if not rule.include_deceased:
        conds.append(col(Patient.deceased).is_(false()))
    if rule.departments:
        conds.append(col(Encounter.department).in_(rule.departments))
    if rule.kinds:
        conds.append(col(Encounter.kind).in_(rule.kinds))
    if rule.code_prefixes:
        conds.append(or_(*(_code_prefix(p) for p in rule.code_prefixes)))
    if rule.diagnosis_keywords:
        conds.append(or_(*(col(Encounter.diagnosis_text).contains(k, autoescape=True) for k in rule.diagnosis_keywords)))
    if rule.sex is not None:
        conds.append(col(Patient.sex) == rule.sex)
    b = _bounds(rule, today, tz)
    for column, lo, hi in (
        (col(Encounter.admitted_at), b.admitted_lo, b.admitted_hi),
        (col(Encounter.discharged_at), b.discharged_lo, b.discharged_hi),
    ):
        if lo is not None:
            conds.append(column >= lo)
        if hi is not None:
            conds.append(column < hi)
    if b.born_after is not None:
        conds.append(col(Patient.birth_date) > b.born_after)
    if b.born_on_or_before is not None:
        conds.append(col(Patient.birth_date) <= b.born_on_or_before)
    if rule.groups or rule.risk_levels:
        member = select(GroupMembership.patient_id).join(PatientGroup, col(PatientGroup.id) == GroupMembership.group_id)
        if rule.groups:
            member = member.where(col(PatientGroup.key).in_(rule.groups))
        if rule.risk_levels:
            member = member.where(col(GroupMembership.risk_level).in_(rule.risk_levels))
        conds.append(col(Encounter.patient_id).in_(member))
    return conds


def _code_prefix(prefix: str) -> ColumnElement[bool]:
    """``code LIKE 'I10%'``, plus a range on the same column so that the btree index is used on both backends
    (SQLite's LIKE is case-insensitive and PostgreSQL's needs ``text_pattern_ops`` to use an index)."""
    code = col(Encounter.diagnosis_code)
    if not _INDEXABLE_PREFIX.fullmatch(prefix):
        return code.istartswith(prefix, autoescape=True)
    like = code.startswith(prefix, autoescape=True)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(code >= prefix, code < upper, like)


def encounter_query(rule: CohortRule, *, today: date, tz: tzinfo = HOSPITAL_TZ) -> SelectOfScalar[Encounter]:
    """``SELECT encounter … JOIN patient WHERE <rule>`` ordered by encounter id."""
    return (
        select(Encounter)
        .join(Patient, col(Patient.id) == Encounter.patient_id)
        .where(and_(*encounter_conditions(rule, today=today, tz=tz)))
        .order_by(col(Encounter.id))
    )


def select_encounters(
    session: Session, rule: CohortRule, *, today: date, tz: tzinfo = HOSPITAL_TZ, limit: int | None = None
) -> list[Encounter]:
    """The encounters in the cohort, oldest id first (``limit`` caps the list)."""
    query = encounter_query(rule, today=today, tz=tz)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def count_encounters(session: Session, rule: CohortRule, *, today: date, tz: tzinfo = HOSPITAL_TZ) -> int:
    query = (
        select(func.count())
        .select_from(Encounter)
        .join(Patient, col(Patient.id) == Encounter.patient_id)
        .where(and_(*encounter_conditions(rule, today=today, tz=tz)))
    )
    return int(session.exec(query).one())


def select_patient_ids(session: Session, rule: CohortRule, *, today: date, tz: tzinfo = HOSPITAL_TZ) -> list[int]:
    """Distinct ids of the patients with at least one encounter in the cohort."""
    query = (
        select(Encounter.patient_id)
        .join(Patient, col(Patient.id) == Encounter.patient_id)
        .where(and_(*encounter_conditions(rule, today=today, tz=tz)))
        .distinct()
        .order_by(col(Encounter.patient_id))
    )
    return [int(pid) for pid in session.exec(query).all()]
