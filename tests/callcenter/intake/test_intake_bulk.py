"""The batch look-ups (every patient, phone and encounter a batch can touch, by thousands of keys at a time)."""

from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlmodel import Session

from callcenter.demo_data import DemoOptions, generate_hospital
from callcenter.intake import apply
from callcenter.intake.apply import apply_records
from callcenter.intake.batch import import_rows
from callcenter.intake.records import validate_row

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_look_ups_over_many_chunks_find_every_row_and_are_never_prepared_on_the_server(engine, monkeypatch):
    """psycopg prepares a statement the 6th time it runs; PostgreSQL's generic plan for a prepared
    ``IN ($1…$2000)`` cannot hash the list and compares every row with every key (100 s re-imports)."""
    monkeypatch.setattr(apply, "CHUNK", 5)  # 60 rows: a dozen executions of each look-up, as 100 000 rows do
    rows = list(generate_hospital(DemoOptions(patients=50, seed=4, today=date(2026, 6, 1))))[:60]
    first = import_rows(engine, rows, source="t", source_system="his", now=NOW)
    assert (first.created, first.rejected) == (len(rows), 0)  # each row brings a new encounter
    records = [validate_row(r.values, line=r.line, source_system="his", phones=r.phones, now=NOW) for r in rows]
    with Session(engine) as session:
        result = apply_records(session, records, now=NOW)
        assert (result.created, result.updated, result.unchanged) == (0, 0, len(rows))  # every row found
        if engine.dialect.name == "postgresql":
            prepared = session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
            assert [s for s in prepared if "ANY" in s or " IN " in s] == []
        session.rollback()
