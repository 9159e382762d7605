"""``callcenter models list|verify|fetch``: the speech models per locale."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asr.errors import ModelError, ModelFetchError
from asr.models import MODEL_LIST_URL, describe, fetch_model, guess_locale, list_models, resolve_model
from callcenter.cli import AppContext, pass_app


@click.group("models")
def command() -> None:
    """Speech recognition models (Vosk) per locale."""


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """Configured models (CALLCENTER_ASR_MODELS) and installed model packages."""
    try:
        infos = list_models(app.settings.asr_models)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([{"name": i.name, "path": str(i.path), "locale": i.locale, "source": i.source,
                                "size_bytes": i.size_bytes, "grammar_support": i.grammar_support,
                                "problems": list(i.problems)} for i in infos], ensure_ascii=False, indent=2))
        return
    if not infos:
        click.echo("no speech models configured or installed; see `callcenter models fetch --help`")
    for i in infos:
        status = "ok" if not i.problems else "PROBLEM: " + "; ".join(i.problems)
        grammar = "grammars: yes" if i.grammar_support else "grammars: NO (static graph)"
        click.echo(f"{i.locale or '?':7} {i.name}  [{i.source}]  {i.path}  {_mb(i.size_bytes)}  {grammar}  {status}")


@command.command("verify")
@click.argument("reference")
@click.option("--load/--no-load", default=True, show_default=True, help="Also load the model with Vosk (~2 s).")
def verify(reference: str, load: bool) -> None:
    """Check that REFERENCE (a directory or a model package) is a usable Vosk model."""
    try:
        path = resolve_model(reference)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    info = describe(path, reference, "", "path")
    if info.problems:
        raise click.ClickException(f"{path}: " + "; ".join(info.problems))
    if load:
        from asr.vosk_engine import (
            VoskModel,  # lazy: every CLI start imports this module; vosk only when asked
        )

        try:
            model = VoskModel(path)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from exc
        unk = "<UNK>" if model.has_word("<UNK>") else "[unk]" if model.has_word("[unk]") else "none"
        click.echo(f"loaded; unknown-word token: {unk}")
    click.echo(f"{path}: ok, {_mb(info.size_bytes)}, language {guess_locale(reference) or guess_locale(path.name) or '?'}, "
               f"runtime grammars {'supported' if info.grammar_support else 'NOT supported'}")


@command.command("fetch")
@click.argument("name")
@click.option("--dest", type=click.Path(path_type=Path), default=None,
              help="Where to unpack (default: DATA_DIR/models).")
@click.option("--timeout", "timeout_s", type=float, default=10.0, show_default=True, help="Network timeout (s).")
@click.option("--list-url", default=MODEL_LIST_URL, show_default=True,
              help="The model list (an intranet mirror of Vosk's model-list.json works too).")
@pass_app
def fetch(app: AppContext, name: str, dest: Path | None, timeout_s: float, list_url: str) -> None:
    """Download the official Vosk model NAME (e.g. vosk-model-small-cn-0.22), check its MD5, unpack it."""
    target_dir = dest or app.settings.data_path / "models"
    try:
        path = fetch_model(name, target_dir, timeout_s, list_url)
    except ModelFetchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name} unpacked in {path}; use it with CALLCENTER_ASR_MODELS={guess_locale(name) or 'LOCALE'}={path}")
