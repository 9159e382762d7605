"""Pure rules of the SMS outbox: retry backoff, the hours messages may go out, opt-out replies, blocking.

No I/O here: ``callcenter.sms.service`` applies these decisions to the database.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from callcenter.errors import InvalidInput
from callcenter.models.sms import SmsStatus

# Delay before retry n (1-based) after a temporary refusal or a broken connection.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
# Notification SMS go out only in the day (carriers' rule for marketing-like traffic; patients' peace at night).
SEND_WINDOW = (time(8, 0), time(21, 0))
# A message claimed by a batch that died mid-submission goes back to the queue after this long.
STALE_SENDING = timedelta(minutes=10)

# Replies meaning "stop sending me messages". Compared after NFKC (full-width ＴＤ → TD), trimmed, upper-cased.
OPT_OUT_WORDS = frozenset({"TD", "T", "N", "STOP", "UNSUBSCRIBE", "退订", "退", "取消", "取消订阅", "TD退订", "退订TD"})


class BlockReason(enum.StrEnum):
    no_consent = "no_consent"  # the patient opted out or never agreed
    deceased = "deceased"
    no_mobile = "no_mobile"


@dataclass(frozen=True)
class RetryDecision:
    status: SmsStatus
    next_attempt_at: datetime | None
    final: bool


def retry_delay(attempts: int) -> timedelta:
    """Delay after the ``attempts``-th failed try (1-based); the last delay repeats."""
    index = max(1, attempts) - 1
    return RETRY_DELAYS[min(index, len(RETRY_DELAYS) - 1)]


def after_failure(*, attempts: int, max_attempts: int, temporary: bool, now: datetime) -> RetryDecision:
    """What happens to a message whose submission just failed (``attempts`` counts this try)."""
    if temporary and attempts < max_attempts:
        return RetryDecision(SmsStatus.queued, now + retry_delay(attempts), final=False)
    return RetryDecision(SmsStatus.failed, None, final=True)


def block_reason(*, sms_consent: bool, deceased: bool, has_mobile: bool) -> BlockReason | None:
    """Why a message to this patient must not be sent, or None when it may."""
    if deceased:
        return BlockReason.deceased
    if not sms_consent:
        return BlockReason.no_consent
    if not has_mobile:
        return BlockReason.no_mobile
    return None


def is_opt_out(text: str) -> bool:
    """True for a reply that asks to stop messages: TD, 退订, ＴＤ, "td 退订", STOP …"""
    normal = unicodedata.normalize("NFKC", text).strip().upper()
    compact = "".join(ch for ch in normal if not ch.isspace() and unicodedata.category(ch)[0] != "P")
    return compact in OPT_OUT_WORDS or "退订" in compact


class SendWindowError(InvalidInput):
    """CALLCENTER_SMS_SEND_WINDOW is not of the form HH:MM-HH:MM."""


def parse_send_window(text: str) -> tuple[time, time]:
    """``"08:00-21:00"`` -> (08:00, 21:00); an end of ``24:00`` means midnight (the whole evening)."""
    start_text, sep, end_text = text.strip().partition("-")
    try:
        if not sep:
            raise ValueError(text)
        start = time.fromisoformat(start_text.strip())
        end = time.max if end_text.strip() == "24:00" else time.fromisoformat(end_text.strip())
    except ValueError:
        raise SendWindowError(
            f"SMS send window {text!r} must look like 08:00-21:00 (CALLCENTER_SMS_SEND_WINDOW)"
        ) from None
    if end <= start:
        raise SendWindowError(f"SMS send window {text!r} must end after it starts (CALLCENTER_SMS_SEND_WINDOW)")
    return start, end


def in_send_window(now: datetime, tz: tzinfo, window: tuple[time, time] = SEND_WINDOW) -> bool:
    local = now.astimezone(tz).time()
    return window[0] <= local < window[1]


def next_send_time(now: datetime, tz: tzinfo, window: tuple[time, time] = SEND_WINDOW) -> datetime:
    """``now`` when inside the window, else the next opening of the window (as an aware datetime in ``tz``)."""
    if in_send_window(now, tz, window):
        return now
    local = now.astimezone(tz)
    opening = local.replace(hour=window[0].hour, minute=window[0].minute, second=0, microsecond=0)
    if local.time() >= window[1]:
        opening = opening + timedelta(days=1)
    return opening
