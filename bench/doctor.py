"""Benchmark: the doctor's screens — the script checker as the doctor types (the editor's check endpoint), the
alerts inbox and the escalation job over a year of alerts, and one patient's results over years of follow-ups.

    .venv/bin/python bench/doctor.py                 # 100 000 alerts, SQLite and PostgreSQL
    .venv/bin/python bench/doctor.py --quick         # 10 000 alerts, SQLite only
    .venv/bin/python bench/doctor.py --backend postgresql --alerts 50000

Prints milliseconds per call (median of several runs). PostgreSQL: a throw-away database on
CALLCENTER_BENCH_PG_URL (default the local server), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from callcenter import alerts, migrate, patient_results, questionnaires, script_editor
from callcenter.db import make_engine, session_scope
from callcenter.models import Alert, Answer, Patient, Response
from scripts_questionnaires import library_paths

PG_ADMIN = os.environ.get("CALLCENTER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
BP_SCRIPT = """
key: home_bp
title: 家庭血压
locale: zh-CN
items:
  - id: bp
    type: blood_pressure
    text: 最近量的血压是多少？
  - id: glucose
    type: number
    text: 空腹血糖多少？
    min: 1
    max: 35
    decimals: 1
    unit: mmol/L
alerts:
  - id: bp_crisis
    when: bp.systolic >= 180
    severity: critical
    message: 血压过高
"""


def timed(fn: Callable[[], Any], runs: int = 7) -> float:
    fn()  # warm caches and the statement cache
    laps = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        laps.append(time.perf_counter() - t0)
    return statistics.median(laps) * 1000.0


def bench_checker() -> None:
    biggest = max(library_paths(), key=lambda p: p.stat().st_size)
    source = biggest.read_text(encoding="utf-8")
    broken = source.replace("type: ", "type: x", 1)
    lines = len(source.splitlines())
    print(f"checker ({biggest.name}, {lines} lines): findings {timed(lambda: script_editor.findings(source)):.1f} ms, "
          f"with an error {timed(lambda: script_editor.findings(broken)):.1f} ms, "
          f"preview {timed(lambda: script_editor.preview(source)):.1f} ms")


def fill(engine: Engine, n_alerts: int) -> int:
    """``n_alerts`` alerts over a year on 2 000 patients (1 % open), and one patient with 10 years of monthly
    home readings; returns that patient's id."""
    with session_scope(engine) as session:
        row, _ = questionnaires.publish(session, BP_SCRIPT, "home_bp.yaml")
        qid = row.id or 0
    with engine.begin() as conn:
        conn.execute(insert(Patient), [{"name": f"患者{i}", "source_system": "bench", "mrn": str(i),
                                        "national_id": None} for i in range(2000)])
        conn.execute(insert(Response), [{"questionnaire_id": qid, "patient_id": 1 + i % 2000, "status": "completed",
                                         "run_state": {}, "scores": {}, "started_at": NOW} for i in range(2000)])
        batch = []
        for i in range(n_alerts):
            raised = NOW - timedelta(minutes=(i * 525_600) // n_alerts)
            acked = None if i % 100 == 0 else raised + timedelta(minutes=5 + i % 90)
            batch.append({"patient_id": 1 + i % 2000, "response_id": 1 + i % 2000, "rule_id": "bp_crisis",
                          "item_id": "bp", "severity": "critical" if i % 3 else "high", "message": "血压过高",
                          "raised_at": raised, "acknowledged_at": acked, "acknowledged_by_id": None,
                          "ack_note": "已联系" if acked else ""})
            if len(batch) == 10_000:
                conn.execute(insert(Alert), batch)
                batch = []
        if batch:
            conn.execute(insert(Alert), batch)
        visits = 120
        result = conn.execute(insert(Response).returning(Response.id), [
            {"questionnaire_id": qid, "patient_id": 1, "status": "completed", "run_state": {}, "scores": {},
             "started_at": NOW - timedelta(days=30 * k)} for k in range(visits)])
        ids = [r[0] for r in result]
        conn.execute(insert(Answer), [
            {"response_id": rid, "item_id": item, "value": value, "text": "", "source": "nurse",
             "confirmed_at": NOW - timedelta(days=30 * k), "superseded": False, "skipped_reason": ""}
            for k, rid in enumerate(ids)
            for item, value in (("bp", {"systolic": 120 + k % 40, "diastolic": 80 + k % 15}),
                                ("glucose", 5.0 + (k % 30) / 10))])
    return 1


def bench_db(engine: Engine, label: str, n_alerts: int) -> None:
    t0 = time.perf_counter()
    patient_id = fill(engine, n_alerts)
    print(f"[{label}] filled {n_alerts} alerts in {time.perf_counter() - t0:.1f} s")

    def inbox() -> None:
        with session_scope(engine) as s:
            alerts.list_alerts(s, status="open")
            alerts.summary_since(s, NOW - timedelta(days=30))

    def results() -> None:
        with session_scope(engine) as s:
            patient_results.patient_results(s, patient_id)

    print(f"[{label}] inbox page (open alerts + time to acknowledge over 30 days): {timed(inbox):.1f} ms")
    print(f"[{label}] patient results (120 visits, 240 answers, 3 series): {timed(results):.1f} ms")
    with session_scope(engine) as s:
        t0 = time.perf_counter()
        escalated = alerts.escalate_overdue(s, now=NOW, after_minutes=60)
        first = (time.perf_counter() - t0) * 1000
    print(f"[{label}] escalation job: first run {len(escalated)} alerts in {first:.1f} ms; "
          f"steady state {timed(lambda: _escalate(engine)):.1f} ms")


def _escalate(engine: Engine) -> None:
    with session_scope(engine) as s:
        alerts.escalate_overdue(s, now=NOW, after_minutes=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="10 000 alerts, SQLite only")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.alerts
    backends = ("sqlite",) if args.quick else (("sqlite", "postgresql") if args.backend == "both" else (args.backend,))
    bench_checker()
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
                migrate.upgrade(engine)
                bench_db(engine, "sqlite", n)
                engine.dispose()
        else:
            name = f"bench_doctor_{uuid.uuid4().hex[:8]}"
            admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
            try:
                migrate.upgrade(engine)
                bench_db(engine, "postgresql", n)
            finally:
                engine.dispose()
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
