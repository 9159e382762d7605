from datetime import UTC, datetime, timedelta

import pytest

from callcenter.dialing import Action, DialingError, PastAttempt, PhoneOption, StopScope, choose_phone, decide
from callcenter.outcomes import DEFAULT_BY_CODE, DEFAULT_OUTCOMES

NOW = datetime(2025, 10, 9, 2, 0, tzinfo=UTC)
PHONES = [PhoneOption(1, 0), PhoneOption(2, 1), PhoneOption(3, 2, invalid=True)]


def run(code: str, *, attempts: int = 1, max_attempts: int = 3, phone_id: int | None = 1,
        phones: list[PhoneOption] = PHONES, history: list[PastAttempt] | None = None,
        callback_at: datetime | None = None):
    o = DEFAULT_BY_CODE[code]
    return decide(code=o.code, final=o.final, contacted=o.contacted, final_for_number=o.final_for_number,
                  try_next_number=o.try_next_number, retry_delay_min=o.retry_delay_min, attempts=attempts,
                  max_attempts=max_attempts, now=NOW, phone_id=phone_id, phones=phones,
                  history=history if history is not None else [PastAttempt(phone_id, NOW)],
                  max_per_24h=3, callback_at=callback_at)


def test_outcome_table_has_the_glossary_rows() -> None:
    assert [o.code for o in DEFAULT_OUTCOMES] == [
        "completed", "partial", "refused", "hung_up", "callback_requested", "deceased", "unable", "no_answer",
        "busy", "voicemail", "switched_off", "number_invalid", "wrong_number"]
    assert {o.code for o in DEFAULT_OUTCOMES if o.final} == {"completed", "refused", "deceased", "unable"}
    assert {o.code for o in DEFAULT_OUTCOMES if o.final_for_number} == {"number_invalid", "wrong_number"}


def test_numbers_in_rank_order_skipping_invalid() -> None:
    assert choose_phone(PHONES, [], now=NOW, max_per_24h=3).phone_id == 1
    assert choose_phone(PHONES, [], now=NOW, max_per_24h=3, after_phone_id=1).phone_id == 2
    assert choose_phone(PHONES, [], now=NOW, max_per_24h=3, after_phone_id=2).phone_id == 1  # wraps round
    assert choose_phone([PhoneOption(3, 0, invalid=True)], [], now=NOW, max_per_24h=3).phone_id is None


def test_capped_numbers_wait_for_the_rolling_24_hours() -> None:
    hist = [PastAttempt(1, NOW - timedelta(hours=h)) for h in (20, 10, 1)]
    hist += [PastAttempt(2, NOW - timedelta(hours=h)) for h in (23, 5, 2)]
    choice = choose_phone(PHONES, hist, now=NOW, max_per_24h=3)
    assert choice.phone_id is None
    assert choice.wait_until == NOW + timedelta(hours=1)  # the oldest of number 2 leaves the window first
    assert choose_phone(PHONES, hist, now=NOW + timedelta(hours=1, seconds=1), max_per_24h=3).phone_id == 2


def test_busy_retries_the_same_line_after_its_delay() -> None:
    d = run("busy")
    assert d.action is Action.retry
    assert d.retry_at == NOW + timedelta(minutes=30)
    assert d.phone_id == 1


def test_no_answer_moves_to_the_next_number_at_once() -> None:
    d = run("no_answer")
    assert (d.action, d.phone_id, d.retry_at) == (Action.retry, 2, NOW)


def test_no_answer_with_a_single_number_waits_the_retry_delay() -> None:
    d = run("no_answer", phones=[PhoneOption(1, 0)])
    assert (d.phone_id, d.retry_at) == (1, NOW + timedelta(minutes=120))


def test_invalid_number_is_marked_and_the_next_one_tried() -> None:
    d = run("number_invalid")
    assert d.invalidate_phone and d.phone_id == 2 and d.action is Action.retry


def test_last_valid_number_wrong_means_unreachable() -> None:
    d = run("wrong_number", phones=[PhoneOption(1, 0)])
    assert d.action is Action.unreachable and d.invalidate_phone


def test_max_attempts_makes_the_task_unreachable() -> None:
    assert run("no_answer", attempts=3).action is Action.unreachable
    assert run("no_answer", attempts=2).action is Action.retry


def test_contacted_but_unfinished_has_a_hard_cap() -> None:
    assert run("partial", attempts=5).action is Action.retry
    assert run("partial", attempts=6).action is Action.unreachable


def test_final_outcomes_close_with_their_stop_scope() -> None:
    assert (run("completed").action, run("completed").stop) == (Action.complete, StopScope.point)
    assert (run("refused").action, run("refused").stop) == (Action.close, StopScope.plan)
    assert run("deceased").stop is StopScope.patient
    assert run("unable").stop is StopScope.none


def test_callback_needs_a_future_time() -> None:
    at = NOW + timedelta(days=1)
    assert run("callback_requested", callback_at=at).retry_at == at
    with pytest.raises(DialingError, match="callback_at"):
        run("callback_requested")
    with pytest.raises(DialingError, match="future"):
        run("callback_requested", callback_at=NOW)
