"""Matching realistic device lists (ALSA via PortAudio, PulseAudio/PipeWire, Windows) to headset profiles."""

from __future__ import annotations

import pytest

from hardware.devices import (
    AudioDevice,
    Backend,
    Direction,
    choose_headset,
    choose_rate,
    device_score,
    find_device,
    profile_for,
)
from hardware.errors import NoHeadsetFound
from hardware.profiles import EPOS, GENERIC_USB, JABRA, LOGITECH, POLY, YEALINK


def pa(index: int, name: str, ins: int, outs: int, rate: int = 44100) -> AudioDevice:
    return AudioDevice(name=name, max_input_channels=ins, max_output_channels=outs, default_rate_hz=rate, index=index)


def pulse(name: str, description: str, sink: bool) -> AudioDevice:
    return AudioDevice(
        name=name,
        description=description,
        max_input_channels=0 if sink else 1,
        max_output_channels=2 if sink else 0,
        backend=Backend.pulse,
    )


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("Jabra EVOLVE LINK: USB Audio (hw:1,0)", JABRA),
        ("alsa_output.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_000415B3A5E60A-00.analog-stereo", JABRA),
        ("Headset Microphone (Jabra EVOLVE 20 MS)", JABRA),
        ("Plantronics Blackwire 3220 Series: USB Audio (hw:2,0)", POLY),
        ("alsa_input.usb-Plantronics_Plantronics_Blackwire_3220_Series_D1CEC32927974D5F9BD6B2AEBF2EA8E3-00.mono-fallback", POLY),
        ("Microphone (Poly Blackwire 5220 Series)", POLY),
        ("Logitech USB Headset: USB Audio (hw:1,0)", LOGITECH),
        ("Headset Earphone (2- Logitech USB Headset H390)", LOGITECH),
        ("alsa_output.usb-Logitech_Logitech_USB_Headset-00.analog-stereo", LOGITECH),
        ("EPOS PC 8 USB: USB Audio (hw:3,0)", EPOS),
        ("alsa_input.usb-Sennheiser_Communications_Sennheiser_USB_headset-00.mono-fallback", EPOS),
        ("Sennheiser SC 160 USB: Audio (hw:1,0)", EPOS),
        ("Yealink UH36: USB Audio (hw:1,0)", YEALINK),
        ("alsa_output.usb-Yealink_Yealink_UH36-00.analog-stereo", YEALINK),
        ("USB Audio Device: - (hw:1,0)", GENERIC_USB),
        ("alsa_output.usb-C-Media_Electronics_Inc._USB_Audio_Device-00.analog-stereo", GENERIC_USB),
        ("USB PnP Sound Device: Audio (hw:2,0)", GENERIC_USB),
        ("HDA Intel PCH: ALC3246 Analog (hw:0,0)", None),
        ("alsa_output.pci-0000_00_1f.3.analog-stereo", None),
        ("default", None),
    ],
)
def test_device_name_maps_to_its_headset_family(name: str, profile: object) -> None:
    assert profile_for(name) is profile


