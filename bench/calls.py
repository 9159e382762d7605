"""Softphone cost and media timing: CPU and memory per concurrent call, and the longest media frame gap while an
ASR-like consumer process is fully loaded.

Each softphone process places 4 calls (the wheel's limit) to a SIPp callee streaming speech, with two-channel
recording and the audio tap on; the tap feeds a consumer in another process. Run:
    .venv/bin/python bench/calls.py [--quick] [--processes 3] [--hold 15]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the peers launchers live with the tests

from callcenter.ports import CallState, CallStateChanged, RecordingReady  # noqa: E402
from tests.softphone.events import EventLog  # noqa: E402
from tests.softphone.peers import Sipp, sipp_answer_scenario, speech_wav, ulaw_of  # noqa: E402
from tests.softphone.tap_consumer import consume  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def softphone_worker(uri: str, calls: int, hold_s: float, out_dir: str, busy_consumer: bool,
                     result: Connection) -> None:
    """One softphone process: ``calls`` calls with recording and tap, held for ``hold_s``."""
    from softphone.config import PhoneConfig
    from softphone.phone import PjsuaPhone
    from softphone.tap import PipeTapSink

    ctx = multiprocessing.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    consumer = ctx.Process(target=consume, args=(reader, out_dir, calls, busy_consumer), daemon=True)
    consumer.start()
    phone = PjsuaPhone(PhoneConfig(bind_port=0, recordings_dir=out_dir), tap_sink=PipeTapSink(writer))
    log = EventLog()
    phone.add_listener(log)
    rss_before = rss_mb()
    ids = [phone.dial(uri) for _ in range(calls)]
    for call_id in ids:
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
    time.sleep(1.0)  # sleep-ok: let media settle before measuring
    cpu0, consumer_cpu0, t0 = cpu_s(), cpu_s(consumer.pid or 0), time.monotonic()
    time.sleep(hold_s)  # sleep-ok: the measured hold
    cpu1, consumer_cpu1, t1 = cpu_s(), cpu_s(consumer.pid or 0), time.monotonic()
    rss_during = rss_mb()
    stats = phone.tap_stats()
    for call_id in ids:
        phone.hangup(call_id)
    for call_id in ids:
        log.wait_for(RecordingReady, timeout_s=30, call_id=call_id)
    phone.close()
    consumer.join(timeout=60)
    result.send({"cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0), "consumer_cpu_pct":
                 100 * (consumer_cpu1 - consumer_cpu0) / (t1 - t0), "rss_mb": rss_during,
                 "rss_per_call_mb": (rss_during - rss_before) / calls, **stats})


def run(uri: str, processes: int, calls: int, hold_s: float, busy_consumer: bool) -> list[dict[str, float]]:
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(processes):
            out = Path(tmp, f"p{i}")
            out.mkdir()
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=softphone_worker, args=(uri, calls, hold_s, str(out), busy_consumer, writer))
            proc.start()
            pipes.append(reader)
            procs.append(proc)
        results = [p.recv() for p in pipes]
        for proc in procs:
            proc.join(timeout=60)
            if proc.exitcode != 0:
                raise SystemExit(f"softphone process exited with {proc.exitcode}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--hold", type=float, default=15.0, help="seconds measured per scenario")
    parser.add_argument("--quick", action="store_true", help="5 s holds, 2 processes")
    args = parser.parse_args()
    if args.quick:
        args.hold, args.processes = 5.0, 2
    work = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    speech = speech_wav("The patient speaks about blood pressure, tablets and sleep. " * 3, 20, "bench-speech")
    with Sipp(work, sipp_answer_scenario(ulaw_of(speech))) as sipp:
        print(f"== {args.processes} softphone processes x 4 calls, recording + tap, {args.hold:.0f} s hold")
        rows = run(sipp.uri, args.processes, 4, args.hold, busy_consumer=False)
        for i, r in enumerate(rows):
            print(f"process {i}: CPU {r['cpu_pct']:.1f}% of a core ({r['cpu_pct'] / 4:.2f}%/call), RSS "
                  f"{r['rss_mb']:.0f} MB (+{r['rss_per_call_mb']:.1f} MB/call), max frame gap {r['max_gap_ms']} ms,"
                  f" late {r['late_frames']}, tap dropped {r['dropped']}")
        total_cpu = sum(r["cpu_pct"] for r in rows)
        print(f"total: {total_cpu:.1f}% of a core for {4 * len(rows)} calls = {total_cpu / (4 * len(rows)):.2f}% "
              f"per call; RSS {sum(r['rss_mb'] for r in rows):.0f} MB")
        print(f"== 1 softphone process x 4 calls while its ASR consumer process is CPU-bound, {args.hold:.0f} s")
        (busy,) = run(sipp.uri, 1, 4, args.hold, busy_consumer=True)
        print(f"consumer CPU {busy['consumer_cpu_pct']:.0f}% of a core; softphone CPU {busy['cpu_pct']:.1f}%; "
              f"max media frame gap {busy['max_gap_ms']} ms; intervals > 40 ms: {busy['late_frames']}; "
              f"tap frames sent {busy['sent']}, dropped {busy['dropped']} (bounded queue, media never blocked)")
    print(json.dumps({"scale": rows, "busy_consumer": busy}, default=float))


if __name__ == "__main__":
    main()
