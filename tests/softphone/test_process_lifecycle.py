"""The softphone as a real process: SIGKILL mid-call leaves a playable recording; 50 calls leak nothing and
the process exits cleanly (no SIGABRT from pjsua2 at exit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from softphone.wav import WavAppender, read_header, repair_recordings, repair_wav, wav_duration_s
from tests.softphone.audio_check import envelope_correlation, read_channel, rms_dbfs
from tests.softphone.peers import REPO, Baresip, Sipp, sipp_answer_scenario, ulaw_of, wait_until

pytestmark = pytest.mark.sip

ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}


def soxi_seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout
    return float(out)


def test_sigkill_mid_call_leaves_a_playable_two_channel_recording(tmp_path: Path, baresip: Baresip,
                                                                   nurse_wav: Path) -> None:
    wav = tmp_path / "killed.wav"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from callcenter.cli import main; main()", "call", baresip.uri, "--bind",
         "127.0.0.1:0", "--record", str(wav), "--seconds", "60", "--play", str(nurse_wav)],
        env={**ENV, "CALLCENTER_DATA_DIR": str(tmp_path / "var")}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_until(wav.exists, 20, "the recording to start")
        started = time.monotonic()
        wait_until(lambda: wav.stat().st_size > 44 + 4 * 32000, 20, "4 s of recording")
        wait_until(lambda: time.monotonic() - started >= 6, 20, "6 s of call")  # sleep-ok: call length
        proc.send_signal(signal.SIGKILL)
        killed_after_s = time.monotonic() - started
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    # As left by the killed process: the header is at most one sync (0.5 s) behind, and players accept it.
    assert read_header(wav) is not None
    assert soxi_seconds(wav) >= killed_after_s - 1.0
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-f", "null", "-"], check=True)
    # The start-up repair makes the header match the data exactly.
    repair_wav(wav)
    assert abs(wav_duration_s(wav) - (wav.stat().st_size - 44) / 32000) < 1e-9
    assert wav_duration_s(wav) >= killed_after_s - 1.0
    assert envelope_correlation(read_channel(nurse_wav), read_channel(wav, 0)) >= 0.9
    assert rms_dbfs(read_channel(wav, 1)) > -40  # the patient channel holds speech too


FIFTY_CALLS = r"""
import gc, json, sys, threading
from callcenter.ports import CallState, CallStateChanged, RecordingReady
from softphone.config import PhoneConfig
from softphone.phone import PjsuaPhone
from softphone import media, sipcall, recording
from tests.softphone.events import EventLog

uri, rec_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
phone = PjsuaPhone(PhoneConfig(bind_port=0, recordings_dir=rec_dir))
log = EventLog()
phone.add_listener(log)
threads_before = threading.active_count()
for _ in range(n):
    call_id = phone.dial(uri)
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
    phone.hangup(call_id)
    log.wait_for(RecordingReady, call_id=call_id)
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
    del call_id
active = phone.calls()
gc.collect()
kinds = (sipcall.SipCall, media.FramePort, media.Prompt, recording.StereoRecorder)
alive = {k.__name__: sum(isinstance(o, k) for o in gc.get_objects()) for k in kinds}
report = {"recordings": len(log.of(RecordingReady)), "active": len(active), "alive": alive,
          "threads_grew": threading.active_count() - threads_before}
phone.close()
print(json.dumps(report))
"""


def test_fifty_consecutive_calls_leak_nothing_and_exit_cleanly(tmp_path: Path, patient_wav: Path) -> None:
    with Sipp(tmp_path, sipp_answer_scenario(ulaw_of(patient_wav))) as sipp:
        proc = subprocess.run([sys.executable, "-c", FIFTY_CALLS, sipp.uri, str(tmp_path / "rec"), "50"],
                              env=ENV, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"recordings": 50, "active": 0, "threads_grew": 0,
                      # frame ports are pooled (never freed while the bridge runs): one pair, reused 50 times
                      "alive": {"SipCall": 0, "FramePort": 2, "Prompt": 0, "StereoRecorder": 0}}
    assert len(list((tmp_path / "rec").rglob("*.wav"))) == 50


def test_process_exits_cleanly_when_closed_with_calls_still_up(tmp_path: Path, patient_wav: Path) -> None:
    script = r"""
import sys
from callcenter.ports import MediaStarted
from softphone.config import PhoneConfig
from softphone.phone import PjsuaPhone
from tests.softphone.events import EventLog
phone = PjsuaPhone(PhoneConfig(bind_port=0, recordings_dir=sys.argv[2]))
log = EventLog(); phone.add_listener(log)
ids = [phone.dial(sys.argv[1]) for _ in range(4)]
for call_id in ids:
    log.wait_for(MediaStarted, call_id=call_id)
phone.play(ids[0], sys.argv[3])
# no close(): the atexit hook must hang up, finish the recordings and destroy the library in order
"""
    with Sipp(tmp_path, sipp_answer_scenario(ulaw_of(patient_wav))) as sipp:
        proc = subprocess.run([sys.executable, "-c", script, sipp.uri, str(tmp_path / "rec"), str(patient_wav)],
                              env=ENV, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recordings = list((tmp_path / "rec").rglob("*.wav"))
    assert len(recordings) == 4
    assert all(read_header(p) is not None and not repair_wav(p) for p in recordings)  # finished, not cut


def test_start_up_repairs_recordings_left_by_a_killed_process(tmp_path: Path) -> None:
    folder = tmp_path / "rec" / "2026-01-01"
    folder.mkdir(parents=True)
    cut = folder / "cut.wav"
    writer = WavAppender(cut, channels=2, sample_rate_hz=8000)
    writer.append(bytes(32000))
    writer.sync()
    writer.append(bytes(16001))  # written after the last sync, half a frame at the end
    os.utime(cut, (time.time() - 60, time.time() - 60))
    assert repair_recordings(tmp_path / "rec", min_age_s=10) == [cut]
    assert wav_duration_s(cut) == 1.5
