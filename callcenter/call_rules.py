"""The hospital's calling rules as one value: calendar + default windows + caps + leases, from the settings.

Built once by the composition root (or a test) and passed to the task use cases; reading the calendar
override file is the only I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from callcenter.calendar import (
    DEFAULT_NOON_REST,
    CalendarError,
    CalendarOverrides,
    CallPolicy,
    WorkingCalendar,
    parse_overrides,
)
from callcenter.settings import Settings


@dataclass(frozen=True)
class CallRules:
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    call_window: str = "08:30-11:30,14:30-20:00"
    timezone: str = "Asia/Shanghai"
    noon_rest: str = DEFAULT_NOON_REST
    max_calls_per_number_24h: int = 3
    lease_seconds: int = 600
    horizon_days: int = 30  # tasks are materialised this many days before they are due
    callback_grace_min: int = 30  # a callback bound to a nurse goes to the pool this long after its time

    def policy(self, plan_windows: str = "") -> CallPolicy:
        return CallPolicy.build(self.calendar, self.call_window, timezone=self.timezone,
                                plan_windows=plan_windows, noon_rest=self.noon_rest)


def load_overrides(path: str | Path) -> CalendarOverrides:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalendarError(f"cannot read the calendar override file {p}: {exc}; fix "
                            "CALLCENTER_CALENDAR_OVERRIDES") from exc
    return parse_overrides(text, str(p))


def rules_from_settings(settings: Settings) -> CallRules:
    overrides = load_overrides(settings.calendar_overrides) if settings.calendar_overrides else None
    rules = CallRules(
        calendar=WorkingCalendar(overrides),
        call_window=settings.call_window,
        timezone=settings.timezone,
        max_calls_per_number_24h=settings.max_calls_per_number_24h,
        lease_seconds=settings.lease_seconds,
    )
    rules.policy()  # fail now, with the setting's name, when the windows are unusable
    return rules
