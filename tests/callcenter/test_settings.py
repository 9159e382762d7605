from pathlib import Path

import pytest

from callcenter.settings import SETTINGS, Settings, SettingsError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting):
    assert f"`{setting.env_var}`" in DOC.read_text(encoding="utf-8")


def test_settings_fields_match_the_registry():
    assert [s.name for s in SETTINGS] == list(Settings.__dataclass_fields__)
    defaults = Settings()
    for s in SETTINGS:
        assert getattr(defaults, s.name) == s.default, s.name


def test_environment_overrides_file(tmp_path):
    cfg = tmp_path / "cc.toml"
    cfg.write_text('lease_seconds = 30\nhospital_name = "file"\n', encoding="utf-8")
    s = Settings.from_env({"CALLCENTER_CONFIG": str(cfg), "CALLCENTER_HOSPITAL_NAME": "env"})
    assert s.lease_seconds == 30
    assert s.hospital_name == "env"


def test_bad_integer_names_the_variable():
    with pytest.raises(SettingsError, match="CALLCENTER_LEASE_SECONDS"):
        Settings.from_env({"CALLCENTER_LEASE_SECONDS": "ten"})


def test_unknown_setting_in_file_is_rejected(tmp_path):
    cfg = tmp_path / "cc.toml"
    cfg.write_text("leese_seconds = 30\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="leese_seconds"):
        Settings.from_env({"CALLCENTER_CONFIG": str(cfg)})


def test_sqlite_under_data_dir_by_default():
    assert Settings(data_dir="/x/var").resolved_database_url == "sqlite:////x/var/callcenter.db"


def test_secrets_are_masked_for_display():
    shown = dict(Settings(secret_key="s3cret").public_items())
    assert shown["secret_key"] == "***"
