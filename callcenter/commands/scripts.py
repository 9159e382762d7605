"""``callcenter scripts check|draft|publish|list|show|export-fhir|import-fhir|simulate``: questionnaire scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from callcenter import questionnaires
from callcenter.cli import AppContext, pass_app
from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from callcenter.models import Questionnaire
from callcenter.ports import SpeechVocabulary, VocabularyReport
from scripts_questionnaires import (
    AnswerInvalid,
    RunError,
    Script,
    Severity,
    check,
    dump_yaml,
    errors,
    from_fhir_questionnaire,
    interactive,
    library_script,
    load_file,
    parse_script,
    read_answers_file,
    render_text,
    simulate,
    to_fhir_questionnaire,
)


@click.group("scripts")
def command() -> None:
    """Questionnaire scripts (随访问卷): check, publish versions, FHIR, simulate."""


@command.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@pass_app
def check_cmd(app: AppContext, files: tuple[Path, ...], as_json: bool) -> None:
    """Check script files; print file:line:column problems; exit 1 on any error.

    The spoken phrases are also checked against the vocabulary of the speech model of each language
    (CALLCENTER_ASR_MODELS): a phrase with a word the model lacks is a warning at its line, since it could never be
    recognised; a language without a model is named in a note."""
    from asr.vocabulary import ModelVocabulary  # lazy: the speech package only when scripts are checked

    try:
        vocabulary: SpeechVocabulary = ModelVocabulary.from_settings(app.settings)
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    report: list[dict[str, Any]] = []
    failed = False
    for path in files:
        loaded = load_file(path)
        problems = list(loaded.problems) + (check(loaded.script) if loaded.script is not None else [])
        speech = vocabulary.check_script(loaded.script) if loaded.script is not None else VocabularyReport()
        problems = sorted(problems + list(speech.problems), key=lambda p: (p.pos.line, p.pos.column))
        failed |= bool(errors(problems))
        report.append({"file": str(path), "ok": not errors(problems),
                       "problems": [{"line": p.pos.line, "column": p.pos.column, "severity": p.severity.value,
                                     "message": p.message} for p in problems],
                       "speech": {"checked": [{"locale": loc, "model": model} for loc, model in speech.checked],
                                  "unchecked": [{"locale": loc, "reason": why} for loc, why in speech.unchecked]}})
        if not as_json:
            for problem in problems:
                click.echo(str(problem), err=problem.severity == Severity.error)
            for note in speech.notes():
                click.echo(f"{path}: note: {note}")
            if not errors(problems):
                click.echo(f"{path}: OK")
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if failed:
        raise SystemExit(1)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc


def _fail(exc: questionnaires.ScriptRejected) -> NoReturn:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    raise SystemExit(1)


@command.command("draft")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def draft_cmd(app: AppContext, file: Path) -> None:
    """Save FILE as the editable draft of its key (checker findings are shown, not fatal)."""
    try:
        with session_scope(app.engine) as session:
            row, problems = questionnaires.save_draft(session, _read(file), str(file))
            key = row.key
    except questionnaires.ScriptRejected as exc:
        _fail(exc)
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{key}@draft saved")


@command.command("publish")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--library", is_flag=True, help="Publish every built-in script (unchanged ones are skipped).")
@click.option("--by", "published_by_id", type=int, default=None, help="User id of the publishing doctor.")
@pass_app
def publish_cmd(app: AppContext, files: tuple[Path, ...], library: bool, published_by_id: int | None) -> None:
    """Publish FILE… as new immutable versions (refused when the checker finds errors), all in one transaction."""
    if not files and not library:
        raise click.UsageError("give script files to publish, or --library")
    try:
        with session_scope(app.engine) as session:
            results = questionnaires.publish_library(session, published_by_id=published_by_id) if library else []
            results += [questionnaires.publish(session, _read(f), str(f), published_by_id=published_by_id)
                        for f in files]
            lines = [(r.key, r.version, r.sha256, created) for r, created in results]
    except questionnaires.ScriptRejected as exc:
        _fail(exc)
    for key, version, digest, created in lines:
        if created:
            click.echo(f"{key}@{version} published (sha256 {digest[:12]})")
        else:
            click.echo(f"{key}@{version} already has exactly this text (sha256 {digest[:12]}); nothing published")


def _summary(row: Questionnaire) -> dict[str, Any]:
    return {"key": row.key, "version": row.version, "status": row.status.value, "title": row.title,
            "locale": row.locale, "sha256": row.sha256, "items": len(row.compiled.get("items", [])),
            "published_at": row.published_at.isoformat() if row.published_at else None}


@command.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Every draft and published version in the database."""
    with session_scope(app.engine) as session:
        rows = [_summary(r) for r in questionnaires.list_questionnaires(session)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        version = "draft" if r["version"] == 0 else r["version"]
        click.echo(f"{r['key']}@{version}\t{r['status']}\t{r['items']} items\t{r['sha256'][:12]}\t{r['title']}")


@command.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="The compiled script as JSON.")
@click.option("--source", is_flag=True, help="The YAML as published.")
@pass_app
def show_cmd(app: AppContext, ref: str, as_json: bool, source: bool) -> None:
    """Show KEY (latest published, else the draft) or KEY@VERSION."""
    try:
        with session_scope(app.engine) as session:
            row = questionnaires.resolve(session, ref)
            summary, compiled, text = _summary(row), row.compiled, row.source
    except CallCenterError as exc:
        raise click.ClickException(str(exc)) from exc
    if source:
        click.echo(text, nl=False)
    elif as_json:
        click.echo(json.dumps(summary | {"script": compiled}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{summary['key']}@{summary['version']} {summary['status']} — {summary['title']} "
                   f"({summary['locale']}, sha256 {summary['sha256'][:12]})")
        for item in compiled.get("items", []):
            when = f"  [when {item['when']}]" if item.get("when") else ""
            click.echo(f"  {item['id']:<24} {item['type']:<15} {item['text']}{when}")


@command.command("export-fhir")
@click.argument("ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@pass_app
def export_fhir_cmd(app: AppContext, ref: str, output: Path | None) -> None:
    """KEY[@VERSION] from the database (or, if absent there, the built-in library) as a FHIR R4 Questionnaire."""
    try:
        with session_scope(app.engine) as session:
            row = questionnaires.resolve(session, ref)
            script, status = questionnaires.script_of(row), "active" if row.version else "draft"
    except questionnaires.QuestionnaireNotFound:
        try:
            script, status = library_script(questionnaires.parse_ref(ref)[0]), "draft"
        except KeyError as exc:
            raise click.ClickException(f"no questionnaire {ref!r} in the database or the built-in library") from exc
        click.echo(f"{ref}: not in the database; exporting the built-in script", err=True)
    text = json.dumps(to_fhir_questionnaire(script, status=status), ensure_ascii=False, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


@command.command("import-fhir")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the YAML script here (default: standard output).")
@click.option("--locale", default=None, help="Locale of the script (default: the Questionnaire's language).")
def import_fhir_cmd(file: Path, output: Path | None, locale: str | None) -> None:
    """Convert a FHIR R4 Questionnaire into a YAML script; report what could not be mapped; check it."""
    try:
        resource = json.loads(_read(file))
        result = from_fhir_questionnaire(resource, locale=locale)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{file}: not a usable FHIR Questionnaire: {exc}") from exc
    for note in result.notes:
        click.echo(f"{file}: note: {note}", err=True)
    text = dump_yaml(result.script)
    name = str(output or f"{result.script.key}.yaml")
    loaded = parse_script(text, name)
    problems = list(loaded.problems) + (check(loaded.script) if loaded.script else [])
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{output}: {len(result.script.items)} items written", err=True)
    else:
        click.echo(text, nl=False)
    for problem in problems:
        click.echo(str(problem), err=True)
    if errors(problems):
        raise SystemExit(1)


def _load_for_simulation(target: str) -> Script:
    path = Path(target)
    if not path.exists():
        try:
            return library_script(target)
        except KeyError as exc:
            raise click.ClickException(f"{target}: no such file or built-in script key") from exc
    result = load_file(path)
    problems = list(result.problems) + (check(result.script) if result.script else [])
    if result.script is None or errors(problems):
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1)
    return result.script


def _variables(pairs: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        namespace, _, field = name.partition(".")
        if not field:
            raise click.BadParameter(f"{pair!r}: write namespace.field=value, e.g. patient.name=张三")
        out.setdefault(namespace, {})[field] = value
    return out


@command.command("simulate")
@click.argument("target")
@click.option("--answers", "answers_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help='JSON: {"item": value, …} or {"answers": {…}, "variables": {…}}.')
@click.option("--var", "var_pairs", multiple=True, help="A patient variable, e.g. --var patient.name=张三.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def simulate_cmd(target: str, answers_file: Path | None, var_pairs: tuple[str, ...], as_json: bool) -> None:
    """Walk FILE (or a built-in KEY) in the terminal, or from a file of answers; print path, scores, alerts."""
    script = _load_for_simulation(target)
    variables = _variables(var_pairs)
    try:
        if answers_file is not None:
            answers, file_vars = read_answers_file(_read(answers_file))
            run = simulate(script, answers, {**file_vars, **variables})
        else:
            run = interactive(script, lambda prompt: click.prompt(prompt, default="", show_default=False,
                                                                  prompt_suffix=""), click.echo, variables)
    except (AnswerInvalid, RunError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    result = run.to_dict()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for item_id in result["path"]:
        item = script.item(item_id)
        shown = result["answers"].get(item_id, f"(跳过: {result['skipped'].get(item_id, '')})")
        click.echo(f"{item_id}: {render_text(item.text, run.state.variables)} → {shown}")
    if run.missing:
        click.echo(f"stopped: no answer for {run.missing!r} in the answers file", err=True)
    for score_id, value in result["scores"].items():
        band = result["bands"].get(score_id)
        click.echo(f"score {score_id} = {value}" + (f" ({band['label']})" if band else ""))
    for alert in result["alerts"]:
        click.echo(f"ALERT [{alert['severity']}] {alert['id']}: {alert['message']}")
    sys.stdout.flush()
