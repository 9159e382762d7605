"""Real calls on 127.0.0.1 between PjsuaPhone and baresip (auto-answering, playing espeak-ng speech)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from callcenter.ports import (
    CallState,
    CallStateChanged,
    DtmfReceived,
    IncomingCall,
    MediaStarted,
    PlaybackFinished,
    RecordingReady,
)
from softphone.wav import sha256_file
from tests.softphone.audio_check import envelope_correlation, read_channel
from tests.softphone.events import CollectingTapSink
from tests.softphone.peers import Baresip, wait_until

pytestmark = pytest.mark.sip


def test_call_records_the_patient_right_and_the_nurse_left_and_baresip_hears_the_nurse(
        make_phone, baresip: Baresip, patient_wav: Path, nurse_wav: Path) -> None:
    tap = CollectingTapSink()
    phone, log = make_phone(tap_sink=tap)
    call_id = phone.dial(baresip.uri)
    media = log.wait_for(MediaStarted, call_id=call_id)
    assert media.codec == "PCMU"
    phone.play(call_id, str(nurse_wav))
    first_voice = tap.wait_for_voice(call_id, after_seq=-1)
    log.wait_for(PlaybackFinished, timeout_s=20, call_id=call_id)
    wait_until(lambda: tap.last_seq(call_id) >= first_voice + 500, 20, "all of the patient's 10 s")
    phone.hangup(call_id)
    ended = log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
    assert ended.sip_status == 200
    ready = log.wait_for(RecordingReady, call_id=call_id)

    path = Path(ready.path)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        assert abs(w.getnframes() / 8000 - ready.duration_s) < 0.03
    assert ready.sha256 == sha256_file(path)
    assert envelope_correlation(read_channel(patient_wav), read_channel(path, 1)) >= 0.9
    assert envelope_correlation(read_channel(nurse_wav), read_channel(path, 0)) >= 0.9
    assert envelope_correlation(read_channel(nurse_wav), read_channel(baresip.received_wav())) >= 0.9


def test_dtmf_sent_by_the_phone_reaches_baresip(make_phone, baresip: Baresip) -> None:
    phone, log = make_phone()
    call_id = phone.dial(baresip.uri)
    log.wait_for(MediaStarted, call_id=call_id)
    phone.send_dtmf(call_id, "1#9")
    wait_until(lambda: "received event: '9' (end=1)" in baresip.log(), 10, "baresip to receive DTMF 9")
    received = [line.split("'")[1] for line in baresip.log().splitlines()
                if line.startswith("received event:") and "end=1" in line]
    assert received == ["1", "#", "9"]


def test_dtmf_sent_by_baresip_is_reported_with_its_duration(make_phone, baresip: Baresip) -> None:
    phone, log = make_phone()
    call_id = phone.dial(baresip.uri)
    log.wait_for(MediaStarted, call_id=call_id)
    for digit in "72*":
        baresip.command("sndcode", digit)
    log.wait_for(DtmfReceived, call_id=call_id, digit="*")
    digits = log.of(DtmfReceived, call_id=call_id)
    assert [d.digit for d in digits] == ["7", "2", "*"]
    assert all(d.duration_ms > 0 for d in digits)


def test_incoming_call_is_announced_and_answered(make_phone, baresip: Baresip) -> None:
    phone, log = make_phone()
    baresip.command("dial", phone.local_uri)
    incoming = log.wait_for(IncomingCall)
    assert baresip.user in incoming.remote_uri
    phone.answer(incoming.call_id)
    log.wait_for(MediaStarted, call_id=incoming.call_id)
    assert phone.call_info(incoming.call_id).direction == "inbound"
    phone.hangup(incoming.call_id)
    log.wait_for(RecordingReady, call_id=incoming.call_id)


def test_remote_hangup_reports_disconnected_with_a_recording(make_phone, baresip: Baresip) -> None:
    phone, log = make_phone()
    call_id = phone.dial(baresip.uri)
    log.wait_for(MediaStarted, call_id=call_id)
    wait_until(lambda: phone.call_info(call_id).tap_frames >= 25, 10, "half a second of audio")
    baresip.command("hangup")
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
    assert log.wait_for(RecordingReady, call_id=call_id).duration_s >= 0.5
    assert phone.calls() == []
