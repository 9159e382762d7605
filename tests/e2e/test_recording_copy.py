"""A nurse's call recording becomes a browser copy on the server: a real call (pjsua2 -> baresip patient), the
real softphone agent reports the recording over Socket.IO to the web app as `callcenter serve` builds it, and
the server makes the MP3 in the background; the nurse plays it with HTTP Range while the WAV stays untouched."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from callcenter import users
from callcenter.commands.wsgi import build_app
from callcenter.db import session_scope
from callcenter.models import CallAttempt, Patient, PatientPhone, Recording
from callcenter.ports import CallState, CallStateChanged, MediaStarted, RecordingReady
from callcenter.settings import Settings
from softphone.agent import SoftphoneAgent
from softphone.config import PhoneConfig
from softphone.phone import PjsuaPhone
from softphone.wav import sha256_file
from tests.softphone.audio_check import envelope_correlation, read_channel
from tests.softphone.events import EventLog
from tests.softphone.peers import Baresip, speech_wav, wait_until
from tests.web.conftest import AuthActions
from web.realtime import socketio_for

pytestmark = [pytest.mark.sip, pytest.mark.slow]


@pytest.fixture
def attempt_id(sqlite_engine: Engine, staff: Any) -> int:
    with session_scope(sqlite_engine) as s:
        patient = Patient(name="李四", language="zh-CN", source_system="his", mrn="R0001")
        s.add(patient)
        s.flush()
        phone = PatientPhone(patient_id=patient.id or 0, number="13800009001")
        s.add(phone)
        s.flush()
        attempt = CallAttempt(patient_id=patient.id or 0, phone_id=phone.id, number=phone.number,
                              user_id=staff["nurse"].id)
        s.add(attempt)
        s.flush()
        assert attempt.id is not None
        return attempt.id


@pytest.fixture
def patient_phone(tmp_path: Path) -> Iterator[Baresip]:
    wav = speech_wav("Hello, this is the patient. I took my tablets every morning and evening. I feel much "
                     "better now.", 8, "patient-speech-copy")
    with Baresip(tmp_path, wav) as peer:
        yield peer


def _decoded_wav(path: Path, out: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ac", "2", "-ar", "8000", str(out)], check=True)
    return out


def test_the_recording_of_a_real_call_gets_a_browser_copy_the_nurse_plays_with_range(
        settings: Settings, sqlite_engine: Engine, staff: Any, attempt_id: int, patient_phone: Baresip,
        tmp_path: Path) -> None:
    app = build_app(settings, sqlite_engine)  # what `callcenter serve` and gunicorn run
    copies = app.extensions["callcenter"].services.recording_copies
    assert copies is not None
    with session_scope(sqlite_engine) as s:
        token = users.issue_agent_token(s, "nurse")
    link = socketio_for(app).test_client(app, auth={"agent_token": token})
    assert link.is_connected()
    acks: list[dict[str, Any]] = []
    sending = threading.Lock()

    def emit(event: str, payload: dict[str, Any]) -> None:  # the agent's Socket.IO link, in-process
        with sending:
            acks.append(link.emit(event, payload, callback=True))

    phone = PjsuaPhone(PhoneConfig(bind_port=0, recordings_dir=settings.recordings_dir))
    try:
        agent = SoftphoneAgent(phone, emit=emit, dial_plan=lambda number: patient_phone.uri,
                               recordings_dir=settings.recordings_dir)
        log = EventLog()
        phone.add_listener(log)  # after the agent: its recording report has gone when the log sees the event
        assert agent.handle_command({"command": "dial", "attempt_id": attempt_id, "number": "13800009001",
                                     "locale": "zh-CN"}) == {"ok": True}
        call_id = log.wait_for(MediaStarted, timeout_s=15).call_id
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
        wait_until(lambda: phone.call_info(call_id).tap_frames >= 300, 20, "6 s of the patient speaking")
        assert agent.handle_command({"command": "hangup", "attempt_id": attempt_id}) == {"ok": True}
        ready = log.wait_for(RecordingReady, timeout_s=15, call_id=call_id)
    finally:
        phone.close()
    assert acks and all(a == {"ok": True} for a in acks), acks

    assert copies.wait_idle(30), "the server did not finish the browser copy"
    with session_scope(sqlite_engine) as s:
        row = s.exec(select(Recording).where(Recording.attempt_id == attempt_id)).one()
        recording_id, stored, copy_stored = row.id, row.path, row.compressed_path
    wav = settings.recordings_path / stored
    assert wav.resolve() == Path(ready.path).resolve()
    assert copy_stored == str(Path(stored).with_suffix(".mp3"))
    mp3 = settings.recordings_path / copy_stored
    assert mp3.parent == wav.parent and mp3.is_file()
    assert sha256_file(wav) == ready.sha256  # the WAV is exactly what the recorder wrote
    # the copy holds the same call: the patient's side (right channel) follows the WAV's
    heard = read_channel(_decoded_wav(mp3, tmp_path / "decoded.wav"), 1)
    assert envelope_correlation(read_channel(wav, 1), heard) >= 0.9

    client = app.test_client()
    AuthActions(client).login("nurse")
    size = mp3.stat().st_size
    part = client.get(f"/recordings/{recording_id}/audio?format=compressed", headers={"Range": "bytes=0-1023"})
    assert part.status_code == 206
    assert part.mimetype == "audio/mpeg"
    assert part.headers["Accept-Ranges"] == "bytes"
    assert part.headers["Content-Range"] == f"bytes 0-1023/{size}"
    assert part.data == mp3.read_bytes()[:1024]
    tail = client.get(f"/recordings/{recording_id}/audio?format=compressed", headers={"Range": f"bytes={size - 100}-"})
    assert tail.status_code == 206 and tail.data == mp3.read_bytes()[-100:]
    original = client.get(f"/recordings/{recording_id}/audio")
    assert original.mimetype == "audio/wav" and original.data == wav.read_bytes()
    stranger = app.test_client()
    AuthActions(stranger).login("nurse2")
    assert stranger.get(f"/recordings/{recording_id}/audio?format=compressed").status_code == 403
    copies.close()
