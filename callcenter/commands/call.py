"""``callcenter call URI``: place one call with the softphone stack (support staff testing a line)."""

from __future__ import annotations

import json
import queue
import signal
import sys
import time
from dataclasses import asdict
from types import FrameType
from typing import Any

import click

from callcenter.cli import AppContext, pass_app
from callcenter.ports import (
    CallEvent,
    CallState,
    CallStateChanged,
    DtmfReceived,
    MediaStarted,
    PlaybackFinished,
    RecordingReady,
)
from softphone.config import PhoneConfig
from softphone.errors import SoftphoneError
from softphone.phone import PjsuaPhone

RING_TIMEOUT_S = 60.0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through ``with phone``: calls are hung up, recordings finished


@click.command("call")
@click.argument("uri")
@click.option("--record", "record_path", type=click.Path(dir_okay=False), default=None,
              help="Write the call as a two-channel WAV (nurse left, patient right).")
@click.option("--seconds", type=float, default=10.0, show_default=True,
              help="Stay on the line this long after the answer (or until --play ends, if longer).")
@click.option("--play", "play_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="WAV (8/16 kHz mono) to play to the called party.")
@click.option("--dtmf", default="", help="DTMF digits to send (RFC 2833) once the call is answered.")
@click.option("--bind", default=None, help="SIP bind address host:port (default CALLCENTER_SIP_BIND; port 0 = any).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@pass_app
def command(app: AppContext, uri: str, record_path: str | None, seconds: float, play_path: str | None,
            dtmf: str, bind: str | None, as_json: bool) -> None:
    """Call URI (sip:USER@HOST:PORT, or a number when a registrar is set) and report what happened."""
    signal.signal(signal.SIGTERM, _terminate)
    settings = app.settings if bind is None else app.settings.replace(sip_bind=bind)
    config = PhoneConfig.from_settings(settings, record_calls=False)
    events: queue.Queue[CallEvent] = queue.Queue()
    try:
        with PjsuaPhone(config, repair_on_start=False) as phone:
            phone.add_listener(events.put)
            phone.wait_registered()
            call_id = phone.dial(uri, record_path=record_path)
            result = _follow(phone, call_id, events, seconds, play_path, dtmf, bool(record_path))
    except SoftphoneError as exc:
        result = {"connected": False, "error": str(exc)}
    _report(result, as_json)
    sys.exit(0 if result.get("connected") else 1)


def _follow(phone: PjsuaPhone, call_id: str, events: queue.Queue[CallEvent], seconds: float,
            play_path: str | None, dtmf: str, recording: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"call_id": call_id, "connected": False, "codec": "", "dtmf_received": [],
                              "recording": None}
    deadline = time.monotonic() + RING_TIMEOUT_S  # ringing, then talking, then hanging up
    answered_at: float | None = None
    playing = hung_up = ended = False
    while not ended or (recording and result["recording"] is None):
        try:
            event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            if ended:
                break  # the recording never came: report without it
            if playing:  # --play is longer than --seconds: wait for its end
                deadline = time.monotonic() + 1
                continue
            if hung_up:
                raise SoftphoneError("the call did not end after hang-up") from None
            if answered_at is None:
                result["reason"] = f"no answer within {RING_TIMEOUT_S:.0f} s"
            phone.hangup(call_id)
            hung_up = True
            deadline = time.monotonic() + 10
            continue
        if getattr(event, "call_id", call_id) != call_id:
            continue
        if isinstance(event, MediaStarted):
            result["codec"] = event.codec
        elif isinstance(event, CallStateChanged):
            result.update(state=event.state.value, sip_status=event.sip_status, reason=event.reason)
            if event.state is CallState.confirmed and answered_at is None:
                answered_at = time.monotonic()
                result["connected"] = True
                result["sip_call_id"] = phone.call_info(call_id).sip_call_id
                deadline = answered_at + seconds
                if play_path:
                    phone.play(call_id, play_path)
                    playing = True
                if dtmf:
                    phone.send_dtmf(call_id, dtmf)
            elif event.state is CallState.disconnected:
                ended = True
                deadline = time.monotonic() + 10
                if answered_at is not None:
                    result["talk_s"] = round(time.monotonic() - answered_at, 2)
        elif isinstance(event, PlaybackFinished):
            playing = False
        elif isinstance(event, DtmfReceived):
            result["dtmf_received"].append(event.digit)
        elif isinstance(event, RecordingReady):
            result["recording"] = asdict(event)
    return result


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    if "error" in result:
        click.echo(f"error: {result['error']}", err=True)
        return
    status = f"{result.get('sip_status', '')} {result.get('reason', '')}".strip()
    if result["connected"]:
        click.echo(f"connected ({result['codec']}), talked {result.get('talk_s', 0)} s, ended: {status}")
    else:
        click.echo(f"not connected: {status}")
    if result["dtmf_received"]:
        click.echo("DTMF received: " + "".join(result["dtmf_received"]))
    if result["recording"]:
        rec = result["recording"]
        click.echo(f"recording: {rec['path']} ({rec['duration_s']} s, sha256 {rec['sha256'][:12]}…)")
