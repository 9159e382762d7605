"""Pull from a SQL view of the HIS database (any SQLAlchemy URL + a query), for hospitals that allow it.

The query's column names (or aliases) go through the same column mapping as CSV files, so
``SELECT zyh AS 病案号, xm AS 姓名 …`` or ``SELECT … AS mrn`` both work. Line numbers are result rows (1-based).
The HIS database is only read: the connection runs the query and is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from callcenter.intake.records import RawRow, RowError
from callcenter.intake.tabular import ColumnMapping, IntakeFileError, cell_text

logger = logging.getLogger(__name__)


def read_sql(url: str, query: str, mapping: ColumnMapping | None = None) -> tuple[int | None, Iterator[RawRow | RowError]]:
    """(None — the row count is unknown, rows) of ``query`` run on the database at ``url``."""
    try:
        engine = create_engine(url)
        conn = engine.connect()
        result = conn.execution_options(stream_results=True).execute(text(query))
    except SQLAlchemyError as exc:
        raise IntakeFileError(f"cannot run the query on the HIS database: {exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0]}; check the URL, the credentials and the query") from exc
    columns = (mapping or ColumnMapping.default()).resolve(list(result.keys()), "the query's columns")
    logger.info("sql intake: query started on %s", engine.url.render_as_string(hide_password=True))

    def generate() -> Iterator[RawRow | RowError]:
        try:
            for number, row in enumerate(result, start=1):
                yield RawRow(number, {name: cell_text(row[i]) for i, name in columns.items()})
        finally:
            result.close()
            conn.close()
            engine.dispose()

    return None, generate()
