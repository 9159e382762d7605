"""The headset adapter and `callcenter devices` against a virtual USB headset (a private PulseAudio daemon:
null sink = earphones, pipe source = microphone). No SIP here; see test_headset_call.py for a real call."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from callcenter.cli import main
from hardware.devices import Backend
from hardware.levels import tone, tone_dbfs
from softphone.headset import Headset
from softphone.headset_check import HeadsetCheck
from tests.softphone.peers import wait_until
from tests.softphone.virtual_headset import RATE_HZ, SINK, SOURCE, VirtualHeadset

pytestmark = pytest.mark.skipif(shutil.which("pulseaudio") is None, reason="needs pulseaudio (apt list)")


@pytest.fixture
def virtual_headset(monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualHeadset]:
    vh = VirtualHeadset()
    vh.start()
    for key, value in vh.env.items():
        monkeypatch.setenv(key, value)
    yield vh
    vh.stop()


def test_devices_list_shows_the_virtual_jabra_as_the_selected_headset(virtual_headset: VirtualHeadset) -> None:
    result = CliRunner().invoke(main, ["devices", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    selected = {("in" if r["selected_input"] else "out"): r for r in rows if r["selected_input"] or r["selected_output"]}
    assert selected["out"]["name"] == SINK and selected["out"]["profile"] == "jabra"
    assert selected["in"]["name"] == SOURCE, "the sink's .monitor is never picked as the microphone"
    assert {r["name"] for r in rows} >= {"pulse", "default"}, "PortAudio's own devices are listed too"


def test_headset_opens_at_the_call_rate_through_the_sound_server(virtual_headset: VirtualHeadset) -> None:
    headset = Headset.find()
    try:
        assert headset.choice.output.backend is Backend.pulse
        assert headset.rate_hz == 8000, "PulseAudio resamples: the bridge port moves the fewest bytes"
        headset.open()
        wait_until(lambda: headset.mic_buffer.stats().frames_in >= 25, 10, "microphone frames")
    finally:
        headset.close()
    assert headset.stats().callback_errors == 0


def test_speaker_tone_reaches_the_earphones(virtual_headset: VirtualHeadset) -> None:
    virtual_headset.start_recording_speaker()
    headset = Headset.find()
    with HeadsetCheck(headset.choice, rate_hz=RATE_HZ) as check:
        result = check.speaker_tone(seconds=1.0, freq_hz=1000, dbfs=-18)
    headset.pa.terminate()
    assert result.ok
    wait_until(lambda: tone_dbfs(virtual_headset.speaker_pcm(), 1000, RATE_HZ) > -40, 10, "the tone in the sink")
    assert tone_dbfs(virtual_headset.speaker_pcm(), 440, RATE_HZ) < -60, "a tone, not noise"


def test_microphone_meter_measures_what_is_spoken(virtual_headset: VirtualHeadset) -> None:
    headset = Headset.find()
    headset.pa.terminate()
    levels: list[float] = []
    with HeadsetCheck(headset.choice, rate_hz=RATE_HZ) as check:
        virtual_headset.speak(tone(300, 2.0, RATE_HZ, dbfs=-20))
        result = check.microphone_meter(seconds=1.5, on_level=levels.append)
    assert result.ok, result.message
    assert result.level_dbfs == pytest.approx(-20, abs=2)
    assert len(levels) == 15, "one level per 100 ms"


def test_silent_microphone_is_reported_as_no_signal(virtual_headset: VirtualHeadset) -> None:
    headset = Headset.find()
    headset.pa.terminate()
    with HeadsetCheck(headset.choice, rate_hz=RATE_HZ) as check:
        result = check.microphone_meter(seconds=0.5)
    assert not result.ok and "no signal" in result.message


def test_devices_test_loopback_hears_the_tone_through_the_sink_monitor(virtual_headset: VirtualHeadset) -> None:
    result = CliRunner().invoke(main, ["devices", "test", "--step", "loopback", "--json",
                                       "--input", f"{SINK}.monitor", "--output", SINK])
    assert result.exit_code == 0, result.output
    checks = {r["name"]: r for r in json.loads(result.output)}
    assert checks["loopback"]["ok"] and checks["loopback"]["latency_ms"] is not None
    assert checks["loopback"]["level_dbfs"] > -20


def test_devices_test_fails_with_exit_status_1_when_the_microphone_is_silent(virtual_headset: VirtualHeadset) -> None:
    result = CliRunner().invoke(main, ["devices", "test", "--step", "loopback", "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)[0]["ok"] is False


def test_unknown_device_is_a_clear_error(virtual_headset: VirtualHeadset) -> None:
    result = CliRunner().invoke(main, ["devices", "test", "--device", "sennheiser"])
    assert result.exit_code == 1
    assert "matching 'sennheiser'" in result.output and "devices list" in result.output
    assert os.environ["PULSE_SERVER"] == virtual_headset.server


def test_headset_setting_picks_the_device_or_none(virtual_headset: VirtualHeadset,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert Headset.from_setting("none") is None
    headset = Headset.from_setting("EVOLVE")
    assert headset is not None and headset.choice.output.name == SINK
    headset.pa.terminate()
    monkeypatch.setenv("CALLCENTER_HEADSET", "sennheiser")
    result = CliRunner().invoke(main, ["devices", "test", "--step", "tone"])
    assert result.exit_code == 1 and "matching 'sennheiser'" in result.output
