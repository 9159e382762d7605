"""How many robot reminder calls run at once on this machine without audio gaps, and calls per hour.

Every call is real: robocall worker processes (pjsua2, ≤ 4 calls each) call one SIPp patient line on 127.0.0.1
that answers, presses 1 (it is the patient) and 1 again (confirms the revisit) with RFC 2833 DTMF, and waits
for the robot to hang up. Prompts are espeak-ng TTS WAVs at the speaking rate of the patient's age, synthesised
before the calls by the supervisor. All N calls start together; the figures are:

- the longest gap between two RTP packets a robot sends to the patient (sniffed on the loopback interface, so
  root is needed; 20 ms is perfect, goal < 100 ms), and the longest gap between patient-audio frames inside the
  worker (any Python work that holds up pjsua2's media clock shows in both),
- how many calls ended with the right outcome (completed) and the CPU the workers used,
- calls completed per hour at that concurrency (N × 3600 / duration of the round).

Run: ``python bench/robocalls.py`` (rounds of 16, 24, 32 and 40 calls, about 5 minutes) or ``--quick`` (8 calls).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing as mp
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, select  # noqa: E402

from callcenter import migrate  # noqa: E402
from callcenter.call_rules import CallRules  # noqa: E402
from callcenter.clock import FrozenClock  # noqa: E402
from callcenter.db import make_engine, session_scope  # noqa: E402
from callcenter.models import (  # noqa: E402
    CallAttempt,
    Channel,
    FollowUpPlan,
    Patient,
    PatientPhone,
    Questionnaire,
    QuestionnaireStatus,
    Sex,
    Task,
    TaskStatus,
)
from callcenter.outcomes import seed_outcomes  # noqa: E402
from callcenter.robocall_jobs import CallJob, CallReport  # noqa: E402
from callcenter.robocall_prompts import Prompt, reminder_script_from  # noqa: E402
from callcenter.robocall_service import RobocallService  # noqa: E402
from scripts_questionnaires.loader import load_script  # noqa: E402
from softphone.config import PhoneConfig  # noqa: E402
from softphone.robocall_worker_pool import WorkerPool  # noqa: E402
from softphone.tts import TtsCache, Voice  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
DTMF_PT = 120  # the telephone-event payload type pjsua2 offers with an 8 kHz bridge
SIPP_PCAP = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="robot-call patient">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio [media_port] RTP/AVP 0 {pt}
a=rtpmap:0 PCMU/8000
a=rtpmap:{pt} telephone-event/8000
a=fmtp:{pt} 0-15
]]></send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="{first_ms}"/>
  <nop><action><exec play_pcap_audio="{pcap1}"/></action></nop>
  <pause milliseconds="{second_ms}"/>
  <nop><action><exec play_pcap_audio="{pcap2}"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def dtmf_pcap(out: Path, shift: int = 0) -> Path:
    """SIPp's DTMF '1' capture with the RTP payload type pjsua2 negotiated (SIPp's file uses 101); ``shift``
    moves RTP sequence numbers and timestamps (a replay with the same timestamp is taken for the same key press)."""
    data = bytearray(SIPP_PCAP.read_bytes())
    offset = 24
    while offset < len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        packet = offset + 16
        ip_len = (data[packet + 14] & 0x0F) * 4
        udp = packet + 14 + ip_len
        data[udp + 6:udp + 8] = b"\x00\x00"  # no UDP checksum (the payload changes)
        data[udp + 9] = (data[udp + 9] & 0x80) | DTMF_PT
        seq, stamp = struct.unpack_from(">HI", data, udp + 10)
        struct.pack_into(">HI", data, udp + 10, (seq + shift * 100) & 0xFFFF, (stamp + shift * 160000) & 0xFFFFFFFF)
        offset = packet + incl
    out.write_bytes(bytes(data))
    return out


def rtp_sink(port: int, ready: Any, stop: Any, out: Any) -> None:
    """The patients' ears: sniffs (AF_PACKET on lo, root) the RTP the robots send to SIPp's media port ``port``
    and keeps the longest gap between two packets of each stream (SIPp plays DTMF but measures nothing)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    last: dict[bytes, float] = {}
    gaps: dict[bytes, float] = {}
    packets = 0
    ready.set()
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(2048)
        except TimeoutError:
            continue
        now = time.monotonic()
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 14 + 20 + 8 + 12:
            continue  # loopback shows each packet twice: keep the received copy
        ip = data[14:]
        if ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4:]
        if struct.unpack(">H", udp[2:4])[0] != port or udp[8] & 0xC0 != 0x80:
            continue
        ssrc = udp[16:20]
        if ssrc in last:
            gaps[ssrc] = max(gaps.get(ssrc, 0.0), (now - last[ssrc]) * 1000.0)
        last[ssrc] = now
        packets += 1
    out.put((sorted(gaps.values()), packets))


