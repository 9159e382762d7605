"""Configuration of one softphone process (a pure value built from ``callcenter.settings.Settings``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from callcenter.settings import Settings

# pjsua2-python wheel: PJSUA_MAX_CALLS is compiled in as 4 (higher UaConfig.maxCalls is silently clamped).
WHEEL_MAX_CALLS = 4


@dataclass(frozen=True)
class PhoneConfig:
    bind_host: str = "127.0.0.1"
    bind_port: int = 5080  # 0: any free port
    registrar: str = ""  # e.g. "sip:10.0.0.5"; empty: direct IP calls, no REGISTER
    user: str = "nurse"
    password: str = field(default="", repr=False)
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    recordings_dir: str = "recordings"
    record_calls: bool = True  # every call gets a two-channel WAV unless dial() says otherwise
    clock_rate_hz: int = 8000
    max_calls: int = WHEEL_MAX_CALLS
    reg_expires_s: int = 300
    reg_retry_s: int = 10  # re-REGISTER this often after a failure (registrar down / restarted)
    auto_answer: bool = False  # answer incoming calls at once (patient simulator, robots, tests)
    pj_log_level: int = 1  # pjsip's own log verbosity (0-6); written only to pj_log_file
    pj_log_file: str = ""
    tap_queue_frames: int = 250  # 5 s of 20 ms frames between the media thread and the tap sender
    # Scheduling (docs/robocalls.md): pjmedia's clock thread sends every call's audio every 20 ms; on a busy
    # machine a normally scheduled thread waits its turn and the audio gaps. media_rt_priority > 0 gives the
    # clock and RTP threads real-time round-robin priority; nice (e.g. -5) raises every thread of the process
    # (the Python threads that hold the GIL the clock thread's frame ports need). Both need CAP_SYS_NICE or
    # RLIMIT_RTPRIO / RLIMIT_NICE; without them the phone logs a warning and runs normally scheduled.
    media_rt_priority: int = 0
    nice: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> PhoneConfig:
        host, _, port = settings.sip_bind.rpartition(":")
        values: dict[str, object] = {
            "bind_host": host or "0.0.0.0",  # noqa: S104 - an explicit empty host means all interfaces
            "bind_port": int(port) if port else 5060,
            "registrar": settings.sip_registrar,
            "user": settings.sip_user or "nurse",
            "password": settings.sip_password,
            "codecs": tuple(c.strip() for c in settings.sip_codecs.split(",") if c.strip()),
            "recordings_dir": settings.recordings_dir,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def recordings_path(self) -> Path:
        return Path(self.recordings_dir)

    @property
    def local_uri(self) -> str:
        return f"sip:{self.user}@{self.bind_host}:{self.bind_port}"
