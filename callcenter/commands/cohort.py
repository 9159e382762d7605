"""``callcenter cohort select|groups …`` and ``callcenter patients timeline|merge``."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml
from sqlmodel import Session, col, select

from callcenter.cli import AppContext, pass_app
from callcenter.cohorts import CohortRuleError, count_encounters, rule_from_dict, select_encounters, to_dict
from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from callcenter.groups import ensure_default_groups, fill_groups
from callcenter.models import Patient, PatientGroup
from callcenter.patients import merge_patients, patient_timeline


def _today(app: AppContext, given: str | None) -> date:
    if given:
        return date.fromisoformat(given)
    return datetime.now(ZoneInfo(app.settings.timezone)).date()


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@click.group("cohort")
def command() -> None:
    """Cohorts of encounters (department, diagnosis, dates, age, sex, group) and chronic-disease groups."""


@command.command("select")
@click.option("--rule", "rule_file", type=click.Path(exists=True, dir_okay=False), help="Rule file (YAML/JSON).")
@click.option("--department", "departments", multiple=True, help="出院科室 (repeat for several).")
@click.option("--code", "codes", multiple=True, help="ICD-10 code prefix, e.g. I10 (repeatable).")
@click.option("--keyword", "keywords", multiple=True, help="Word in the diagnosis text, e.g. 高血压.")
@click.option("--admitted-from")
@click.option("--admitted-to")
@click.option("--discharged-from", help="YYYY-MM-DD (local date, inclusive).")
@click.option("--discharged-to")
@click.option("--within-days", type=int, help="Discharged in the last N days.")
@click.option("--age-min", type=int)
@click.option("--age-max", type=int)
@click.option("--sex", type=click.Choice(["male", "female", "unknown"]))
@click.option("--group", "groups", multiple=True, help="Group key (member of any).")
@click.option("--risk", "risks", multiple=True, help="Risk level of the membership (low/medium/high).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["inpatient", "outpatient", "health_check"]))
@click.option("--include-deceased", is_flag=True)
@click.option("--today", help="Reference date for ages and --within-days (default: today).")
@click.option("--limit", type=int, default=100, show_default=True, help="Rows to list (0: count only).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def select_cmd(app: AppContext, /, rule_file: str | None, limit: int, as_json: bool, today: str | None,
               **criteria: Any) -> None:
    """List (and count) the encounters of a cohort."""
    data: dict[str, Any] = {}
    if rule_file:
        loaded = yaml.safe_load(Path(rule_file).read_text(encoding="utf-8")) or {}
        data.update(loaded.get("cohort", loaded) if isinstance(loaded, dict) else {})
    names = {"departments": "departments", "codes": "diagnosis_codes", "keywords": "diagnosis_keywords",
             "admitted_from": "admitted_from", "admitted_to": "admitted_to", "discharged_from": "discharged_from",
             "discharged_to": "discharged_to", "within_days": "discharged_within_days", "age_min": "age_min",
             "age_max": "age_max", "sex": "sex", "groups": "groups", "risks": "risk_levels", "kinds": "kinds",
             "include_deceased": "include_deceased"}
    for option, field in names.items():
        value = criteria.get(option)
        if value not in (None, (), False):
            data[field] = list(value) if isinstance(value, tuple) else value
    try:
        rule = rule_from_dict(data)
    except CohortRuleError as exc:
        raise click.ClickException(str(exc)) from exc
    day = _today(app, today)
    with Session(app.engine) as session:
        total = count_encounters(session, rule, today=day)
        encounters = select_encounters(session, rule, today=day, limit=limit) if limit else []
        ids = {e.patient_id for e in encounters}
        patients = {p.id: p for p in session.exec(select(Patient).where(col(Patient.id).in_(ids))).all()} if ids else {}
    rows = []
    for e in encounters:
        p = patients[e.patient_id]
        rows.append({"encounter_id": e.id, "patient_id": e.patient_id, "mrn": p.mrn, "name": p.name,
                     "sex": p.sex.value, "age": _age(p.birth_date, day), "kind": e.kind.value,
                     "department": e.department, "diagnosis_code": e.diagnosis_code,
                     "diagnosis_text": e.diagnosis_text,
                     "admitted_at": e.admitted_at.isoformat() if e.admitted_at else None,
                     "discharged_at": e.discharged_at.isoformat() if e.discharged_at else None})
    if as_json:
        click.echo(json.dumps({"rule": to_dict(rule), "today": day.isoformat(), "count": total,
                               "encounters": rows}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{total} encounters match {json.dumps(to_dict(rule), ensure_ascii=False)}")
    tz = ZoneInfo(app.settings.timezone)
    for e, r in zip(encounters, rows, strict=True):
        left = f"{e.discharged_at.astimezone(tz):%Y-%m-%d %H:%M}" if e.discharged_at else "-"
        click.echo(f"  #{r['encounter_id']} patient {r['patient_id']} {r['name']} {r['age']}岁 {r['department']} "
                   f"{r['diagnosis_code']} {r['diagnosis_text']} 出院 {left}")


@command.command("groups")
@click.option("--fill", is_flag=True, help="Add the patients each group's rule matches.")
@click.option("--defaults", is_flag=True, help="Create the default chronic-disease groups first.")
@click.option("--today")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def groups_cmd(app: AppContext, /, fill: bool, defaults: bool, today: str | None, as_json: bool) -> None:
    """List chronic-disease / risk groups; --defaults creates the standard ones, --fill applies the rules."""
    day = _today(app, today)
    with session_scope(app.engine) as session:
        if defaults:
            ensure_default_groups(session)
        results = {r.group_key: r for r in fill_groups(session, today=day)} if fill else {}
        groups = session.exec(select(PatientGroup).order_by(col(PatientGroup.key))).all()
        out = [{"key": g.key, "name": g.name, "rule": g.rule,
                "matched": results[g.key].matched if g.key in results else None,
                "added": results[g.key].added if g.key in results else None,
                "removed": results[g.key].removed if g.key in results else None} for g in groups]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for g in out:
        filled = (f" — {g['matched']} matched, {g['added']} added, {g['removed']} removed"
                  if g["matched"] is not None else "")
        click.echo(f"{g['key']:14} {g['name']}{filled}")


@click.group("patients")
def patients_command() -> None:
    """Patient records: timeline, merging duplicates."""


@patients_command.command("timeline")
@click.argument("patient_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def timeline_cmd(app: AppContext, /, patient_id: int, as_json: bool) -> None:
    """Visits, follow-up tasks, calls, answers and alerts of one patient, oldest first."""
    try:
        with Session(app.engine) as session:
            entries = patient_timeline(session, patient_id)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([{"at": e.at.isoformat(), "kind": e.kind, "title": e.title, "ref": e.ref,
                                "detail": e.detail} for e in entries], ensure_ascii=False, indent=2, default=str))
        return
    tz = ZoneInfo(app.settings.timezone)
    for e in entries:
        click.echo(f"{e.at.astimezone(tz):%Y-%m-%d %H:%M} {e.kind:12} {e.title} ({e.ref})")


@patients_command.command("merge")
@click.argument("survivor_id", type=int)
@click.argument("duplicate_id", type=int)
@pass_app
def merge_cmd(app: AppContext, /, survivor_id: int, duplicate_id: int) -> None:
    """Fold patient DUPLICATE_ID into SURVIVOR_ID (encounters, phones, tasks, calls … move over)."""
    try:
        with session_scope(app.engine) as session:
            result = merge_patients(session, survivor_id, duplicate_id)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    moved = ", ".join(f"{t} {n}" for t, n in result.moved.items() if n) or "nothing"
    click.echo(f"patient {duplicate_id} merged into {survivor_id}; moved: {moved}")


commands = [command, patients_command]
