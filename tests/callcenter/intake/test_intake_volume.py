"""The intake acceptance check at full size, on SQLite and PostgreSQL: 100 000 CSV rows and 10 000 HL7 messages,
exactly 1 % of them malformed (spread through the file, every kind of breakage in turn).

Every malformed line is reported with its line and a reason, nothing of a malformed row is written (the stored
patients, phones and encounters are exactly those of the good rows, computed from the generator), and a
re-import creates and updates nothing. The files are generated once per module; bench/intake.py prints the
speed of the same imports."""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from callcenter.demo_data import (
    HL7_MALFORMATIONS,
    MALFORMATIONS,
    DemoOptions,
    MixedAdtFile,
    generate_hospital,
    mix_malformed,
    mix_malformed_messages,
)
from callcenter.identity import normalize_phone
from callcenter.intake.batch import IntakeSummary, import_rows
from callcenter.intake.hl7v2 import read_hl7_file
from callcenter.intake.records import RawRow
from callcenter.intake.tabular import read_csv, write_csv
from callcenter.models import Encounter, Patient, PatientPhone

pytestmark = pytest.mark.slow

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TODAY = date(2026, 6, 1)
CSV_ROWS = 100_000
HL7_MESSAGES = 10_000
# what the reader or validation names for each kind of broken HL7 message
HL7_FIELDS = {"garbage": "message", "event": "message", "national_id": "national_id",
              "no_visit": "encounter_id", "admitted_at": "admitted_at"}


@dataclass(frozen=True)
class Expected:
    """What the good rows alone must leave in the database."""

    patients: set[str]  # MRNs
    phones: set[tuple[str, str]]  # (MRN, stored number)
    encounters: set[str]  # visit numbers

    @classmethod
    def of(cls, good: list[RawRow]) -> "Expected":
        return cls({r.values["mrn"] for r in good},
                   {(r.values["mrn"], str(normalize_phone(n))) for r in good for n, _ in r.phones},
                   {r.values["encounter_id"] for r in good})


@dataclass(frozen=True)
class CsvCase:
    path: Path
    bad: dict[int, str]  # line -> broken field
    expected: Expected
    good_rows: int


@pytest.fixture(scope="module")
def csv_case(tmp_path_factory: pytest.TempPathFactory) -> CsvCase:
    rows, bad = mix_malformed(generate_hospital(DemoOptions(patients=CSV_ROWS, seed=3, today=TODAY)), CSV_ROWS)
    path = tmp_path_factory.mktemp("volume") / "his.csv"
    write_csv(path, rows)
    good = [r for r in rows if r.line not in bad]
    return CsvCase(path, bad, Expected.of(good), len(good))


@pytest.fixture(scope="module")
def hl7_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MixedAdtFile]:
    mixed = mix_malformed_messages(generate_hospital(DemoOptions(patients=HL7_MESSAGES, seed=9, today=TODAY)),
                                   HL7_MESSAGES, sent_at=NOW)
    path = tmp_path_factory.mktemp("volume") / "adt.hl7"
    path.write_text(mixed.text(), encoding="utf-8")
    return path, mixed


def _stored(engine) -> Expected:
    with Session(engine) as s:
        return Expected(set(s.exec(select(Patient.mrn)).all()),
                        set(s.exec(select(Patient.mrn, PatientPhone.number).join(
                            PatientPhone, col(PatientPhone.patient_id) == col(Patient.id))).all()),
                        set(s.exec(select(Encounter.source_id)).all()))


def _reported(summary: IntakeSummary) -> dict[int, set[str]]:
    assert all(e.reason.strip() for e in summary.errors), "every error has a reason"
    fields: dict[int, set[str]] = {}
    for e in summary.errors:
        fields.setdefault(e.line, set()).add(e.field)
    return fields


def test_generated_files_have_exactly_one_percent_malformed_of_every_kind(csv_case, hl7_case):
    assert len(csv_case.bad) == CSV_ROWS // 100
    assert set(csv_case.bad.values()) == set(MALFORMATIONS)
    lines = sorted(csv_case.bad)  # spread: one in each block of 100 rows (lines start at 2)
    assert [(line - 2) // 100 for line in lines] == list(range(CSV_ROWS // 100))
    _, mixed = hl7_case
    assert (mixed.messages, len(mixed.bad)) == (HL7_MESSAGES, HL7_MESSAGES // 100)
    assert set(mixed.bad.values()) == set(HL7_MALFORMATIONS)


def test_100000_csv_rows_with_1_percent_malformed(engine, csv_case):
    total, reader = read_csv(csv_case.path)
    summary = import_rows(engine, reader, source="his.csv", source_system="his", total=total, now=NOW)
    assert (summary.rows, summary.rejected) == (CSV_ROWS, len(csv_case.bad))
    reported = _reported(summary)
    assert set(reported) == set(csv_case.bad)  # every malformed line, and no other
    assert all(csv_case.bad[line] in fields for line, fields in reported.items())  # the broken field is named
    assert (summary.created, summary.updated) == (csv_case.good_rows, 0)  # each good row brings a new visit
    assert _stored(engine) == csv_case.expected  # nothing partial: exactly the good rows' data

    again = import_rows(engine, read_csv(csv_case.path)[1], source="his.csv", source_system="his", now=NOW)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (
        0, 0, csv_case.good_rows, len(csv_case.bad))
    assert set(_reported(again)) == set(csv_case.bad)
    assert _stored(engine) == csv_case.expected


def test_10000_hl7_messages_with_1_percent_malformed(engine, hl7_case):
    path, mixed = hl7_case
    total, reader = read_hl7_file(path)
    assert total == HL7_MESSAGES
    summary = import_rows(engine, reader, source="adt.hl7", source_system="his", total=total, now=NOW)
    assert (summary.rows, summary.rejected) == (HL7_MESSAGES, len(mixed.bad))
    reported = _reported(summary)
    assert set(reported) == set(mixed.bad)  # each malformed message by the line of its first segment
    assert all({f.split(" ")[0] for f in reported[line]} == {HL7_FIELDS[kind]} for line, kind in mixed.bad.items())
    expected = Expected.of(mixed.good)
    assert summary.created == len(expected.encounters)  # A01/A04 create, A03 update
    assert summary.created + summary.updated + summary.unchanged == len(mixed.good)
    assert _stored(engine) == expected
    messages_per_visit = Counter(r.values["encounter_id"] for r in mixed.good)
    discharged = {visit for visit, n in messages_per_visit.items() if n == 2}  # its A03 is in the file too
    with Session(engine) as s:
        assert set(s.exec(select(Encounter.source_id).where(col(Encounter.discharged_at).is_not(None))).all()) \
            == discharged

    again = import_rows(engine, read_hl7_file(path)[1], source="adt.hl7", source_system="his", now=NOW)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (
        0, 0, len(mixed.good), len(mixed.bad))
    assert set(_reported(again)) == set(mixed.bad)
    assert _stored(engine) == expected
