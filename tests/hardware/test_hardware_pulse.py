"""Parsing PulseAudio's JSON device lists."""

from __future__ import annotations

import json

import pytest

from hardware.devices import Backend, choose_headset
from hardware.errors import HardwareError
from hardware.levels import mono_to_stereo, stereo_to_mono
from hardware.profiles import JABRA
from hardware.pulse import parse_pactl

SINKS = json.dumps([
    {"index": 0, "name": "alsa_output.pci-0000_00_1f.3.analog-stereo", "description": "Built-in Audio Analog Stereo",
     "sample_specification": "s16le 2ch 44100Hz"},
    {"index": 3, "name": "alsa_output.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_000415B3A5E60A-00.analog-stereo",
     "description": "Jabra EVOLVE LINK Analog Stereo", "sample_specification": "s16le 2ch 48000Hz"},
])
SOURCES = json.dumps([
    {"index": 1, "name": "alsa_output.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_000415B3A5E60A-00.analog-stereo.monitor",
     "description": "Monitor of Jabra EVOLVE LINK Analog Stereo", "sample_specification": "s16le 2ch 48000Hz"},
    {"index": 2, "name": "alsa_input.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_000415B3A5E60A-00.mono-fallback",
     "description": "Jabra EVOLVE LINK Mono", "sample_specification": "s16le 1ch 16000Hz"},
])


def test_pactl_sinks_and_sources_become_devices_and_the_jabra_is_chosen() -> None:
    devices = parse_pactl(SINKS, sinks=True) + parse_pactl(SOURCES, sinks=False)
    assert all(d.backend is Backend.pulse for d in devices)
    mic = devices[-1]
    assert (mic.max_input_channels, mic.max_output_channels, mic.default_rate_hz) == (1, 0, 16000)
    choice = choose_headset(devices)
    assert choice.profile is JABRA
    assert choice.output.description == "Jabra EVOLVE LINK Analog Stereo"
    assert choice.input.name.endswith("mono-fallback")


def test_empty_output_means_no_devices() -> None:
    assert parse_pactl("", sinks=True) == []


def test_old_pactl_without_json_is_a_clear_error() -> None:
    with pytest.raises(HardwareError, match="PulseAudio 16"):
        parse_pactl("0\talsa_output.pci\tmodule-alsa-card.c\ts16le 2ch 44100Hz\tSUSPENDED", sinks=True)


def test_stereo_round_trip_keeps_the_samples() -> None:
    pcm = bytes(range(0, 64))
    stereo = mono_to_stereo(pcm)
    assert len(stereo) == 2 * len(pcm)
    assert stereo_to_mono(stereo) == pcm