class Sipp:
    def __init__(self, workdir: Path, port: int, media_port: int) -> None:
        self.port = port
        scenario = workdir / "patient.xml"
        scenario.write_text(SCENARIO.format(pt=DTMF_PT, pcap1=dtmf_pcap(workdir / "dtmf1a.pcap"),
                                            pcap2=dtmf_pcap(workdir / "dtmf1b.pcap", shift=1),
                                            first_ms=4000, second_ms=4000))
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
             "-mp", str(media_port), "-nostdin", "-trace_err", "-error_file", str(workdir / "sipp-errors.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class RecordingPool(WorkerPool):
    """The worker pool, keeping every report for the figures."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reports_seen: list[CallReport] = []
        self.submitted_at: dict[str, float] = {}

    def submit(self, job: CallJob) -> None:
        self.submitted_at[job.job_id] = time.monotonic()
        super().submit(job)

    def next_report(self, timeout_s: float) -> CallReport | None:
        report = super().next_report(timeout_s)
        if report is not None:
            self.reports_seen.append(report)
        return report


def setup_db(url: str, calls: int) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as s:
        seed_outcomes(s)
        s.add(Questionnaire(key="recall-reminder", version=1, status=QuestionnaireStatus.published))
        plan = FollowUpPlan(key="revisit", name="复诊提醒", questionnaire_key="recall-reminder",
                            channel=Channel.robot_call)
        s.add(plan)
        s.flush()
        for n in range(calls):
            patient = Patient(name=f"李{n}", sex=Sex.female, mrn=f"b{n}", birth_date=datetime(1950, 1, 1).date())
            s.add(patient)
            s.flush()
            assert patient.id is not None
            s.add(PatientPhone(patient_id=patient.id, number=f"139{n:08d}", kind="mobile"))
            s.add(Task(patient_id=patient.id, plan_id=plan.id, point="d7", channel=Channel.robot_call,
                       status=TaskStatus.due, due_at=NOW, questionnaire_key="recall-reminder"))
    engine.dispose()


def run_level(calls: int, sip_port: int) -> dict[str, Any]:
    """One round of ``calls`` robot calls started together; returns its figures."""
    workers = math.ceil(calls / 4)
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    sink = ctx.Process(target=rtp_sink, args=(sip_port + 10, ready, stop, out))
    sink.start()
    ready.wait(30)
    with tempfile.TemporaryDirectory(prefix="bench-robocalls-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'bench.db'}"
        setup_db(url, calls)
        engine = make_engine(url)
        script = reminder_script_from(load_script(ROOT / "scripts_questionnaires/library/recall_reminder.yaml"))
        cache = TtsCache(ROOT / ".cache" / "tts")

        def synth(prompt: Prompt) -> str:
            return str(cache.synthesize(prompt.text, Voice(language="zh-CN", rate_wpm=prompt.rate_wpm)))

        sipp = Sipp(work, sip_port, sip_port + 10)
        service = RobocallService(engine, CallRules(), robot="bench", hospital_name="示例医院", script=script,
                                  synth=synth, uri_for=lambda n: f"sip:{n}@127.0.0.1:{sip_port}",
                                  clock=FrozenClock(NOW))
        pool = RecordingPool(PhoneConfig(bind_port=sip_port + 100, record_calls=False), workers=workers,
                             calls_per_worker=4)
        jobs = [service.next_job() for _ in range(calls)]  # prompts synthesised here, before any call starts
        try:
            pool.start()
            usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            load0 = os.getloadavg()[0]
            t0 = time.monotonic()
            for job in jobs:
                assert job is not None
                pool.submit(job)
            service.run(pool, threading.Event(), once=True, idle_s=1.0)
            wall = time.monotonic() - t0
            load1 = os.getloadavg()[0]
        finally:
            pool.stop()
            sipp.stop()
            stop.set()
        usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rtp_gaps, packets = out.get(timeout=30)
        sink.join(10)
        with Session(engine) as s:
            outcomes = [str(a.outcome_code) for a in s.exec(select(CallAttempt)).all()]
        engine.dispose()
    tap_gaps = sorted(r.max_frame_gap_ms for r in pool.reports_seen)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    completed = outcomes.count("completed")
    return {
        "calls": calls, "workers": workers, "completed": completed, "wall": wall, "packets": packets,
        "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
        "rtp_max": rtp_gaps[-1] if rtp_gaps else float("nan"),
        "rtp_p90": rtp_gaps[int(0.9 * (len(rtp_gaps) - 1))] if rtp_gaps else float("nan"),
        "rtp_over": sum(g > 100 for g in rtp_gaps), "streams": len(rtp_gaps),
        "tap_max": tap_gaps[-1] if tap_gaps else float("nan"),
        "duration": statistics.median(r.duration_s for r in pool.reports_seen) if pool.reports_seen else 0.0,
        "cpu_pct": 100 * cpu / wall / 2, "per_hour": completed * 3600 / wall, "load": (load0 + load1) / 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="16,24,32,40", help="concurrent calls per round (default 16,24,32,40)")
    parser.add_argument("--quick", action="store_true", help="one round of 8 calls")
    parser.add_argument("--sip-port", type=int, default=27060)
    args = parser.parse_args()
    levels = [8] if args.quick else [int(x) for x in args.levels.split(",")]
    logging.basicConfig(level=logging.WARNING)
    print("calls workers completed  call_s  rtp_gap_max_ms  rtp_p90  streams>100ms  tap_gap_max_ms  "
          "worker_cpu%  calls/hour  load")
    sustained = 0
    for calls in levels:
        r = run_level(calls, args.sip_port)
        print(f"{r['calls']:5d} {r['workers']:7d} {r['completed']:9d} {r['duration']:7.1f} {r['rtp_max']:15.0f} "
              f"{r['rtp_p90']:8.0f} {r['rtp_over']:8d}/{r['streams']:<5d} {r['tap_max']:14.0f} {r['cpu_pct']:12.0f} "
              f"{r['per_hour']:11.0f} {r['load']:5.1f}", flush=True)
        if r["completed"] == calls and r["rtp_over"] == 0:
            sustained = max(sustained, calls)
    print(f"sustained without an RTP gap over 100 ms and every call completed: {sustained} concurrent robot calls")
    print("rtp_gap: longest pause between the robot's RTP packets as the patient side receives them (20 ms is "
          "perfect); tap_gap: longest pause between patient-audio frames inside the worker; load: 1-min load "
          "average of the machine during the round (other work on the 2 cores inflates gaps)")


if __name__ == "__main__":
    main()
