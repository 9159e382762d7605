"""Headset bridge and patient-simulator figures.

1. Python cost per 20 ms frame of the headset bridge (drift buffer in + out, ``bytes(ByteVector)`` that the pj
   callback pays, gain), at the sample rates headsets use — all of it runs with the GIL on the pjmedia thread or
   a PortAudio thread.
2. With PulseAudio installed: the loopback delay of the virtual headset (earphones -> sink monitor -> microphone)
   through the same PyAudio streams calls use, and the buffer counters.
3. espeak-ng synthesis time per sentence of the shipped personas (cold cache) and a cache hit.

Run: .venv/bin/python bench/headset.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pjsua2 as pj  # noqa: E402

from hardware.drift import DriftBuffer  # noqa: E402
from hardware.levels import apply_gain, tone  # noqa: E402


def frame_costs(frames: int) -> None:
    print("== bridge cost per 20 ms frame (µs, median of runs)")
    for rate in (8000, 16000, 48000):
        pcm = tone(440, frames * 0.02, rate, dbfs=-20)
        size = rate // 50 * 2
        chunks = [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]
        results = {}
        buf = DriftBuffer(size, target_frames=3, max_frames=12)
        t = time.perf_counter()
        for c in chunks:
            buf.write(c)
            buf.read()
        results["drift in+out"] = (time.perf_counter() - t) / len(chunks) * 1e6
        vectors = [pj.ByteVector(c) for c in chunks[:200]]
        t = time.perf_counter()
        for v in vectors:
            bytes(v)
        results["bytes(ByteVector) rx"] = (time.perf_counter() - t) / len(vectors) * 1e6
        t = time.perf_counter()
        for c in chunks[:200]:
            pj.ByteVector(c)
        results["ByteVector(bytes) tx"] = (time.perf_counter() - t) / min(200, len(chunks)) * 1e6
        t = time.perf_counter()
        for c in chunks[:200]:
            apply_gain(c, 6.0)
        results["gain +6 dB"] = (time.perf_counter() - t) / min(200, len(chunks)) * 1e6
        total = sum(results.values())
        print(f"  {rate:>5} Hz ({size} B): " + ", ".join(f"{k} {v:.0f}" for k, v in results.items())
              + f" -> {total:.0f} µs = {total / 200:.2f} % of a core")


def loopback(rounds: int) -> None:
    if shutil.which("pulseaudio") is None:
        print("== loopback: skipped (no pulseaudio)")
        return
    from hardware.devices import Direction, HeadsetChoice, find_device
    from softphone.headset import list_devices, open_pyaudio
    from softphone.headset_check import HeadsetCheck
    from tests.softphone.virtual_headset import RATE_HZ, SINK, VirtualHeadset

    vh = VirtualHeadset()
    vh.start()
    os.environ.update(vh.env)
    try:
        pa = open_pyaudio()
        devices = list_devices(pa)
        pa.terminate()
        choice = HeadsetChoice(find_device(devices, f"{SINK}.monitor", Direction.input),
                               find_device(devices, SINK, Direction.output), None)
        delays = []
        with HeadsetCheck(choice, rate_hz=RATE_HZ) as check:
            for _ in range(rounds):
                result = check.loopback(seconds=0.5)
                if result.latency_ms is not None:
                    delays.append(result.latency_ms)
        print(f"== virtual headset loopback (earphones -> monitor -> microphone), {len(delays)}/{rounds} heard: "
              f"median {statistics.median(delays):.0f} ms, min {min(delays):.0f}, max {max(delays):.0f}")
    finally:
        vh.stop()


def tts(quick: bool) -> None:
    from softphone.persona import load_persona, shipped_personas
    from softphone.tts import TtsCache, Voice

    with tempfile.TemporaryDirectory() as tmp:
        cache = TtsCache(Path(tmp))
        for name in list(shipped_personas())[: 1 if quick else None]:
            p = load_persona(name)
            voice = Voice(p.language, p.espeak_voice, p.rate_wpm, p.pitch)
            times = []
            for text in p.texts():
                t = time.perf_counter()
                cache.synthesize(text, voice)
                times.append(time.perf_counter() - t)
            t = time.perf_counter()
            cache.synthesize(p.texts()[0], voice)
            hit = (time.perf_counter() - t) * 1e6
            print(f"== tts {name} ({voice.espeak}): {len(times)} sentences, {sum(times):.2f} s cold, "
                  f"median {statistics.median(times) * 1000:.0f} ms/sentence, cache hit {hit:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    frame_costs(500 if args.quick else 3000)
    loopback(3 if args.quick else 10)
    tts(args.quick)


if __name__ == "__main__":
    main()
