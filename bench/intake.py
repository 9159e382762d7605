"""HIS intake and cohort query speed, on SQLite and on PostgreSQL.

For each backend, on a fresh database:
  csv     import N CSV rows with exactly 1 % malformed rows spread through them (rows/s); checks that every
          malformed line is reported, then re-imports (must report 0 created, 0 updated)
  hl7     the same with M HL7 ADT messages (A01/A04 + A03) from a file, exactly 1 % of them malformed
(tests/callcenter/intake/test_intake_volume.py checks the same imports at full size, row by row.)
  cohort  E encounters bulk-loaded, then typical cohort queries (count + first 100 rows), best of 3

Usage: .venv/bin/python bench/intake.py [--quick] [--csv-rows N] [--hl7-messages M] [--encounters E]
                                        [--backends sqlite,postgresql]
Full size (the issue's acceptance): 100 000 CSV rows, 10 000 HL7 messages, 1 000 000 encounters.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from callcenter import migrate  # noqa: E402
from callcenter.cohorts import CohortRule, count_encounters, select_encounters  # noqa: E402
from callcenter.db import make_engine  # noqa: E402
from callcenter.demo_data import (  # noqa: E402
    DIAGNOSES,
    DemoOptions,
    generate_hospital,
    mix_malformed,
    mix_malformed_messages,
)
from callcenter.intake.batch import import_rows  # noqa: E402
from callcenter.intake.hl7v2 import read_hl7_file  # noqa: E402
from callcenter.intake.tabular import read_csv, write_csv  # noqa: E402
from callcenter.models import Encounter, EncounterKind, GroupMembership, Patient, PatientGroup, Sex  # noqa: E402

PG_ADMIN_URL = os.environ.get("CALLCENTER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:6]}.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"cc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_csv(engine: Engine, rows_wanted: int, workdir: Path) -> None:
    source = generate_hospital(DemoOptions(patients=rows_wanted, seed=21, today=TODAY))
    rows, bad = mix_malformed(source, rows_wanted, seed=21)
    path = workdir / "bench.csv"
    write_csv(path, rows)
    seconds, summary = timed(lambda: import_rows(engine, read_csv(path)[1], source="bench.csv",
                                                 source_system="his", now=NOW))
    reported = {e.line for e in summary.errors}  # type: ignore[attr-defined]
    ok = reported == set(bad)
    print(f"  csv    {len(rows):>8} rows  {len(rows) / seconds:>8.0f} rows/s  ({seconds:.1f} s; "
          f"{summary.created} created, {summary.rejected} rejected; "  # type: ignore[attr-defined]
          f"malformed {len(bad)} all reported: {ok})")
    seconds, again = timed(lambda: import_rows(engine, read_csv(path)[1], source="bench.csv",
                                               source_system="his", now=NOW))
    print(f"  csv re-import            {len(rows) / seconds:>8.0f} rows/s  ({seconds:.1f} s; "
          f"{again.created} created, {again.updated} updated)")  # type: ignore[attr-defined]


def bench_hl7(engine: Engine, messages_wanted: int, workdir: Path) -> None:
    mixed = mix_malformed_messages(generate_hospital(DemoOptions(patients=messages_wanted, seed=22, today=TODAY)),
                                   messages_wanted, seed=5, sent_at=NOW)  # exactly 1 % malformed, spread
    count = mixed.messages
    path = workdir / "bench.hl7"
    path.write_text(mixed.text(), encoding="utf-8")
    seconds, summary = timed(lambda: import_rows(engine, read_hl7_file(path)[1], source="bench.hl7",
                                                 source_system="his", now=NOW))
    reported = {e.line for e in summary.errors}  # type: ignore[attr-defined]
    print(f"  hl7    {count:>8} msgs  {count / seconds:>8.0f} msg/s   ({seconds:.1f} s; "
          f"{summary.created} created, {summary.updated} updated, "  # type: ignore[attr-defined]
          f"{summary.rejected} rejected; malformed {len(mixed.bad)} "  # type: ignore[attr-defined]
          f"all reported: {reported == set(mixed.bad)})")
    seconds, again = timed(lambda: import_rows(engine, read_hl7_file(path)[1], source="bench.hl7",
                                               source_system="his", now=NOW))
    print(f"  hl7 re-import            {count / seconds:>8.0f} msg/s   ({seconds:.1f} s; "
          f"{again.created} created, {again.updated} updated)")  # type: ignore[attr-defined]


def load_encounters(engine: Engine, encounters: int) -> None:
    """Bulk-load synthetic patients (1 per 4 encounters) and encounters straight into the tables."""
    rng = random.Random(1)
    patients = max(1, encounters // 4)
    departments = list(DIAGNOSES)
    chunk = 20_000
    with engine.begin() as conn:
        for start in range(0, patients, chunk):
            conn.execute(insert(Patient.__table__), [  # type: ignore[attr-defined]
                {"source_system": "his", "mrn": f"P{i:08d}", "name": f"患者{i}",
                 "sex": Sex.male if i % 2 else Sex.female,
                 "birth_date": date(1930 + i % 70, 1 + i % 12, 1 + i % 28), "region_code": "110105",
                 "language": "zh-CN", "deceased": i % 200 == 0, "created_at": NOW, "updated_at": NOW}
                for i in range(start, min(patients, start + chunk))])
        group = conn.execute(insert(PatientGroup.__table__).returning(PatientGroup.__table__.c.id),  # type: ignore[attr-defined]
                             [{"key": "hypertension", "name": "高血压", "rule": {}}]).scalar_one()
        conn.execute(insert(GroupMembership.__table__), [  # type: ignore[attr-defined]
            {"group_id": group, "patient_id": pid, "risk_level": rng.choice(("low", "medium", "high")),
             "since": NOW} for pid in range(1, patients + 1, 5)])
        for start in range(0, encounters, chunk):
            batch = []
            for i in range(start, min(encounters, start + chunk)):
                dept = rng.choice(departments)
                code, dx, _ = rng.choice(DIAGNOSES[dept])
                admitted = NOW - timedelta(days=rng.randrange(1, 730), hours=rng.randrange(24))
                batch.append({"patient_id": 1 + i % patients, "kind": EncounterKind.inpatient if i % 3 else
                              EncounterKind.outpatient, "department": dept, "admitted_at": admitted,
                              "discharged_at": admitted + timedelta(days=rng.randrange(1, 15)),
                              "diagnosis_code": code, "diagnosis_text": dx, "attending": "",
                              "source_system": "his", "source_id": f"E{i:09d}", "cancelled": False,
                              "created_at": NOW, "updated_at": NOW})
            conn.execute(insert(Encounter.__table__), batch)  # type: ignore[attr-defined]
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


QUERIES = {
    "心内科, discharged in the last 30 days": CohortRule(departments=("心内科",), discharged_within_days=30),
    "ICD E11 prefix, age 50-80, last 90 days": CohortRule(diagnosis_codes=("E11",), age_min=50, age_max=80,
                                                          discharged_within_days=90),
    "keyword 高血压, discharged Jan-Mar 2026": CohortRule(diagnosis_keywords=("高血压",),
                                                       discharged_from=date(2026, 1, 1),
                                                       discharged_to=date(2026, 3, 31)),
    "group hypertension high risk, 60 days": CohortRule(groups=("hypertension",), risk_levels=("high",),
                                                        discharged_within_days=60),
    "肿瘤科 C34, women, inpatient, 1 year": CohortRule(departments=("肿瘤科",), diagnosis_codes=("C34",),
                                                     sex=Sex.female, kinds=(EncounterKind.inpatient,),
                                                     discharged_within_days=365),
}


def bench_cohort(engine: Engine, encounters: int) -> None:
    seconds, _ = timed(lambda: load_encounters(engine, encounters))
    print(f"  cohort: loaded {encounters} encounters in {seconds:.0f} s")
    for label, rule in QUERIES.items():
        best = float("inf")
        count = 0
        for _ in range(3):
            with Session(engine) as session:
                start = time.perf_counter()
                count = count_encounters(session, rule, today=TODAY)
                select_encounters(session, rule, today=TODAY, limit=100)
                best = min(best, time.perf_counter() - start)
        print(f"    {label:44} {count:>7} encounters  {best * 1000:>8.1f} ms (count + first 100)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 000 rows, 2 000 messages, 100 000 encounters")
    parser.add_argument("--csv-rows", type=int, default=None)
    parser.add_argument("--hl7-messages", type=int, default=None)
    parser.add_argument("--encounters", type=int, default=None)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    def size(given: int | None, quick: int, full: int) -> int:
        return given if given is not None else (quick if args.quick else full)

    csv_rows = size(args.csv_rows, 10_000, 100_000)  # 0 skips a part
    hl7_messages = size(args.hl7_messages, 2_000, 10_000)
    encounters = size(args.encounters, 100_000, 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for backend in args.backends.split(","):
            print(f"== {backend}")
            if csv_rows:
                with fresh_database(backend, workdir) as engine:
                    bench_csv(engine, csv_rows, workdir)
            if hl7_messages:
                with fresh_database(backend, workdir) as engine:
                    bench_hl7(engine, hl7_messages, workdir)
            if encounters:
                with fresh_database(backend, workdir) as engine:
                    bench_cohort(engine, encounters)


if __name__ == "__main__":
    main()
