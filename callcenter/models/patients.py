"""Patients, their phones, encounters from the HIS, and chronic-disease / risk groups."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from callcenter.models.base import UTCDateTime, utc_now


class Sex(enum.StrEnum):
    male = "male"
    female = "female"
    unknown = "unknown"


class PhoneOwner(enum.StrEnum):
    self_ = "self"
    spouse = "spouse"
    child = "child"
    parent = "parent"
    relative = "relative"
    caregiver = "caregiver"
    other = "other"


class EncounterKind(enum.StrEnum):
    outpatient = "outpatient"
    inpatient = "inpatient"
    health_check = "health_check"


class Patient(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("source_system", "mrn", name="uq_patient_source_mrn"),)
    id: int | None = Field(default=None, primary_key=True)
    national_id: str | None = Field(default=None, unique=True, index=True, max_length=18)
    source_system: str = Field(default="", max_length=64)
    mrn: str = Field(default="", max_length=64, index=True)
    name: str = Field(default="", max_length=100)
    sex: Sex = Field(default=Sex.unknown)
    birth_date: date | None = None
    region_code: str = Field(default="", max_length=6)
    language: str = Field(default="zh-CN", max_length=16)
    do_not_call: bool = Field(default=False)
    sms_consent: bool = Field(default=True)
    preferred_call_start: time | None = None
    preferred_call_end: time | None = None
    deceased: bool = Field(default=False)
    deceased_on: date | None = None
    merged_into_id: int | None = Field(default=None, foreign_key="patient.id")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PatientIdentifier(SQLModel, table=True):
    """Another system's record number for a patient (the patient's own is ``Patient.source_system``/``mrn``):
    a second HIS (outpatient, health checks) that knows the same person by national ID under its own MRN. Later
    messages from that system that carry only the MRN find the patient through it."""

    __table_args__ = (UniqueConstraint("source_system", "mrn", name="uq_identifier_source_mrn"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    source_system: str = Field(max_length=64)
    mrn: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PatientPhone(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("patient_id", "number", name="uq_phone_patient_number"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    number: str = Field(max_length=32, index=True)  # normalised: 13800138000 / 010-12345678
    kind: str = Field(default="mobile", max_length=16)  # mobile / landline
    owner: PhoneOwner = Field(default=PhoneOwner.self_)
    rank: int = Field(default=0)  # tried in ascending order
    invalid: bool = Field(default=False)  # marked non-working / wrong number by an outcome


class Encounter(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source_system", "source_id", name="uq_encounter_source"),
        Index("ix_encounter_dept_discharged", "department", "discharged_at"),
        Index("ix_encounter_discharged", "discharged_at"),
        Index("ix_encounter_diagnosis_code", "diagnosis_code"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    kind: EncounterKind = Field(default=EncounterKind.inpatient)
    department: str = Field(default="", max_length=100)
    admitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    discharged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    diagnosis_code: str = Field(default="", max_length=32)
    diagnosis_text: str = Field(default="", max_length=200)
    attending: str = Field(default="", max_length=100)
    source_system: str = Field(default="", max_length=64)
    source_id: str = Field(default="", max_length=64)
    cancelled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PatientGroup(SQLModel, table=True):
    """A chronic-disease or risk cohort (慢病管理组) and the rule that fills it."""

    __tablename__ = "patient_group"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=100)
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class GroupMembership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("group_id", "patient_id", name="uq_group_member"),)
    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="patient_group.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    risk_level: str = Field(default="", max_length=16)  # 低危/中危/高危 → low/medium/high
    since: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    added_by: str = Field(default="rule", max_length=16)  # rule: the group's rule keeps it; hand: a doctor did
