"""The built-in zh-CN script library (plus the ko-KR speech-test script), one YAML file per questionnaire."""

from __future__ import annotations

import functools
from pathlib import Path

from scripts_questionnaires.loader import load_script
from scripts_questionnaires.model import Script

LIBRARY_DIR = Path(__file__).resolve().parent


def library_paths() -> list[Path]:
    """Every shipped script file, sorted by name."""
    return sorted(LIBRARY_DIR.glob("*.yaml"))


def load_library() -> dict[str, Script]:
    """Every shipped script by key (raises ``ScriptInvalid`` if one is broken — a guard test prevents it).

    Loaded once per process: the shipped files are package data and scripts are immutable values."""
    return {s.key: s for s in _load_all()}


@functools.cache
def _load_all() -> tuple[Script, ...]:
    return tuple(load_script(p) for p in library_paths())


def library_script(key: str) -> Script:
    scripts = load_library()
    if key not in scripts:
        raise KeyError(f"no built-in script {key!r}; built-in keys: {', '.join(sorted(scripts))}")
    return scripts[key]
