"""PHQ-9 (Kroenke et al. 2001) and GAD-7 (Spitzer et al. 2006) scoring and bands match the published
instruments; PHQ-9 item 9 and the severe totals alert."""

from __future__ import annotations

import pytest

from scripts_questionnaires import AlertSeverity, Engine, RunState, library_script

VALUES = ("not_at_all", "several_days", "more_than_half", "nearly_every_day")


def run_phq9(points: list[int]) -> tuple[Engine, RunState]:
    engine = Engine(library_script("phq9"))
    state = engine.start()
    for n, p in enumerate(points, start=1):
        state = engine.answer(state, f"phq9_{n}", VALUES[p])
    current = engine.current_item(state)
    if current is not None:  # item 10 (difficulty) is asked only when the total is above 0
        state = engine.answer(state, current.id, "somewhat_difficult")
    return engine, engine.finish(state)


@pytest.mark.parametrize("points, total, band", [
    ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
    ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
    ([3, 3, 3, 0, 0, 0, 0, 0, 0], 9, "mild"),
    ([2, 2, 2, 2, 2, 0, 0, 0, 0], 10, "moderate"),
    ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "moderate"),
    ([3, 3, 3, 3, 3, 0, 0, 0, 0], 15, "moderately_severe"),
    ([3, 3, 3, 3, 3, 2, 2, 0, 0], 19, "moderately_severe"),
    ([3, 3, 3, 3, 3, 2, 2, 1, 0], 20, "severe"),
    ([3, 3, 3, 3, 2, 2, 2, 2, 1], 21, "severe"),
    ([3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "severe"),
])
def test_total_and_band_match_the_published_cut_points(points: list[int], total: int, band: str) -> None:
    engine, state = run_phq9(points)
    result = engine.result(state)
    assert result.scores["phq9_total"] == total
    band_found = result.bands["phq9_total"]
    assert band_found is not None and band_found.code == band


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_any_item_9_answer_above_zero_raises_a_critical_alert(item9: int) -> None:
    engine, state = run_phq9([0, 0, 0, 0, 0, 0, 0, 0, item9])
    alerts = {a.id: a for a in engine.result(state).alerts}
    assert alerts["phq9_self_harm"].severity is AlertSeverity.critical


def test_item_9_at_zero_raises_no_self_harm_alert() -> None:
    engine, state = run_phq9([3, 3, 3, 3, 3, 3, 3, 3, 0])
    ids = {a.id for a in engine.result(state).alerts}
    assert "phq9_self_harm" not in ids and "phq9_severe" in ids


def test_difficulty_item_is_skipped_when_every_answer_is_zero() -> None:
    engine, state = run_phq9([0] * 9)
    assert "phq9_10" not in engine.result(state).path


@pytest.mark.parametrize("points, alert", [([3, 3, 3, 3, 3, 2, 2, 0, 0], "phq9_moderately_severe"),
                                           ([3, 3, 3, 3, 3, 2, 2, 1, 0], "phq9_severe")])
def test_severity_alert_switches_at_the_severe_cut_point_of_20(points: list[int], alert: str) -> None:
    engine, state = run_phq9(points)
    ids = {a.id for a in engine.result(state).alerts}
    assert alert in ids and ids & {"phq9_moderately_severe", "phq9_severe"} == {alert}


def run_gad7(points: list[int]) -> tuple[Engine, RunState]:
    engine = Engine(library_script("gad7"))
    state = engine.start()
    for n, p in enumerate(points, start=1):
        state = engine.answer(state, f"gad7_{n}", VALUES[p])
    assert engine.current_item(state) is None
    return engine, engine.finish(state)


@pytest.mark.parametrize("points, total, band", [  # Spitzer et al. 2006: 0-4, 5-9, 10-14, 15-21
    ([0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
    ([1, 1, 1, 1, 0, 0, 0], 4, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
    ([3, 3, 3, 0, 0, 0, 0], 9, "mild"),
    ([2, 2, 2, 2, 2, 0, 0], 10, "moderate"),
    ([2, 2, 2, 2, 2, 2, 2], 14, "moderate"),
    ([3, 3, 3, 3, 3, 0, 0], 15, "severe"),
    ([3, 3, 3, 3, 3, 3, 3], 21, "severe"),
])
def test_gad7_total_and_band_match_the_published_cut_points(points: list[int], total: int, band: str) -> None:
    engine, state = run_gad7(points)
    result = engine.result(state)
    assert result.scores["gad7_total"] == total
    found = result.bands["gad7_total"]
    assert found is not None and found.code == band
    assert ("gad7_severe" in {a.id for a in result.alerts}) is (total >= 15)
