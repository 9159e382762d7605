"""HL7 v2 ADT messages (A01/A02/A03/A04/A08/A28/A31, cancels A11/A13) into intake rows, and their ACKs.

Segments are split here and fields read by position (python-hl7 parses every field of every segment, which
costs 2-4 ms per message); the ``hl7`` library unescapes text and builds the acknowledgements (``mllp``). Z-segments, unknown segments and extra fields are ignored, so a hospital's local
extensions never break parsing. Where each value comes from is listed in docs/intake.md (``HL7_FIELDS``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

import hl7

from callcenter.intake.records import HOSPITAL_TZ, RawRow, RowError
from callcenter.intake.tabular import decode

logger = logging.getLogger(__name__)

SUPPORTED_EVENTS = {
    "A01": "admit", "A02": "transfer", "A03": "discharge", "A04": "register", "A08": "update",
    "A11": "cancel admit", "A13": "cancel discharge", "A28": "add person", "A31": "update person",
}
_VISIT_EVENTS = {"A01", "A02", "A03", "A04", "A11", "A13"}
# Where each canonical field comes from (used in error reasons, so a clerk can find it in the HIS message).
HL7_FIELDS = {
    "mrn": "PID-3 (type MR)", "national_id": "PID-3 (type NI/ID) or PID-19", "name": "PID-5", "sex": "PID-8",
    "birth_date": "PID-7", "phone": "PID-13/PID-14/NK1-5", "language": "PID-15", "deceased": "PID-30",
    "deceased_on": "PID-29", "encounter_id": "PV1-19", "kind": "PV1-2", "department": "PV1-3/PV1-10",
    "admitted_at": "PV1-44", "discharged_at": "PV1-45", "diagnosis_code": "DG1-3", "diagnosis_text": "DG1-3/DG1-4",
    "attending": "PV1-7", "event": "MSH-9",
}
_NATIONAL_ID_TYPES = {"NI", "ID", "NNCHN", "SS", "CZ"}
_RELATIONSHIP = {"SPO": "配偶", "HUS": "配偶", "WIF": "配偶", "DOM": "配偶", "CHD": "子女", "SON": "儿子",
                 "DAU": "女儿", "PAR": "父母", "MTH": "母亲", "FTH": "父亲", "SIB": "兄弟", "BRO": "兄弟",
                 "SIS": "姐妹", "GRD": "监护人", "CGV": "护工", "SEL": "本人", "EXF": "家属", "OTH": "other"}
_CLASS = {"P": "I", "B": "I", "R": "O", "N": "O", "U": "O"}
_SEGMENT = re.compile(r"[A-Z][A-Z0-9]{2}(\||$)")
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?")


# HL7 table 0357 (message error condition codes), the ones the acknowledgements use in ERR-3
SEGMENT_SEQUENCE_ERROR, REQUIRED_FIELD_MISSING, DATA_TYPE_ERROR, TABLE_VALUE_NOT_FOUND = 100, 101, 102, 103
UNSUPPORTED_MESSAGE_TYPE, UNSUPPORTED_EVENT_CODE, UNKNOWN_KEY_IDENTIFIER = 200, 201, 204
DUPLICATE_KEY_IDENTIFIER, APPLICATION_INTERNAL_ERROR = 205, 207
ERROR_CONDITIONS = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error", REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error", TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type", UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier", DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class Hl7Reject(Exception):
    """The message is not a usable ADT message (answer AR); ``condition`` is its HL7 table 0357 code."""

    def __init__(self, reason: str, condition: int = SEGMENT_SEQUENCE_ERROR) -> None:
        super().__init__(reason)
        self.condition = condition


class Hl7DataError(Exception):
    """The message is an ADT message but a required value is missing (answer AE)."""

    condition = REQUIRED_FIELD_MISSING

    def __init__(self, control_id: str, raw: str, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.control_id, self.raw, self.field, self.reason = control_id, raw, field, reason


@dataclass(frozen=True)
class AdtMessage:
    control_id: str
    event: str
    row: RawRow
    raw: str  # the message with \r segment separators, for the acknowledgement


@lru_cache(maxsize=8)
def _unescaper(msh_head: str) -> Any:
    """python-hl7's unescape for a message's encoding characters (MSH-1/MSH-2)."""
    return hl7.parse(msh_head + "|\r").unescape


class _Reader:
    """Positional access to the segments of one message, with the separators from its MSH segment.

    python-hl7 builds the full tree of every field (2-4 ms per ADT message here); intake reads a dozen fields,
    so segments are split here and the library is used for unescaping and for the acknowledgements.
    """

    def __init__(self, raw: str) -> None:
        self.sep = raw[3]
        encoding = raw[4:8].split(self.sep)[0]
        self.comp = encoding[0] if len(encoding) > 0 else "^"
        self.rep = encoding[1] if len(encoding) > 1 else "~"
        self.sub = encoding[3] if len(encoding) > 3 else "&"
        self.unescape = _unescaper(raw[:4] + encoding)
        self.by_name: dict[str, list[list[str]]] = {}
        for line in raw.split("\r"):
            if len(line) < 3:
                continue
            fields = line.split(self.sep)
            if fields[0] == "MSH":
                fields.insert(1, self.sep)  # MSH-1 is the separator itself
            self.by_name.setdefault(fields[0], []).append(fields)

    def segments(self, name: str) -> list[list[str]]:
        return self.by_name.get(name, [])

    def field(self, seg: list[str] | None, n: int) -> str:
        if seg is None or len(seg) <= n:
            return ""
        return seg[n]

    def reps(self, seg: list[str] | None, n: int) -> list[list[str]]:
        """Repetitions of a field, each a list of component texts (first subcomponent, unescaped)."""
        raw = self.field(seg, n)
        if not raw:
            return []
        out = []
        for rep in raw.split(self.rep):
            comps = [c.split(self.sub)[0] for c in rep.split(self.comp)]
            comps = [self.unescape(c) if "\\" in c else c for c in comps]
            if any(comps):
                out.append(comps)
        return out

    def comp_of(self, seg: list[str] | None, n: int, c: int = 1) -> str:
        reps = self.reps(seg, n)
        if not reps or len(reps[0]) < c:
            return ""
        return reps[0][c - 1].strip()


def _component(comps: list[str], c: int) -> str:
    return comps[c - 1].strip() if len(comps) >= c else ""


def parse_ts(value: str, tz: tzinfo = HOSPITAL_TZ) -> datetime | str:
    """An HL7 TS/DTM (``YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]``) as an aware datetime; unparseable text is returned."""
    m = _TS.fullmatch(value.strip())
    if not m or m.group(2) is None or m.group(3) is None:
        return value
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups()[:6])
    zone = tz
    if m.group(7):
        sign = 1 if m.group(7)[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(m.group(7)[1:3]), minutes=int(m.group(7)[3:5])))
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return value


def _phones(r: _Reader, seg: Any, fields: tuple[int, ...], owner: str) -> list[tuple[str, str]]:
    out = []
    for n in fields:
        for comps in r.reps(seg, n):
            number = _component(comps, 12) or _component(comps, 1)
            if not number and (_component(comps, 6) or _component(comps, 7)):
                number = _component(comps, 6) + _component(comps, 7)
            if number:
                out.append((number, owner))
    return out


def _name(comps: list[str]) -> str:
    family, given = _component(comps, 1), _component(comps, 2)
    if family.isascii() and given.isascii() and family and given:
        return f"{given} {family}"
    return family + given


def parse_adt(text: str, *, line: int = 1, tz: tzinfo = HOSPITAL_TZ) -> AdtMessage:
    """One ADT message as an intake row; raise ``Hl7Reject`` when it cannot be processed at all."""
    raw = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r \x0b\x1c")
    if not raw.startswith("MSH") or len(raw) < 8:
        raise Hl7Reject("not an HL7 v2 message: it must start with an MSH segment")
    if raw[3].isalnum() or raw[3] in " \\":
        raise Hl7Reject("unreadable MSH segment: the 4th character must be the field separator, usually |",
                        DATA_TYPE_ERROR)
    try:
        r = _Reader(raw)
    except Exception as exc:  # python-hl7 raises several kinds on broken encoding characters
        raise Hl7Reject(f"unreadable HL7 message ({type(exc).__name__}: {exc})", DATA_TYPE_ERROR) from exc
    msh = r.segments("MSH")[0]
    control_id = r.field(msh, 10)
    msg_type, trigger = r.comp_of(msh, 9, 1), r.comp_of(msh, 9, 2)
    evn = next(iter(r.segments("EVN")), None)
    if not trigger:
        trigger = r.comp_of(evn, 1)
    if msg_type != "ADT":
        raise Hl7Reject(f"message type {msg_type or '(empty)'} is not ADT; only ADT events are imported",
                        UNSUPPORTED_MESSAGE_TYPE)
    if trigger not in SUPPORTED_EVENTS:
        raise Hl7Reject(f"event {trigger or '(empty)'} is not supported; supported: {', '.join(SUPPORTED_EVENTS)}",
                        UNSUPPORTED_EVENT_CODE)
    pids = r.segments("PID")
    if not pids:
        raise Hl7Reject(f"ADT^{trigger} without a PID segment")
    pid = pids[0]
    values: dict[str, Any] = {}
    for comps in r.reps(pid, 3):
        ident, kind = _component(comps, 1), _component(comps, 5).upper()
        if kind in _NATIONAL_ID_TYPES and "national_id" not in values:
            values["national_id"] = ident
        elif (kind == "MR" or not kind) and "mrn" not in values:
            values["mrn"] = ident
    if "national_id" not in values and r.comp_of(pid, 19):
        values["national_id"] = r.comp_of(pid, 19)
    names = r.reps(pid, 5)
    values["name"] = _name(names[0]) if names else ""
    values["birth_date"] = r.comp_of(pid, 7)[:8]
    values["sex"] = r.comp_of(pid, 8)
    values["language"] = r.comp_of(pid, 15)
    if r.comp_of(pid, 29):
        death = parse_ts(r.comp_of(pid, 29), tz)
        values["deceased_on"] = death.date() if isinstance(death, datetime) else death
    values["deceased"] = {"Y": "yes", "N": "no"}.get(r.comp_of(pid, 30).upper(), "")
    phones = _phones(r, pid, (13, 14), "本人")
    for nk1 in r.segments("NK1"):
        rel = r.reps(nk1, 3)
        code = _component(rel[0], 1).upper() if rel else ""
        owner = _component(rel[0], 2) if rel and _component(rel[0], 2) else _RELATIONSHIP.get(code, code or "家属")
        phones += _phones(r, nk1, (5, 6), owner)
    pv1 = next(iter(r.segments("PV1")), None)
    visit = r.comp_of(pv1, 19)
    if trigger in _VISIT_EVENTS and not visit:
        raise Hl7DataError(control_id, raw, "encounter_id (PV1-19)",
                           f"ADT^{trigger} needs the visit number in PV1-19")
    if visit:
        values["encounter_id"] = visit
        patient_class = r.comp_of(pv1, 2).upper()
        values["kind"] = _CLASS.get(patient_class, patient_class)
        values["department"] = r.comp_of(pv1, 3) or r.comp_of(pv1, 10)
        doctor = r.reps(pv1, 7)
        values["attending"] = (_name(doctor[0][1:]) or _component(doctor[0], 1)) if doctor else ""
        for name, n in (("admitted_at", 44), ("discharged_at", 45)):
            stamp = r.comp_of(pv1, n)
            values[name] = parse_ts(stamp, tz) if stamp else ""
        if trigger == "A03" and not values["discharged_at"]:
            occurred = r.comp_of(evn, 6) or r.comp_of(evn, 2) or r.field(msh, 7)
            values["discharged_at"] = parse_ts(occurred, tz) if occurred else ""
        dg1s = r.segments("DG1")
        primary = next((d for d in dg1s if r.comp_of(d, 15) == "1"), dg1s[0] if dg1s else None)
        if primary is not None:
            values["diagnosis_code"] = r.comp_of(primary, 3, 1)
            values["diagnosis_text"] = r.comp_of(primary, 3, 2) or r.comp_of(primary, 4)
        values["event"] = {"A11": "cancel", "A13": "cancel_discharge"}.get(trigger, "")
    return AdtMessage(control_id, trigger, RawRow(line, values, tuple(phones)), raw)


_LOCATION = re.compile(r"\b([A-Z][A-Z0-9]{2})-(\d+)")
# (words of a reason, condition): intake reasons that are not "the value has the wrong form" (102)
_REASON_CONDITIONS = (
    ("needs a national ID or an MRN", REQUIRED_FIELD_MISSING), ("without an encounter id", REQUIRED_FIELD_MISSING),
    ("needs the visit number", REQUIRED_FIELD_MISSING), ("to cancel", UNKNOWN_KEY_IDENTIFIER),
    ("belongs to a patient with another national ID", DUPLICATE_KEY_IDENTIFIER),
)
_CODED_FIELDS = {"sex", "language", "deceased", "kind"}  # "… is not a …" there: a code outside the table


def error_condition(error: RowError) -> int:
    """The HL7 table 0357 condition of an intake error, for ERR-3 of an acknowledgement."""
    for words, condition in _REASON_CONDITIONS:
        if words in error.reason:
            return condition
    if error.field.split(" ")[0] in _CODED_FIELDS and " is not " in error.reason:
        return TABLE_VALUE_NOT_FOUND
    return DATA_TYPE_ERROR


def error_location(field: str) -> str:
    """ERR-2 (ERL ``segment^sequence^field``) of a canonical field (``national_id`` → ``PID^1^3``), or ""."""
    match = _LOCATION.search(HL7_FIELDS.get(field, field))
    return f"{match.group(1)}^1^{match.group(2)}" if match else ""


def locate(error: RowError) -> RowError:
    """The same error with the HL7 field named, e.g. ``national_id (PID-3 (type NI/ID) or PID-19)``."""
    where = HL7_FIELDS.get(error.field)
    return RowError(error.line, f"{error.field} ({where})" if where else error.field, error.reason)


def split_messages(text: str) -> Iterator[tuple[int, str]]:
    """(line where it starts, text) for each message of a file; MLLP framing and batch headers are skipped.

    A line that is not a segment (``XYZ|…``) ends the message before it and comes out on its own, so that
    stray text is reported with its line instead of being swallowed by a neighbouring message.
    """
    lines = text.replace("\x0b", "\n").replace("\x1c", "\n").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start, chunk, stray = 0, list[str](), False
    for number, seg in enumerate(lines, start=1):
        if not seg.strip() or seg.startswith(("FHS", "BHS", "BTS", "FTS")):
            continue
        is_segment = bool(_SEGMENT.match(seg))
        if chunk and (seg.startswith("MSH") or is_segment == stray):
            yield start, "\r".join(chunk)
            chunk = []
        if not chunk:
            start, stray = number, not is_segment
        chunk.append(seg)
    if chunk:
        yield start, "\r".join(chunk)


def read_hl7_file(path: str | Path, *, encoding: str = "auto", tz: tzinfo = HOSPITAL_TZ
                  ) -> tuple[int, Iterator[RawRow | RowError]]:
    """(number of messages, rows) of a file of ADT messages; each message's line is where its MSH starts."""
    text = decode(Path(path).read_bytes(), encoding)
    messages = list(split_messages(text))

    def generate() -> Iterator[RawRow | RowError]:
        for line, message in messages:
            try:
                yield parse_adt(message, line=line, tz=tz).row
            except Hl7Reject as exc:
                yield RowError(line, "message", str(exc))
            except Hl7DataError as exc:
                yield RowError(line, exc.field, exc.reason)

    return len(messages), generate()


