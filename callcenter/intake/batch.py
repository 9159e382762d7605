"""One import batch: validate every row, then write the good ones in ONE transaction.

- A bad row is rejected and reported (line, field, reason); the other rows are written.
- ``strict=True``: one bad row rejects the whole batch (nothing is written).
- Any unexpected error while writing rolls the whole batch back: nothing partial is ever written.
- Re-importing the same data reports every row unchanged (0 created, 0 updated).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from tqdm import tqdm

from callcenter.db import session_scope
from callcenter.intake.apply import ApplyResult, apply_records
from callcenter.intake.records import HOSPITAL_TZ, IntakeRecord, RawRow, RowError, RowRejected, validate_row

logger = logging.getLogger(__name__)


@dataclass
class IntakeSummary:
    source: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    strict_rejected: bool = False  # --strict and a bad row: nothing written
    details: dict[str, int] = field(default_factory=dict)  # patients_created, encounters_updated, …
    errors: list[RowError] = field(default_factory=list)
    planned_tasks: int = 0  # follow-up tasks created for the new encounters (when a planner is given)

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = [asdict(e) for e in self.errors]
        return out

    def merge(self, other: IntakeSummary) -> None:
        for name in ("rows", "created", "updated", "unchanged", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.strict_rejected = self.strict_rejected or other.strict_rejected
        for k, v in other.details.items():
            self.details[k] = self.details.get(k, 0) + v
        self.errors.extend(other.errors)


# (session, patient ids with new or changed encounters) -> tasks created; runs inside the import's transaction
Planner = Callable[[Session, Sequence[int]], int]


class _StrictRollback(Exception):
    """Raised inside the transaction to roll it back when --strict finds a conflicting row."""


def progress_enabled(flag: bool | None) -> bool:
    """Show the progress bar when asked, or by default when stderr is a terminal."""
    return flag if flag is not None else sys.stderr.isatty()


def import_rows(
    engine: Engine,
    rows: Iterable[RawRow | RowError],
    *,
    source: str,
    source_system: str,
    strict: bool = False,
    progress: bool = False,
    total: int | None = None,
    tz: tzinfo = HOSPITAL_TZ,
    now: datetime | None = None,
    planner: Planner | None = None,
) -> IntakeSummary:
    """Validate ``rows`` (a reader's output) and write the valid ones in one transaction.

    ``planner`` (given by the composition root: ``generation.plan_patients``) matches the patients whose
    encounters arrived against the follow-up plans in the same transaction, so their tasks exist at once.
    """
    summary = IntakeSummary(source=source)
    records: list[IntakeRecord] = []
    bar = tqdm(rows, total=total, desc=f"import {source}", unit="row", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    for item in bar:
        summary.rows += 1
        if isinstance(item, RowError):
            summary.errors.append(item)
            continue
        try:
            records.append(validate_row(item.values, line=item.line, source_system=source_system,
                                        phones=item.phones, tz=tz, now=now))
        except RowRejected as exc:
            summary.errors.extend(exc.errors)
    bar.close()
    bad_lines = {e.line for e in summary.errors}
    if strict and bad_lines:
        summary.strict_rejected = True
        summary.rejected = summary.rows
        logger.warning("import %s: %s bad rows, whole batch rejected (--strict)", source, len(bad_lines))
        return summary
    result = ApplyResult()
    if records:
        try:
            # immediate: on SQLite take the write lock at BEGIN, so two imports (two MLLP connections) queue up
            # instead of failing to upgrade a read transaction; PostgreSQL ignores it
            with session_scope(engine, immediate=True) as session:
                result = apply_records(session, records, now=now)
                if strict and result.errors:
                    raise _StrictRollback
                if planner is not None and result.planning_patient_ids:
                    summary.planned_tasks = planner(session, result.planning_patient_ids)
        except _StrictRollback:
            summary.errors.extend(result.errors)
            summary.strict_rejected = True
            summary.rejected = summary.rows
            return summary
    summary.errors.extend(result.errors)
    summary.errors.sort(key=lambda e: e.line)
    summary.created, summary.updated, summary.unchanged = result.created, result.updated, result.unchanged
    summary.rejected = len({e.line for e in summary.errors})
    summary.details = {k: v for k, v in asdict(result).items() if k not in ("created", "updated", "unchanged",
                                                                              "errors", "planning_patient_ids")}
    logger.info("import %s: %s rows, %s created, %s updated, %s unchanged, %s rejected", source, summary.rows,
                summary.created, summary.updated, summary.unchanged, summary.rejected)
    return summary
