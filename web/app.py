"""``create_app(settings, services)``: the Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, jsonify

import web.admin
import web.alerts
import web.api
import web.auth
import web.board
import web.plans_editor
import web.qa
import web.recordings
import web.results
import web.scripts_editor
import web.stats
import web.workspace
from callcenter import privacy
from callcenter.call_rules import rules_from_settings
from callcenter.errors import CallCenterError
from callcenter.settings import Settings
from web import errors, realtime
from web.auth import public
from web.extensions import csrf, login_manager
from web.services import EXTENSION_KEY, AppState, Services


class WebConfigError(CallCenterError):
    status = 500


def create_app(settings: Settings, services: Services, config: Mapping[str, Any] | None = None) -> Flask:
    if not settings.secret_key:
        raise WebConfigError("CALLCENTER_SECRET_KEY is empty: set a long random value (e.g. "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,  # a shift is long; the token lives as long as the session
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    app.config.update(dict(config or {}))
    app.extensions[EXTENSION_KEY] = AppState(settings, services, rules_from_settings(settings))

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    csrf.init_app(app)
    realtime.init_app(app, settings, channel=app.config.get("SOCKETIO_CHANNEL", realtime.DEFAULT_CHANNEL),
                      clock=services.clock)
    errors.register(app)
    for blueprint in (web.auth.bp, web.workspace.bp, web.recordings.bp, web.admin.bp, web.api.bp,
                      web.board.bp, web.qa.bp, web.stats.bp,
                      web.scripts_editor.bp, web.plans_editor.bp, web.alerts.bp, web.results.bp):
        app.register_blueprint(blueprint)

    zone = ZoneInfo(settings.timezone)

    def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone).strftime(fmt)

    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["mask_phone"] = privacy.mask_phone
    app.jinja_env.filters["mask_national_id"] = privacy.mask_national_id

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"hospital_name": settings.hospital_name}

    @app.get("/healthz")
    @public
    def healthz() -> Any:
        return jsonify(status="ok")

    return app
