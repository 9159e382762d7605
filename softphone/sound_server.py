"""The desktop sound server (PulseAudio, or PipeWire's pulse service): its sinks and sources by name.

With a sound server running, PortAudio only shows ``pulse`` and ``default``; the server's own list is what names
the headset (``alsa_output.usb-GN_Netcom_A_S_Jabra_…``). ``pactl`` (pulseaudio-utils) is asked, so nothing
here links libpulse.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from hardware.devices import AudioDevice
from hardware.errors import HardwareError
from hardware.pulse import parse_pactl

logger = logging.getLogger(__name__)

_PACTL_TIMEOUT_S = 5.0


def pulse_devices() -> list[AudioDevice]:
    """The sound server's sinks and sources (empty when no PulseAudio/PipeWire server answers)."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return []
    devices: list[AudioDevice] = []
    for kind in ("sinks", "sources"):
        try:
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [pactl, "--format=json", "list", kind],
                capture_output=True,
                text=True,
                timeout=_PACTL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.info("pactl list %s failed (%s); listing PortAudio devices only", kind, exc)
            return []
        if out.returncode != 0:
            return []  # no sound server
        try:
            devices += parse_pactl(out.stdout, sinks=kind == "sinks")
        except HardwareError as exc:
            logger.warning("%s", exc)
            return []
    return devices
