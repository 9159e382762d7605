"""Acceptance: the virtual-headset call. A real pjsua2 call to baresip with the USB headset bridged in through
``softphone.headset`` (PyAudio on a private PulseAudio: pipe source = microphone, null sink = earphones).
What is spoken into the microphone reaches baresip; what baresip plays reaches the earphones."""

from __future__ import annotations

import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.ports import CallState, CallStateChanged, MediaStarted
from softphone.config import PhoneConfig
from softphone.headset import Headset
from softphone.phone import PjsuaPhone
from tests.softphone.audio_check import envelope_correlation, read_channel
from tests.softphone.events import EventLog
from tests.softphone.peers import Baresip, speech_wav, wait_until
from tests.softphone.virtual_headset import RATE_HZ, VirtualHeadset

pytestmark = [pytest.mark.sip, pytest.mark.skipif(shutil.which("pulseaudio") is None, reason="needs pulseaudio")]

MIC_TEXT = "Good morning, this is the nurse speaking into the headset microphone about your blood pressure."


@pytest.fixture
def virtual_headset(monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualHeadset]:
    vh = VirtualHeadset()
    vh.start()
    for key, value in vh.env.items():
        monkeypatch.setenv(key, value)
    yield vh
    vh.stop()


def test_microphone_reaches_the_patient_and_the_patient_reaches_the_earphones(
        tmp_path: Path, virtual_headset: VirtualHeadset, baresip: Baresip, patient_wav: Path) -> None:
    mic_wav = speech_wav(MIC_TEXT, 7, "headset-mic", voice="en-us", rate_hz=RATE_HZ)
    with wave.open(str(mic_wav)) as w:
        mic_pcm = w.readframes(w.getnframes())
    headset = Headset.find("jabra")
    headset.open()
    log = EventLog()
    phone = PjsuaPhone(PhoneConfig(bind_port=0, recordings_dir=str(tmp_path / "rec"), record_calls=False),
                       media_hook=headset)
    try:
        phone.add_listener(log)
        virtual_headset.start_recording_speaker()
        call_id = phone.dial(baresip.uri)
        log.wait_for(MediaStarted, call_id=call_id)
        virtual_headset.speak(mic_pcm)
        # the patient's 10 s WAV has played into the earphones and the microphone audio has all been sent
        wait_until(lambda: len(virtual_headset.speaker_pcm()) >= 11 * RATE_HZ * 2, 30, "11 s in the earphones")
        wait_until(lambda: headset.mic_buffer.stats().frames_out >= len(mic_pcm) // headset.mic_buffer.frame_bytes + 25,
                   30, "the microphone audio to be sent")
        phone.hangup(call_id)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
    finally:
        phone.close()
        headset.close()
    baresip.stop()  # completes its -dec.wav

    earphones = tmp_path / "earphones.wav"
    with wave.open(str(earphones), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(virtual_headset.speaker_pcm())
    assert envelope_correlation(read_channel(patient_wav), read_channel(earphones), max_lag_frames=250) >= 0.9
    assert envelope_correlation(read_channel(mic_wav), read_channel(baresip.received_wav()),
                                max_lag_frames=250) >= 0.9
    stats = headset.stats()
    assert stats.callback_errors == 0
    assert stats.speaker.frames_in > 400, "the call's audio went through the speaker drift buffer"
