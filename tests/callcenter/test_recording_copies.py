"""Browser copies of recordings (callcenter.recording_copies) made by the real ffmpeg, on both databases: the
WAV is never touched, the copy keeps both channels apart, failures are logged and retried, nothing starves."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from callcenter import call_events, users
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Patient, Recording, Role
from callcenter.recording_copies import RecordingCopies, compress_wav, stored_path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _two_channel_wav(path: Path, seconds: float = 3.0) -> Path:
    """A call-like recording: a 440 Hz tone on the left (nurse), silence on the right (patient)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "2", "-b", "16", str(path), "synth", str(seconds),
                    "sine", "440", "sine", "440", "remix", "1", "0"], check=True)
    return path


def _decoded(path: Path) -> np.ndarray:
    """(samples, 2) int16 of what a player decodes from ``path``."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "2", "-ar", "8000", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").reshape(-1, 2)


def _probe(path: Path) -> dict[str, str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,channels,sample_rate",
                          "-show_entries", "format=duration", "-of", "default=noprint_wrappers=1", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def _recording(engine: Engine, stored: str) -> int:
    with session_scope(engine) as s:
        row = Recording(path=stored, duration_s=3.0)
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def _row(engine: Engine, recording_id: int) -> Recording:
    with session_scope(engine) as s:
        row = s.get(Recording, recording_id)
        assert row is not None
        return row


def _age(path: Path, seconds: float) -> None:
    """The file was last written ``seconds`` ago (a finished recording, as the sweep finds it)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_finished_recording_gets_a_two_channel_mp3_next_to_the_untouched_wav(engine: Engine,
                                                                              tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    wav = _two_channel_wav(root / "2026-11-26" / "c1.wav")
    before = _sha(wav)
    recording_id = _recording(engine, "2026-11-26/c1.wav")
    copies = RecordingCopies(engine, root)
    assert copies.submit(recording_id)
    assert copies.wait_idle(30)
    row = _row(engine, recording_id)
    assert row.compressed_path == "2026-11-26/c1.mp3"
    mp3 = root / row.compressed_path
    assert _sha(wav) == before  # the recording of record is untouched
    probe = _probe(mp3)
    assert (probe["codec_name"], probe["channels"], probe["sample_rate"]) == ("mp3", "2", "8000")
    assert abs(float(probe["duration"]) - 3.0) < 0.3
    assert mp3.stat().st_size < wav.stat().st_size / 5
    decoded = _decoded(mp3).astype(float)
    left, right = np.sqrt((decoded[:, 0] ** 2).mean()), np.sqrt((decoded[:, 1] ** 2).mean())
    assert left > 3000 and right < 30  # the channels stay apart: the QA page can play the patient alone
    assert not list(mp3.parent.glob(".*.part"))
    copies.close()


def test_a_broken_wav_is_logged_kept_and_retried_later_and_others_do_not_wait_for_it(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "recordings"
    broken = root / "d" / "broken.wav"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"RIFF not really a wave file" * 20)
    garbage = broken.read_bytes()
    bad_id = _recording(engine, "d/broken.wav")
    missing_id = _recording(engine, "d/never-written.wav")
    good = _two_channel_wav(root / "d" / "good.wav")
    good_id = _recording(engine, "d/good.wav")
    for path in (broken, good):
        _age(path, 60)
    copies = RecordingCopies(engine, root, retry_after_s=3600)
    with caplog.at_level(logging.WARNING, logger="callcenter.recording_copies"):
        # one row per sweep: the broken and the missing file come first and must not block the good one
        assert [copies.copy_pending(limit=1) for _ in range(3)] == [0, 0, 1]
    assert _row(engine, good_id).compressed_path == "d/good.mp3"
    assert _row(engine, bad_id).compressed_path == "" and _row(engine, missing_id).compressed_path == ""
    assert broken.read_bytes() == garbage  # a file ffmpeg cannot read is left as it was
    assert not list(broken.parent.glob(".*.part"))
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"recording={bad_id} no browser copy" in m and "ffmpeg" in m for m in messages)
    assert any(f"recording={missing_id} no browser copy" in m and "CALLCENTER_RECORDINGS_DIR" in m for m in messages)

    _two_channel_wav(broken)  # the file is repaired (softphone.wav.repair_recordings) or restored
    _age(broken, 60)
    assert copies.copy_pending() == 0  # its retry is not due yet: not hammered every sweep
    assert _row(engine, bad_id).compressed_path == ""
    later = RecordingCopies(engine, root)  # e.g. the next start of the scheduler
    assert later.copy_pending() == 1
    assert _row(engine, bad_id).compressed_path == "d/broken.mp3"


