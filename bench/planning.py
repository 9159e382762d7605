"""Benchmark: nightly planning over 1 000 000 encounters, and a nurse's queue query over 1 000 000 tasks.

    .venv/bin/python bench/planning.py            # full size, SQLite and PostgreSQL
    .venv/bin/python bench/planning.py --quick    # 50 000 encounters / tasks
    .venv/bin/python bench/planning.py --backend sqlite --size 200000

Goals (issue 4): planning 1 000 000 encounters < 60 s on SQLite and < 30 s on PostgreSQL; queue query p95 < 50 ms.
PostgreSQL: a throw-away database on CALLCENTER_BENCH_PG_URL (default the local server), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from callcenter import migrate
from callcenter.call_rules import CallRules
from callcenter.db import make_engine, session_scope
from callcenter.generation import plan_all
from callcenter.models import Channel, Encounter, Patient, Task, Team, User
from callcenter.plans_repo import parse_plan, upsert_plans
from callcenter.queue import nurse_queue, queue_query

SH = ZoneInfo("Asia/Shanghai")
PG_ADMIN = os.environ.get("CALLCENTER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2025, 9, 15, 1, 30, tzinfo=SH).astimezone(UTC)
TEAMS = 20
NURSES_PER_TEAM = 5
BATCH = 50_000


def bulk(engine: Engine, table: type, rows: list[dict[str, object]]) -> None:
    """Fast load: COPY on PostgreSQL, executemany on SQLite (setup only, not measured)."""
    if not rows:
        return
    if engine.dialect.name == "postgresql":
        cols = list(rows[0])
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            name = table.__table__.name  # type: ignore[attr-defined]
            with cur.copy(f'COPY "{name}" ({", ".join(cols)}) FROM STDIN') as copy:  # type: ignore[attr-defined]
                for r in rows:
                    copy.write_row([_pg(r[c]) for c in cols])
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        for i in range(0, len(rows), BATCH):
            conn.execute(insert(table), rows[i:i + BATCH])


def _pg(v: object) -> object:
    return v.value if hasattr(v, "value") and not isinstance(v, (int, float, str)) else v


def build_hospital(engine: Engine, n: int, rng: random.Random) -> None:
    with session_scope(engine) as s:
        for t in range(TEAMS):
            s.add(Team(key=f"team{t}", name=f"Team {t}"))
        s.flush()
        for t in range(TEAMS):
            for k in range(NURSES_PER_TEAM):
                s.add(User(username=f"nurse{t}_{k}", team_id=t + 1))
        upsert_plans(s, [parse_plan({
            "key": "discharge", "name": "出院随访", "questionnaire": "discharge_general",
            "cohort": {"kinds": ["inpatient"]},
            "schedule": {"points": ["7d", "30d", "90d"], "repeat": {"every": "90d", "until": "2y"}, "window": "3d"},
        }, "bench")])
    created = datetime(2025, 1, 1, tzinfo=UTC)
    patients = [{"id": i + 1, "name": "", "mrn": f"M{i + 1}", "source_system": "bench", "sex": "unknown",
                 "region_code": "", "language": "zh-CN", "do_not_call": False, "sms_consent": True,
                 "deceased": False, "created_at": created, "updated_at": created} for i in range(n)]
    bulk(engine, Patient, patients)
    del patients
    today = NOW.astimezone(SH).date()
    depts = ["心内科", "肿瘤科", "普外科", "骨科", "内分泌科"]
    encounters = []
    for i in range(n):
        day = today - timedelta(days=rng.randrange(0, 740))
        at = datetime.combine(day, dtime(10), SH).astimezone(UTC)
        encounters.append({"id": i + 1, "patient_id": i + 1, "kind": "inpatient", "department": rng.choice(depts),
                           "admitted_at": at - timedelta(days=5), "discharged_at": at, "diagnosis_code": "I21.9",
                           "diagnosis_text": "", "attending": "", "source_system": "bench", "source_id": str(i + 1),
                           "cancelled": False, "created_at": created, "updated_at": created})
    bulk(engine, Encounter, encounters)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for t in ("patient", "encounter", "team", "app_user"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"))
            conn.execute(text("ANALYZE"))


def top_up_tasks(engine: Engine, total: int, n_patients: int, rng: random.Random) -> int:
    """Fill the task table to ``total`` rows with a realistic mix: most closed, some planned, ~10 % due."""
    with Session(engine) as s:
        have = len(s.exec(select(Task.id)).all())
    mix = [("completed", 55), ("cancelled", 8), ("unreachable", 7), ("planned", 20), ("due", 9), ("callback", 1)]
    statuses = [st for st, w in mix for _ in range(w)]
    rows = []
    for i in range(total - have):
        st = rng.choice(statuses)
        due = NOW + timedelta(hours=rng.randrange(-24 * 60, 24 * 30))
        team = rng.randrange(0, TEAMS + 1)
        cb = NOW - timedelta(minutes=rng.randrange(0, 600)) if st == "callback" or (st == "due" and rng.random() < 0.02) else None
        rows.append({"patient_id": rng.randrange(1, n_patients + 1), "plan_id": None, "anchor_encounter_id": None,
                     "point": f"x{i}", "questionnaire_key": "q", "channel": "nurse_call", "status": st,
                     "due_at": due, "window_end_at": due + timedelta(days=3), "team_id": team or None,
                     "assignee_id": None, "priority": rng.choice([40, 50, 60, 70]),
                     "queue_rank": (0 if cb else 2) * 1000 + 949, "attempts": 0, "max_attempts": 3,
                     "next_attempt_at": due, "callback_at": cb, "lease_owner": "", "lease_expires_at": None,
                     "final_outcome": "", "reason": "", "created_at": NOW, "closed_at": None})
        if len(rows) >= BATCH * 4:
            bulk(engine, Task, rows)
            rows = []
    bulk(engine, Task, rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('task', 'id'), (SELECT max(id) FROM task))"))
            conn.execute(text("ANALYZE task"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    with Session(engine) as s:
        return len(s.exec(select(Task.id)).all())


def queue_latency(engine: Engine, rng: random.Random, runs: int) -> tuple[float, float, int]:
    times = []
    got = 0
    with Session(engine) as s:
        for _ in range(runs):
            team = rng.randrange(0, TEAMS + 1)
            nurse = team * NURSES_PER_TEAM + 1 if team else None
            t0 = time.perf_counter()
            rows = nurse_queue(s, team_id=team or None, user_id=nurse, limit=50)
            times.append((time.perf_counter() - t0) * 1000)
            got += len(rows)
            s.expunge_all()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], got // runs


def server_time(engine: Engine, rng: random.Random, runs: int) -> tuple[float, float]:
    """PostgreSQL's own execution time of the queue query (no client or network)."""
    times = []
    with engine.connect() as conn:
        for _ in range(runs):
            team = rng.randrange(1, TEAMS + 1)
            query = queue_query(team, team * NURSES_PER_TEAM + 1, Channel.nurse_call).limit(50)
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = [r[0] for r in conn.execute(text("EXPLAIN (ANALYZE, FORMAT TEXT) " + sql))]
            times.append(float(next(p for p in plan if p.startswith("Execution Time")).split()[2]))
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


