"""Pure dialing rules: which number next, per-number caps, retries, and what an outcome does to a task.

No I/O: the repository layer (``callcenter.tasks``) loads the facts, asks these functions, and writes the
decision. Times are timezone-aware UTC; call windows and the calendar are applied afterwards by
``callcenter.calendar.CallPolicy.next_allowed``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcenter.errors import InvalidInput

WINDOW_24H = timedelta(hours=24)
# Contacted but unfinished outcomes (partial, hung up) do not exhaust a task by themselves; this multiple of
# max_attempts is the hard stop so that no task is retried for ever.
HARD_CAP_FACTOR = 2


class DialingError(InvalidInput):
    """An outcome cannot be applied as given; the message says what is missing."""


@dataclass(frozen=True)
class PhoneOption:
    phone_id: int
    rank: int
    invalid: bool = False


@dataclass(frozen=True)
class PastAttempt:
    phone_id: int | None
    started_at: datetime


@dataclass(frozen=True)
class PhoneChoice:
    """The number to dial, or none with the earliest time a per-number cap frees (``wait_until``)."""

    phone_id: int | None
    wait_until: datetime | None = None
    reason: str = ""


def valid_phones(phones: Sequence[PhoneOption]) -> list[PhoneOption]:
    return sorted((p for p in phones if not p.invalid), key=lambda p: (p.rank, p.phone_id))


def attempts_in_24h(history: Sequence[PastAttempt], phone_id: int, now: datetime) -> list[datetime]:
    since = now - WINDOW_24H
    return sorted(a.started_at for a in history if a.phone_id == phone_id and since < a.started_at <= now)


def choose_phone(
    phones: Sequence[PhoneOption],
    history: Sequence[PastAttempt],
    *,
    now: datetime,
    max_per_24h: int,
    after_phone_id: int | None = None,
) -> PhoneChoice:
    """The next number in rank order, skipping invalid numbers and numbers at their 24-hour cap.

    ``after_phone_id`` starts the search after that number (the outcome said "try the next number"); the
    search wraps round to the first number."""
    ordered = valid_phones(phones)
    if not ordered:
        return PhoneChoice(None, reason="no valid phone number")
    if after_phone_id is not None:
        ids = [p.phone_id for p in ordered]
        if after_phone_id in ids:
            i = ids.index(after_phone_id) + 1
            ordered = ordered[i:] + ordered[:i]
    frees: list[datetime] = []
    for phone in ordered:
        recent = attempts_in_24h(history, phone.phone_id, now)
        if len(recent) < max_per_24h:
            return PhoneChoice(phone.phone_id)
        frees.append(recent[len(recent) - max_per_24h] + WINDOW_24H)
    return PhoneChoice(None, wait_until=min(frees), reason="every number reached its 24-hour cap")


class Action(enum.StrEnum):
    complete = "complete"  # task completed
    close = "close"  # final outcome other than completion (refused, deceased, unable)
    unreachable = "unreachable"  # 失访: attempts exhausted or no valid number left
    retry = "retry"  # back to planned, next attempt at ``retry_at`` (before calendar/window adjustment)
    callback = "callback"  # wait for the time the patient chose


class StopScope(enum.StrEnum):
    none = "none"
    point = "point"  # other open tasks of the same patient, anchor and time point (reminders)
    plan = "plan"  # remaining tasks of this plan for the patient
    patient = "patient"  # every open task of the patient


@dataclass(frozen=True)
class Decision:
    action: Action
    retry_at: datetime | None = None
    phone_id: int | None = None  # the number to try next (retry)
    invalidate_phone: bool = False
    stop: StopScope = StopScope.none
    reason: str = ""


# Default stop rules: which final outcomes cancel what. Plans may override (FollowUpPlan.stop_rules).
DEFAULT_STOP_RULES: dict[str, StopScope] = {
    "completed": StopScope.point,
    "refused": StopScope.plan,
    "deceased": StopScope.patient,
}


def decide(
    *,
    code: str,
    final: bool,
    contacted: bool,
    final_for_number: bool,
    try_next_number: bool,
    retry_delay_min: int,
    attempts: int,
    max_attempts: int,
    now: datetime,
    phone_id: int | None,
    phones: Sequence[PhoneOption],
    history: Sequence[PastAttempt],
    max_per_24h: int,
    callback_at: datetime | None = None,
    stop_rules: dict[str, StopScope] | None = None,
) -> Decision:
    """What the task does after an attempt ended with outcome ``code``.

    ``attempts`` already counts this attempt; ``history`` includes it; ``phones`` are as before the attempt."""
    rules = DEFAULT_STOP_RULES if stop_rules is None else stop_rules
    stop = rules.get(code, StopScope.none)
    if final:
        action = Action.complete if code == "completed" else Action.close
        return Decision(action, stop=stop, reason=f"outcome {code}")
    if code == "callback_requested":
        if callback_at is None:
            raise DialingError("a callback needs the time the patient chose (callback_at)")
        if callback_at <= now:
            raise DialingError("the callback time must be in the future")
        return Decision(Action.callback, retry_at=callback_at, phone_id=phone_id, reason="callback requested")
    remaining = [p for p in phones if not (final_for_number and p.phone_id == phone_id)]
    if not valid_phones(remaining):
        return Decision(Action.unreachable, invalidate_phone=final_for_number, reason="no valid phone number left")
    limit = max_attempts * HARD_CAP_FACTOR if contacted else max_attempts
    if attempts >= limit:
        return Decision(Action.unreachable, invalidate_phone=final_for_number,
                        reason=f"{attempts} attempts reached the limit of {limit}")
    after = phone_id if try_next_number else None
    earliest = now + timedelta(minutes=retry_delay_min)
    if try_next_number and len(valid_phones(remaining)) > 1:
        earliest = now  # another number can be dialled at once
    choice = choose_phone(remaining, history, now=earliest, max_per_24h=max_per_24h, after_phone_id=after)
    if choice.phone_id is None:
        if choice.wait_until is None:
            return Decision(Action.unreachable, invalidate_phone=final_for_number, reason=choice.reason)
        earliest = choice.wait_until
        choice = choose_phone(remaining, history, now=earliest, max_per_24h=max_per_24h, after_phone_id=after)
    if not try_next_number and phone_id is not None and choice.phone_id != phone_id:
        # same number again when it is still allowed (busy: retry the line that was busy)
        same = choose_phone([p for p in remaining if p.phone_id == phone_id], history, now=earliest,
                            max_per_24h=max_per_24h)
        if same.phone_id is not None:
            choice = same
    return Decision(Action.retry, retry_at=earliest, phone_id=choice.phone_id,
                    invalidate_phone=final_for_number, reason=f"outcome {code}, retry")


def cap_allows(history: Sequence[PastAttempt], phone_id: int, at: datetime, max_per_24h: int) -> bool:
    return len(attempts_in_24h(history, phone_id, at)) < max_per_24h
