"""Bulk look-ups and INSERTs for intake batches, in the caller's transaction.

SQLite: one executemany (``INSERT … RETURNING`` when ids are needed). PostgreSQL: ``COPY … FROM STDIN``
(psycopg), with ids taken from the table's sequence first — the multi-row ``INSERT … RETURNING`` that
SQLAlchemy builds costs psycopg ~0.5 ms per row just to rewrite the placeholders of the huge statement.

Look-ups of a batch's thousands of keys (``one_of`` inside ``unprepared``): on PostgreSQL one array parameter,
``= ANY(:keys)``, planned for its values every time. psycopg prepares a statement on the server once it has run
5 times, and PostgreSQL may then use a generic plan, in which ``IN ($1, …, $2000)`` is no longer a constant list
it can hash: each row of the table is compared with the 2000 keys one by one (1.7 s per look-up of 2000
patients among 50 000 instead of 5 ms; the re-import of 100 000 CSV rows took over 100 s).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Enum, Table, any_, insert, literal, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def one_of(session: Session, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)`` (one parameter, not one per value)."""
    if _is_postgresql(session):
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


@contextmanager
def unprepared(session: Session) -> Iterator[None]:
    """PostgreSQL: statements inside are never prepared on the server, so each is planned for its values."""
    if not _is_postgresql(session):
        yield
        return
    driver = session.connection().connection.driver_connection
    assert driver is not None
    before = driver.prepare_threshold
    driver.prepare_threshold = None
    try:
        yield
    finally:
        driver.prepare_threshold = before


def insert_returning_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (without ``id``) and return their new ids in order."""
    if not rows:
        return []
    if _is_postgresql(session):
        ids = [int(i) for i in session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": len(rows)}).scalars()]
        _copy(session, table, [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
        return ids
    result = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [int(i) for i in result.scalars().all()]


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if _is_postgresql(session):
        _copy(session, table, rows)
    else:
        session.execute(insert(table), rows)


def _converter(column: Any) -> Callable[[Any], Any]:
    if isinstance(column.type, Enum):
        return lambda v: v.name if isinstance(v, enum.Enum) else v  # SQLAlchemy stores enum names
    return lambda v: v


def _default(column: Any) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    return None


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    given = set(rows[0])
    columns = [c for c in table.columns if c.name in given or not c.primary_key]
    converters = [_converter(c) for c in columns]
    defaults = {c.name: _default(c) for c in columns if c.name not in given}
    names = ", ".join(f'"{c.name}"' for c in columns)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([conv(row[c.name] if c.name in row else defaults[c.name])
                                for c, conv in zip(columns, converters, strict=True)])
    except Exception as exc:
        if str(getattr(exc, "sqlstate", "") or "").startswith("23"):  # integrity: same error as an INSERT
            raise IntegrityError(statement, None, exc) from exc
        raise
