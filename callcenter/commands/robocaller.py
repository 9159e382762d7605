"""``callcenter robocaller``: place automated revisit-reminder calls (智能外呼) from the robot-channel queue.

A supervisor (this process: database, TTS) and N telephony worker processes (pjsua2, ≤ 4 calls each). Run one
per machine; several robocallers share the queue through leases, so adding machines adds capacity.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click
from sqlmodel import Session

from asr.models import resolve_models
from asr.pool import AsrPool
from callcenter.call_rules import rules_from_settings
from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.errors import NotFound
from callcenter.ports import Notifier
from callcenter.robocall import DialogueConfig
from callcenter.robocall_prompts import PERSONAL_PROMPTS, Prompt, reminder_script_from
from callcenter.robocall_results import recall_questionnaire
from callcenter.robocall_service import RobocallService
from scripts_questionnaires.model import Script
from softphone.config import PhoneConfig
from softphone.robocall_worker_pool import ASR_NICE, MEDIA_RT_PRIORITY, TELEPHONY_NICE, WorkerPool
from softphone.sipuri import normalize_uri
from softphone.tts import TtsCache, Voice

logger = logging.getLogger(__name__)


def prompt_synth(cache: TtsCache, locale: str, staff_dir: Path | None) -> Callable[[Prompt], str]:
    """Staff recordings (``<dir>/<prompt key>.wav``) for the fixed prompts when present, else espeak-ng."""

    def synth(prompt: Prompt) -> str:
        if staff_dir is not None and prompt.key not in PERSONAL_PROMPTS:
            recorded = staff_dir / f"{prompt.key}.wav"
            if recorded.is_file():
                return str(recorded)
        return str(cache.synthesize(prompt.text, Voice(language=locale, rate_wpm=prompt.rate_wpm)))

    return synth


def _board_notifier(redis_url: str) -> Notifier | None:
    """The supervisors' live board follows the robot campaigns, and the doctors' inbox the alerts robot calls
    raise, through Redis (the dashboard's message queue)."""
    if not redis_url:
        logger.info("no CALLCENTER_REDIS_URL: the live board and the alerts inbox show robot calls at their "
                    "next refresh")
        return None
    from web.realtime import SocketIONotifier

    return SocketIONotifier.external(redis_url)


@click.command("robocaller")
@click.option("--workers", default=2, show_default=True, help="Telephony worker processes.")
@click.option("--calls-per-worker", default=4, show_default=True, help="Concurrent calls per worker (max 4).")
@click.option("--robot", default=None, help="Name in leases and call attempts (default: host-pid).")
@click.option("--prompts-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Staff recordings of the fixed prompts, named <prompt key>.wav.")
@click.option("--nurse-uri", default="", help="Transfer target for '0' (talk to a nurse); empty: a callback.")
@click.option("--uri-template", default="", help="Dial plan without a registrar, e.g. sip:{number}@10.0.0.5:5060.")
@click.option("--speech", "speech_locale", default="",
              help="Also take spoken answers, with this locale's model from CALLCENTER_ASR_MODELS (e.g. zh-CN).")
@click.option("--once", is_flag=True, help="Stop when no robot task can be called now.")
@pass_app
def command(app: AppContext, workers: int, calls_per_worker: int, robot: str | None, prompts_dir: Path | None,
            nurse_uri: str, uri_template: str, speech_locale: str, once: bool) -> None:
    """Call due robot-channel tasks with the recall-reminder script until stopped (SIGTERM / Ctrl-C)."""
    settings = app.settings
    rules = rules_from_settings(settings)
    with Session(app.engine) as session:
        try:
            compiled = recall_questionnaire(session).compiled
        except NotFound as exc:
            raise click.ClickException(str(exc)) from exc
    if not compiled:
        raise click.ClickException("the published recall-reminder questionnaire has no compiled script; "
                                   "publish it again with `callcenter scripts publish`")
    script = reminder_script_from(Script.from_dict(compiled), speech_locale or None)
    speech = None
    if speech_locale:
        models = resolve_models(settings.asr_models)
        if speech_locale not in models:
            raise click.ClickException(f"no speech model for {speech_locale}: add it to CALLCENTER_ASR_MODELS")
        # each telephony worker builds its own ASR pool (Vosk runs in the pool's processes, not in the worker)
        # niced: recognition may lag a little on a busy machine, call audio must not
        speech = functools.partial(AsrPool, {speech_locale: str(models[speech_locale])}, nice=ASR_NICE)

    def uri_for(number: str) -> str:
        digits = number.replace("-", "")
        return uri_template.format(number=digits) if uri_template else normalize_uri(digits, settings.sip_registrar)

    cache = TtsCache(settings.data_path / "tts")
    service = RobocallService(
        app.engine, rules, robot=robot or f"{socket.gethostname()}-{os.getpid()}", hospital_name=settings.hospital_name,
        script=script, synth=prompt_synth(cache, settings.locale, prompts_dir), uri_for=uri_for, clock=SystemClock(),
        config=DialogueConfig(transfer_available=bool(nurse_uri)), recordings_dir=settings.recordings_path,
        nurse_uri=nurse_uri, speech_locale=speech_locale, notifier=_board_notifier(settings.redis_url),
    )
    phone_config = PhoneConfig.from_settings(settings, media_rt_priority=MEDIA_RT_PRIORITY, nice=TELEPHONY_NICE)
    pool = WorkerPool(phone_config, workers=workers, calls_per_worker=calls_per_worker, speech=speech)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    pool.start()
    try:
        recorded = service.run(pool, stop, once=once)
    finally:
        pool.stop()
    click.echo(f"robot calls recorded: {recorded}")
