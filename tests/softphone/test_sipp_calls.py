"""Calls against SIPp as callee: several at once, the per-process limit, SIP status codes of failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.ports import CallState, CallStateChanged, IncomingCall, MediaStarted, RecordingReady
from softphone.errors import TooManyCalls
from tests.softphone.audio_check import envelope_correlation, read_channel
from tests.softphone.peers import (
    Baresip,
    Sipp,
    sipp_answer_scenario,
    sipp_call_rejected,
    sipp_reject_scenario,
    ulaw_of,
)

pytestmark = pytest.mark.sip


@pytest.fixture
def sipp(tmp_path: Path, patient_wav: Path):
    with Sipp(tmp_path, sipp_answer_scenario(ulaw_of(patient_wav))) as peer:
        yield peer


@pytest.mark.parametrize("max_calls", [4, 5], ids=["own-limit", "pjsua-limit"])
def test_fifth_concurrent_call_raises_too_many_calls_and_the_four_carry_on(
        make_phone, sipp: Sipp, max_calls: int) -> None:
    phone, log = make_phone(max_calls=max_calls)  # 5 is clamped to 4 inside pjsua: PJ_ETOOMANY path
    call_ids = [phone.dial(sipp.uri) for _ in range(4)]
    for call_id in call_ids:
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
    with pytest.raises(TooManyCalls, match="hang one up"):
        phone.dial(sipp.uri)
    assert sorted(c.call_id for c in phone.calls()) == sorted(call_ids)
    assert all(c.state == "confirmed" for c in phone.calls())
    for call_id in call_ids:
        phone.hangup(call_id)
    for call_id in call_ids:
        log.wait_for(RecordingReady, call_id=call_id)
    fresh = phone.dial(sipp.uri)  # the slots are free again
    log.wait_for(MediaStarted, call_id=fresh)


def test_an_incoming_call_while_four_are_up_is_answered_busy_486_and_the_four_carry_on(
        make_phone, sipp: Sipp, baresip: Baresip, tmp_path: Path) -> None:
    phone, log = make_phone()
    call_ids = [phone.dial(sipp.uri) for _ in range(4)]
    for call_id in call_ids:
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.confirmed)
    host_port = phone.local_uri.rpartition("@")[2]
    # a patient calling back gets "busy here": pjsua answers it itself, statelessly, when its 4 call slots are
    # taken (pjsip's log: "too many calls"); PjsuaPhone.incoming's own check covers a call ended but not cleaned up
    sipp_call_rejected(tmp_path, host_port, "nurse", 486)
    assert not log.of(IncomingCall)  # nothing rang: the nurse's screen is not disturbed
    assert sorted(c.call_id for c in phone.calls()) == sorted(call_ids)
    assert all(c.state == "confirmed" for c in phone.calls())
    phone.hangup(call_ids[0])
    log.wait_for(RecordingReady, call_id=call_ids[0])  # the line is free once the call is cleaned up
    baresip.command("dial", phone.local_uri)  # now a caller gets through
    rings = log.wait_for(IncomingCall, timeout_s=15)
    assert f"sip:{baresip.user}@127.0.0.1" in rings.remote_uri
    assert len(phone.calls()) == 4


def test_several_sipp_calls_each_record_the_streamed_speech(make_phone, sipp: Sipp, patient_wav: Path) -> None:
    phone, log = make_phone()
    call_ids = [phone.dial(sipp.uri) for _ in range(3)]
    for call_id in call_ids:
        log.wait_for(MediaStarted, call_id=call_id)
    log.wait_for(CallStateChanged, timeout_s=15, call_id=call_ids[-1], state=CallState.confirmed,
                 where=lambda e: e.at_s >= 0)
    for call_id in call_ids:
        from tests.softphone.peers import wait_until
        wait_until(lambda cid=call_id: phone.call_info(cid).tap_frames >= 550, 20, "11 s of audio")
        phone.hangup(call_id)
    reference = read_channel(patient_wav)
    for call_id in call_ids:
        ready = log.wait_for(RecordingReady, call_id=call_id)
        assert envelope_correlation(reference, read_channel(Path(ready.path), 1)) >= 0.9


def test_busy_callee_is_reported_with_sip_status_486(make_phone, tmp_path: Path) -> None:
    phone, log = make_phone()
    with Sipp(tmp_path, sipp_reject_scenario("486 Busy Here")) as busy:
        call_id = phone.dial(busy.uri)
        ended = log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
    assert ended.sip_status == 486
    assert phone.calls() == []
    assert not log.of(RecordingReady, call_id=call_id)  # no media, no recording


def test_unknown_number_is_reported_with_sip_status_404(make_phone, tmp_path: Path) -> None:
    phone, log = make_phone()
    with Sipp(tmp_path, sipp_reject_scenario("404 Not Found")) as nobody:
        call_id = phone.dial(nobody.uri)
        ended = log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
    assert ended.sip_status == 404
