"""``callcenter import csv|xlsx|hl7|fhir|sql …``: HIS intake with a summary (``--json``) and a row-level report."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import click

from callcenter.call_rules import rules_from_settings
from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.generation import arrival_planner
from callcenter.intake.batch import IntakeSummary, import_rows, progress_enabled
from callcenter.intake.fhir import read_fhir_bundle
from callcenter.intake.hl7v2 import locate, read_hl7_file
from callcenter.intake.records import RawRow, RowError
from callcenter.intake.sql_pull import read_sql
from callcenter.intake.tabular import ColumnMapping, IntakeFileError, read_csv, read_xlsx, write_template

MAX_SHOWN_ERRORS = 50


@click.group("import")
def command() -> None:
    """Import patients and encounters from the HIS (idempotent; one transaction per file)."""


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    @click.option("--source-system", default="his", show_default=True,
                  help="Name of the HIS the MRNs and visit numbers belong to.")
    @click.option("--strict", is_flag=True, help="Reject the whole file if any row is bad.")
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    @click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
    @click.option("--report", type=click.Path(dir_okay=False), default=None,
                  help="Write every rejected row (line, field, reason) to this CSV file.")
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def _run(app: AppContext, source: str, reader: Callable[[], tuple[int | None, Iterator[RawRow | RowError]]],
         options: dict[str, Any], locate_error: Callable[[RowError], RowError] | None = None) -> None:
    try:
        total, rows = reader()
    except IntakeFileError as exc:
        raise click.ClickException(str(exc)) from exc
    summary = import_rows(app.engine, rows, source=source, source_system=options["source_system"],
                          strict=options["strict"], progress=progress_enabled(options["progress"]), total=total,
                          tz=ZoneInfo(app.settings.timezone),
                          planner=arrival_planner(rules_from_settings(app.settings), SystemClock()))
    if locate_error is not None:
        summary.errors = [locate_error(e) for e in summary.errors]
    _report(summary, options)


def _report(summary: IntakeSummary, options: dict[str, Any]) -> None:
    if options.get("report"):
        with open(options["report"], "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["line", "field", "reason"])
            writer.writeheader()
            writer.writerows(asdict(e) for e in summary.errors)
    if options["as_json"]:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        verdict = "REJECTED (--strict: nothing written)" if summary.strict_rejected else "done"
        click.echo(f"{summary.source}: {verdict} — {summary.rows} rows: {summary.created} created, "
                   f"{summary.updated} updated, {summary.unchanged} unchanged, {summary.rejected} rejected")
        for e in summary.errors[:MAX_SHOWN_ERRORS]:
            click.echo(f"  line {e.line}: {e.field}: {e.reason}", err=True)
        if len(summary.errors) > MAX_SHOWN_ERRORS:
            click.echo(f"  … {len(summary.errors) - MAX_SHOWN_ERRORS} more (use --report FILE or --json)", err=True)
    if summary.rejected:
        raise SystemExit(1)


def _mapping(path: str | None) -> ColumnMapping | None:
    try:
        return ColumnMapping.load(path) if path else None
    except IntakeFileError as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("csv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="Column mapping (YAML/JSON).")
@click.option("--encoding", default="auto", show_default=True, help="auto = UTF-8, else GB18030.")
@click.option("--delimiter", default=",", show_default=True)
@_common
@pass_app
def import_csv(app: AppContext, /, path: str, mapping: str | None, encoding: str, delimiter: str,
               **options: Any) -> None:
    """Import a CSV export of a HIS view (default template: docs/intake.md)."""
    cols = _mapping(mapping)
    _run(app, path, lambda: read_csv(path, cols, encoding=encoding, delimiter=delimiter), options)


@command.command("xlsx")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="Column mapping (YAML/JSON).")
@click.option("--sheet", default=None, help="Sheet name (default: the first).")
@_common
@pass_app
def import_xlsx(app: AppContext, /, path: str, mapping: str | None, sheet: str | None, **options: Any) -> None:
    """Import an Excel (.xlsx) export of a HIS view."""
    cols = _mapping(mapping)
    _run(app, path, lambda: read_xlsx(path, cols, sheet=sheet), options)


@command.command("hl7")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", default="auto", show_default=True)
@_common
@pass_app
def import_hl7(app: AppContext, /, path: str, encoding: str, **options: Any) -> None:
    """Import a file of HL7 v2 ADT messages (A01/A02/A03/A04/A08/A11/A13)."""
    tz = ZoneInfo(app.settings.timezone)
    _run(app, path, lambda: read_hl7_file(path, encoding=encoding, tz=tz), options, locate)


@command.command("fhir")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_common
@pass_app
def import_fhir(app: AppContext, /, path: str, **options: Any) -> None:
    """Import a FHIR R4 Bundle (JSON) of Patient, Encounter and Condition resources."""
    _run(app, path, lambda: read_fhir_bundle(path), options)


@command.command("sql")
@click.argument("url")
@click.argument("query")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="Column mapping (YAML/JSON).")
@_common
@pass_app
def import_sql(app: AppContext, /, url: str, query: str, mapping: str | None, **options: Any) -> None:
    """Pull rows from a view of the HIS database: URL (SQLAlchemy) and QUERY."""
    cols = _mapping(mapping)
    _run(app, "sql", lambda: read_sql(url, query, cols), options)


@command.command("template")
@click.argument("path", type=click.Path(dir_okay=False))
def template(path: str) -> None:
    """Write an empty CSV with the default template's header row."""
    write_template(path)
    click.echo(f"wrote {path}")
