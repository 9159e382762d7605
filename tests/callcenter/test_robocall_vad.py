"""Energy VAD of the reminder robot: speech start/end times, short pauses, clicks."""

from __future__ import annotations

from callcenter.robocall import VoiceEnded, VoiceStarted
from callcenter.robocall_vad import EnergyVad, level_dbfs

LOUD, QUIET = -25.0, -70.0


def run(levels: list[float]) -> list[object]:
    vad = EnergyVad()
    events: list[object] = []
    for n, level in enumerate(levels):
        events += vad.feed(level, n * 0.02)
    return events


def test_speech_start_and_end_are_timed_at_the_voiced_frames() -> None:
    events = run([QUIET] * 50 + [LOUD] * 100 + [QUIET] * 30)
    assert events == [VoiceStarted(1.0), VoiceEnded(3.0)]


def test_a_short_pause_between_words_does_not_end_speech() -> None:
    events = run([LOUD] * 40 + [QUIET] * 10 + [LOUD] * 40 + [QUIET] * 25)
    assert events == [VoiceStarted(0.0), VoiceEnded(1.8)]


def test_a_click_is_not_speech() -> None:
    assert run([QUIET] * 20 + [LOUD] * 2 + [QUIET] * 40) == []


def test_levels_in_dbfs() -> None:
    assert level_dbfs(32768.0) == 0.0
    assert round(level_dbfs(327.68)) == -40
    assert level_dbfs(0.0) == -120.0