def test_the_sweep_leaves_a_wav_still_being_written_for_its_next_run(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    wav = _two_channel_wav(root / "c2.wav")
    recording_id = _recording(engine, "c2.wav")
    copies = RecordingCopies(engine, root)
    assert copies.copy_pending() == 0  # modified just now: the recorder may still be finishing it
    assert _row(engine, recording_id).compressed_path == ""
    _age(wav, 60)
    assert copies.copy_pending() == 1
    assert _row(engine, recording_id).compressed_path == "c2.mp3"


def test_absolute_recording_paths_get_an_absolute_copy_path(engine: Engine, tmp_path: Path) -> None:
    elsewhere = _two_channel_wav(tmp_path / "elsewhere" / "c3.wav")
    recording_id = _recording(engine, str(elsewhere))
    assert RecordingCopies(engine, tmp_path / "recordings").copy_one(recording_id)
    assert _row(engine, recording_id).compressed_path == str(elsewhere.with_suffix(".mp3"))


def test_stored_paths_are_relative_to_the_recordings_folder_when_inside_it(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert stored_path(Path("recordings/20261126/robot-attempt-7.wav"), Path("recordings")) == \
        "20261126/robot-attempt-7.wav"
    assert stored_path(tmp_path / "recordings" / "a.wav", Path("recordings")) == "a.wav"
    assert stored_path(tmp_path / "other" / "b.wav", Path("recordings")) == str(tmp_path / "other" / "b.wav")


@pytest.mark.parametrize("fmt", ["mp3", "ogg"])
def test_compress_wav_writes_the_copy_next_to_the_wav_and_keeps_it(tmp_path: Path, fmt: str) -> None:
    wav = _two_channel_wav(tmp_path / "call.wav", seconds=2.0)
    before = _sha(wav)
    out = compress_wav(wav, fmt)
    assert out == wav.with_suffix("." + fmt) and out.stat().st_size > 0
    assert _sha(wav) == before
    assert abs(float(_probe(out)["duration"]) - 2.0) < 0.2


@pytest.mark.parametrize("seconds", [0.5, 2.74, 7.13])
def test_whole_copies_pass_the_length_check_whatever_the_last_mp3_frame(tmp_path: Path, seconds: float) -> None:
    # at 8 kHz an MP3 starts 0.138 s late (encoder delay) and ends on a 72 ms frame: 2.74 s comes out as 2.952 s
    wav = _two_channel_wav(tmp_path / "call.wav", seconds=seconds)
    assert compress_wav(wav, "mp3").is_file()


def test_a_copy_cut_short_is_refused_and_never_put_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an encoder that stops early but exits 0 (as when the disk fills up at the wrong moment): here ffmpeg is told
    # to stop after 1 s of a 3 s recording
    from callcenter import recording_copies

    wav = _two_channel_wav(tmp_path / "call.wav", seconds=3.0)
    monkeypatch.setitem(recording_copies._CODECS, "mp3", [*recording_copies._CODECS["mp3"], "-t", "1"])
    with pytest.raises(recording_copies.CopyFailed, match=r"is 1\.\d+ s with 2 channel\(s\); the recording is 3\.00 s"):
        compress_wav(wav, "mp3")
    assert not wav.with_suffix(".mp3").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["call.wav"]  # no temporary file left either


def test_a_recording_reported_again_keeps_its_copy_unless_the_file_changed(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    _two_channel_wav(root / "a.wav")
    _two_channel_wav(root / "b.wav", seconds=2.0)
    now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    with session_scope(engine) as s:
        nurse = users.create_user(s, username="n1", password="correct-horse-1", role=Role.nurse, display_name="护士")
        patient = Patient(name="张三", source_system="his", mrn="M1")
        s.add(patient)
        s.flush()
        attempt = CallAttempt(patient_id=patient.id or 0, number="13800138000", user_id=nurse.id)
        s.add(attempt)
        s.flush()
        attempt_id = attempt.id

    def report(path: str, sha: str) -> int:
        with session_scope(engine) as s:
            forward = call_events.accept_agent_event(s, nurse, {"kind": "recording", "attempt_id": attempt_id,
                                                                "path": path, "duration_s": 3.0, "sha256": sha},
                                                     now=now)
        return int(forward.payload["recording_id"])

    recording_id = report("a.wav", "aa" * 32)
    copies = RecordingCopies(engine, root)
    assert copies.copy_one(recording_id)
    assert report("a.wav", "aa" * 32) == recording_id  # the agent's link replays the same report
    assert _row(engine, recording_id).compressed_path == "a.mp3"
    assert report("b.wav", "bb" * 32) == recording_id  # another file: the old copy is not served for it
    assert _row(engine, recording_id).compressed_path == ""
    assert copies.copy_one(recording_id)
    assert _row(engine, recording_id).compressed_path == "b.mp3"
