"""The canonical intake record every format is turned into, and its validation (pure).

Each reader (CSV/XLSX, HL7 v2, FHIR, SQL) produces *raw rows*: a mapping from the canonical field names below
to strings (or dates/datetimes) plus a list of phones. ``validate_row`` turns one raw row into an
``IntakeRecord`` or raises ``RowRejected`` listing every field that is wrong, with the reason.

A field that is missing or empty means "not provided": the stored value is kept. Nothing is ever cleared by
an empty cell, except by explicit HL7 cancel events.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.errors import InvalidInput
from callcenter.identity import IdentityError, normalize_phone, parse_national_id, parse_owner
from callcenter.models import EncounterKind, PhoneOwner, Sex

HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")

PATIENT_FIELDS = ("mrn", "national_id", "name", "sex", "birth_date", "language", "deceased", "deceased_on")
ENCOUNTER_FIELDS = ("encounter_id", "kind", "department", "admitted_at", "discharged_at", "diagnosis_code",
                    "diagnosis_text", "attending")
PHONE_SLOTS = ("phone", "phone2", "phone3")  # with phone_owner, phone2_owner, phone3_owner
CANONICAL_FIELDS = (PATIENT_FIELDS + ENCOUNTER_FIELDS + PHONE_SLOTS
                    + tuple(f"{p}_owner" for p in PHONE_SLOTS) + ("event",))

_ICD10 = re.compile(r"[A-Z][0-9]{2}[0-9A-Za-z.+\-]{0,29}")
_LANG = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
_LANG_ALIASES = {"zh": "zh-CN", "chi": "zh-CN", "zho": "zh-CN", "cn": "zh-CN", "ko": "ko-KR", "kor": "ko-KR",
                 "en": "en-US", "eng": "en-US", "ja": "ja-JP", "jpn": "ja-JP"}
_SEX = {"男": Sex.male, "m": Sex.male, "male": Sex.male, "1": Sex.male,
        "女": Sex.female, "f": Sex.female, "female": Sex.female, "2": Sex.female,
        "未知": Sex.unknown, "u": Sex.unknown, "unknown": Sex.unknown, "0": Sex.unknown, "9": Sex.unknown,
        "o": Sex.unknown, "other": Sex.unknown}
_KIND = {"住院": EncounterKind.inpatient, "i": EncounterKind.inpatient, "imp": EncounterKind.inpatient,
         "inpatient": EncounterKind.inpatient,
         "门诊": EncounterKind.outpatient, "急诊": EncounterKind.outpatient, "o": EncounterKind.outpatient,
         "e": EncounterKind.outpatient, "amb": EncounterKind.outpatient, "emer": EncounterKind.outpatient,
         "outpatient": EncounterKind.outpatient,
         "体检": EncounterKind.health_check, "h": EncounterKind.health_check,
         "health_check": EncounterKind.health_check}
_TRUE = {"1", "true", "yes", "y", "是", "死亡"}
_FALSE = {"0", "false", "no", "n", "否", ""}


class EncounterAction(enum.StrEnum):
    upsert = "upsert"
    cancel = "cancel"  # HL7 A11: the admission / visit did not happen
    cancel_discharge = "cancel_discharge"  # HL7 A13: the patient is still in hospital


@dataclass(frozen=True)
class RowError:
    line: int  # CSV/XLSX row (header = 1), HL7 message number, FHIR entry number, SQL row number
    field: str
    reason: str


class RowRejected(InvalidInput):
    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(f"line {e.line} {e.field}: {e.reason}" for e in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class RawRow:
    """What a reader yields for one row / message / entry, before validation."""

    line: int
    values: Mapping[str, Any]
    phones: tuple[tuple[str, str], ...] = ()  # (number, relationship) besides the phone* columns


@dataclass(frozen=True)
class PhoneRecord:
    number: str  # stored form (identity.Phone.__str__)
    kind: str  # mobile / landline
    owner: PhoneOwner


@dataclass(frozen=True)
class PatientRecord:
    source_system: str
    mrn: str
    national_id: str | None = None
    name: str | None = None
    sex: Sex | None = None
    birth_date: date | None = None
    region_code: str | None = None
    language: str | None = None
    deceased: bool | None = None
    deceased_on: date | None = None
    phones: tuple[PhoneRecord, ...] = ()


@dataclass(frozen=True)
class EncounterRecord:
    source_system: str
    source_id: str
    kind: EncounterKind | None = None
    department: str | None = None
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None
    diagnosis_code: str | None = None
    diagnosis_text: str | None = None
    attending: str | None = None
    action: EncounterAction = EncounterAction.upsert


@dataclass(frozen=True)
class IntakeRecord:
    line: int
    patient: PatientRecord
    encounter: EncounterRecord | None = None


_OWNER_BY_CODE = {o.value: o for o in PhoneOwner}


def parse_datetime(value: Any, tz: tzinfo = HOSPITAL_TZ) -> datetime:
    """A timezone-aware UTC datetime from ISO text, ``2026/05/10 14:30``, ``20260510143000`` or a datetime.

    Values without an offset are local hospital time (``tz``); a bare date means its local midnight.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0))
    else:
        text = str(value).strip().replace("/", "-")
        if text.isdigit() and len(text) in (8, 12, 14):
            text = f"{text[:4]}-{text[4:6]}-{text[6:8]}" + (f"T{text[8:10]}:{text[10:12]}" if len(text) > 8 else "") + (
                f":{text[12:14]}" if len(text) == 14 else "")
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-")
    if text.isdigit() and len(text) == 8:
        text = f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return date.fromisoformat(text[:10])


