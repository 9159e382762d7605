"""Errors of the hardware package; messages say what the user should do next."""

from __future__ import annotations


class HardwareError(Exception):
    """Base of every error raised on purpose by ``hardware`` (and by the headset adapter)."""


class NoHeadsetFound(HardwareError):
    """No audio device matched: the message lists what was seen."""
