"""``callcenter demo-data --patients N``: a synthetic hospital imported like real HIS data."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import click

from callcenter.cli import AppContext, pass_app
from callcenter.db import session_scope
from callcenter.demo_data import DemoOptions, adt_messages, generate_hospital
from callcenter.groups import ensure_default_groups, fill_groups
from callcenter.intake.batch import import_rows, progress_enabled
from callcenter.intake.tabular import write_csv


@click.command("demo-data")
@click.option("--patients", default=200, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same hospital.")
@click.option("--today", default=None, help="Reference date (default: today); visits fall in the months before.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the rows as CSV instead of importing.")
@click.option("--hl7", "hl7_path", type=click.Path(dir_okay=False),
              help="Write the rows as HL7 ADT messages instead of importing.")
@click.option("--progress/--no-progress", default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def command(app: AppContext, /, patients: int, seed: int, today: str | None, csv_path: str | None,
            hl7_path: str | None, progress: bool | None, as_json: bool) -> None:
    """Generate patients, encounters and phones (and fill the chronic-disease groups)."""
    tz = ZoneInfo(app.settings.timezone)
    day = date.fromisoformat(today) if today else datetime.now(tz).date()
    options = DemoOptions(patients=patients, seed=seed, today=day, tz=tz)
    rows = generate_hospital(options)
    if csv_path or hl7_path:
        if csv_path:
            click.echo(f"wrote {write_csv(csv_path, rows)} rows to {csv_path}")
        if hl7_path:
            with open(hl7_path, "w", encoding="utf-8") as fh:
                count = 0
                for _, message in adt_messages(generate_hospital(options)):
                    fh.write(message.replace("\r", "\n") + "\n")
                    count += 1
            click.echo(f"wrote {count} messages to {hl7_path}")
        return
    summary = import_rows(app.engine, rows, source="demo-data", source_system="his",
                          progress=progress_enabled(progress), tz=tz)
    with session_scope(app.engine) as session:
        ensure_default_groups(session)
        groups = {r.group_key: r.added for r in fill_groups(session, today=day)}
    if as_json:
        click.echo(json.dumps({**summary.to_dict(), "groups": groups}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"demo hospital: {summary.details.get('patients_created', 0)} patients and "
                   f"{summary.details.get('encounters_created', 0)} encounters created "
                   f"({summary.unchanged} rows already there); groups: "
                   + ", ".join(f"{k} +{v}" for k, v in groups.items()))
    if summary.rejected:
        raise click.ClickException(f"{summary.rejected} demo rows were rejected — a bug in demo_data: "
                                   f"{summary.errors[:3]}")
