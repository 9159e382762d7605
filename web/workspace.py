"""The nurse workspace: her queue, the patient panel and the guided form of a call."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from callcenter import disclosure
from callcenter import patient_panel as panels
from callcenter.models import Role
from callcenter.privacy import PATIENT_DATA_ROLES
from web.auth import ALL_ROLES, home_for, public, remote_addr, role_required
from web.services import db, local_today, state

bp = Blueprint("workspace", __name__)

PATIENT_ROLES = tuple(sorted(PATIENT_DATA_ROLES))
QUEUE_ROLES = (Role.nurse, Role.supervisor)


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


@bp.get("/workspace/queue")
@role_required(*QUEUE_ROLES)
def queue() -> Any:
    # TODO(queue): rows come from callcenter.queue once it lands (plans/queues engineer).
    rows: list[Any] = []
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
