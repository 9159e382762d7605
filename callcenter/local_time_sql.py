"""SQL expressions over ``UTCDateTime`` columns, for reports that group by local date and hour in the database:
whole seconds since the epoch, exact microseconds, and the local day / hour in the hospital's time zone.

The same SQL on SQLite (UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``, see ``callcenter.models.base``) and PostgreSQL
(``timestamptz``). Local time is UTC plus the zone's offset, which Python's ``zoneinfo`` gives per span between the
zone's transitions (none for Asia/Shanghai), so the database agrees with ``datetime.astimezone`` to the second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)


class epoch_s(FunctionElement[int]):  # noqa: N801 - SQL function style, like sqlalchemy.func
    """Whole seconds since 1970-01-01 UTC (floor) of a UTC timestamp column."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_s"


class epoch_us(FunctionElement[int]):  # noqa: N801 - SQL function style, like sqlalchemy.func
    """Microseconds since 1970-01-01 UTC of a UTC timestamp column: differences are exact durations."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_us"


# SQLite keeps milliseconds and rounds: 23:59:59.9996 would read as the next day. Whole seconds come from the first
# 19 characters (YYYY-MM-DD HH:MM:SS), microseconds from characters 21-26 of SQLAlchemy's text.
@compiles(epoch_s, "sqlite")
def _epoch_s_sqlite(element: epoch_s, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', substr({compiler.process(element.clauses, **kw)}, 1, 19)) AS INTEGER)"


@compiles(epoch_s, "postgresql")
def _epoch_s_postgresql(element: epoch_s, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch from {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    at = compiler.process(element.clauses, **kw)
    return f"(CAST(strftime('%s', substr({at}, 1, 19)) AS INTEGER) * 1000000 + CAST(substr({at}, 21, 6) AS INTEGER))"


@compiles(epoch_us, "postgresql")
def _epoch_us_postgresql(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(extract(epoch from {compiler.process(element.clauses, **kw)}) * 1000000 AS BIGINT)"


def offset_spans(zone: tzinfo, start_at: datetime, end_at: datetime) -> list[tuple[int | None, int]]:
    """The zone's UTC offset in seconds from ``start_at`` to ``end_at``: [(until epoch second, offset), …,
    (None, offset)]; one span unless the zone changes its clocks in between."""

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    spans: list[tuple[int | None, int]] = []
    at = start_at.astimezone(UTC).replace(microsecond=0)
    current = offset(at)
    while at < end_at:
        step = at + timedelta(hours=1)
        if offset(step) != current:  # a transition in (at, step]: find its second
            lo, hi = at, step
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if offset(mid) == current else (lo, mid)
            spans.append((int(hi.timestamp()), current))
            current = offset(hi)
        at = step
    spans.append((None, current))
    return spans


def local_seconds(at: Any, zone: tzinfo, start_at: datetime, end_at: datetime) -> ColumnElement[int]:
    """Seconds since 1970-01-01 00:00 *local* of the UTC column ``at``; exact for moments in [start_at, end_at)."""
    seconds = epoch_s(at)
    spans = offset_spans(zone, start_at, end_at)
    last = literal(spans[-1][1], BigInteger)
    branches = [(seconds < literal(until, BigInteger), literal(offset, BigInteger))
                for until, offset in spans if until is not None]
    return seconds + (case(*branches, else_=last) if branches else last)


def local_day(at: Any, zone: tzinfo, start_at: datetime, end_at: datetime) -> ColumnElement[int]:
    """The local date of ``at`` as a day number (``day_of`` turns it into a date)."""
    return local_seconds(at, zone, start_at, end_at) // SECONDS_PER_DAY


def local_hour(at: Any, zone: tzinfo, start_at: datetime, end_at: datetime) -> ColumnElement[int]:
    """The local hour of the day (0-23) of ``at``."""
    return (local_seconds(at, zone, start_at, end_at) % SECONDS_PER_DAY) // 3600


def day_of(number: int) -> date:
    """A day number from ``local_day`` as a date."""
    return _EPOCH + timedelta(days=number)
