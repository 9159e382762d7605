"""Signal levels used by the device test."""

from __future__ import annotations

import pytest

from hardware.levels import FLOOR_DBFS, apply_gain, meter, rms_dbfs, tone, tone_dbfs


def test_tone_has_the_requested_rms_level() -> None:
    assert rms_dbfs(tone(1000, 0.5, 16000, dbfs=-12)) == pytest.approx(-12, abs=0.2)


def test_silence_is_at_the_floor() -> None:
    assert rms_dbfs(bytes(640)) == FLOOR_DBFS
    assert rms_dbfs(b"") == FLOOR_DBFS


def test_tone_level_finds_the_tone_and_not_another_frequency() -> None:
    pcm = tone(1000, 0.5, 8000, dbfs=-20)
    assert tone_dbfs(pcm, 1000, 8000) == pytest.approx(-20, abs=1)
    assert tone_dbfs(pcm, 440, 8000) < -60


def test_gain_scales_and_clips() -> None:
    pcm = tone(440, 0.2, 8000, dbfs=-20)
    assert rms_dbfs(apply_gain(pcm, 6)) == pytest.approx(rms_dbfs(pcm) + 6, abs=0.05)
    assert apply_gain(pcm, 0) is pcm
    assert rms_dbfs(apply_gain(pcm, 40)) < 0.1


def test_meter_fills_with_level() -> None:
    assert meter(-60, width=10).startswith("[..........]")
    assert meter(0, width=10).startswith("[##########]")
    assert "-30.0 dBFS" in meter(-30, width=10)