def validate_row(
    raw: Mapping[str, Any],
    *,
    line: int,
    source_system: str,
    phones: Sequence[tuple[str, str]] = (),
    tz: tzinfo = HOSPITAL_TZ,
    now: datetime | None = None,
) -> IntakeRecord:
    """Check and normalise one raw row; raise ``RowRejected`` with one ``RowError`` per bad field.

    ``phones`` are extra (number, relationship) pairs besides the ``phone*`` columns of ``raw``.
    """
    errors: list[RowError] = []
    text = {k: (v.strip() if type(v) is str else str(v).strip()) for k, v in raw.items() if v is not None}

    def bad(field: str, reason: str) -> None:
        errors.append(RowError(line, field, reason))

    mrn = text.get("mrn", "")
    national_id: str | None = None
    sex: Sex | None = None
    birth: date | None = None
    region: str | None = None
    nid_text = text.get("national_id", "")
    if nid_text:
        try:
            nid = parse_national_id(nid_text, today=(now or datetime.now(UTC)).date())
        except IdentityError as exc:
            bad("national_id", exc.reason)
        else:
            national_id, sex, birth, region = nid.number, Sex(nid.sex), nid.birth_date, nid.region_code
    if not nid_text and not mrn:
        bad("mrn", "a patient needs a national ID or an MRN (病案号)")
    if len(mrn) > 64:
        bad("mrn", "longer than 64 characters")
    sex_text = text.get("sex", "").lower()
    if sex_text:
        given = _SEX.get(sex_text)
        if given is None:
            bad("sex", f"{sex_text!r} is not a sex; use 男/女, M/F or male/female")
        elif sex is not None and given is not Sex.unknown and given is not sex:
            bad("sex", f"{given.value} does not match the national ID ({sex.value})")
        elif sex is None:
            sex = given
    birth_text = raw.get("birth_date")
    if birth_text not in (None, ""):
        try:
            given_birth = parse_date(birth_text)
        except ValueError:
            bad("birth_date", f"{birth_text!r} is not a date; write YYYY-MM-DD")
        else:
            if birth is not None and given_birth != birth:
                bad("birth_date", "does not match the birth date in the national ID")
            birth = given_birth
    language: str | None = None
    lang_text = text.get("language", "")
    if lang_text:
        language = _LANG_ALIASES.get(lang_text.lower(), lang_text)
        if not _LANG.fullmatch(language):
            bad("language", f"{lang_text!r} is not a language tag like zh-CN or ko-KR")
    deceased: bool | None = None
    dec_text = text.get("deceased", "").lower()
    if dec_text:
        if dec_text in _TRUE:
            deceased = True
        elif dec_text in _FALSE:
            deceased = False
        else:
            bad("deceased", f"{dec_text!r} is not yes/no")
    deceased_on: date | None = None
    if text.get("deceased_on", ""):
        try:
            deceased_on = parse_date(raw["deceased_on"])
            deceased = True
        except ValueError:
            bad("deceased_on", "not a date; write YYYY-MM-DD")
    name = text.get("name", "") or None
    if name is not None and len(name) > 100:
        bad("name", "longer than 100 characters")

    phone_records: list[PhoneRecord] = []
    pairs = [(text.get(slot, ""), text.get(f"{slot}_owner", ""), slot) for slot in PHONE_SLOTS]
    pairs += [(number, owner, "phone") for number, owner in phones]
    for number, owner, slot in pairs:
        if not number:
            continue
        try:
            phone = normalize_phone(number)
        except IdentityError as exc:
            bad(slot, exc.reason)
            continue
        stored = str(phone)
        if all(p.number != stored for p in phone_records):
            phone_records.append(PhoneRecord(stored, phone.kind, _OWNER_BY_CODE[parse_owner(owner)]))

    patient = PatientRecord(
        source_system=source_system, mrn=mrn, national_id=national_id, name=name, sex=sex, birth_date=birth,
        region_code=region, language=language, deceased=deceased, deceased_on=deceased_on,
        phones=tuple(phone_records),
    )
    encounter = _encounter(raw, text, source_system, tz, now, bad)
    if errors:
        raise RowRejected(errors)
    return IntakeRecord(line=line, patient=patient, encounter=encounter)


