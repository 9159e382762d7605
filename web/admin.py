"""Administration: staff accounts (create, deactivate, softphone agent token) and the audit trail."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from callcenter import audit, users
from callcenter.audit import AuditAction
from callcenter.errors import InvalidInput
from callcenter.models import Role
from web import realtime
from web.auth import remote_addr, role_required
from web.services import db, state

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {Role.nurse: "护士", Role.supervisor: "护士长/质控", Role.doctor: "医生", Role.admin: "管理员"}


class NewUserForm(FlaskForm):  # type: ignore[misc]
    username = StringField("用户名", validators=[DataRequired(), Length(min=2, max=64)])
    display_name = StringField("姓名", validators=[Length(max=100)])
    role = SelectField("角色", choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role])
    team = StringField("小组", validators=[Length(max=64)])
    password = PasswordField("初始密码", validators=[DataRequired(), Length(min=users.MIN_PASSWORD_LENGTH)])


class ActionForm(FlaskForm):  # type: ignore[misc]
    """An empty form: only the CSRF token, for the action buttons."""


def _audit(action: AuditAction, object_id: str | int, **detail: Any) -> None:
    with db() as session:
        audit.record(session, action=action, at=state().services.clock.now(), user_id=current_user.id,
                     object_type="user", object_id=object_id, remote_addr=remote_addr(), detail=detail)


@bp.route("/users", methods=["GET", "POST"], endpoint="users")
@role_required(Role.admin)
def users_page() -> Any:
    form = NewUserForm()
    if form.validate_on_submit():
        with db() as session:
            member = users.create_user(
                session, username=form.username.data or "", password=form.password.data or "",
                role=users.parse_role(form.role.data or ""), display_name=form.display_name.data or "",
                team_key=(form.team.data or "").strip() or None,
            )
            audit.record(session, action=AuditAction.user_create, at=state().services.clock.now(),
                         user_id=current_user.id, object_type="user", object_id=member.id,
                         remote_addr=remote_addr(), detail={"role": member.role.value})
        flash(f"已创建用户 {member.username}。", "info")
        return redirect(url_for("admin.users"))
    with db() as session:
        members = users.list_members(session, include_inactive=True)
        teams = {t.id: t.key for t in users.list_teams(session)}
    return render_template("admin/users.html", form=form, action=ActionForm(), members=members,
                           role_labels=ROLE_LABELS, teams=teams)


@bp.post("/users/<username>/deactivate")
@role_required(Role.admin)
def deactivate(username: str) -> Any:
    if not ActionForm().validate_on_submit():
        flash("表单已过期，请重试。", "error")
        return redirect(url_for("admin.users"))
    with db() as session:
        member = users.deactivate(session, username)
        audit.record(session, action=AuditAction.user_deactivate, at=state().services.clock.now(),
                     user_id=current_user.id, object_type="user", object_id=member.id, remote_addr=remote_addr())
    realtime.end_sessions(current_app._get_current_object(), member.id)  # type: ignore[attr-defined]
    flash(f"已停用 {member.username}。", "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/agent-token")
@role_required(Role.admin)
def agent_token(username: str) -> Any:
    if not ActionForm().validate_on_submit():
        flash("表单已过期，请重试。", "error")
        return redirect(url_for("admin.users"))
    with db() as session:
        member = users.find_member(session, username)
        token = users.issue_agent_token(session, username)
        audit.record(session, action=AuditAction.agent_token_issue, at=state().services.clock.now(),
                     user_id=current_user.id, object_type="user", object_id=member.id, remote_addr=remote_addr())
    return render_template("admin/agent_token.html", member=member, token=token)


@bp.post("/users/<username>/update")
@role_required(Role.admin)
def update(username: str) -> Any:
    """Role, team and department of a user (audited with what changed)."""
    if not ActionForm().validate_on_submit():
        flash("表单已过期，请重试。", "error")
        return redirect(url_for("admin.users"))
    with db() as session:
        member, changes = users.update_member(
            session, username, role=users.parse_role(request.form.get("role", "")),
            team_key=(request.form.get("team") or "").strip() or None, department=request.form.get("department", ""))
        if changes:
            audit.record(session, action=AuditAction.user_update, at=state().services.clock.now(),
                         user_id=current_user.id, object_type="user", object_id=member.id,
                         remote_addr=remote_addr(), detail=changes)
    flash(f"已更新 {member.username}。" if changes else f"{member.username} 未改变。", "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/reactivate")
@role_required(Role.admin)
def reactivate(username: str) -> Any:
    if not ActionForm().validate_on_submit():
        flash("表单已过期，请重试。", "error")
        return redirect(url_for("admin.users"))
    with db() as session:
        member = users.reactivate(session, username)
        audit.record(session, action=AuditAction.user_reactivate, at=state().services.clock.now(),
                     user_id=current_user.id, object_type="user", object_id=member.id, remote_addr=remote_addr())
    flash(f"已恢复 {member.username}。", "info")
    return redirect(url_for("admin.users"))


def _day(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} {raw!r}: write a date as YYYY-MM-DD") from None


@bp.get("/audit")
@role_required(Role.admin)
def audit_log() -> Any:
    """The audit trail, newest first, filtered by action, user, object and local date range."""
    args = request.args
    action = args.get("action") or None
    zone = ZoneInfo(state().settings.timezone)
    start, end = _day(args.get("from", ""), "from"), _day(args.get("to", ""), "to")
    since = datetime.combine(start, time(0), zone) if start else None
    until = datetime.combine(end + timedelta(days=1), time(0), zone) if end else None
    username = (args.get("user") or "").strip()
    with db() as session:
        user_id = None
        if username:
            try:
                user_id = users.find_member(session, username).id
            except users.UserNotFound:
                user_id = -1  # nobody: an empty list, not every event
        entries = audit.recent(session, limit=500, action=action, user_id=user_id,
                               object_type=args.get("object_type") or None, object_id=args.get("object_id") or None,
                               since=since, until=until)
    return render_template("admin/audit.html", entries=entries, actions=[a.value for a in AuditAction],
                           selected=action or "", filters=args)