def test_portaudio_alsa_list_picks_the_usb_headset_over_builtin_and_hdmi() -> None:
    devices = [
        pa(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", 2, 2),
        pa(1, "HDA Intel PCH: HDMI 0 (hw:0,3)", 0, 8),
        pa(2, "Jabra EVOLVE LINK: USB Audio (hw:1,0)", 1, 2, 16000),
        pa(3, "sysdefault", 128, 128),
        pa(4, "front", 0, 2),
        pa(5, "surround40", 0, 4),
        pa(6, "pulse", 32, 32),
        pa(7, "default", 32, 32),
    ]
    choice = choose_headset(devices)
    assert choice.profile is JABRA
    assert choice.input.index == 2 and choice.output.index == 2


def test_pulseaudio_headset_is_preferred_to_the_raw_alsa_device_of_the_same_headset() -> None:
    devices = [
        pa(0, "Plantronics Blackwire 3220 Series: USB Audio (hw:2,0)", 1, 2),
        pa(1, "pulse", 32, 32),
        pulse("alsa_output.usb-Plantronics_Plantronics_Blackwire_3220_Series_D1CE-00.analog-stereo",
              "Plantronics Blackwire 3220 Series Analog Stereo", sink=True),
        pulse("alsa_output.usb-Plantronics_Plantronics_Blackwire_3220_Series_D1CE-00.analog-stereo.monitor",
              "Monitor of Plantronics Blackwire 3220 Series Analog Stereo", sink=False),
        pulse("alsa_input.usb-Plantronics_Plantronics_Blackwire_3220_Series_D1CE-00.mono-fallback",
              "Plantronics Blackwire 3220 Series Mono", sink=False),
    ]
    choice = choose_headset(devices)
    assert choice.profile is POLY
    assert choice.output.backend is Backend.pulse and choice.output.name.startswith("alsa_output.usb-Plantronics")
    assert choice.input.name.startswith("alsa_input.usb-Plantronics"), "a .monitor source is never the microphone"


def test_a_named_vendor_beats_a_generic_usb_adapter() -> None:
    devices = [
        pa(0, "USB PnP Sound Device: Audio (hw:1,0)", 1, 2),
        pa(1, "Yealink UH36: USB Audio (hw:2,0)", 1, 2),
    ]
    assert choose_headset(devices).profile is YEALINK


def test_wanted_name_restricts_the_choice() -> None:
    devices = [
        pa(0, "Jabra EVOLVE LINK: USB Audio (hw:1,0)", 1, 2),
        pa(1, "Logitech USB Headset: USB Audio (hw:2,0)", 1, 2),
    ]
    assert choose_headset(devices, wanted="logitech").output.index == 1
    assert choose_headset(devices, wanted="JABRA evolve").output.index == 0


def test_without_a_headset_the_system_default_is_the_last_resort() -> None:
    devices = [pa(0, "HDA Intel PCH: HDMI 0 (hw:0,3)", 0, 8), pa(1, "pulse", 32, 32), pa(2, "default", 32, 32)]
    choice = choose_headset(devices)
    assert choice.profile is None
    assert choice.output.name in {"pulse", "default"}


def test_no_microphone_is_a_clear_error_listing_what_was_seen() -> None:
    devices = [pa(0, "HDA Intel PCH: HDMI 0 (hw:0,3)", 0, 8), pa(1, "Jabra EVOLVE LINK: USB Audio (hw:1,0)", 0, 2)]
    with pytest.raises(NoHeadsetFound, match="microphone.*HDMI 0.*devices list"):
        choose_headset(devices)


def test_unknown_wanted_name_is_an_error() -> None:
    with pytest.raises(NoHeadsetFound, match="'sennheiser'"):
        choose_headset([pa(0, "Jabra EVOLVE LINK: USB Audio (hw:1,0)", 1, 2)], wanted="sennheiser")


def test_output_only_device_scores_zero_as_input() -> None:
    assert device_score(pa(0, "Jabra EVOLVE LINK: USB Audio (hw:1,0)", 0, 2), Direction.input) == (0, None)


def test_rate_is_the_first_preferred_rate_the_device_accepts() -> None:
    assert choose_rate(JABRA, lambda r: r in {48000, 16000}, 48000) == 16000
    assert choose_rate(POLY, lambda r: r in {44100, 16000}, 44100) == 16000
    assert choose_rate(None, lambda r: r == 44100, 44100) == 44100


def test_the_call_rate_wins_when_the_device_accepts_it() -> None:
    assert choose_rate(JABRA, lambda r: True, 48000, call_rate_hz=8000) == 8000
    assert choose_rate(JABRA, lambda r: r != 8000, 48000, call_rate_hz=8000) == 16000


def test_find_device_accepts_a_monitor_as_input_by_exact_or_unique_name() -> None:
    devices = [
        pulse("jabra_spk", "Jabra", sink=True),
        pulse("jabra_spk.monitor", "Monitor of Jabra", sink=False),
        pulse("jabra_mic", "Jabra Mic", sink=False),
    ]
    assert find_device(devices, "jabra_spk.monitor", Direction.input).name == "jabra_spk.monitor"
    assert find_device(devices, "monitor", Direction.input).name == "jabra_spk.monitor"
    with pytest.raises(NoHeadsetFound, match="several"):
        find_device(devices, "jabra", Direction.input)
    with pytest.raises(NoHeadsetFound, match="no device"):
        find_device(devices, "jabra_mic", Direction.output)
