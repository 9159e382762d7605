"""``callcenter devices list|test``: the nurse's USB headset on her first day."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from callcenter.cli import AppContext, pass_app
from hardware.devices import AudioDevice, Direction, HeadsetChoice, choose_headset, find_device, profile_for
from hardware.errors import HardwareError, NoHeadsetFound
from hardware.levels import meter
from softphone.headset import list_devices, open_pyaudio
from softphone.headset_check import CheckResult, HeadsetCheck

STEPS = ("tone", "meter", "loopback")


def _devices() -> list[AudioDevice]:
    pa = open_pyaudio()
    try:
        return list_devices(pa)
    finally:
        pa.terminate()


def _choice(devices: list[AudioDevice], device: str, input_name: str, output_name: str) -> HeadsetChoice:
    if input_name and output_name:
        inp = find_device(devices, input_name, Direction.input)
        out = find_device(devices, output_name, Direction.output)
        return HeadsetChoice(input=inp, output=out, profile=profile_for(f"{out.name} {out.description}"))
    base = choose_headset(devices, device)
    if input_name:
        return HeadsetChoice(find_device(devices, input_name, Direction.input), base.output, base.profile)
    if output_name:
        out = find_device(devices, output_name, Direction.output)
        return HeadsetChoice(base.input, out, profile_for(f"{out.name} {out.description}") or base.profile)
    return base


def _wanted(app: AppContext, device: str) -> str:
    """--device, else CALLCENTER_HEADSET (``none`` means no preference here: the check still runs)."""
    setting = app.settings.headset.strip()
    return device or ("" if setting.lower() in {"none", "off", "no"} else setting)


@click.group("devices")
def command() -> None:
    """The nurse's USB headset: list sound devices and test speaker and microphone."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def list_command(app: AppContext, as_json: bool) -> None:
    """List sound devices, the headset profile each matches, and which ones calls will use (I/O)."""
    devices = _devices()
    try:
        choice: HeadsetChoice | None = choose_headset(devices, _wanted(app, ""))
    except NoHeadsetFound:
        choice = None
    rows = []
    for d in devices:
        profile = profile_for(f"{d.name} {d.description}")
        rows.append({
            **asdict(d),
            "profile": profile.key if profile else "",
            "selected_input": choice is not None and d == choice.input,
            "selected_output": choice is not None and d == choice.output,
        })
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no sound devices found (is the headset plugged in? is a sound server running?)")
    for row, d in zip(rows, devices, strict=True):
        mark = ("I" if row["selected_input"] else " ") + ("O" if row["selected_output"] else " ")
        click.echo(f"{mark} {d.backend.value:9} in={d.max_input_channels:<2} out={d.max_output_channels:<2} "
                   f"{d.default_rate_hz:>6} Hz  {row['profile'] or '-':12} {d.label}")
    if choice is None:
        click.echo("no headset recognised: pass --device to `callcenter devices test` / the softphone")
    else:
        vendor = choice.profile.vendor if choice.profile else "system default device"
        click.echo(f"headset: {vendor} (I = microphone, O = earphones)")
        if choice.profile is not None:
            click.echo(f"sidetone: {choice.profile.sidetone_hint}")


@command.command("test")
@click.option("--device", default="", help="Part of the headset's name (default: CALLCENTER_HEADSET, else the "
              "recognised headset).")
@click.option("--input", "input_name", default="", help="Exact microphone device name (overrides --device).")
@click.option("--output", "output_name", default="", help="Exact earphone device name (overrides --device).")
@click.option("--step", "steps", multiple=True, type=click.Choice(STEPS),
              help="Run only these steps (repeatable). Default: tone, meter, loopback.")
@click.option("--seconds", default=5.0, show_default=True, help="How long the microphone meter runs.")
@click.option("--rate", "rate_hz", default=0, help="Force a sample rate in Hz (default: the profile's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable results.")
@pass_app
def test_command(app: AppContext, device: str, input_name: str, output_name: str, steps: tuple[str, ...], seconds: float,
                 rate_hz: int, as_json: bool) -> None:
    """Speaker test tone, microphone level meter and loopback check. Exit status 1 if a check fails."""
    try:
        choice = _choice(_devices(), _wanted(app, device), input_name, output_name)
        results: list[CheckResult] = []
        with HeadsetCheck(choice, rate_hz=rate_hz or None) as check:
            if not as_json:
                click.echo(f"earphones: {choice.output.label}\nmicrophone: {choice.input.label}\n"
                           f"sample rate: {check.rate_hz} Hz")
            for step in steps or STEPS:
                if step == "tone":
                    results.append(check.speaker_tone())
                elif step == "meter":
                    if not as_json:
                        click.echo(f"speak normally for {seconds:.0f} s ...")
                    live = sys.stdout.isatty() and not as_json
                    results.append(check.microphone_meter(
                        seconds, on_level=(lambda lv: click.echo("\r" + meter(lv), nl=False)) if live else None))
                    if live:
                        click.echo()
                else:
                    if not as_json:
                        click.echo("hold the earcup against the microphone ...")
                    results.append(check.loopback())
    except HardwareError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            latency = f", latency {r.latency_ms:.0f} ms" if r.latency_ms is not None else ""
            click.echo(f"{'OK  ' if r.ok else 'FAIL'} {r.name}: {r.message} ({r.level_dbfs:.1f} dBFS{latency})")
    if not all(r.ok for r in results):
        sys.exit(1)
