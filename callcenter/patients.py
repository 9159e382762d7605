"""Patient records: look-up by identity, merging duplicates, and the patient timeline.

Identity rules (see docs/intake.md): a national ID identifies a person across systems; without one, a patient
is keyed by (source system, MRN). When a national ID arrives for a record that was keyed by MRN only and the
national ID already belongs to another patient, the two are the same person: ``merge_patients`` re-points
everything that refers to the duplicate (encounters, phones, groups, tasks, attempts, responses, alerts,
appointments — every foreign key to ``patient.id``) to the surviving patient and records ``merged_into_id``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from callcenter.errors import Conflict, InvalidInput, PatientNotFound
from callcenter.identity import IdentityError, normalize_phone, upgrade_15_to_18
from callcenter.models import (
    Alert,
    Appointment,
    CallAttempt,
    Encounter,
    Patient,
    PatientIdentifier,
    PatientPhone,
    PhoneOwner,
    Response,
    Task,
    utc_now,
)

logger = logging.getLogger(__name__)

# Fields a merge copies from the duplicate when the survivor has none.
_FILL_FIELDS = ("national_id", "name", "birth_date", "region_code", "source_system", "mrn")


class MergeRefused(Conflict):
    """Two patients cannot be merged; the message says why and what to check."""


@dataclass(frozen=True)
class MergeResult:
    survivor_id: int
    merged_id: int
    moved: dict[str, int]  # table name -> rows re-pointed
    kept: dict[str, int]  # table name -> rows left on the merged record because the survivor has the same one


def find_patient(session: Session, *, national_id: str | None = None, source_system: str = "",
                 mrn: str = "") -> Patient | None:
    """The live patient with this national ID, else the one with this (source system, MRN)."""
    if national_id:
        found = session.execute(select(Patient).where(col(Patient.national_id) == national_id)).scalar_one_or_none()
        if found is not None:
            return _follow_merges(session, found)
    if mrn:
        found = session.execute(
            select(Patient).where(col(Patient.source_system) == source_system, col(Patient.mrn) == mrn)
        ).scalar_one_or_none()
        if found is None:  # another system's number for a patient first known elsewhere
            found = session.execute(
                select(Patient).join(PatientIdentifier, col(PatientIdentifier.patient_id) == col(Patient.id))
                .where(col(PatientIdentifier.source_system) == source_system, col(PatientIdentifier.mrn) == mrn)
            ).scalar_one_or_none()
        if found is not None:
            return _follow_merges(session, found)
    return None


NAME_SEARCH_MIN_CHARS = 2  # part of a name: one character (a family name) would list half the hospital


def search_patients(session: Session, term: str, *, limit: int = 20) -> list[Patient]:
    """Live patients (not merged away) a staff member looks up by what a caller says: part of the name (two
    characters at least), the national ID (18 characters, or the old 15 digits), a medical record number (this
    hospital's or another system's) or a phone number, the last three exactly."""
    text = (term or "").strip()
    if not text:
        return []
    compact = re.sub(r"[\s-]", "", text).upper()
    other_systems = select(col(PatientIdentifier.patient_id)).where(col(PatientIdentifier.mrn) == text)
    conditions = [col(Patient.mrn) == text, col(Patient.id).in_(other_systems)]
    if len(text) >= NAME_SEARCH_MIN_CHARS:
        conditions.append(col(Patient.name).contains(text, autoescape=True))
    if re.fullmatch(r"\d{17}[\dX]", compact):
        conditions.append(col(Patient.national_id) == compact)
    elif re.fullmatch(r"\d{15}", compact):
        try:
            conditions.append(col(Patient.national_id) == upgrade_15_to_18(compact))
        except IdentityError:
            pass
    try:
        number = normalize_phone(text).number
    except IdentityError:
        number = ""
    if number:
        having = select(col(PatientPhone.patient_id)).where(col(PatientPhone.number) == number)
        conditions.append(col(Patient.id).in_(having))
    query = (select(Patient).where(col(Patient.merged_into_id).is_(None), or_(*conditions))
             .order_by(col(Patient.name), col(Patient.id)).limit(limit))
    return list(session.execute(query).scalars())


def add_phone(session: Session, patient_id: int, raw_number: str, *,
              owner: PhoneOwner | str) -> tuple[PatientPhone, bool]:
    """Give the patient a phone number (normalised; whose phone it is: ``owner``), tried after the numbers she
    has. Returns the row and whether it was added (False: she has the number already, left as it is)."""
    try:
        who = PhoneOwner(owner)
    except ValueError:
        raise InvalidInput(f"whose phone is it: one of {', '.join(o.value for o in PhoneOwner)}") from None
    if session.get(Patient, patient_id) is None:
        raise PatientNotFound(f"patient {patient_id} does not exist")
    phone = normalize_phone(raw_number)
    if phone.extension:
        raise InvalidInput("a number with an extension cannot be added here; add it in the HIS")
    existing = session.execute(select(PatientPhone).where(
        col(PatientPhone.patient_id) == patient_id, col(PatientPhone.number) == phone.number)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    last = session.execute(select(func.max(col(PatientPhone.rank))).where(
        col(PatientPhone.patient_id) == patient_id)).scalar_one_or_none()
    row = PatientPhone(patient_id=patient_id, number=phone.number, kind=phone.kind, owner=who,
                       rank=0 if last is None else last + 1)
    session.add(row)
    session.flush()
    return row, True


def _follow_merges(session: Session, patient: Patient) -> Patient:
    seen = {patient.id}
    while patient.merged_into_id is not None:
        nxt = session.get(Patient, patient.merged_into_id)
        if nxt is None or nxt.id in seen:
            break
        seen.add(nxt.id)
        patient = nxt
    return patient


def _patient_references() -> list[tuple[Table, str]]:
    """Every (table, column) with a foreign key to ``patient.id`` except ``patient.merged_into_id``."""
    refs: list[tuple[Table, str]] = []
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "patient" and fk.column.name == "id" and table.name != "patient":
                refs.append((table, fk.parent.name))
    return refs


def merge_patients(session: Session, survivor_id: int, merged_id: int) -> MergeResult:
    """Fold patient ``merged_id`` into ``survivor_id`` inside the caller's transaction.

    Rows that would duplicate one the survivor already has (the same phone number, the same group, the same
    task point) stay on the merged record, which remains as a tombstone pointing at the survivor.
    """
    if survivor_id == merged_id:
        raise MergeRefused("cannot merge a patient into itself; pick two different patients")
    survivor = session.get(Patient, survivor_id)
    merged = session.get(Patient, merged_id)
    if survivor is None or merged is None:
        raise PatientNotFound(f"patient {survivor_id if survivor is None else merged_id} does not exist")
    if survivor.merged_into_id is not None:
        raise MergeRefused(f"patient {survivor_id} was itself merged into {survivor.merged_into_id}; merge into that one")
    if merged.national_id and survivor.national_id and merged.national_id != survivor.national_id:
        raise MergeRefused(f"patients {survivor_id} and {merged_id} have different national IDs; they are not "
                           "the same person — correct the wrong ID first")
    session.flush()
    moved: dict[str, int] = {}
    kept: dict[str, int] = {}
    for table, column in _patient_references():
        moved[table.name] = moved.get(table.name, 0) + _repoint(session, table, column, survivor_id, merged_id)
        left = session.execute(
            select(table.c[column]).where(table.c[column] == merged_id)
        ).all()
        if left:
            kept[table.name] = kept.get(table.name, 0) + len(left)
    session.execute(update(Patient).where(col(Patient.merged_into_id) == merged_id).values(merged_into_id=survivor_id))
    for name in _FILL_FIELDS:
        if not getattr(survivor, name) and getattr(merged, name):
            value = getattr(merged, name)
            if name in ("national_id", "mrn", "source_system"):
                setattr(merged, name, None if name == "national_id" else "")
                session.flush()  # free the unique value before the survivor takes it
            setattr(survivor, name, value)
    if merged.source_system == survivor.source_system and merged.mrn == survivor.mrn:
        merged.mrn = ""
    merged.merged_into_id = survivor_id
    merged.updated_at = survivor.updated_at = utc_now()
    session.flush()
    logger.info("patient=%s merged into patient=%s moved=%s", merged_id, survivor_id, moved)
    return MergeResult(survivor_id=survivor_id, merged_id=merged_id, moved=moved, kept=kept)


def _repoint(session: Session, table: Table, column: str, survivor_id: int, merged_id: int) -> int:
    target = table.c[column]
    condition = target == merged_id
    for constraint in table.constraints:
        cols = [c.name for c in getattr(constraint, "columns", [])]
        if constraint.__class__.__name__ != "UniqueConstraint" or column not in cols:
            continue
        other = table.alias("other")
        same = [other.c[c] == table.c[c] for c in cols if c != column]
        condition = and_(condition, ~exists().where(other.c[column] == survivor_id, *same))
    result = session.execute(update(table).where(condition).values({column: survivor_id}))
    return int(getattr(result, "rowcount", 0) or 0)


# --- timeline -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # admission / discharge / visit / task / call / response / alert / appointment
    title: str
    ref: str  # "encounter:12", "task:7" …
    detail: dict[str, Any]


def patient_timeline(session: Session, patient_id: int) -> list[TimelineEntry]:
    """Everything that happened to a patient, oldest first: visits, follow-up tasks, calls, answers, alerts."""
    if session.get(Patient, patient_id) is None:
        raise PatientNotFound(f"patient {patient_id} does not exist; check the id (`callcenter cohort` lists ids)")
    out: list[TimelineEntry] = []
    for e in session.execute(select(Encounter).where(col(Encounter.patient_id) == patient_id)).scalars():
        detail = {"department": e.department, "diagnosis_code": e.diagnosis_code,
                  "diagnosis_text": e.diagnosis_text, "kind": e.kind.value, "cancelled": e.cancelled}
        title = f"{e.department} {e.diagnosis_text}".strip()
        if e.kind.value == "inpatient":
            if e.admitted_at:
                out.append(TimelineEntry(e.admitted_at, "admission", title, f"encounter:{e.id}", detail))
            if e.discharged_at:
                out.append(TimelineEntry(e.discharged_at, "discharge", title, f"encounter:{e.id}", detail))
        elif e.admitted_at or e.discharged_at:
            at = e.admitted_at or e.discharged_at
            assert at is not None
            out.append(TimelineEntry(at, "visit", title, f"encounter:{e.id}", detail))
    for t in session.execute(select(Task).where(col(Task.patient_id) == patient_id)).scalars():
        out.append(TimelineEntry(t.due_at, "task", f"{t.questionnaire_key} {t.point}".strip(), f"task:{t.id}",
                                 {"status": t.status.value, "channel": t.channel.value, "outcome": t.final_outcome}))
    for a in session.execute(select(CallAttempt).where(col(CallAttempt.patient_id) == patient_id)).scalars():
        out.append(TimelineEntry(a.started_at, "call", a.outcome_code or "", f"attempt:{a.id}",
                                 {"task_id": a.task_id, "outcome": a.outcome_code, "robot": a.robot,
                                  "direction": a.direction}))
    for r in session.execute(select(Response).where(col(Response.patient_id) == patient_id)).scalars():
        out.append(TimelineEntry(r.finished_at or r.started_at, "response", r.status, f"response:{r.id}",
                                 {"questionnaire_id": r.questionnaire_id, "scores": r.scores}))
    for al in session.execute(select(Alert).where(col(Alert.patient_id) == patient_id)).scalars():
        out.append(TimelineEntry(al.raised_at, "alert", al.message, f"alert:{al.id}",
                                 {"severity": al.severity, "acknowledged": al.acknowledged_at is not None}))
    for ap in session.execute(select(Appointment).where(col(Appointment.patient_id) == patient_id)).scalars():
        out.append(TimelineEntry(ap.scheduled_for, "appointment", ap.department, f"appointment:{ap.id}",
                                 {"status": ap.status, "place": ap.place}))
    order = {"admission": 0, "visit": 0, "discharge": 1}
    out.sort(key=lambda x: (x.at, order.get(x.kind, 2), x.ref))
    return out
