"""The audio tap: patient frames reach a consumer in another process; a slow consumer never blocks media."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest

from callcenter.ports import AudioFrame, MediaStarted, RecordingReady
from softphone.tap import FrameTap, PipeTapSink
from tests.softphone.audio_check import envelope_correlation, read_channel
from tests.softphone.peers import Baresip, wait_until
from tests.softphone.tap_consumer import consume


@pytest.mark.sip
def test_patient_audio_reaches_a_consumer_process_frame_for_frame(make_phone, baresip: Baresip, tmp_path: Path,
                                                                   patient_wav: Path) -> None:
    ctx = multiprocessing.get_context("spawn")  # never fork a process that runs pjsua2 threads
    reader, writer = ctx.Pipe(duplex=False)
    out = tmp_path / "asr"
    out.mkdir()
    consumer = ctx.Process(target=consume, args=(reader, str(out), 1), daemon=True)
    consumer.start()
    phone, log = make_phone(tap_sink=PipeTapSink(writer))
    call_id = phone.dial(baresip.uri)
    log.wait_for(MediaStarted, call_id=call_id)
    wait_until(lambda: phone.call_info(call_id).tap_frames >= 400, 20, "8 s of audio")
    phone.hangup(call_id)
    ready = log.wait_for(RecordingReady, call_id=call_id)
    consumer.join(timeout=20)
    assert consumer.exitcode == 0
    summary = json.loads((out / "summary.json").read_text())[call_id]
    assert summary["dropped"] == 0
    tapped = np.frombuffer((out / f"{call_id}.pcm").read_bytes(), dtype="<i2").astype(np.float64)
    assert len(tapped) == summary["last_seq"] * 160  # last_seq = frames seen; none lost
    assert envelope_correlation(read_channel(patient_wav), tapped) >= 0.9
    recorded = read_channel(Path(ready.path), 1)
    n = min(len(recorded), len(tapped))
    assert np.array_equal(recorded[:n], tapped[:n])  # the tap and the recording see the very same frames


class BlockedSink:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.frames: list[AudioFrame] = []

    def send(self, frame: AudioFrame) -> None:
        self.release.wait(10)
        self.frames.append(frame)

    def close(self) -> None:
        self.release.set()


def test_full_tap_queue_drops_and_counts_instead_of_blocking() -> None:
    sink = BlockedSink()
    tap = FrameTap(sink, max_frames=10)
    for seq in range(100):
        tap.put("c1", seq, bytes(320))  # returns at once even though the consumer is stuck
    dropped = tap.dropped["c1"]
    assert 100 - 11 <= dropped <= 100 - 10  # one frame may already sit in the sender thread
    sink.release.set()
    tap.end("c1", 100)
    tap.close()
    assert sink.frames[-1].end and sink.frames[-1].dropped == dropped
    assert len(sink.frames) == 100 - dropped + 1
