"""Latency of the assisted call, end to end: the patient stops speaking -> the proposed answer is on the nurse's
screen.

    .venv/bin/python bench/assisted_call.py [--calls 8]          # the whole path (default)
    .venv/bin/python bench/assisted_call.py --relay-only [--proposals 200] [--rate 10] [--redis]

The whole path uses every real part of a nurse's seat on this one machine:

    patient simulator (`callcenter patient-sim --persona ko-test`, pjsua2, espeak-ng answers)
      --RTP 127.0.0.1--> softphone agent (`callcenter softphone --speak-questions`: pjsua2, tap, ASR worker
      pool with the Korean Vosk model and webrtcvad) --Socket.IO--> dashboard (threading server, own process
      thread) --Socket.IO--> Chromium (Playwright) rendering the proposal on the call screen.

A nurse (Playwright) works through the queue: dial, wait for the proposal of each question, accept it with Enter
(or answer by click when speech gave nothing usable), hang up, "completed", next patient. Three wall-clock
stamps, all on this machine's clock, give the legs of every proposal rendered:

    speech end   the simulator's playback start + the last voiced sample of the sentence's WAV (--speech-log;
                 within one 20 ms media tick of the sound leaving the simulator)
    VAD closed   the ASR worker's stamp when endpointing closed the utterance (Proposal.closed_at), before decoding
    rendered     the first animation frame after the call screen's DOM shows the proposal (Date.now())

Goals (issue 7): VAD closed -> rendered p95 <= 300 ms; speech end -> rendered p95 <= 1 s. The end-of-speech leg
includes the segmenter's end window (700 ms of non-speech, 90 % unvoiced, docs/speech.md): the recogniser cannot
know the patient has finished sooner without cutting off pauses inside answers.

``--relay-only`` measures the last leg alone (a python-socketio client playing the agent -> server -> browser)
at a chosen rate, e.g. with Redis between server processes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import socketio  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from callcenter import migrate, outcomes, questionnaires, queue, users  # noqa: E402
from callcenter.call_rules import rules_from_settings  # noqa: E402
from callcenter.clock import SystemClock  # noqa: E402
from callcenter.db import make_engine, session_scope  # noqa: E402
from callcenter.events import agent_room, attempt_room  # noqa: E402
from callcenter.models import CallAttempt, FollowUpPlan, Patient, PatientPhone, Role, Task, TaskStatus  # noqa: E402
from callcenter.settings import Settings  # noqa: E402
from callcenter.tasks import queue_rank  # noqa: E402
from web import Services, create_app  # noqa: E402
from web.realtime import socketio_for  # noqa: E402
from web.server import LiveServer  # noqa: E402

CHROMIUM = next((p for p in (os.environ.get("CALLCENTER_CHROMIUM", ""), "/usr/lib/chromium/chromium",
                             "/usr/bin/chromium") if p and Path(p).exists()), "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-password-1"
CALLCENTER = str(Path(sys.executable).parent / "callcenter")
# What the ko-test persona answers (softphone/personas/ko-test.yaml): the nurse's correction when speech fails.
PERSONA_VALUES = {"pain": "yes", "pain_score": "7", "fever": "no", "medication": "yes"}

# Injected before the page's scripts: the first animation frame after the DOM shows a proposal, per utterance.
OBSERVER = """
window.__rendered = [];
document.addEventListener("DOMContentLoaded", () => {
  const seen = new Set();
  new MutationObserver(() => {
    const box = document.getElementById("proposal");
    if (!box || box.hidden || !box.dataset.closedAt || seen.has(box.dataset.closedAt)) return;
    seen.add(box.dataset.closedAt);
    const closed = Number(box.dataset.closedAt), dom = Date.now();
    const item = (document.getElementById("question") || {dataset: {}}).dataset.itemId || "";
    requestAnimationFrame(() => window.__rendered.push({closed_at: closed, dom_ms: dom, frame_ms: Date.now(),
                                                        item: item}));
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
});
"""


class OffsetClock:
    """The wall clock moved to a working Wednesday at 10:00 in Shanghai: the calling rules always allow the call,
    whenever the bench runs, and time still flows."""

    def __init__(self) -> None:
        self.offset = datetime(2026, 11, 25, 2, 0, tzinfo=UTC) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, values: list[float], goal: str = "") -> str:
    if not values:
        return f"  {name:<30} no samples"
    return (f"  {name:<30} n={len(values):<3} p50 {statistics.median(values):6.0f}  p95 {percentile(values, 95):6.0f}"
            f"  max {max(values):6.0f} ms{('   goal ' + goal) if goal else ''}")


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    tick = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_s:g} s")
        tick.wait(0.05)  # bounded poll: subprocess output / room table have no notification hook


# -- the whole path ---------------------------------------------------------------------------------------------
@dataclass
class Seat:
    settings: Settings
    engine: Engine
    token: str
    numbers: list[str]


def prepare_seat(workdir: Path, calls: int, clock: OffsetClock) -> Seat:
    settings = Settings(data_dir=str(workdir), recordings_dir=str(workdir / "rec"), secret_key=uuid.uuid4().hex)
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    migrate.upgrade(engine)
    now = clock.now()
    numbers = [f"139000{index:05d}" for index in range(1, calls + 1)]
    with session_scope(engine) as s:
        outcomes.seed_outcomes(s)
        questionnaires.publish_library(s)
        nurse = users.create_user(s, username="nurse", password=PASSWORD, role=Role.nurse, team_key="bench")
        token = users.issue_agent_token(s, "nurse")
        for index, number in enumerate(numbers):
            patient = Patient(name=f"환자{index}", language="ko-KR", source_system="bench", mrn=f"B-{index}")
            s.add(patient)
            s.flush()
            s.add(PatientPhone(patient_id=patient.id or 0, number=number))
            task = Task(patient_id=patient.id or 0, point="bench", questionnaire_key="ko-test", status=TaskStatus.due,
                        due_at=now - timedelta(hours=1, minutes=index), team_id=nurse.team_id, priority=50,
                        reason="지연 측정")
            task.queue_rank = queue_rank(task, now)
            s.add(task)
    return Seat(settings, engine, token, numbers)


@contextmanager
def process(argv: list[str], env: dict[str, str], ready: str, timeout_s: float = 180.0) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, process_group=0)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(lambda: any(ready in line for line in lines) or proc.poll() is not None, timeout_s, argv[1])
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(argv[:3])} exited with {proc.returncode}: {lines[-5:]}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


MOVED_ON = "(item) => { const q = document.getElementById('question'); return !q || q.dataset.itemId !== item; }"


def waited(page: Page, function: str, arg: Any, timeout_s: float) -> bool:
    try:
        page.wait_for_function(function, arg=arg, timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        return False
    return True


def answer_said_after(speech_log: Path, since: float, timeout_s: float) -> float | None:
    """When the patient's answer spoken after ``since`` ended (epoch s), from the simulator's speech log."""
    found: list[float] = []

    def said() -> bool:
        lines = speech_log.read_text("utf-8").splitlines() if speech_log.exists() else []
        found[:] = [e["speech_end_at"] for e in map(json.loads, lines)
                    if e["kind"] == "answer" and e["started_at"] > since]
        return bool(found)

    try:
        wait_for(said, timeout_s, "the patient's answer")
    except TimeoutError:
        return None
    return found[0]


def answer_question(page: Page, item: str, speech_log: Path, proposal_timeout_s: float) -> str:
    """Accept the proposal made from the patient's answer to ``item`` with Enter, else answer as a nurse would.
    (Other utterances — the greeting, a hesitation — may be proposed too; they are measured, not accepted.)
    Returns how the question was answered: accepted, or typed because of no answer / no proposal / invalid."""
    answer_end = answer_said_after(speech_log, time.time(), proposal_timeout_s)
    proposed = "([item, since]) => window.__rendered.some(r => r.item === item && r.closed_at > since)"
    if answer_end is None:
        how = "typed: the patient did not answer"
    elif not waited(page, proposed, [item, answer_end], proposal_timeout_s):
        how = "typed: no proposal"
    else:
        page.locator("body").press("Enter")
        if waited(page, MOVED_ON, item, 3.0):
            return "accepted"
        how = "typed: proposal not a valid answer"
    for _ in range(3):  # the form may be re-rendered (htmx) under the nurse's hands: try again until it moves on
        if page.locator("#answer-value").count():
            page.fill("#answer-value", PERSONA_VALUES[item])
            page.click("#answer-form button[type=submit]")
        else:
            page.click(f'#answer-form button[value="{PERSONA_VALUES[item]}"]')
        if waited(page, MOVED_ON, item, 5.0):
            return how
    raise RuntimeError(f"question {item} did not accept the answer {PERSONA_VALUES[item]!r}")


def one_call(page: Page, speech_log: Path, proposal_timeout_s: float) -> tuple[list[dict[str, Any]], dict[str, int]]:
    expect(page.locator("#dial")).to_be_enabled(timeout=20000)
    page.click("#dial")
    expect(page.locator("#form-column")).not_to_have_attribute("data-attempt-id", "", timeout=20000)
    outcome: dict[str, int] = {}
    question = page.locator("#question")
    while question.count():
        item = question.get_attribute("data-item-id") or ""
        how = answer_question(page, item, speech_log, proposal_timeout_s)
        outcome[how] = outcome.get(how, 0) + 1
    rendered: list[dict[str, Any]] = page.evaluate("() => window.__rendered")
    page.click('.call-control[data-command="hangup"]')
    expect(page.locator("#call-state")).to_have_attribute("data-state", "disconnected", timeout=20000)
    page.select_option("#outcome", "completed")
    return rendered, outcome


def whole_path(args: argparse.Namespace) -> None:
    clock = OffsetClock()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seat = prepare_seat(workdir, args.calls, clock)
        app = create_app(seat.settings, Services(engine=seat.engine, clock=clock),
                         {"SOCKETIO_CHANNEL": "bench-" + uuid.uuid4().hex})
        speech_log = workdir / "speech.jsonl"
        env = {**os.environ, "CALLCENTER_DATA_DIR": str(workdir), "CALLCENTER_RECORDINGS_DIR": str(workdir / "rec"),
               "CALLCENTER_LOG_LEVEL": "WARNING"}
        sim_port = free_udp_port()
        with LiveServer(app) as server, \
                process([CALLCENTER, "patient-sim", "--listen", f"127.0.0.1:{sim_port}", "--persona", "ko-test",
                         "--user", "kotest", "--speech-log", str(speech_log)], env, "listening on"):
            plan = workdir / "dial-plan.json"
            plan.write_text(json.dumps({n: f"sip:kotest@127.0.0.1:{sim_port}" for n in seat.numbers}), "utf-8")
            agent_env = {**env, "CALLCENTER_SIP_BIND": "127.0.0.1:0", "CALLCENTER_AGENT_TOKEN": seat.token,
                         "CALLCENTER_HEADSET": "none"}
            with process([CALLCENTER, "softphone", "--server", server.url, "--dial-plan", str(plan),
                          "--speak-questions"], agent_env, "connected to"), sync_playwright() as pw:
                manager = socketio_for(app).server.manager
                with session_scope(seat.engine) as s:
                    nurse_id = users.find_member(s, "nurse").id
                wait_for(lambda: any(True for _ in manager.get_participants("/", agent_room(nurse_id))), 30,
                         "the softphone agent to join")
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
                context.add_init_script(OBSERVER)
                page = context.new_page()
                page.goto(f"{server.url}/login")
                page.fill("#username", "nurse")
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                expect(page.locator("#queue")).to_have_attribute("data-ready", "true")
                page.locator(".queue-row").first.focus()
                page.keyboard.press("Enter")
                rendered: list[dict[str, Any]] = []
                totals: dict[str, int] = {}
                started = time.monotonic()
                for call in range(args.calls):
                    try:
                        got, outcome = one_call(page, speech_log, args.proposal_timeout)
                    except Exception:
                        page.screenshot(path=str(ROOT / ".cache" / "bench-assisted-call-failure.png"))
                        print(page.locator("main").inner_text()[:2000], file=sys.stderr)
                        raise
                    rendered += got
                    for key, count in outcome.items():
                        totals[key] = totals.get(key, 0) + count
                    last = call == args.calls - 1
                    if last:
                        page.uncheck("#wrap-up-next")
                    else:
                        page.check("#wrap-up-next")
                    page.click("#wrap-up-submit")
                    if not last:
                        expect(page.locator("#question")).to_have_attribute("data-item-id", "pain", timeout=20000)
                    print(f"  call {call + 1}/{args.calls}: {len(got)} proposals rendered; answers: {outcome}", flush=True)
                elapsed = time.monotonic() - started
                browser.close()
        said = [json.loads(line) for line in speech_log.read_text("utf-8").splitlines()]
    report(rendered, said, totals, args.calls, elapsed)


def report(rendered: list[dict[str, Any]], said: list[dict[str, Any]], totals: dict[str, int], calls: int,
           elapsed_s: float) -> None:
    ends = sorted(s["speech_end_at"] for s in said)
    vad_leg, end_to_vad, end_to_screen, unmatched = [], [], [], 0
    for r in rendered:
        closed = r["closed_at"]
        before = [e for e in ends if e <= closed]
        vad_leg.append(r["frame_ms"] - closed * 1000)
        if not before or closed - before[-1] > 3.0:  # no sentence of the simulator ended just before: not matched
            unmatched += 1
            continue
        end_to_vad.append((closed - before[-1]) * 1000)
        end_to_screen.append(r["frame_ms"] - before[-1] * 1000)
    load = os.getloadavg()
    print(f"\nassisted call end to end: {calls} calls in {elapsed_s:.0f} s, {len(said)} sentences said by the patient, "
          f"{len(rendered)} proposals rendered ({unmatched} not matched to a sentence); answers: {totals}; "
          f"load {load[0]:.2f} {load[1]:.2f}")
    print(summary("speech end -> VAD closed", end_to_vad))
    print(summary("VAD closed -> rendered", vad_leg, "p95 <= 300 ms"))
    print(summary("speech end -> rendered", end_to_screen, "p95 <= 1000 ms"))


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- the last leg alone ------------------------------------------------------------------------------------------
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


def prepare_relay(workdir: Path) -> tuple[Settings, Engine, int, int, str]:
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
        return settings, engine, attempt.id or 0, task.id or 0, token


def relay_only(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings, engine, attempt_id, task_id, token = prepare_relay(Path(tmp))
        if args.redis:
            settings = settings.replace(redis_url="redis://127.0.0.1:6379/14")
        app = create_app(settings, Services(engine=engine, clock=SystemClock()),
                         {"SOCKETIO_CHANNEL": "bench-" + uuid.uuid4().hex})
        with LiveServer(app) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"{server.url}/login")
            page.fill("#username", "nurse")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.goto(f"{server.url}/workspace/tasks/{task_id}")
            expect(page.locator("#question")).to_have_attribute("data-item-id", "feeling", timeout=15000)
            manager = socketio_for(app).server.manager
            wait_for(lambda: any(True for _ in manager.get_participants("/", attempt_room(attempt_id))), 15,
                     "the page to join its attempt room")
            page.evaluate("""() => { window.__lat = [];
                window.cc.on("proposal", d => { const box = document.getElementById("proposal-value");
                  window.__lat.push([d.text, Date.now(), box && box.textContent.startsWith(d.text)]); }); }""")
            agent = socketio.Client(reconnection=False)
            agent.connect(server.url, auth={"agent_token": token}, transports=["websocket"], wait_timeout=10)
            sent: dict[str, float] = {}
            interval = 1.0 / args.rate
            tick = threading.Event()
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
          f"Socket.IO, {args.proposals} proposals at {args.rate:g}/s, load {os.getloadavg()[0]:.2f}):")
    print(summary("agent -> rendered", latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=8, help="calls of the whole-path run (ko-test: 4-5 answers each)")
    parser.add_argument("--proposal-timeout", type=float, default=15.0,
                        help="seconds the nurse waits for a proposal before answering herself")
    parser.add_argument("--relay-only", action="store_true", help="measure agent -> browser alone")
    parser.add_argument("--proposals", type=int, default=200, help="--relay-only: proposals sent")
    parser.add_argument("--rate", type=float, default=10.0, help="--relay-only: proposals per second")
    parser.add_argument("--redis", action="store_true", help="--relay-only: Socket.IO through Redis")
    args = parser.parse_args()
    if args.relay_only:
        relay_only(args)
    else:
        whole_path(args)


if __name__ == "__main__":
    main()
