"""``callcenter asr transcribe|check-script``: try speech recognition on a file, check a script's words."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asr.errors import ModelError
from asr.field_types import to_jsonable
from asr.item_specs import answer_value, grammar_phrases, spec_from_item
from asr.models import parse_model_setting, resolve_model
from asr.vocabulary import vocabulary_problems
from callcenter.cli import AppContext, pass_app
from scripts_questionnaires import ScriptError, load_script
from scripts_questionnaires.library import library_script
from scripts_questionnaires.model import Script


@click.group("asr")
def command() -> None:
    """Speech recognition tools."""


def _script(ref: str) -> Script:
    try:
        return load_script(ref) if Path(ref).is_file() else library_script(ref)
    except (KeyError, ScriptError) as exc:
        raise click.ClickException(str(exc)) from exc


def _model(app: AppContext, locale: str, model_ref: str | None):  # type: ignore[no-untyped-def]
    from asr.vosk_engine import VoskModel  # lazy: every CLI start imports this module; vosk only when asked

    try:
        ref = model_ref or parse_model_setting(app.settings.asr_models).get(locale)
        if ref is None:
            raise ModelError(f"no speech model for {locale}: set CALLCENTER_ASR_MODELS={locale}=PATH or pass --model")
        return VoskModel(resolve_model(ref))
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("transcribe")
@click.argument("wav", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--grammar", "grammar_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON list of phrases to listen for.")
@click.option("--script", "script_ref", help="Script key (built-in) or YAML file; with --item.")
@click.option("--item", "item_id", help="Item id of --script: its grammar, and its answer read from each utterance.")
@click.option("--locale", default=None, help="Locale of the model (default: the script's, else CALLCENTER_LOCALE).")
@click.option("--model", "model_ref", default=None, help="Model directory or package (default: from settings).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def transcribe(app: AppContext, wav: Path, grammar_file: Path | None, script_ref: str | None,
               item_id: str | None, locale: str | None, model_ref: str | None, as_json: bool) -> None:
    """Transcribe WAV (16-bit mono; 8 kHz telephone audio is fine) utterance by utterance."""
    from asr.transcribe import transcribe_file  # lazy: imports vosk

    if grammar_file and script_ref:
        raise click.UsageError("use --grammar or --script/--item, not both")
    if bool(script_ref) != bool(item_id):
        raise click.UsageError("--script and --item go together")
    phrases, spec, item = None, None, None
    if grammar_file:
        phrases = [str(p) for p in json.loads(grammar_file.read_text(encoding="utf-8"))]
    if script_ref and item_id:
        script = _script(script_ref)
        locale = locale or script.locale
        try:
            item = script.item(item_id)
        except KeyError as exc:
            raise click.ClickException(str(exc)) from exc
        phrases, spec = list(grammar_phrases(item, locale)), spec_from_item(item, locale)
    locale = locale or app.settings.locale
    model = _model(app, locale, model_ref)
    try:
        result = transcribe_file(wav, model, phrases, spec)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({
            "file": str(wav), "duration_s": round(result.duration_s, 3),
            "missing_words": list(result.grammar.missing_words) if result.grammar else [],
            "utterances": [{
                "t0_s": u.t0_s, "t1_s": u.t1_s, "text": u.text, "confidence": u.confidence,
                "alternatives": list(u.alternatives),
                "words": [{"text": w.text, "t0_s": w.t0_s, "t1_s": w.t1_s, "confidence": w.confidence}
                          for w in u.words],
                "answer": None if a is None else {
                    "value": to_jsonable(a.value), "confidence": a.confidence,
                    "reasons": [r.value for r in a.reasons],
                    "item_value": answer_value(item, a) if item is not None else None},  # the engine's shape
            } for u, a in zip(result.utterances, result.answers, strict=True)],
        }, ensure_ascii=False, indent=2))
        return
    if result.grammar and result.grammar.missing_words:
        click.echo(f"warning: the model lacks {', '.join(result.grammar.missing_words)}", err=True)
    for u, a in zip(result.utterances, result.answers, strict=True):
        line = f"[{u.t0_s:7.2f}–{u.t1_s:7.2f}] {u.text or '(nothing recognised)'}  conf {u.confidence:.2f}"
        if a is not None:
            flag = "confirm: " + ",".join(r.value for r in a.reasons) if a.needs_confirmation else "ok"
            line += f"  → {to_jsonable(a.value)!r} ({flag})"
        click.echo(line)


@command.command("check-script")
@click.argument("script_ref")
@click.option("--locale", default=None, help="Locale to check (default: the script's).")
@click.option("--model", "model_ref", default=None, help="Model directory or package (default: from settings).")
@pass_app
def check_script(app: AppContext, script_ref: str, locale: str | None, model_ref: str | None) -> None:
    """Report the words of a script's spoken phrases that the speech model does not know (exit 1 if any).

    The model is loaded, so the check is Vosk's own look-up; ``callcenter scripts check`` does the same check
    from the model's word list for every language of a script file."""
    script = _script(script_ref)
    locale = locale or script.locale
    model = _model(app, locale, model_ref)
    problems = vocabulary_problems(script, locale, model.has_word, model_ref or model.path.name)
    for p in problems:
        click.echo(str(p))
    if problems:
        raise click.ClickException(f"{len(problems)} phrase(s) or item(s) use words the {locale} model cannot "
                                   "recognise")
    click.echo(f"{script.key}: every phrase fits the {locale} model's vocabulary")
