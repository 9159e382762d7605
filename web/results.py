"""Patient results for doctors: one patient's answers over time, numeric ones (home BP, glucose…) as charts."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template
from flask_login import current_user

from callcenter import audit, patient_results
from callcenter.audit import AuditAction
from callcenter.models import Role
from web.auth import remote_addr, role_required
from web.services import db, state

bp = Blueprint("results", __name__, url_prefix="/doctor/patients")

RESULT_ROLES = (Role.doctor, Role.supervisor)


@bp.get("/<int:patient_id>/results", endpoint="patient")
@role_required(*RESULT_ROLES)
def patient(patient_id: int) -> Any:
    with db() as session:
        results = patient_results.patient_results(session, patient_id)
        audit.record(session, action=AuditAction.patient_view, at=state().services.clock.now(),
                     user_id=current_user.id, object_type="patient", object_id=patient_id,
                     remote_addr=remote_addr(), detail={"page": "results"})
    chart = results.chart_data(ZoneInfo(state().settings.timezone))
    return render_template("doctor/results.html", results=results, chart=chart)
