"""Hold/resume, mute and blind transfer in real calls with baresip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callcenter.ports import CallState, CallStateChanged, MediaStarted, PlaybackFinished, RecordingReady
from tests.softphone.audio_check import envelope, envelope_correlation, read_channel, rms_dbfs
from tests.softphone.events import CollectingTapSink
from tests.softphone.peers import Baresip, wait_until

pytestmark = pytest.mark.sip


def test_hold_and_resume_report_states_and_audio_flows_again(make_phone, baresip: Baresip) -> None:
    tap = CollectingTapSink()
    phone, log = make_phone(tap_sink=tap)
    call_id = phone.dial(baresip.uri)
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
    first = tap.wait_for_voice(call_id, after_seq=-1)
    # Talk a little, hold for a while: resume must reconnect the call's new stream (pjsua reuses slot numbers).
    wait_until(lambda: tap.last_seq(call_id) >= first + 50, 10, "a second of conversation")
    phone.hold(call_id)
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.held)
    assert phone.call_info(call_id).held
    held_at = tap.last_seq(call_id)
    wait_until(lambda: tap.last_seq(call_id) >= held_at + 25, 10, "half a second on hold")
    phone.resume(call_id)
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed, where=lambda e: e.reason == "resumed")
    assert not phone.call_info(call_id).held
    voiced = tap.wait_for_voice(call_id, after_seq=tap.last_seq(call_id))  # the patient is heard again
    phone.hangup(call_id)
    ready = log.wait_for(RecordingReady, call_id=call_id)
    patient = read_channel(Path(ready.path), 1)
    assert rms_dbfs(patient[voiced * 160:(voiced + 5) * 160]) > -40  # and recorded at the same frame


def test_muted_call_sends_and_records_silence_for_the_nurse(make_phone, baresip: Baresip, nurse_wav: Path) -> None:
    phone, log = make_phone()
    call_id = phone.dial(baresip.uri)
    log.wait_for(MediaStarted, call_id=call_id)
    phone.mute(call_id, True)
    assert phone.call_info(call_id).muted
    phone.play(call_id, str(nurse_wav))
    log.wait_for(PlaybackFinished, timeout_s=20, call_id=call_id)
    phone.hangup(call_id)
    ready = log.wait_for(RecordingReady, call_id=call_id)
    assert rms_dbfs(read_channel(Path(ready.path), 0)) < -60  # nurse channel: nothing was sent
    assert rms_dbfs(read_channel(Path(ready.path), 1)) > -40  # the patient is still heard
    assert rms_dbfs(read_channel(baresip.received_wav())) < -60


def test_blind_transfer_moves_the_patient_to_the_target_and_ends_our_leg(
        make_phone, baresip: Baresip, tmp_path: Path, patient_wav: Path, nurse_wav: Path) -> None:
    with Baresip(tmp_path, nurse_wav, user="doctor") as doctor:  # the doctor's phone speaks other words
        phone, log = make_phone()
        call_id = phone.dial(baresip.uri)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
        phone.transfer(call_id, doctor.uri)
        ended = log.wait_for(CallStateChanged, timeout_s=15, call_id=call_id, state=CallState.disconnected)
        assert ended.sip_status in (200, 202)
        assert phone.calls() == []  # our leg is gone
        # the doctor's phone has an established call, and it is with the patient's phone
        def with_patient() -> bool:  # baresip marks the call established when the patient's ACK arrives
            calls = str(doctor.command("listcalls").get("data", ""))
            established = [line for line in calls.splitlines() if "ESTABLISHED" in line]
            return len(established) == 1 and f"sip:{baresip.user}@127.0.0.1" in established[0]

        wait_until(with_patient, 5, "the doctor's phone to list an established call with the patient")
        # and the patient's voice reaches the doctor: 11 s of decoded audio (the patient's file is 10 s)
        wait_until(lambda: _dec_bytes(doctor) >= 44 + 11 * 16000, 25, "11 s of the patient at the doctor")
        doctor.command("hangup")
        heard = read_channel(doctor.received_wav())
    assert envelope_correlation(read_channel(patient_wav), heard) >= 0.9
    assert envelope_correlation(read_channel(nurse_wav), heard) < 0.5  # not an echo of the doctor's own words


def _dec_bytes(peer: Baresip) -> int:
    found = sorted(peer.dump_dir.glob("*-dec.wav"))
    return found[-1].stat().st_size if found else 0


def test_stop_playback_cuts_a_prompt_short_and_the_patient_hears_no_more_of_it(
        make_phone, baresip: Baresip, nurse_wav: Path) -> None:
    tap = CollectingTapSink()
    phone, log = make_phone(tap_sink=tap)
    call_id = phone.dial(baresip.uri)
    log.wait_for(MediaStarted, call_id=call_id)
    phone.play(call_id, str(nurse_wav))  # 8 s: a tone, speech, a tone
    started = tap.last_seq(call_id)
    wait_until(lambda: tap.last_seq(call_id) >= started + 100, 10, "2 s of the prompt")  # frames: the call's clock
    assert phone.stop_playback(call_id) == 1
    done = log.wait_for(PlaybackFinished, call_id=call_id)
    assert done.stopped and done.path == str(nurse_wav)
    stopped = tap.last_seq(call_id)
    wait_until(lambda: tap.last_seq(call_id) >= stopped + 400, 15, "8 s more: past the prompt's natural end")
    assert phone.stop_playback(call_id) == 0  # nothing left to stop
    assert len(log.of(PlaybackFinished, call_id=call_id)) == 1  # the cut prompt never reports its end again
    phone.hangup(call_id)
    log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)

    heard = read_channel(baresip.received_wav())
    prompt = read_channel(nurse_wav)
    voiced = np.flatnonzero(envelope(heard) > 300)  # 20 ms frames with the prompt's sound in them
    assert voiced.size and envelope(prompt).max() > 300
    assert 1.5 <= (voiced[-1] - voiced[0] + 1) * 0.02 <= 3.5  # about the 2 s played, not the prompt's 7 s
