"""Pure parts of recording: WAV header kept valid, repair, channel alignment by frame number, compression."""

from __future__ import annotations

import subprocess
import threading
import wave
from pathlib import Path

import numpy as np
import pjsua2 as pj
import pytest

from callcenter.ports import RecordingReady
from softphone.errors import InvalidCallUri
from softphone.media import frame_bytes
from softphone.recording import NURSE, PATIENT, StereoRecorder
from softphone.sipuri import normalize_uri
from softphone.wav import WavAppender, read_header, repair_wav, sha256_file, voiced_end_s, wav_duration_s


def frame(value: int) -> bytes:
    return np.full(160, value, dtype="<i2").tobytes()


def record(path: Path, items: list[tuple[int, int, bytes]]) -> RecordingReady:
    done = threading.Event()
    ready: list[RecordingReady] = []
    rec = StereoRecorder("c1", path, lambda r: (ready.append(r), done.set()))
    for item in items:
        rec.put(*item)
    rec.close()
    assert done.wait(10)
    return ready[0]


def test_channels_are_interleaved_nurse_left_patient_right(tmp_path: Path) -> None:
    ready = record(tmp_path / "a.wav", [(NURSE, 0, frame(100)), (PATIENT, 0, frame(-7)),
                                        (PATIENT, 1, frame(-8)), (NURSE, 1, frame(101))])
    with wave.open(ready.path) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert data.shape == (320, 2)
    assert set(data[:160, 0]) == {100} and set(data[:160, 1]) == {-7}
    assert set(data[160:, 0]) == {101} and set(data[160:, 1]) == {-8}
    assert ready.duration_s == 0.04
    assert ready.sha256 == sha256_file(Path(ready.path))


def test_a_dropped_frame_becomes_silence_and_keeps_the_channels_aligned(tmp_path: Path) -> None:
    items = [(NURSE, s, frame(s + 1)) for s in range(4)] + [(PATIENT, s, frame(-(s + 1))) for s in (0, 1, 3)]
    ready = record(tmp_path / "b.wav", items)
    with wave.open(ready.path) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert [int(data[i * 160, 0]) for i in range(4)] == [1, 2, 3, 4]
    assert [int(data[i * 160, 1]) for i in range(4)] == [-1, -2, 0, -4]


def test_synced_wav_is_playable_while_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    writer = WavAppender(path, channels=2, sample_rate_hz=8000)
    writer.append(bytes(32000))
    writer.sync()
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout
    assert float(out) == 1.0
    writer.close()


def test_repair_fixes_sizes_and_cuts_a_partial_frame(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    writer = WavAppender(path, channels=2, sample_rate_hz=8000)
    writer.append(bytes(16000))
    writer.sync()
    writer.append(bytes(8003))
    writer._fh.flush()  # type: ignore[union-attr]  # simulate the kill: data on disk, header behind
    assert repair_wav(path) is True
    assert wav_duration_s(path) == 0.75
    assert repair_wav(path) is False  # idempotent


def test_repair_leaves_foreign_files_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.wav"
    path.write_bytes(b"not a wav at all" * 10)
    assert read_header(path) is None
    assert repair_wav(path) is False
    assert path.read_bytes() == b"not a wav at all" * 10


@pytest.mark.parametrize(("target", "registrar", "expected"), [
    ("sip:patient@127.0.0.1:5090", "", "sip:patient@127.0.0.1:5090"),
    ("<sip:p@h>", "", "sip:p@h"),
    ("13800000000", "sip:10.0.0.5", "sip:13800000000@10.0.0.5"),
    ("8001", "sip:127.0.0.1:5070;transport=udp", "sip:8001@127.0.0.1:5070"),
])
def test_dial_targets_are_normalized(target: str, registrar: str, expected: str) -> None:
    assert normalize_uri(target, registrar) == expected


@pytest.mark.parametrize("target", ["13800000000", "sip:nohost", "hello world"])
def test_undialable_targets_say_how_to_write_them(target: str) -> None:
    with pytest.raises(InvalidCallUri, match="sip:"):
        normalize_uri(target)


def test_fast_frame_copy_reads_exactly_what_the_vector_holds() -> None:
    for data in (bytes(320), np.random.default_rng(7).integers(0, 256, 320, dtype=np.uint8).tobytes(), b"\x01"):
        frame = pj.MediaFrame()
        frame.buf = pj.ByteVector(data)
        assert frame_bytes(frame.buf) == data == bytes(frame.buf)


def test_voiced_end_is_where_the_speech_stops_not_where_the_file_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    silence = (rng.standard_normal(800) * 20).astype("<i2")  # 0.1 s of line noise, about -64 dBFS
    tone = (np.sin(np.arange(4000) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2")  # 0.5 s of "speech"
    path = tmp_path / "said.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.concatenate([silence, tone, silence, silence, silence]).tobytes())
    assert voiced_end_s(path) == pytest.approx(0.6, abs=0.011)
    quiet = tmp_path / "quiet.wav"
    with wave.open(str(quiet), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(silence.tobytes())
    assert voiced_end_s(quiet) == 0.0
