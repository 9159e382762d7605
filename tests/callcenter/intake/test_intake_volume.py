"""The acceptance check of the intake at test size: big files with 1 % malformed rows mixed in.

bench/intake.py runs the same check at full size (100 000 CSV rows, 10 000 HL7 messages) and prints whether
every malformed row was reported and whether the re-import created nothing."""

import random
from datetime import UTC, date, datetime

from sqlmodel import Session, func, select

from callcenter.demo_data import (
    DemoOptions,
    adt_messages,
    generate_hospital,
    malformed_message,
    mix_malformed,
)
from callcenter.intake.batch import import_rows
from callcenter.intake.hl7v2 import read_hl7_file
from callcenter.intake.records import RawRow
from callcenter.intake.tabular import read_csv, write_csv
from callcenter.models import Encounter, Patient

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
OPTIONS = DemoOptions(patients=0, seed=11, today=date(2026, 6, 1))


def mixed_rows(count: int, seed: int = 3) -> tuple[list[RawRow], dict[int, str]]:
    """``count`` demo rows (CSV lines from 2) with 1 % replaced by malformed ones."""
    source = generate_hospital(DemoOptions(patients=count, seed=seed, today=OPTIONS.today))
    return mix_malformed(source, count, seed=seed)


def _count(engine, model):
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_csv_with_malformed_rows_reports_each_and_writes_only_good_rows(engine, tmp_path):
    size = 3000  # the full 100 000 rows run in bench/intake.py (over a minute on this machine kind)
    rows, bad = mixed_rows(size)
    assert len(bad) >= size // 200  # the check means something
    path = tmp_path / "his.csv"
    write_csv(path, rows)
    total, reader = read_csv(path)
    summary = import_rows(engine, reader, source="his.csv", source_system="his", total=total, now=NOW)
    assert summary.rows == size
    reported = {}
    for e in summary.errors:
        reported.setdefault(e.line, set()).add(e.field)
    assert set(reported) == set(bad)
    assert all(bad[line] in fields for line, fields in reported.items())
    good_encounters = {r.values["encounter_id"] for r in rows if r.line not in bad}
    assert _count(engine, Encounter) == len(good_encounters)
    with Session(engine) as s:
        assert s.exec(select(Encounter).where(Encounter.source_id.startswith("BAD"))).all() == []
    again = import_rows(engine, read_csv(path)[1], source="his.csv", source_system="his", now=NOW)
    assert (again.created, again.updated, again.rejected) == (0, 0, len(bad))


def test_hl7_file_with_malformed_messages_reports_each_by_line(engine, tmp_path):
    rng = random.Random(5)
    rows, _ = mixed_rows(600, seed=9)
    good_rows = [r for r in rows if not str(r.values["encounter_id"]).startswith("BAD")]
    lines: list[str] = []
    bad_lines: dict[int, str] = {}
    for row, message in adt_messages(good_rows, sent_at=NOW):
        if rng.random() < 0.01:
            broken, kind = malformed_message(row, rng)
            bad_lines[len(lines) + 1] = kind
            lines.extend(broken.strip("\r").split("\r"))
        lines.extend(message.strip("\r").split("\r"))
    path = tmp_path / "adt.hl7"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    total, reader = read_hl7_file(path)
    summary = import_rows(engine, reader, source="adt.hl7", source_system="his", total=total, now=NOW)
    assert bad_lines and {e.line for e in summary.errors} == set(bad_lines)
    assert _count(engine, Encounter) == len({r.values["encounter_id"] for r in good_rows})
    assert _count(engine, Patient) == len({r.values["mrn"] for r in good_rows})
    again = import_rows(engine, read_hl7_file(path)[1], source="adt.hl7", source_system="his", now=NOW)
    assert (again.created, again.updated, again.rejected) == (0, 0, len(bad_lines))
