"""JSON API for the browser (session cookie + CSRF header) — answers 401 JSON instead of redirecting."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify
from flask_login import current_user

from callcenter import patient_panel as panels
from web.auth import ALL_ROLES, role_required
from web.services import db, local_today
from web.workspace import PATIENT_ROLES

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/me")
@role_required(*ALL_ROLES)
def me() -> Any:
    member = current_user.member
    return jsonify(id=member.id, username=member.username, display_name=member.display_name,
                   role=member.role.value, team_id=member.team_id)


@bp.get("/patients/<int:patient_id>/panel")
@role_required(*PATIENT_ROLES)
def patient_panel(patient_id: int) -> Any:
    with db() as session:
        panel = panels.patient_panel(session, patient_id, today=local_today())
    return jsonify(asdict(panel))
