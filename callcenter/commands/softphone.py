"""``callcenter softphone``: the nurse's softphone agent (composition root of the seat).

It builds the pjsua2 phone (``softphone.phone.PjsuaPhone``), the ASR worker pool (``asr.pool.AsrPool``: the
recognition runs in its worker processes; the phone's audio tap feeds the pool from the tap's sender thread,
never from the media thread), the USB headset when one is configured (``softphone.headset``), and the agent
(``softphone.agent``) that connects to the dashboard with the user's agent token.

``start_seat`` is also what ``callcenter serve --with-softphone`` and ``callcenter demo`` run in-process for a
one-PC setup. The dial plan (``--dial-plan FILE``, JSON ``{"number": "sip:…"}``) maps patients' phone numbers
to SIP URIs (the demo maps its patients to the local patient simulators); numbers not in it are dialled as
they are (a registrar's domain is added to bare numbers by the phone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click

from callcenter.cli import AppContext, pass_app
from callcenter.settings import Settings

logger = logging.getLogger(__name__)


def load_dial_plan(path: str) -> dict[str, str]:
    """A JSON object mapping phone numbers to SIP URIs."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the dial plan {path}: {exc} (a JSON object "
                                   '{"13800000000": "sip:patient@127.0.0.1:5090"})') from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise click.ClickException(f"the dial plan {path} must map numbers to SIP URIs (strings)")
    return dict(data)


class SeatCancelled(Exception):
    """The seat was closed while it was still starting."""


@dataclass
class Seat:
    """A running softphone seat; ``close()`` stops it in the safe order (link, phone, headset, speech). Any
    thread may close it, also while it is still starting (``start_seat`` then stops and raises)."""

    link: Any
    agent: Any
    phone: Any
    pool: Any = None
    headset: Any = None
    voice: Any = None
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.link.close()  # also ends a connection attempt still retrying
        self.phone.close()  # hangs up, finishes recordings, destroys pjsua2 (no SIGABRT)
        if self.voice is not None:
            self.voice.close()
        if self.headset is not None:
            self.headset.close()
        if self.pool is not None:
            self.pool.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Processes spawned inside inherit an ignored SIGINT: Ctrl-C in the terminal reaches the whole process
    group, and the ASR workers must be stopped by their pool (in order), not killed mid-message."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_speech(settings: Settings) -> Any:
    """The ASR worker pool (``asr.pool.AsrPool``), started without waiting for the models to load."""
    from asr.pool import AsrPool

    with _sigint_ignored():
        return AsrPool.from_settings(settings).start(wait_ready_s=None)


def _wait_for_speech(seat: Seat, timeout_s: float) -> bool:
    """Whether the speech models loaded within ``timeout_s``; raises SeatCancelled when the seat is closed first."""
    deadline = time.monotonic() + timeout_s
    while not seat.pool.wait_ready(0.5):
        if seat.closed:
            raise SeatCancelled
        if time.monotonic() > deadline:
            return False
    return True


def start_seat(settings: Settings, server_url: str, token: str, *, dial_plan: Mapping[str, str] | None = None,
               headset_setting: str | None = None, speak_questions: bool = False, speech: bool = True,
               pool: Any = None, phone_overrides: Mapping[str, object] | None = None,
               connect_retry: bool = True, on_built: Callable[[Seat], None] | None = None) -> Seat:
    """Start phone, speech (unless a started ``pool`` is given), headset and agent, and connect to the dashboard
    (retrying while it starts). ``on_built`` gets the seat before it waits for speech and connects, so another
    thread can close it meanwhile (SeatCancelled is raised then); it may raise SeatCancelled itself."""
    from scripts_questionnaires.model import Item
    from softphone.agent import AgentLink, SoftphoneAgent
    from softphone.config import PhoneConfig
    from softphone.headset import Headset
    from softphone.phone import PjsuaPhone
    from softphone.question_voice import SpokenQuestions

    plan = dict(dial_plan or {})
    if pool is None and speech:
        pool = start_speech(settings)
    wanted = settings.headset if headset_setting is None else headset_setting
    headset = Headset.from_setting(wanted) if wanted.strip() else None
    phone = None
    seat: Seat | None = None
    try:
        if headset is not None:
            headset.open()
        config = PhoneConfig.from_settings(settings, **dict(phone_overrides or {}))
        phone = PjsuaPhone(config, tap_sink=pool.tap_sink() if pool is not None else None, media_hook=headset)
        voice = SpokenQuestions(phone, settings.data_path / "tts") if speak_questions else None

        def listen(call_id: str, item: Mapping[str, Any], locale: str) -> None:
            assert pool is not None
            pool.set_item(call_id, Item.from_dict(dict(item)), locale)

        agent = SoftphoneAgent(phone, pool, dial_plan=lambda number: plan.get(number.strip(), number.strip()),
                               item_listener=listen if pool is not None else None, voice=voice,
                               recordings_dir=settings.recordings_dir)
        if pool is not None:
            pool.on_event = agent.on_recognizer_event
        link = AgentLink(server_url, token)
        link.attach(agent)
        seat = Seat(link, agent, phone, pool, headset, voice)
        if on_built is not None:
            on_built(seat)
        if pool is not None and not _wait_for_speech(seat, 120):  # online once speech can follow the first call
            logger.warning("speech models still loading after 120 s; the first calls may get no proposals")
        link.start(retry=connect_retry)
        if seat.closed:  # closed while connecting: this connection must not outlive it
            link.close()
            raise SeatCancelled
    except BaseException:
        if seat is not None:
            seat.close()
        else:
            if phone is not None:
                phone.close()
            if headset is not None:
                headset.close()
            if pool is not None:
                pool.close()
        raise
    logger.info("softphone seat up: SIP %s, speech %s, headset %s", phone.local_uri,
                "on" if pool is not None else "off", "yes" if headset is not None else "no (null audio)")
    return seat


