"""``callcenter patient-sim``: a SIP phone that answers and speaks a persona's answers (demo, training, tests)."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import click

from callcenter.cli import AppContext, pass_app
from softphone.errors import SoftphoneError
from softphone.patient_sim import PatientSimulator, Spoken
from softphone.persona import load_persona, shipped_personas


def _host_port(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise click.BadParameter(f"{listen!r}: use HOST:PORT, e.g. 127.0.0.1:5090", param_hint="--listen")
    return host, int(port)


@click.command("patient-sim")
@click.option("--listen", default="127.0.0.1:5090", show_default=True, help="SIP address to answer on (HOST:PORT).")
@click.option("--persona", "persona_name", required=True,
              help=f"Persona YAML file, or a shipped persona: {', '.join(shipped_personas())}.")
@click.option("--user", default="patient", show_default=True, help="SIP user part of the simulator's URI.")
@click.option("--calls", default=0, show_default=True, help="Exit after this many calls have ended (0: run until "
              "interrupted).")
@click.option("--speech-log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON line per sentence said (call, kind, playback start and end of speech on the "
              "wall clock): the reference for latency benches.")
@pass_app
def command(app: AppContext, listen: str, persona_name: str, user: str, calls: int, speech_log: Path | None) -> None:
    """Answer calls as a simulated patient speaking with espeak-ng (Mandarin via pinyin, Korean, …)."""
    host, port = _host_port(listen)
    log = speech_log.open("a", encoding="utf-8", buffering=1) if speech_log is not None else None

    def spoken(event: Spoken) -> None:
        if log is not None:
            log.write(json.dumps(asdict(event)) + "\n")

    try:
        persona = load_persona(persona_name)
        sim = PatientSimulator(persona, host=host, port=port, cache_dir=app.settings.data_path / "tts", user=user,
                               on_spoken=spoken)
        sim.start()
    except SoftphoneError as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(f"patient simulator '{persona.key}' ({persona.language}) listening on {sim.uri}", nl=True)
    try:
        if calls:
            while not stop.is_set() and not sim.wait_calls(calls, timeout_s=0.5):
                pass
        else:
            stop.wait()
    finally:
        sim.close()
        if log is not None:
            log.close()
    for summary in sim.summaries:
        click.echo(f"call {summary.call_id}: {summary.answers} answers, said {' '.join(summary.said) or 'nothing'}"
                   f"{', hung up' if summary.hung_up else ''}")
