"""The doctor's plans editor: list the follow-up plans, edit one as YAML (cohort rule, time points, script,
channel), preview how many patients its cohort rule matches today, save (audited). Rules live in
``callcenter.plan_editor`` and ``callcenter.plans_repo``.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter import plan_editor
from callcenter.errors import InvalidInput
from callcenter.models import Role
from web.auth import remote_addr, role_required
from web.services import db, local_today, state

bp = Blueprint("plans", __name__, url_prefix="/doctor/plans")

PLAN_ROLES = (Role.doctor,)
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidInput(f"plan key {key!r}: use letters, digits, '_' or '-'")
    return key


@bp.get("/")
@role_required(*PLAN_ROLES)
def index() -> Any:
    with db() as session:
        plans = plan_editor.list_plans(session)
    return render_template("doctor/plans.html", plans=plans)


@bp.post("/new")
@role_required(*PLAN_ROLES)
def new() -> Any:
    return redirect(url_for("plans.edit", key=_key(request.form.get("key", "").strip())))


@bp.get("/<key>/edit")
@role_required(*PLAN_ROLES)
def edit(key: str) -> Any:
    _key(key)
    with db() as session:
        try:
            source = plan_editor.plan_source(session, key)
        except plan_editor.PlanNotFound:
            source = plan_editor.NEW_PLAN_TEMPLATE.format(key=key)
    return render_template("doctor/plan_edit.html", key=key, source=source)


@bp.post("/preview")
@role_required(*PLAN_ROLES)
def preview() -> Any:
    with db() as session:
        shown, problem = plan_editor.preview_or_problem(session, request.form.get("source", ""), today=local_today(),
                                                        tz=ZoneInfo(state().settings.timezone))
    return render_template("doctor/_plan_preview.html", preview=shown, problem=problem)


@bp.post("/save")
@role_required(*PLAN_ROLES)
def save() -> Any:
    with db() as session:
        key, result = plan_editor.save(session, request.form.get("source", ""), user_id=current_user.id,
                                       now=state().services.clock.now(), remote_addr=remote_addr())
    labels = {"added": "已新建", "updated": "已更新", "unchanged": "内容未改变"}
    flash(f"随访方案 {key}：{labels[result]}。", "info")
    return redirect(url_for("plans.edit", key=key))