class BackgroundSeat(threading.Thread):
    """For ``serve``/``demo``: the seat starts on a thread while the server comes up in the main thread.

    ``close()`` may come at any time (SIGTERM while the speech models still load, or while the agent still tries
    to reach the server, which has stopped): the start is cancelled and whatever it built is closed, so the
    process exits without a live pjsua2 endpoint or speech workers left behind."""

    def __init__(self, settings: Settings, server_url: str, token: str, **options: Any) -> None:
        super().__init__(name="softphone-seat", daemon=True)
        self.args = (settings, server_url, token)
        if options.get("speech", True) and options.get("pool") is None:
            options["pool"] = start_speech(settings)  # here, on the main thread (see _sigint_ignored)
        self.options = options
        self.seat: Seat | None = None
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._closing = False

    def _built(self, seat: Seat) -> None:
        with self._lock:
            if self._closing:
                raise SeatCancelled
            self.seat = seat

    def run(self) -> None:
        try:
            start_seat(*self.args, on_built=self._built, **self.options)
        except SeatCancelled:
            logger.info("the in-process softphone was stopped while starting")
        except Exception:
            if self._closing:
                logger.info("the in-process softphone was stopped while starting", exc_info=True)
            else:
                logger.exception("the in-process softphone could not start; calls cannot be placed from this PC")
        finally:
            self.ready.set()

    def close(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            self._closing = True
            seat = self.seat
        if self.ident is None:  # never started: only the speech pool exists
            if self.options.get("pool") is not None:
                self.options["pool"].close()
            return
        if seat is not None:
            seat.close()
        self.join(timeout_s)  # a start under way notices, closes what it built and ends
        if self.is_alive():
            logger.warning("the in-process softphone did not stop within %.0f s", timeout_s)


@click.command("softphone")
@click.option("--server", "server_url", required=True, help="Dashboard URL, e.g. http://10.0.0.5:8000")
@click.option("--token", envvar="CALLCENTER_AGENT_TOKEN", required=True,
              help="The nurse's agent token (`callcenter users token USER`); or CALLCENTER_AGENT_TOKEN.")
@click.option("--dial-plan", "dial_plan_path", default="", help="JSON file mapping phone numbers to SIP URIs.")
@click.option("--no-headset", is_flag=True, help="Null audio even when a headset is configured.")
@click.option("--no-speech", is_flag=True, help="No speech recognition (no proposals).")
@click.option("--speak-questions", is_flag=True,
              help="Speak each question into the call with espeak-ng (demo / training seats without microphone).")
@pass_app
def command(app_ctx: AppContext, server_url: str, token: str, dial_plan_path: str, no_headset: bool,
            no_speech: bool, speak_questions: bool) -> None:
    """Run this workstation's softphone agent until Ctrl-C."""
    from softphone.errors import SoftphoneError

    plan = load_dial_plan(dial_plan_path) if dial_plan_path else {}
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        seat = start_seat(app_ctx.settings, server_url, token, dial_plan=plan,
                          headset_setting="none" if no_headset else None, speak_questions=speak_questions,
                          speech=not no_speech)
    except SoftphoneError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"softphone {seat.phone.local_uri} connected to {server_url}  (Ctrl-C to stop)")
    seat.link.when_ended(stop.set)
    try:
        stop.wait()
    finally:
        seat.close()
    if seat.link.ended.is_set():
        raise click.ClickException("the dashboard ended this softphone's session: its user was deactivated")
