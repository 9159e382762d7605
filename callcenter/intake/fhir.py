"""FHIR R4 Bundles (Patient, Encounter, Condition) into intake rows, validated with ``fhir.resources``.

R4 resources are validated with the library's R4B models (R4B differs from R4 only in resources not read
here). Each entry is validated on its own, so one bad resource is reported (entry number, reason) without
losing the others. One row per Encounter (with its Patient's values and primary Condition); a Patient with
no Encounter gives a patient-only row. Other resource types are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from callcenter.intake.records import RawRow, RowError
from callcenter.intake.tabular import IntakeFileError, decode

NATIONAL_ID_SYSTEMS = {"urn:oid:2.16.156.10011.1.3", "urn:oid:1.2.156.112606.1.1.1", "http://www.nhc.gov.cn/id-card"}
NATIONAL_ID_TYPES = {"NI", "NNCHN", "ID"}
ICD10_MARKERS = ("icd-10", "icd10", "2.16.840.1.113883.6.3", "2.16.156.10011.2.3.3.11")
_CANCELLED = {"cancelled", "entered-in-error"}
_READ = {"Patient", "Encounter", "Condition"}


def _codes(concept: Any) -> list[str]:
    return [c.code or "" for c in (concept.coding or [])] if concept is not None else []


def _concept_text(concept: Any) -> str:
    if concept is None:
        return ""
    if concept.text:
        return str(concept.text)
    return next((str(c.display) for c in (concept.coding or []) if c.display), "")


def _patient_values(p: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    values: dict[str, Any] = {}
    for ident in p.identifier or []:
        types = set(_codes(ident.type))
        if (ident.system in NATIONAL_ID_SYSTEMS or types & NATIONAL_ID_TYPES) and "national_id" not in values:
            values["national_id"] = ident.value or ""
        elif ("MR" in types or "mrn" in (ident.system or "").lower() or not types) and "mrn" not in values:
            values["mrn"] = ident.value or ""
    values.setdefault("mrn", f"fhir:{p.id}" if p.id and "national_id" not in values else "")
    if p.name:
        n = p.name[0]
        values["name"] = n.text or ("".join(n.family or "") + "".join(n.given or []))
    values["sex"] = p.gender if p.gender in ("male", "female") else ""
    values["birth_date"] = p.birthDate or ""
    if p.deceasedBoolean is not None:
        values["deceased"] = "yes" if p.deceasedBoolean else "no"
    if p.deceasedDateTime is not None:
        values["deceased_on"] = str(p.deceasedDateTime)[:10]
    if p.communication:
        lang = p.communication[0].language
        values["language"] = (_codes(lang) or [""])[0] or _concept_text(lang)
    phones = [(t.value or "", "本人") for t in (p.telecom or []) if t.system in (None, "phone", "sms") and t.value]
    for contact in p.contact or []:
        relation = _concept_text(contact.relationship[0]) if contact.relationship else ""
        phones += [(t.value or "", relation or "家属") for t in (contact.telecom or [])
                   if t.system in (None, "phone", "sms") and t.value]
    return values, phones


def _ref_keys(reference: Any) -> set[str]:
    ref = getattr(reference, "reference", None) or ""
    return {ref, ref.rsplit("/", 1)[-1]} if ref else set()


def read_fhir_bundle(path: str | Path, *, encoding: str = "auto") -> tuple[int, Iterator[RawRow | RowError]]:
    """(number of entries, rows) of a Bundle file; a row's line is the entry's number (1-based)."""
    try:
        data = json.loads(decode(Path(path).read_bytes(), encoding))
    except (OSError, ValueError) as exc:
        raise IntakeFileError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise IntakeFileError(f"{path}: not a FHIR Bundle (resourceType must be Bundle)")
    entries = data.get("entry") or []
    return len(entries), _rows(entries)


def _rows(entries: list[Any]) -> Iterator[RawRow | RowError]:
    resources: dict[str, tuple[int, Any]] = {}
    order: list[tuple[int, Any]] = []
    for number, entry in enumerate(entries, start=1):
        raw = entry.get("resource") if isinstance(entry, dict) else None
        kind = raw.get("resourceType") if isinstance(raw, dict) else None
        if kind not in _READ:
            continue
        try:
            resource = get_fhir_model_class(kind).model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            yield RowError(number, f"{kind}.{where}" if where else kind, first.get("msg", str(exc)))
            continue
        for key in {entry.get("fullUrl") or "", f"{kind}/{getattr(resource, 'id', '')}" if getattr(resource, "id", None) else ""} - {""}:
            resources[key] = (number, resource)
        order.append((number, resource))
    conditions = [(n, r) for n, r in order if r.__resource_type__ == "Condition"]
    with_encounter: set[int] = set()
    for number, enc in ((n, r) for n, r in order if r.__resource_type__ == "Encounter"):
        patient = _lookup(resources, enc.subject, "Patient")
        if patient is None:
            yield RowError(number, "Encounter.subject", "refers to no Patient in this Bundle; include the Patient")
            continue
        with_encounter.add(id(patient))
        values, phones = _patient_values(patient)
        values["encounter_id"] = enc.identifier[0].value if enc.identifier else f"fhir:{enc.id}"
        values["kind"] = (enc.class_fhir.code or "") if enc.class_fhir else ""
        values["department"] = next((_concept_text(s) for s in ([enc.serviceType] if enc.serviceType else [])), "")
        if enc.period is not None:
            values["admitted_at"] = enc.period.start or ""
            values["discharged_at"] = enc.period.end or ""
        if enc.participant and enc.participant[0].individual is not None:
            values["attending"] = enc.participant[0].individual.display or ""
        if enc.status in _CANCELLED:
            values["event"] = "cancel"
        condition = _primary_condition(enc, resources, conditions)
        if condition is not None:
            code, text = _diagnosis(condition)
            values["diagnosis_code"], values["diagnosis_text"] = code, text
        yield RawRow(number, values, tuple(phones))
    for number, patient in ((n, r) for n, r in order if r.__resource_type__ == "Patient"):
        if id(patient) not in with_encounter:
            values, phones = _patient_values(patient)
            yield RawRow(number, values, tuple(phones))


def _lookup(resources: dict[str, tuple[int, Any]], reference: Any, kind: str) -> Any:
    for key in _ref_keys(reference):
        found = resources.get(key) or resources.get(f"{kind}/{key}")
        if found is not None and found[1].__resource_type__ == kind:
            return found[1]
    return None


def _primary_condition(enc: Any, resources: dict[str, tuple[int, Any]], conditions: list[tuple[int, Any]]) -> Any:
    ranked = sorted(enc.diagnosis or [], key=lambda d: d.rank or 99)
    for diagnosis in ranked:
        found = _lookup(resources, diagnosis.condition, "Condition")
        if found is not None:
            return found
    enc_keys = {f"Encounter/{enc.id}", enc.id} - {None}
    for _, cond in conditions:
        if _ref_keys(cond.encounter) & enc_keys:
            return cond
    return None


def _diagnosis(condition: Any) -> tuple[str, str]:
    codings = condition.code.coding if condition.code is not None and condition.code.coding else []
    icd = next((c for c in codings if any(m in (c.system or "").lower() for m in ICD10_MARKERS)), None)
    chosen = icd or (codings[0] if codings else None)
    code = (chosen.code or "") if chosen else ""
    text = (condition.code.text if condition.code is not None and condition.code.text else "") or (
        (chosen.display or "") if chosen else "")
    return code, text
