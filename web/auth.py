"""Log in and out, the logged-in user object and the role checks every protected view declares."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from callcenter import audit, users
from callcenter.audit import AuditAction
from callcenter.models import Role
from callcenter.users import StaffMember
from web.extensions import login_manager
from web.services import db, state

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES: tuple[Role, ...] = tuple(Role)


class LoginUser(UserMixin):  # type: ignore[misc]
    """The Flask-Login user: a view of the staff member, reloaded from the database on every request."""

    def __init__(self, member: StaffMember) -> None:
        self.member = member

    def get_id(self) -> str:
        return str(self.member.id)

    @property
    def id(self) -> int:
        return self.member.id

    @property
    def role(self) -> Role:
        return self.member.role

    @property
    def label(self) -> str:
        return self.member.label


def _load_user(user_id: str) -> LoginUser | None:
    if not user_id.isdigit():
        return None
    with db() as session:
        member = users.get_member(session, int(user_id))
    if member is None or not member.active:  # deactivation ends open sessions at the next request
        return None
    return LoginUser(member)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _unauthorized() -> Any:
    if wants_json():
        return jsonify(error="login_required", message="请先登录 (log in first)"), 401
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


# Registered by call, not as decorators: flask_login's decorators are untyped.
login_manager.user_loader(_load_user)
login_manager.unauthorized_handler(_unauthorized)


def role_required(*roles: Role) -> Callable[[F], F]:
    """Only logged-in users with one of ``roles``; others get the login page (302/401) or 403.

    The allowed roles are kept on the view (``allowed_roles``) so the URL-map guard test can check each route.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                raise Forbidden("您的角色无权访问此页面 (your role may not open this page)")
            return view(*args, **kwargs)

        wrapped.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def public(view: F) -> F:
    """Mark a view as reachable without a session (login page, health check)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def remote_addr() -> str:
    return request.remote_addr or ""


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField("用户名", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired(), Length(max=200)])


def home_for(role: Role) -> str:
    if role is Role.nurse:
        return url_for("workspace.queue")
    if role is Role.admin:
        return url_for("admin.users")
    return url_for("workspace.home")


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        clock = state().services.clock
        with db() as session:
            member = users.authenticate(session, form.username.data or "", form.password.data or "")
            audit.record(
                session,
                action=AuditAction.login if member else AuditAction.login_failed,
                at=clock.now(),
                user_id=member.id if member else None,
                remote_addr=remote_addr(),
                detail={} if member else {"username": (form.username.data or "")[:64]},
            )
        if member is not None:
            login_user(LoginUser(member))
            return redirect(_safe_next(request.args.get("next")) or home_for(member.role))
        flash("用户名或密码错误，或账号已停用。", "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
@role_required(*ALL_ROLES)
def logout() -> WerkzeugResponse:
    with db() as session:
        audit.record(session, action=AuditAction.logout, at=state().services.clock.now(),
                     user_id=current_user.id, remote_addr=remote_addr())
    logout_user()
    flash("您已退出登录。", "info")
    return redirect(url_for("auth.login"))