def _encounter(raw: Mapping[str, Any], text: dict[str, str], source_system: str, tz: tzinfo,
               now: datetime | None, bad: Any) -> EncounterRecord | None:
    source_id = text.get("encounter_id", "")
    given = [f for f in ENCOUNTER_FIELDS[1:] if text.get(f)]
    if not source_id:
        if given:
            bad("encounter_id", f"{', '.join(given)} given without an encounter id (就诊号)")
        return None
    if len(source_id) > 64:
        bad("encounter_id", "longer than 64 characters")
    kind: EncounterKind | None = None
    kind_text = text.get("kind", "").lower()
    if kind_text:
        kind = _KIND.get(kind_text)
        if kind is None:
            bad("kind", f"{kind_text!r} is not a visit kind; use 住院/门诊/体检 or inpatient/outpatient/health_check")
    stamps: dict[str, datetime | None] = {}
    for name in ("admitted_at", "discharged_at"):
        value = raw.get(name)
        stamps[name] = None
        if value in (None, ""):
            continue
        try:
            stamps[name] = parse_datetime(value, tz)
        except ValueError:
            bad(name, f"{value!r} is not a date and time; write YYYY-MM-DD HH:MM")
    admitted, discharged = stamps["admitted_at"], stamps["discharged_at"]
    if admitted and discharged and discharged < admitted:
        bad("discharged_at", "is before admitted_at")
    if now is not None and admitted and admitted > now:
        bad("admitted_at", "is in the future")
    code = text.get("diagnosis_code", "")
    if code:
        code = code[0].upper() + code[1:]
        if not _ICD10.fullmatch(code):
            bad("diagnosis_code", f"{code!r} is not an ICD-10 code like I10 or E11.900")
    texts = {f: text.get(f, "") or None for f in ("department", "diagnosis_text", "attending")}
    for f, limit in (("department", 100), ("diagnosis_text", 200), ("attending", 100)):
        if texts[f] and len(texts[f] or "") > limit:
            bad(f, f"longer than {limit} characters")
    action = EncounterAction(text.get("event", "") or "upsert") if text.get("event", "") in (
        "", "upsert", "cancel", "cancel_discharge") else EncounterAction.upsert
    return EncounterRecord(
        source_system=source_system, source_id=source_id, kind=kind, department=texts["department"],
        admitted_at=admitted, discharged_at=discharged, diagnosis_code=code or None,
        diagnosis_text=texts["diagnosis_text"], attending=texts["attending"], action=action,
    )
