"""Write a batch of validated intake records in the caller's transaction, with bulk look-ups.

The batch is resolved in memory first — every patient, phone and encounter it can touch is loaded with a few
``IN (…)`` queries per batch, never one query per row — then written with bulk INSERT … RETURNING and bulk
UPDATEs. Re-applying the same records changes nothing and reports every row unchanged.

Identity: a record's national ID wins; without one the patient is keyed by (source system, MRN). A record
whose national ID belongs to patient A and whose MRN belongs to patient B (known only by MRN) merges B into A
(``patients.merge_patients``). An MRN that belongs to a patient with a *different* national ID is a conflict:
the row is rejected. A record from a second system whose national ID is known under the first system's MRN keeps
its own MRN as a ``PatientIdentifier``: that system's later messages without a national ID find the patient.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.intake.bulk import insert_returning_ids, insert_rows, one_of, unprepared
from callcenter.intake.records import EncounterAction, EncounterRecord, IntakeRecord, PatientRecord, RowError
from callcenter.models import Encounter, EncounterKind, Patient, PatientIdentifier, PatientPhone, Sex, utc_now
from callcenter.patients import merge_patients

logger = logging.getLogger(__name__)

CHUNK = 2000
_PATIENT_FIELDS = ("national_id", "name", "sex", "birth_date", "region_code", "language", "deceased",
                   "deceased_on")
_ENCOUNTER_FIELDS = ("kind", "department", "admitted_at", "discharged_at", "diagnosis_code", "diagnosis_text",
                     "attending")


@dataclass
class ApplyResult:
    created: int = 0  # rows that created a patient or an encounter
    updated: int = 0  # rows that changed stored data
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)  # rows rejected while resolving identities
    patients_created: int = 0
    patients_updated: int = 0
    encounters_created: int = 0
    encounters_updated: int = 0
    phones_added: int = 0
    merged: int = 0
    identifiers_added: int = 0  # other systems' MRNs filed for patients known by national ID
    # patients with an encounter created or changed in this batch: the ones follow-up plans must look at now
    planning_patient_ids: list[int] = field(default_factory=list)


class _State:
    """One row of the database (or a new one) as the batch sees it."""

    __slots__ = ("id", "values", "orig", "new")

    def __init__(self, values: dict[str, Any], new: bool) -> None:
        self.id: int | None = values.get("id")
        self.values = values
        self.orig = None if new else dict(values)
        self.new = new

    @property
    def dirty(self) -> bool:
        return self.orig is not None and self.values != self.orig

    def set(self, name: str, value: Any) -> None:
        if value is not None and self.values.get(name) != value:
            self.values[name] = value


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


PATIENT = Patient.__table__  # type: ignore[attr-defined]
PHONE = PatientPhone.__table__  # type: ignore[attr-defined]
ENCOUNTER = Encounter.__table__  # type: ignore[attr-defined]
IDENTIFIER = PatientIdentifier.__table__  # type: ignore[attr-defined]
# Columns the batch reads and may change (Core rows, not ORM objects: loading 100 000 ORM objects costs seconds)
_PATIENT_COLS = [PATIENT.c[n] for n in ("id", "source_system", "mrn", "merged_into_id", *_PATIENT_FIELDS)]
_PHONE_COLS = [PHONE.c[n] for n in ("id", "patient_id", "number", "kind", "owner", "rank", "invalid")]
_ENCOUNTER_COLS = [ENCOUNTER.c[n] for n in ("id", "patient_id", "source_system", "source_id", "cancelled",
                                            *_ENCOUNTER_FIELDS)]


class _Batch:
    def __init__(self, session: Session, records: Sequence[IntakeRecord]) -> None:
        self.session = session
        self.by_id: dict[int, _State] = {}
        self.by_nid: dict[str, _State] = {}
        self.by_key: dict[tuple[str, str], _State] = {}
        self.phones: dict[int, dict[str, _State]] = {}  # patient state id() -> number -> phone
        self.encounters: dict[tuple[str, str], _State] = {}
        self.enc_patient: dict[int, _State] = {}  # id(encounter state) -> patient state
        self.merges: list[tuple[_State, _State]] = []
        self.aliases: dict[tuple[str, str], _State] = {}  # (system, MRN) to file as another system's number
        self.known_aliases: set[tuple[str, str]] = set()
        with unprepared(session):  # big key lists: see callcenter.intake.bulk
            self._load(records)

    # --- loading ----------------------------------------------------------------------------------------------
    def _add_patient(self, row: dict[str, Any]) -> None:
        if row["id"] in self.by_id:
            return
        state = _State(row, new=False)
        self.by_id[row["id"]] = state
        if row["national_id"]:
            self.by_nid[row["national_id"]] = state
        if row["mrn"]:
            self.by_key[(row["source_system"], row["mrn"])] = state

    def _in(self, column: Any, values: list[Any]) -> Any:
        return one_of(self.session, column, values)

    def _rows(self, query: Any) -> Iterator[dict[str, Any]]:
        for row in self.session.execute(query).mappings():
            yield dict(row)

    def _load(self, records: Sequence[IntakeRecord]) -> None:
        nids = {r.patient.national_id for r in records if r.patient.national_id}
        keys: dict[str, set[str]] = {}
        alias_of: dict[int, list[tuple[str, str]]] = {}  # patient id -> other systems' numbers
        for r in records:
            if r.patient.mrn:
                keys.setdefault(r.patient.source_system, set()).add(r.patient.mrn)
        for chunk in _chunks(nids):
            for row in self._rows(select(*_PATIENT_COLS).where(self._in(PATIENT.c.national_id, chunk))):
                self._add_patient(row)
        for system, mrns in keys.items():
            for chunk in _chunks(mrns):
                query = select(*_PATIENT_COLS).where(PATIENT.c.source_system == system, self._in(PATIENT.c.mrn, chunk))
                for row in self._rows(query):
                    self._add_patient(row)
                aliases = select(IDENTIFIER.c.patient_id, IDENTIFIER.c.mrn).where(
                    IDENTIFIER.c.source_system == system, self._in(IDENTIFIER.c.mrn, chunk))
                for alias in self._rows(aliases):
                    self.known_aliases.add((system, alias["mrn"]))
                    alias_of.setdefault(alias["patient_id"], []).append((system, alias["mrn"]))
        for chunk in _chunks(set(alias_of) - set(self.by_id)):
            for row in self._rows(select(*_PATIENT_COLS).where(self._in(PATIENT.c.id, chunk))):
                self._add_patient(row)
        for patient_id, keys_of_patient in alias_of.items():
            for key in keys_of_patient:
                self.by_key.setdefault(key, self.by_id[patient_id])
        pending = {st.values["merged_into_id"] for st in self.by_id.values() if st.values["merged_into_id"]}
        while pending - set(self.by_id):
            for chunk in _chunks(pending - set(self.by_id)):
                for row in self._rows(select(*_PATIENT_COLS).where(self._in(PATIENT.c.id, chunk))):
                    self._add_patient(row)
            pending = {st.values["merged_into_id"] for st in self.by_id.values() if st.values["merged_into_id"]}
        for chunk in _chunks(list(self.by_id)):
            for phone in self._rows(select(*_PHONE_COLS).where(self._in(PHONE.c.patient_id, chunk))):
                self.phones.setdefault(id(self.by_id[phone["patient_id"]]), {})[phone["number"]] = _State(phone, False)
        enc_keys: dict[str, set[str]] = {}
        for r in records:
            if r.encounter is not None:
                enc_keys.setdefault(r.encounter.source_system, set()).add(r.encounter.source_id)
        for system, ids in enc_keys.items():
            for chunk in _chunks(ids):
                enc_query = select(*_ENCOUNTER_COLS).where(ENCOUNTER.c.source_system == system,
                                                           self._in(ENCOUNTER.c.source_id, chunk))
                for enc in self._rows(enc_query):
                    self.encounters[(system, enc["source_id"])] = _State(enc, False)

    def _live(self, state: _State | None) -> _State | None:
        seen = 0
        while state is not None and state.values.get("merged_into_id") and seen < 20:
            state = self.by_id.get(state.values["merged_into_id"], state)
            seen += 1
        return state

    # --- resolving one record ---------------------------------------------------------------------------------
    def resolve_patient(self, rec: PatientRecord, line: int) -> tuple[_State | None, RowError | None]:
        by_nid = self.by_nid.get(rec.national_id) if rec.national_id else None
        key = (rec.source_system, rec.mrn)
        by_key = self._live(self.by_key.get(key)) if rec.mrn else None
        if by_key is not None and rec.national_id and by_key.values.get("national_id") not in (None, rec.national_id):
            return None, RowError(line, "national_id", f"MRN {rec.mrn} of {rec.source_system or 'this system'} "
                                  "belongs to a patient with another national ID; correct one of them in the HIS")
        if by_nid is not None and by_key is not None and by_nid is not by_key:
            if not any(a is by_nid and b is by_key for a, b in self.merges):
                self.merges.append((by_nid, by_key))
            self.by_key[key] = by_nid
            return by_nid, None
        target = by_nid or by_key
        if target is None:
            target = _State({"id": None, "source_system": rec.source_system, "mrn": rec.mrn, "national_id": None,
                             "name": "", "sex": Sex.unknown, "birth_date": None, "region_code": "",
                             "language": "zh-CN", "deceased": False, "deceased_on": None,
                             "merged_into_id": None}, new=True)
        elif not target.values.get("mrn") and rec.mrn and key not in self.by_key:
            target.values["source_system"], target.values["mrn"] = rec.source_system, rec.mrn
        if rec.mrn:
            self.by_key.setdefault(key, target)
            own = (target.values.get("source_system") or "", target.values.get("mrn") or "")
            if own != key and key not in self.known_aliases and self._live(self.by_key[key]) is target:
                self.aliases[key] = target  # a second system's number for this patient: kept for its next message
        values = target.values
        for name in _PATIENT_FIELDS:
            value = getattr(rec, name)
            if value is None or values.get(name) == value:
                continue
            if name == "sex" and value is Sex.unknown:
                continue  # "unknown" never overwrites a known sex
            values[name] = value
        if rec.national_id:
            self.by_nid[rec.national_id] = target
        book = self.phones.setdefault(id(target), {})
        for phone in rec.phones:
            have = book.get(phone.number)
            if have is None:
                book[phone.number] = _State({"number": phone.number, "kind": phone.kind, "owner": phone.owner,
                                             "rank": len(book), "invalid": False}, new=True)
            elif phone.owner.value != "self":
                have.set("owner", phone.owner)
        return target, None

    def check_encounter(self, rec: EncounterRecord, line: int) -> RowError | None:
        """Reject an encounter row before anything of it is applied."""
        state = self.encounters.get((rec.source_system, rec.source_id))
        if rec.action is not EncounterAction.upsert:
            if state is None:
                return RowError(line, "encounter_id", f"no encounter {rec.source_id} to cancel; send the "
                                "admission or registration first")
            return None
        admitted = rec.admitted_at or (state.values["admitted_at"] if state else None)
        discharged = rec.discharged_at or (state.values["discharged_at"] if state else None)
        if admitted and discharged and discharged < admitted:
            return RowError(line, "discharged_at" if rec.discharged_at else "admitted_at",
                            "would put the discharge before the admission stored for this encounter")
        return None

    def resolve_encounter(self, rec: EncounterRecord, patient: _State) -> _State:
        key = (rec.source_system, rec.source_id)
        state = self.encounters.get(key)
        if rec.action is not EncounterAction.upsert:
            assert state is not None  # check_encounter ran first
            if rec.action is EncounterAction.cancel:
                state.values["cancelled"] = True
            else:
                state.values["discharged_at"] = None
            return state
        if state is None:
            state = _State({"id": None, "source_system": rec.source_system, "source_id": rec.source_id,
                            "kind": EncounterKind.inpatient, "department": "", "admitted_at": None,
                            "discharged_at": None, "diagnosis_code": "", "diagnosis_text": "", "attending": "",
                            "cancelled": False, "patient_id": None}, new=True)
            self.encounters[key] = state
        values = state.values
        for name in _ENCOUNTER_FIELDS:
            value = getattr(rec, name)
            if value is not None and values.get(name) != value:
                values[name] = value
        self.enc_patient[id(state)] = patient
        if patient.id is not None:
            state.set("patient_id", patient.id)
        return state

    # --- writing ----------------------------------------------------------------------------------------------
    def write(self, result: ApplyResult, now: datetime) -> None:
        s = self.session
        patients = {id(st): st for st in [*self.by_id.values(), *self.by_nid.values(), *self.by_key.values()]}
        new_patients = [st for st in patients.values() if st.new and st.id is None]
        if new_patients:
            rows = [{**_without(st.values, "id"), "created_at": now, "updated_at": now} for st in new_patients]
            ids = insert_returning_ids(s, PATIENT, rows)
            for st, new_id in zip(new_patients, ids, strict=True):
                st.id = st.values["id"] = new_id
            result.patients_created = len(new_patients)
        changed = [st for st in patients.values() if st.dirty]
        self._bulk_update(Patient, changed, now)
        result.patients_updated = len(changed)
        for survivor, duplicate in self.merges:
            assert survivor.id is not None and duplicate.id is not None
            merge_patients(s, survivor.id, duplicate.id)
            result.merged += 1
        if self.merges:
            s.expunge_all()  # merge_patients worked on ORM objects; the rest of the batch is Core
        if self.aliases:
            insert_rows(s, IDENTIFIER, [{"patient_id": st.id, "source_system": system, "mrn": mrn, "created_at": now}
                                        for (system, mrn), st in self.aliases.items()])
            result.identifiers_added = len(self.aliases)
        phone_rows = []
        for st in patients.values():
            for phone in self.phones.get(id(st), {}).values():
                if phone.new:
                    phone_rows.append({**phone.values, "patient_id": st.id})
        if phone_rows:
            insert_rows(s, PHONE, phone_rows)
            result.phones_added = len(phone_rows)
        self._bulk_update(PatientPhone, [p for book in self.phones.values() for p in book.values() if p.dirty], None)
        for st in self.encounters.values():
            owner = self.enc_patient.get(id(st))
            if owner is not None:
                st.set("patient_id", owner.id)
        new_enc = [st for st in self.encounters.values() if st.new]
        if new_enc:
            insert_rows(s, ENCOUNTER, [{**_without(st.values, "id"), "created_at": now, "updated_at": now}
                                       for st in new_enc])
            result.encounters_created = len(new_enc)
        changed_enc = [st for st in self.encounters.values() if st.dirty]
        self._bulk_update(Encounter, changed_enc, now)
        result.encounters_updated = len(changed_enc)

    def _bulk_update(self, model: Any, states: list[_State], now: datetime | None) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for st in states:
            assert st.orig is not None
            diff = {k: v for k, v in st.values.items() if st.orig.get(k) != v}
            if now is not None:
                diff["updated_at"] = now
            groups.setdefault(tuple(sorted(diff)), []).append({"id": st.values["id"], **diff})
        for rows in groups.values():
            self.session.execute(update(model), rows)


def _without(values: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in names}


def apply_records(session: Session, records: Sequence[IntakeRecord], *, now: datetime | None = None) -> ApplyResult:
    """Create or update the patients, phones and encounters of ``records`` in ``session``'s transaction."""
    now = now or utc_now()
    result = ApplyResult()
    batch = _Batch(session, records)
    touched: list[tuple[IntakeRecord, list[_State]]] = []
    for rec in records:
        error = batch.check_encounter(rec.encounter, rec.line) if rec.encounter is not None else None
        patient = None
        if error is None:
            patient, error = batch.resolve_patient(rec.patient, rec.line)
        if error is not None or patient is None:
            result.errors.append(error or RowError(rec.line, "mrn", "patient could not be resolved"))
            continue
        states = [patient]
        if rec.encounter is not None:
            states.append(batch.resolve_encounter(rec.encounter, patient))
        touched.append((rec, states))
    # row status is decided on the net effect, so A03 then A13 of a re-import counts as unchanged
    seen_new: set[int] = set()
    book_dirty = {id_: any(p.new or p.dirty for p in book.values()) for id_, book in batch.phones.items()}
    for _rec, states in touched:
        created = [st for st in states if st.new and id(st) not in seen_new]
        seen_new.update(id(st) for st in created)
        if created:
            result.created += 1
        elif any(st.dirty or book_dirty.get(id(st), False) for st in states):
            result.updated += 1
        else:
            result.unchanged += 1
    batch.write(result, now)
    result.planning_patient_ids = sorted({
        states[0].id for _rec, states in touched
        if len(states) > 1 and (states[1].new or states[1].dirty) and states[0].id is not None
    })
    logger.info("intake batch: %s created, %s updated, %s unchanged, %s rejected", result.created,
                result.updated, result.unchanged, len(result.errors))
    return result
