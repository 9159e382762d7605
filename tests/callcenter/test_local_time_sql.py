"""The database reads UTC timestamps in a local zone exactly as ``datetime.astimezone`` does (SQLite and PostgreSQL):
local day and hour across midnight and clock changes, whole epoch seconds and microsecond durations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import Session

from callcenter import local_time_sql
from callcenter.models import CallAttempt, Patient

START_AT, END_AT = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
MOMENTS = [
    datetime(2026, 11, 23, 15, 59, 59, 999_999, tzinfo=UTC),  # Shanghai 23:59:59.999999
    datetime(2026, 11, 23, 16, 0, tzinfo=UTC),  # Shanghai midnight
    datetime(2026, 3, 29, 0, 59, 59, 500_000, tzinfo=UTC),  # Berlin: last second before spring forward
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # Berlin 03:00 CEST
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # Berlin 02:30 CEST, the first of the two
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # Berlin 02:30 CET, the second
    datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC),  # Berlin 23:59:59 after falling back
    datetime(2026, 6, 30, 18, 15, 0, 1, tzinfo=UTC),  # Kathmandu +05:45: 00:00:00.000001
]


@pytest.fixture
def attempts(session: Session) -> list[int]:
    patient = Patient(name="测试", source_system="t", mrn="1")
    session.add(patient)
    session.flush()
    rows = [CallAttempt(patient_id=patient.id or 0, started_at=at, answered_at=at,
                        ended_at=at + timedelta(seconds=61, microseconds=250_001)) for at in MOMENTS]
    session.add_all(rows)
    session.commit()
    return [row.id or 0 for row in rows]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "Asia/Kathmandu", "America/St_Johns"])
def test_local_day_and_hour_match_python(session, attempts, zone):
    tz = ZoneInfo(zone)
    started = CallAttempt.started_at
    query = (select(CallAttempt.started_at, local_time_sql.local_day(started, tz, START_AT, END_AT),
                    local_time_sql.local_hour(started, tz, START_AT, END_AT))
             .where(CallAttempt.id.in_(attempts)).order_by(CallAttempt.started_at))  # type: ignore[union-attr]
    got = [(at, local_time_sql.day_of(day), hour) for at, day, hour in session.execute(query)]
    assert got == [(at, at.astimezone(tz).date(), at.astimezone(tz).hour) for at in sorted(MOMENTS)]


def test_epoch_seconds_and_microsecond_durations_are_exact(session, attempts):
    query = select(CallAttempt.started_at, local_time_sql.epoch_s(CallAttempt.started_at),
                   local_time_sql.epoch_us(CallAttempt.ended_at) - local_time_sql.epoch_us(CallAttempt.answered_at))
    rows = session.execute(query.where(CallAttempt.id.in_(attempts))).all()  # type: ignore[union-attr]
    assert {(int(s), int(us)) for at, s, us in rows} == {(int(at.timestamp() // 1), 61_250_001) for at in MOMENTS}


def test_offset_spans_mark_each_clock_change():
    berlin = ZoneInfo("Europe/Berlin")
    spans = local_time_sql.offset_spans(berlin, START_AT, END_AT)
    assert spans == [(int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()), 3600),
                     (int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp()), 7200), (None, 3600)]
    assert local_time_sql.offset_spans(ZoneInfo("Asia/Shanghai"), START_AT, END_AT) == [(None, 28800)]
    assert local_time_sql.day_of(0) == date(1970, 1, 1)
