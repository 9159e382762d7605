"""Benchmark: the supervisor screens over a busy month — statistics for 30 days (per department and per nurse),
the live board, and the QA search with its adherence pass.

    .venv/bin/python bench/supervisor.py            # 100 000 tasks, 200 000 call attempts, SQLite and PostgreSQL
    .venv/bin/python bench/supervisor.py --quick    # 10 000 tasks
    .venv/bin/python bench/supervisor.py --backend sqlite --tasks 50000
    .venv/bin/python bench/supervisor.py --statistics-only  # the statistics figures alone

Prints seconds per report and facts per second. PostgreSQL: a throw-away database on CALLCENTER_BENCH_PG_URL
(default the local server), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from callcenter import board, migrate, outcomes, qa, statistics_queries
from callcenter.db import make_engine, session_scope
from callcenter.models import (
    Answer,
    CallAttempt,
    Encounter,
    FollowUpPlan,
    Patient,
    Questionnaire,
    Response,
    Role,
    Task,
    Team,
    User,
)
from callcenter.statistics import Dimension
from callcenter.statistics_queries import Filters

SH = ZoneInfo("Asia/Shanghai")
PG_ADMIN = os.environ.get("CALLCENTER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START = date(2026, 10, 1)
DAYS = 30
DEPARTMENTS = ("心内科", "内分泌科", "肿瘤科", "普外科", "神经内科", "呼吸科")
OUTCOMES = (("completed", 0.45), ("no_answer", 0.25), ("busy", 0.08), ("callback_requested", 0.08),
            ("refused", 0.05), ("hung_up", 0.04), ("wrong_number", 0.03), ("partial", 0.02))


def populate(engine: Engine, tasks: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    codes, weights = zip(*OUTCOMES, strict=True)
    with session_scope(engine) as s:
        outcomes.seed_outcomes(s)
        teams = [Team(key=f"t{i}", name=f"小组{i}", department=d) for i, d in enumerate(DEPARTMENTS)]
        s.add_all(teams)
        s.flush()
        nurses = [User(username=f"n{i}", display_name=f"护士{i}", role=Role.nurse, team_id=teams[i % 6].id)
                  for i in range(30)]
        plans = [FollowUpPlan(key=f"p{i}", name=f"方案{i}", questionnaire_key="q") for i in range(8)]
        s.add_all(nurses + plans)
        s.flush()
        nurse_ids = [n.id for n in nurses]
        plan_ids = [p.id for p in plans]
        team_ids = [t.id for t in teams]
        form = Questionnaire(key="q", version=1, title="出院随访")
        s.add(form)
        s.flush()
        form_id = form.id
    patients = tasks // 2
    with engine.begin() as conn:
        conn.execute(insert(Patient), [{"name": f"患者{i}", "source_system": "b", "mrn": str(i)} for i in range(patients)])
        conn.execute(insert(Encounter), [{"patient_id": i + 1, "department": DEPARTMENTS[i % 6], "source_system": "b",
                                          "source_id": str(i)} for i in range(patients)])
        task_rows, attempt_rows = [], []
        for t in range(tasks):
            due = datetime(START.year, START.month, START.day, 9, tzinfo=SH) + timedelta(
                days=rng.randrange(DAYS), minutes=rng.randrange(480))
            n_attempts = rng.choice((0, 1, 1, 2, 2, 3))
            status, last = "due", None
            for a in range(n_attempts):
                code = rng.choices(codes, weights)[0]
                started = due + timedelta(hours=2 * a, minutes=rng.randrange(60))
                talk = rng.randrange(30, 600) if code in ("completed", "refused", "hung_up", "partial",
                                                           "callback_requested") else 0
                attempt_rows.append({
                    "task_id": t + 1, "patient_id": t % patients + 1, "user_id": rng.choice(nurse_ids),
                    "number": "13800000000", "started_at": started.astimezone(UTC),
                    "answered_at": started.astimezone(UTC) if talk else None,
                    "ended_at": (started + timedelta(seconds=talk)).astimezone(UTC),
                    "wrapped_up_at": (started + timedelta(seconds=talk + rng.randrange(20, 120))).astimezone(UTC),
                    "outcome_code": code})
                last = code
                if code == "completed":
                    break
            if last == "completed":
                status = "completed"
            elif last == "refused":
                status = "cancelled"
            elif n_attempts == 3:
                status = "unreachable"
            task_rows.append({"patient_id": t % patients + 1, "plan_id": rng.choice(plan_ids),
                              "anchor_encounter_id": t % patients + 1, "point": f"x{t}", "status": status,
                              "due_at": due.astimezone(UTC), "team_id": rng.choice(team_ids)})
        # rows reach the database in time order, as in a running hospital: tasks planned by due date, calls made
        # one after the other (random order would make every index range scan a random read)
        order = sorted(range(len(task_rows)), key=lambda i: task_rows[i]["due_at"])
        new_id = {old + 1: new + 1 for new, old in enumerate(order)}
        task_rows = [task_rows[i] for i in order]
        for row in attempt_rows:
            row["task_id"] = new_id[row["task_id"]]
        attempt_rows.sort(key=lambda row: row["started_at"])
        for i in range(0, len(task_rows), 5000):
            conn.execute(insert(Task), task_rows[i:i + 5000])
        for i in range(0, len(attempt_rows), 5000):
            conn.execute(insert(CallAttempt), attempt_rows[i:i + 5000])
        # every completed task has a response with three answers (a choice, blood pressure, a multi-choice)
        done = [i + 1 for i, row in enumerate(task_rows) if row["status"] == "completed"]
        response_rows = [{"questionnaire_id": form_id, "patient_id": task_rows[t - 1]["patient_id"], "task_id": t,
                          "status": "completed", "run_state": {}, "scores": {}} for t in done]
        for i in range(0, len(response_rows), 5000):
            conn.execute(insert(Response), response_rows[i:i + 5000])
        answer_rows = []
        for r, _task_id in enumerate(done):
            answer_rows += [
                {"response_id": r + 1, "item_id": "feeling", "value": rng.choice(("better", "same", "worse"))},
                {"response_id": r + 1, "item_id": "bp", "value": {"systolic": rng.randrange(110, 150, 10),
                                                                  "diastolic": rng.randrange(70, 95, 5)}},
                {"response_id": r + 1, "item_id": "symptoms",
                 "value": rng.sample(("cough", "dizzy", "tired"), rng.randrange(0, 3))}]
        for i in range(0, len(answer_rows), 5000):
            conn.execute(insert(Answer), answer_rows[i:i + 5000])
    if engine.dialect.name == "postgresql":  # the statistics autovacuum keeps on a live server
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    print(f"  populated {tasks} tasks, {len(attempt_rows)} call attempts, {len(answer_rows)} answers")


def timed(label: str, fn):  # noqa: ANN001, ANN201 - a tiny local timer
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = fn()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    # CPU of this process: all of SQLite's work, only the client side of PostgreSQL's
    print(f"  {label}: {time.perf_counter() - t0:.2f} s, cpu {time.process_time() - cpu0:.2f} s   (load {load})")
    return result


def run(engine: Engine, tasks: int, statistics_only: bool = False) -> None:
    timed("populate", lambda: populate(engine, tasks))
    period = Filters(START, START + timedelta(days=DAYS))
    for dimension in (Dimension.department, Dimension.nurse, Dimension.day):
        with session_scope(engine) as s:
            report = timed(f"statistics 30 days by {dimension.value}",
                           lambda: statistics_queries.build_report(s, period, dimension, SH))  # noqa: B023
    print(f"    total: {report.total.tasks_due} tasks, {report.total.calls} calls, RR1 {report.total.rates.rr1:.3f}, "
          f"{sum(sum(c.values()) for c in report.answers.values())} answers")
    with session_scope(engine) as s:
        timed("statistics one department, 30 days", lambda: statistics_queries.build_report(
            s, Filters(period.start, period.end, department="心内科"), Dimension.plan, SH))
    with session_scope(engine) as s:
        timed("statistics one nurse, 30 days", lambda: statistics_queries.build_report(
            s, Filters(period.start, period.end, nurse_id=1), Dimension.day, SH))
    if statistics_only:
        return
    now = datetime(START.year, START.month, START.day + 15, 15, tzinfo=SH)
    with session_scope(engine) as s:
        timed("live board", lambda: board.board(s, now=now, zone=SH))
    with session_scope(engine) as s:
        n = timed("adherence pass over every finished call", lambda: qa.check_pending(s, now=now, limit=10**9))
    print(f"    {n} calls checked")
    with session_scope(engine) as s:
        rows = timed("QA search, one nurse, 30 days", lambda: qa.search(
            s, qa.SearchFilters(nurse_id=1, start=START, end=START + timedelta(days=DAYS - 1)), SH))
    print(f"    {len(rows)} rows (limit 200)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 000 tasks")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--statistics-only", action="store_true", help="skip the live board and QA figures")
    args = parser.parse_args()
    tasks = 10_000 if args.quick else args.tasks
    if args.backend in ("sqlite", "both"):
        print(f"SQLite, {tasks} tasks")
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            migrate.upgrade(engine)
            run(engine, tasks, args.statistics_only)
            engine.dispose()
    if args.backend in ("postgresql", "both"):
        print(f"PostgreSQL, {tasks} tasks")
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"cc_bench_sup_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
            migrate.upgrade(engine)
            run(engine, tasks, args.statistics_only)
            engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
