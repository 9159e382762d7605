"""The simulator: from an answers file and interactively (ask/say injected)."""

from __future__ import annotations

from collections.abc import Iterator

from scripts_questionnaires import library_script, read_answers_file, simulate
from scripts_questionnaires.simulator import interactive


def test_answers_file_run_stops_at_the_first_missing_answer() -> None:
    answers, variables = read_answers_file('{"answers": {"wound": "healed"}, "variables": {"patient": {"name": "赵六"}}}')
    run = simulate(library_script("post-surgical"), answers, variables)
    assert run.missing == "stitches_removed"
    assert run.to_dict()["status"] == "partial" and run.state.variables["patient"]["name"] == "赵六"


def test_skip_in_the_answers_file_is_recorded_with_its_reason() -> None:
    script = library_script("ko-test")
    run = simulate(script, {"pain": "no", "fever": {"skip": "모름"}, "medication": "yes"})
    assert run.missing is None and run.to_dict()["skipped"] == {"fever": "모름"}


def test_interactive_session_takes_numbers_back_and_skip() -> None:
    replies: Iterator[str] = iter(["1", "7", "back", "2", "skip 不清楚", "1"])
    shown: list[str] = []
    run = interactive(library_script("ko-test"), lambda _prompt: next(replies), shown.append,
                      {"hospital": {"name": "서울"}})
    result = run.to_dict()
    assert result["answers"] == {"pain": "yes", "pain_score": 2, "medication": "yes"}
    assert result["skipped"] == {"fever": "不清楚"}
    assert shown[0].startswith("안녕하세요, 서울 병원입니다")
    assert any("[pain_score]" in s and "0–10 점" in s for s in shown)


def test_interactive_session_reports_invalid_answers_and_asks_again() -> None:
    replies = iter(["1", "11", "3", "2", "2"])
    shown: list[str] = []
    run = interactive(library_script("ko-test"), lambda _prompt: next(replies), shown.append)
    assert any("outside 0–10" in s for s in shown)
    assert run.to_dict()["answers"]["pain_score"] == 3
