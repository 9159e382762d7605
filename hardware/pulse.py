"""Parse PulseAudio's (or PipeWire-pulse's) ``pactl --format=json list sinks|sources`` into ``AudioDevice``s.

With a sound server running, PortAudio only shows ``pulse`` and ``default``; the server's own list is what
names the headset (``alsa_output.usb-GN_Netcom_A_S_Jabra_…``). The adapter opens PortAudio's ``pulse`` device
with ``PULSE_SINK`` / ``PULSE_SOURCE`` set to the chosen name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hardware.devices import AudioDevice, Backend
from hardware.errors import HardwareError

_SPEC = re.compile(r"(?P<fmt>\S+)\s+(?P<channels>\d+)ch\s+(?P<rate>\d+)Hz")


def parse_pactl(text: str, *, sinks: bool) -> list[AudioDevice]:
    """Devices from ``pactl --format=json list sinks`` (``sinks=True``) or ``… list sources``."""
    try:
        items: Any = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise HardwareError(f"pactl printed something that is not JSON ({exc}); PulseAudio 16 or newer is needed") from exc
    if not isinstance(items, list):
        raise HardwareError("pactl JSON is not a list of devices")
    devices: list[AudioDevice] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        match = _SPEC.search(str(item.get("sample_specification", "")))
        channels = int(match["channels"]) if match else 2
        rate = int(match["rate"]) if match else 48000
        devices.append(
            AudioDevice(
                name=item["name"],
                description=str(item.get("description", "")),
                max_input_channels=0 if sinks else channels,
                max_output_channels=channels if sinks else 0,
                default_rate_hz=rate,
                backend=Backend.pulse,
            )
        )
    return devices