def _ts(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M%S") + (value.strftime("%z") if value.tzinfo else "")
    return str(value or "").replace("-", "").replace(":", "").replace(" ", "").replace("T", "")


def build_adt(values: dict[str, Any], event: str, control_id: str, *, phones: tuple[tuple[str, str], ...] = (),
              sent_at: datetime | None = None) -> str:
    """Encode canonical intake values as an ADT message (for the demo, tests and benchmarks)."""
    esc = _escape_text
    stamp = _ts(sent_at or datetime(2026, 1, 1))
    pid3 = f"{esc(values.get('mrn', ''))}^^^HIS^MR"
    if values.get("national_id"):
        pid3 += f"~{esc(values['national_id'])}^^^CHN^NI"
    own = [n for n, o in phones if o in ("", "本人", "self")]
    family = [(n, o) for n, o in phones if o not in ("", "本人", "self")]
    pid13 = "~".join(f"^PRN^PH^^^^^^^^^{esc(n)}" for n in own)
    sex = {"male": "M", "男": "M", "female": "F", "女": "F"}.get(str(values.get("sex", "")), "U")
    segments = [
        f"MSH|^~\\&|HIS|HOSPITAL|CALLCENTER|HOSPITAL|{stamp}||ADT^{event}^ADT_{event}|{esc(control_id)}|P|2.5",
        f"EVN|{event}|{stamp}",
        f"PID|1||{pid3}||{esc(values.get('name', ''))}||{_ts(values.get('birth_date'))[:8]}|{sex}|||||{pid13}||"
        f"{esc(values.get('language', ''))}",
    ]
    for i, (number, owner) in enumerate(family, start=1):
        segments.append(f"NK1|{i}||^{esc(owner)}||^PRN^PH^^^^^^^^^{esc(number)}")
    if values.get("encounter_id"):
        pv1 = [""] * 46
        pv1[1], pv1[2] = "1", {"inpatient": "I", "outpatient": "O", "health_check": "O"}.get(
            str(values.get("kind", "")), str(values.get("kind", "")))
        pv1[3] = esc(values.get("department", ""))
        pv1[7] = f"^{esc(values.get('attending', ''))}" if values.get("attending") else ""
        pv1[19] = esc(values["encounter_id"])
        pv1[44], pv1[45] = _ts(values.get("admitted_at")), _ts(values.get("discharged_at"))
        segments.append("PV1|" + "|".join(pv1[1:]))
        if values.get("diagnosis_code"):
            segments.append(f"DG1|1||{esc(values['diagnosis_code'])}^{esc(values.get('diagnosis_text', ''))}"
                            f"^I10||||F|||||||||1")
    segments.append("ZPV|1|local extension|ignored")
    return "\r".join(segments) + "\r"


def _escape_text(value: Any) -> str:
    return (str(value or "").replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
            .replace("&", "\\T\\").replace("~", "\\R\\"))