def run(backend: str, n: int, queue_runs: int) -> None:
    rng = random.Random(4)
    tmp = tempfile.TemporaryDirectory(prefix="bench-planning-")
    if backend == "sqlite":
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
        admin = None
    else:
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"cc_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        t0 = time.perf_counter()
        build_hospital(engine, n, rng)
        print(f"[{backend}] setup: {n:,} patients + encounters loaded in {time.perf_counter() - t0:.1f} s")
        rules = CallRules(horizon_days=30)
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            report = plan_all(s, now=NOW, rules=rules)
        first = time.perf_counter() - t0
        print(f"[{backend}] planning {report.encounters:,} encounters: {first:.1f} s "
              f"({report.created:,} tasks created; {load()})")
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            again = plan_all(s, now=NOW, rules=rules)
        print(f"[{backend}] planning again (idempotent, {again.created} new): {time.perf_counter() - t0:.1f} s ({load()})")
        total = top_up_tasks(engine, n, n, rng)
        p50, p95, avg = queue_latency(engine, rng, queue_runs)
        print(f"[{backend}] nurse queue over {total:,} tasks ({queue_runs} queries, {avg} rows each): "
              f"p50 {p50:.2f} ms, p95 {p95:.2f} ms ({load()})")
        if backend == "postgresql":
            s50, s95 = server_time(engine, rng, 50)
            print(f"[{backend}] same query, server execution (EXPLAIN ANALYZE): p50 {s50:.2f} ms, p95 {s95:.2f} ms "
                  f"(the difference is client, driver and scheduling under load; {load()})")
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="50 000 encounters and tasks instead of 1 000 000")
    ap.add_argument("--size", type=int, default=None, help="number of encounters (and tasks for the queue)")
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    n = args.size or (50_000 if args.quick else 1_000_000)
    print(f"bench/planning.py: {n:,} encounters, day {NOW.astimezone(SH).date()} (goal: < 60 s SQLite, "
          f"< 30 s PostgreSQL, queue p95 < 50 ms)")
    for backend in (["sqlite", "postgresql"] if args.backend == "both" else [args.backend]):
        run(backend, n, args.queries)


if __name__ == "__main__":
    main()
