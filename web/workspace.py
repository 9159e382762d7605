"""The nurse workspace: her queue, the patient panel and the call screen (guided form, transcript, wrap-up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter import disclosure, queue, worklist
from callcenter import patient_panel as panels
from callcenter.errors import InvalidInput
from callcenter.models import Role
from callcenter.privacy import PATIENT_DATA_ROLES
from web.auth import ALL_ROLES, home_for, public, remote_addr, role_required
from web.services import db, local_today, state

bp = Blueprint("workspace", __name__)

PATIENT_ROLES = tuple(sorted(PATIENT_DATA_ROLES))
QUEUE_ROLES = (Role.nurse, Role.supervisor)
CALL_ROLES = (Role.nurse,)


@bp.get("/")
@public
def index() -> Any:
    """Only a redirect: the user's home page, or the login page."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    return redirect(url_for("auth.login"))


@bp.get("/workspace/")
@role_required(*ALL_ROLES)
def home() -> Any:
    return render_template("workspace/home.html")


@bp.get("/workspace/queue", endpoint="queue")
@role_required(*QUEUE_ROLES)
def queue_page() -> Any:
    with db() as session:
        rows = worklist.worklist(session, current_user.member)
    return render_template("workspace/queue.html", rows=rows)


@bp.get("/workspace/patients/<int:patient_id>")
@role_required(*PATIENT_ROLES)
def patient(patient_id: int) -> Any:
    with db() as session:
        panel = panels.patient_panel(session, patient_id, today=local_today())
    return render_template("workspace/patient.html", panel=panel)


@bp.post("/workspace/patients/<int:patient_id>/reveal")
@role_required(*PATIENT_ROLES)
def reveal(patient_id: int) -> Any:
    """Unmasked national ID and numbers, on demand; audited. Returns an htmx fragment."""
    with db() as session:
        revealed = disclosure.reveal_identifiers(session, patient_id, current_user.member,
                                                 at=state().services.clock.now(), remote_addr=remote_addr())
    return render_template("workspace/_revealed.html", revealed=revealed)


@bp.post("/workspace/tasks/<int:task_id>/claim")
@role_required(*CALL_ROLES)
def claim(task_id: int) -> Any:
    current = state()
    with db(immediate=True) as session:
        queue.claim_task(session, task_id, owner=worklist.owner_of(current_user.member),
                         now=current.services.clock.now(), rules=current.rules)
    return redirect(url_for("workspace.call", task_id=task_id))


@bp.get("/workspace/tasks/<int:task_id>")
@role_required(*CALL_ROLES)
def call(task_id: int) -> Any:
    current = state()
    with db() as session:
        screen = worklist.call_screen(session, task_id, current_user.member, now=current.services.clock.now(),
                                      rules=current.rules)
        panel = panels.patient_panel(session, screen.patient_id, today=local_today())
    # TODO(engine): the guided form renders the current question from the questionnaire engine's RunState
    # once scripts_questionnaires' engine lands; TODO(softphone): call controls send commands to her agent.
    return render_template("workspace/call.html", screen=screen, panel=panel)


def _local_datetime(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"回访时间格式不正确: {raw!r} (expected YYYY-MM-DDTHH:MM)") from None
    return naive.replace(tzinfo=ZoneInfo(state().settings.timezone))


@bp.post("/workspace/tasks/<int:task_id>/wrap-up")
@role_required(*CALL_ROLES)
def wrap_up(task_id: int) -> Any:
    current = state()
    form = request.form
    phone = form.get("phone_id", "")
    with db() as session:
        task = worklist.wrap_up(
            session, task_id, current_user.member, outcome_code=form.get("outcome", ""),
            now=current.services.clock.now(), rules=current.rules,
            phone_id=int(phone) if phone.isdigit() else None, note=form.get("note", "").strip(),
            callback_at=_local_datetime(form.get("callback_at", "")),
        )
    flash(f"随访任务 #{task.id} 已记录结果。", "info")
    return redirect(url_for("workspace.queue"))


@bp.post("/workspace/tasks/<int:task_id>/release")
@role_required(*CALL_ROLES)
def release(task_id: int) -> Any:
    current = state()
    with db() as session:
        queue.release_lease(session, task_id, owner=worklist.owner_of(current_user.member),
                            now=current.services.clock.now(), reason="skipped by the nurse")
    flash(f"随访任务 #{task_id} 已放回队列。", "info")
    return redirect(url_for("workspace.queue"))
