"""Pure matching of a list of audio devices to a headset profile: which device is the nurse's headset.

The adapter (``softphone.headset``) lists devices (PortAudio's, plus PulseAudio's sinks and sources when a
PulseAudio/PipeWire server runs, because PortAudio then shows only ``pulse`` and ``default``) and asks
``choose_headset`` which input and output to open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hardware.errors import NoHeadsetFound
from hardware.profiles import PROFILES, HeadsetProfile


class Backend(StrEnum):
    portaudio = "portaudio"  # open by PortAudio index
    pulse = "pulse"  # open PortAudio's "pulse" device with PULSE_SINK / PULSE_SOURCE set to ``name``


class Direction(StrEnum):
    input = "input"
    output = "output"


@dataclass(frozen=True)
class AudioDevice:
    name: str
    max_input_channels: int
    max_output_channels: int
    default_rate_hz: int = 48000
    index: int = -1  # PortAudio device index (Backend.portaudio)
    backend: Backend = Backend.portaudio
    description: str = ""  # PulseAudio's human description, matched too

    def has(self, direction: Direction) -> bool:
        if direction is Direction.input:
            return self.max_input_channels > 0
        return self.max_output_channels > 0

    @property
    def label(self) -> str:
        return f"{self.description} [{self.name}]" if self.description else self.name


@dataclass(frozen=True)
class HeadsetChoice:
    input: AudioDevice
    output: AudioDevice
    profile: HeadsetProfile | None  # None: a system default device, not a recognised headset


# Pseudo devices that are never a headset: HDMI/S-PDIF outputs, ALSA plugins, loopbacks of speakers.
_NEVER = re.compile(
    r"\b(hdmi|displayport|spdif|iec958|surround\d*|dmix|dsnoop|lavrate|samplerate|speexrate|upmix|vdownmix|"
    r"front|rear|center lfe|side)\b"
)
# System defaults: acceptable when nothing better is present (desktop sound server routes to the headset).
_FALLBACK = re.compile(r"^(default|pulse|pipewire|sysdefault)\b")
_FALLBACK_SCORE = 10


def normalise(name: str) -> str:
    """Lower case, underscores and runs of spaces as one space: PulseAudio names then read like the others."""
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip().lower()


def profile_for(name: str) -> HeadsetProfile | None:
    """The first profile whose pattern matches ``name`` (named vendors before the generic USB profile)."""
    text = normalise(name)
    for profile in PROFILES:
        if any(re.search(p, text) for p in profile.name_patterns):
            return profile
    return None


def device_score(device: AudioDevice, direction: Direction) -> tuple[int, HeadsetProfile | None]:
    """How likely ``device`` is the headset for ``direction``: 0 = never; profiles score high, defaults low."""
    if not device.has(direction):
        return 0, None
    text = normalise(f"{device.name} {device.description}")
    if direction is Direction.input and (text.endswith(".monitor") or "monitor of" in text):
        return 0, None  # the loopback of a speaker, never a microphone
    if _NEVER.search(text):
        return 0, None
    profile = profile_for(text)
    if profile is not None:
        return profile.score, profile
    if _FALLBACK.match(text):
        return _FALLBACK_SCORE, None
    return 0, None


def _best(
    devices: Iterable[AudioDevice], direction: Direction, prefer: HeadsetProfile | None = None
) -> tuple[AudioDevice, HeadsetProfile | None] | None:
    ranked: list[tuple[int, int, AudioDevice, HeadsetProfile | None]] = []
    for order, device in enumerate(devices):
        score, profile = device_score(device, direction)
        if score <= 0:
            continue
        if prefer is not None and profile is prefer:
            score += 1  # same headset family as the other direction
        if device.backend is Backend.pulse:
            score += 1  # the sound server shares the device with other programs; raw hw:N would be exclusive
        ranked.append((score, -order, device, profile))
    if not ranked:
        return None
    _, _, device, profile = max(ranked, key=lambda r: (r[0], r[1]))
    return device, profile


def choose_headset(devices: Sequence[AudioDevice], wanted: str = "") -> HeadsetChoice:
    """Pick the headset's input and output.

    ``wanted`` (e.g. ``"jabra"`` or an exact device name from ``callcenter devices list``) restricts the
    candidates to devices whose name or description contains it; otherwise the best-scoring recognised headset
    wins, and the system default devices are the last resort.
    """
    candidates = list(devices)
    if wanted:
        key = normalise(wanted)
        candidates = [d for d in devices if key in normalise(f"{d.name} {d.description}")]
    out = _best(candidates, Direction.output)
    inp = _best(candidates, Direction.input, prefer=out[1] if out else None)
    if out is None or inp is None:
        missing = "speaker" if out is None else "microphone"
        seen = ", ".join(d.label for d in devices) or "none"
        hint = f" matching {wanted!r}" if wanted else ""
        raise NoHeadsetFound(
            f"no headset {missing}{hint} found (devices seen: {seen}). Plug the USB headset in, check "
            f"`callcenter devices list`, and pass --device with a part of its name."
        )
    profile = out[1] if out[1] is not None else inp[1]
    return HeadsetChoice(input=inp[0], output=out[0], profile=profile)


def find_device(devices: Sequence[AudioDevice], wanted: str, direction: Direction) -> AudioDevice:
    """One device for ``direction`` by exact name, else by a unique part of its name or description.

    Unlike ``choose_headset`` this accepts any device, e.g. a speaker's ``.monitor`` as the input of a
    loopback check.
    """
    usable = [d for d in devices if d.has(direction)]
    exact = [d for d in usable if d.name == wanted]
    if exact:
        return exact[0]
    key = normalise(wanted)
    found = [d for d in usable if key in normalise(f"{d.name} {d.description}")]
    if len(found) == 1:
        return found[0]
    seen = ", ".join(d.label for d in usable) or "none"
    problem = "matches several devices" if found else "matches no device"
    raise NoHeadsetFound(f"{direction.value} {wanted!r} {problem} ({direction.value} devices: {seen}); "
                         "give the exact name shown by `callcenter devices list`")


def choose_rate(profile: HeadsetProfile | None, accepts: Callable[[int], bool], default_rate_hz: int,
                call_rate_hz: int = 0) -> int:
    """The sample rate to open the headset at.

    The call's own rate first when the device takes it (a sound server resamples natively; the bridge port then
    moves the fewest bytes through Python: ``bytes(frame.buf)`` costs ~0.6 ms per 20 ms at 8 kHz and ~3.4 ms at
    48 kHz on the pjmedia thread, bench/headset.py), then the profile's preferred rates, 16 kHz, 48 kHz, and
    finally the device default.
    """
    preferred = profile.preferred_rates_hz if profile is not None else ()
    candidates: list[int] = ([call_rate_hz] if call_rate_hz else []) + list(preferred) + [16000, 48000]
    for rate in candidates:
        if accepts(rate):
            return rate
    return default_rate_hz
