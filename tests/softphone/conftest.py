"""Fixtures for softphone tests: generated speech, real peers (see peers.py), and phones with an event log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.softphone.events import EventLog
from tests.softphone.peers import Baresip, speech_wav

PATIENT_TEXT = ("Hello, this is the patient. I took my tablets every morning and evening. "
                "My blood pressure was one hundred and thirty over eighty five. I feel much better now.")
NURSE_TEXT = "Good morning. This is the follow up centre of the hospital calling about your recent visit."


@pytest.fixture(scope="session")
def patient_wav() -> Path:
    return speech_wav(PATIENT_TEXT, 10, "patient-speech")


@pytest.fixture(scope="session")
def nurse_wav() -> Path:
    return speech_wav(NURSE_TEXT, 8, "nurse-speech", voice="en-us")


@pytest.fixture
def baresip(tmp_path: Path, patient_wav: Path) -> Iterator[Baresip]:
    with Baresip(tmp_path, patient_wav) as peer:
        yield peer


PhoneFactory = Callable[..., tuple[Any, EventLog]]


@pytest.fixture
def make_phone(tmp_path: Path) -> Iterator[PhoneFactory]:
    """``make_phone(**PhoneConfig fields) -> (PjsuaPhone, EventLog)``; closed at the end of the test."""
    from softphone.config import PhoneConfig
    from softphone.phone import PjsuaPhone

    phones: list[PjsuaPhone] = []

    def make(**fields: Any) -> tuple[PjsuaPhone, EventLog]:
        fields.setdefault("bind_port", 0)
        fields.setdefault("recordings_dir", str(tmp_path / "recordings"))
        tap_sink = fields.pop("tap_sink", None)
        phone = PjsuaPhone(PhoneConfig(**fields), tap_sink=tap_sink)
        phones.append(phone)
        log = EventLog()
        phone.add_listener(log)
        return phone, log

    yield make
    for phone in phones:
        phone.close()
