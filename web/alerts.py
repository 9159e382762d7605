"""The doctors' alerts inbox: open red flags (escalated first), acknowledge with a note, time to acknowledge.

The page reloads its fragment whenever an ``alert`` event reaches the doctors' Socket.IO room (events carry ids
only; what is shown is read from the database, patients masked).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter import alerts
from callcenter.models import Role
from web.auth import remote_addr, role_required
from web.services import db, state

bp = Blueprint("alerts", __name__, url_prefix="/doctor/alerts")

ALERT_ROLES = (Role.doctor, Role.supervisor)
SUMMARY_PERIOD = timedelta(days=30)  # time to acknowledge is reported over the alerts of the last 30 days
STATUS_LABELS = {"open": "待处理", "acknowledged": "已处理", "all": "全部"}


def _context() -> dict[str, Any]:
    status = request.args.get("status", "open")
    status = status if status in STATUS_LABELS else "open"
    with db() as session:
        rows = alerts.list_alerts(session, status=status)
        figures = alerts.summary_since(session, state().services.clock.now() - SUMMARY_PERIOD)
    escalation = state().settings.alert_escalation_minutes
    return {"rows": rows, "status": status, "status_labels": STATUS_LABELS, "summary": figures,
            "escalation_minutes": escalation, "summary_days": SUMMARY_PERIOD.days}


@bp.get("/")
@role_required(*ALERT_ROLES)
def inbox() -> Any:
    return render_template("doctor/alerts.html", **_context())


@bp.get("/fragment")
@role_required(*ALERT_ROLES)
def fragment() -> Any:
    return render_template("doctor/_alerts.html", **_context())


@bp.post("/<int:alert_id>/acknowledge")
@role_required(*ALERT_ROLES)
def acknowledge(alert_id: int) -> Any:
    with db() as session:
        alerts.acknowledge(session, alert_id, user_id=current_user.id, note=request.form.get("note", ""),
                           now=state().services.clock.now(), remote_addr=remote_addr())
    if request.headers.get("HX-Request"):
        return render_template("doctor/_alerts.html", **_context())
    flash("预警已处理。", "info")
    return redirect(url_for("alerts.inbox"))
