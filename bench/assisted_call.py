"""Latency of the assisted call's last leg: a proposal leaving the softphone agent until it is rendered on the
nurse's call screen in Chromium (agent -> Socket.IO -> server checks + relay -> browser -> DOM updated).

The leg before it — the VAD closing an utterance until the agent has the proposal (segmenter hangover + Vosk
FinalResult + asr.fields) — is measured by bench/asr_streams.py; add the two for the end-to-end figure.

    .venv/bin/python bench/assisted_call.py [--proposals 200] [--rate 10] [--redis]

Real parts: the app on the threading server, a python-socketio agent client over WebSocket, Debian's Chromium
driven by Playwright. Agent and browser share this machine's clock (time.time() vs Date.now(), ms resolution).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import socketio  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from callcenter import migrate, outcomes, questionnaires, queue, users  # noqa: E402
from callcenter.call_rules import rules_from_settings  # noqa: E402
from callcenter.clock import SystemClock  # noqa: E402
from callcenter.db import make_engine, session_scope  # noqa: E402
from callcenter.events import attempt_room  # noqa: E402
from callcenter.models import CallAttempt, FollowUpPlan, Patient, PatientPhone, Role, Task, TaskStatus  # noqa: E402
from callcenter.settings import Settings  # noqa: E402
from callcenter.tasks import queue_rank  # noqa: E402
from web import Services, create_app  # noqa: E402
from web.realtime import socketio_for  # noqa: E402
from web.server import LiveServer  # noqa: E402

SCRIPT = """
key: bench_call
version: 1
title: 基准
locale: zh-CN
items:
  - id: feeling
    type: single_choice
    text: 出院后感觉怎么样？
    options:
      - {value: better, label: 好多了, say: [好多了]}
      - {value: worse, label: 更差了, say: [更差了]}
"""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-password-1"


def prepare(workdir: Path) -> tuple[Settings, Engine, int, str]:
    settings = Settings(data_dir=str(workdir), recordings_dir=str(workdir / "rec"), secret_key=uuid.uuid4().hex)
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        outcomes.seed_outcomes(s)
        nurse = users.create_user(s, username="nurse", password=PASSWORD, role=Role.nurse)
        token = users.issue_agent_token(s, "nurse")
        questionnaires.publish(s, SCRIPT, "bench.yaml")
        plan = FollowUpPlan(key="bench", name="基准随访", questionnaire_key="bench_call")
        patient = Patient(name="基准患者", source_system="bench", mrn="1")
        s.add_all([plan, patient])
        s.flush()
        phone = PatientPhone(patient_id=patient.id or 0, number="13800138000")
        task = Task(patient_id=patient.id or 0, plan_id=plan.id, questionnaire_key="bench_call", status=TaskStatus.due,
                    due_at=now - timedelta(hours=1))
        task.queue_rank = queue_rank(task, now)
        s.add_all([phone, task])
        s.flush()
        queue.claim_task(s, task.id or 0, owner=f"user:{nurse.id}", now=now, rules=rules_from_settings(settings))
        attempt = CallAttempt(task_id=task.id, patient_id=patient.id or 0, phone_id=phone.id, number=phone.number,
                              user_id=nurse.id, started_at=now)
        s.add(attempt)
        s.flush()
        return settings, engine, attempt.id or 0, f"{task.id}|{token}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="proposals per second")
    parser.add_argument("--redis", action="store_true", help="Socket.IO through Redis (several-process setup)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings, engine, attempt_id, ids = prepare(Path(tmp))
        task_id, token = ids.split("|")
        if args.redis:
            settings = settings.replace(redis_url="redis://127.0.0.1:6379/14")
        app = create_app(settings, Services(engine=engine, clock=SystemClock()),
                         {"SOCKETIO_CHANNEL": "bench-" + uuid.uuid4().hex})
        with LiveServer(app) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/lib/chromium/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"{server.url}/login")
            page.fill("#username", "nurse")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.goto(f"{server.url}/workspace/tasks/{task_id}")
            expect(page.locator("#question")).to_have_attribute("data-item-id", "feeling", timeout=15000)
            manager = socketio_for(app).server.manager
            tick = threading.Event()
            while not any(True for _ in manager.get_participants("/", attempt_room(attempt_id))):
                tick.wait(0.05)  # the page joins its attempt room right after connecting
            page.evaluate("""() => { window.__lat = [];
                window.cc.on("proposal", d => { const box = document.getElementById("proposal-value");
                  window.__lat.push([d.text, Date.now(), box && box.textContent.startsWith(d.text)]); }); }""")
            agent = socketio.Client(reconnection=False)
            agent.connect(server.url, auth={"agent_token": token}, transports=["websocket"], wait_timeout=10)
            sent: dict[str, float] = {}
            interval = 1.0 / args.rate
            start = time.perf_counter()
            for i in range(args.proposals):
                key = f"p{i}"
                sent[key] = time.time() * 1000
                agent.emit("agent_event", {"kind": "proposal", "attempt_id": attempt_id, "item_id": "feeling",
                                           "value": "better", "confidence": 0.9, "text": key, "t0_s": 1.0,
                                           "t1_s": 2.0})
                tick.wait(max(0.0, start + (i + 1) * interval - time.perf_counter()))  # pacing, not a wait-for
            page.wait_for_function(f"() => window.__lat.length >= {args.proposals}", timeout=60000)
            seen = page.evaluate("() => window.__lat")
            agent.disconnect()
            browser.close()
    latencies = [shown - sent[key] for key, shown, rendered in seen if rendered]
    print(f"assisted call, agent -> browser proposal rendered ({'redis' if args.redis else 'in-process'} "
          f"Socket.IO, {args.proposals} proposals at {args.rate:g}/s):")
    print(f"  rendered {len(latencies)}/{args.proposals}; ms p50 {statistics.median(latencies):.1f}  "
          f"p95 {percentile(latencies, 95):.1f}  p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}")
    print("  goal (issue 7): VAD end -> proposal rendered p95 <= 300 ms; add bench/asr_streams.py's VAD -> result leg")


if __name__ == "__main__":
    main()
