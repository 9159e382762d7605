"""Values that cross between the robocaller supervisor and its telephony worker processes (pickled).

The supervisor claims a task, renders and synthesises every prompt of the call, and sends a ``CallJob``; a
worker places the call, runs the dialogue and sends back a ``CallReport``. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter.robocall import CallResult, DialogueConfig
from callcenter.robocall_prompts import ReminderFacts, ReminderScript


@dataclass(frozen=True)
class CallJob:
    job_id: str
    task_id: int
    attempt_id: int | None
    uri: str
    facts: ReminderFacts
    script: ReminderScript
    prompt_wavs: Mapping[str, str]  # prompt key -> WAV path (8 kHz mono), made outside the telephony process
    config: DialogueConfig = field(default_factory=DialogueConfig)
    record_path: str | None = None
    nurse_uri: str = ""  # transfer target for "0"; empty: a nurse calls back instead
    ring_timeout_s: float = 40.0
    max_call_s: float = 300.0
    speech_locale: str = ""  # recognise spoken answers with this locale's model; empty: keys only


@dataclass(frozen=True)
class CallReport:
    job_id: str
    task_id: int
    attempt_id: int | None
    result: CallResult
    worker: str
    call_id: str = ""
    sip_call_id: str = ""
    answered_after_s: float | None = None
    duration_s: float = 0.0
    recording_path: str = ""
    # the finished recording, as its writer thread saw it (not the media thread): audio length and SHA-256;
    # empty when the call made no recording or it did not finish in time
    recording_duration_s: float = 0.0
    recording_sha256: str = ""
    max_frame_gap_ms: float = 0.0  # longest gap between two 20 ms frames of the patient's audio
    frames: int = 0
    prompts_played: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallProgress:
    """What a call is doing now, for the live board (and tests): answered, prompt_started/prompt_done KEY."""

    job_id: str
    task_id: int
    kind: str
    detail: str = ""
    at_s: float = 0.0


@dataclass(frozen=True)
class WorkerStarted:
    worker: str
    local_uri: str


@dataclass(frozen=True)
class WorkerStopped:
    worker: str
    error: str = ""
